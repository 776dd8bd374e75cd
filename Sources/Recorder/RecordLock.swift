import Foundation
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// An exclusive advisory lock (flock) on a record file, held by the one process recording into
/// it. A second writer (a resume, a replacement) on the same file gets `RecordReadError.locked`
/// instead of two writers interleaving transactions. Readers do not take it (SQLite's WAL lets
/// them read committed steps while the run goes on) but can ask whether a writer holds it. The
/// kernel drops the lock when the process dies, so a killed run leaves no stale lock behind.
final class RecordLock {
    private var fd: Int32

    /// Locks `path`, creating it empty (exclusively) when `create` is set.
    init(path: String, create: Bool) throws {
        fd = create ? open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644) : open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            if create && errno == EEXIST { throw OutputError.exists(path) }
            if create { throw OutputError.io(path, String(cString: strerror(errno))) }
            throw RecordReadError.notFound(path)
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw RecordReadError.locked(path)
        }
    }

    /// Whether another process holds the lock on the open file `fd` (a shared lock cannot be had).
    static func isHeld(fd: Int32) -> Bool {
        if flock(fd, LOCK_SH | LOCK_NB) == 0 { flock(fd, LOCK_UN); return false }
        return errno == EWOULDBLOCK
    }

    func release() {
        if fd >= 0 { flock(fd, LOCK_UN); close(fd); fd = -1 }
    }

    deinit { release() }
}
