import Foundation
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// An exclusive advisory lock (flock) on a record file, held by the one process recording into
/// it. A second `record --resume` or `record --force` on the same file gets a clear error instead
/// of two writers interleaving transactions. Readers (show, replay) do not take it: SQLite's WAL
/// lets them read committed steps while the run goes on. The kernel drops the lock when the
/// process dies, so a killed run leaves no stale lock behind.
final class RecordLock {
    private var fd: Int32

    /// Locks `path`, creating it empty (exclusively) when `create` is set.
    init(path: String, create: Bool) throws {
        fd = create ? open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644) : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let why = String(cString: strerror(errno))
            if create { throw InputError("cannot create record \(path): \(why)") }
            throw RecordReadError.notFound(path)
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw RecordReadError.locked(path)
        }
    }

    func release() {
        if fd >= 0 { flock(fd, LOCK_UN); close(fd); fd = -1 }
    }

    deinit { release() }
}
