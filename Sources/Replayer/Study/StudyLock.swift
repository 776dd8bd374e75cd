import Foundation
import Recorder
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The locks a running `sweep` holds on its study directory, so that two sweeps never run the
/// same trials at once (each would see the other's records appear half-written, fail trials that
/// did not fail, and leave no summary).
///
/// - `study/.sweep.lock`: an unsharded sweep holds it exclusively; each shard (`--shard I/N`)
///   holds it shared, so the shards of one study run side by side (a Slurm array on a shared file
///   system) while a whole sweep excludes them all, and they it.
/// - `study/shards/.I-of-N.lock`: the shard's own, held exclusively: the same shard started
///   twice is refused.
///
/// Locks are `flock`s: the kernel drops them when the process ends, so a killed sweep leaves
/// nothing stale, and a re-run resumes at once. Both are taken without waiting: a sweep that
/// finds one held stops with `StudyError.busy` (exit 2) before it touches a trial. (Over NFS,
/// `flock` is emulated with POSIX locks and holds across machines on Linux since 2.6.12.)
public final class StudyLock {
    private var fds: [Int32] = []

    /// Takes the locks for `shard` of `study` (the directory exists).
    public init(_ study: StudyDirectory, shard: Shard) throws {
        do {
            if shard == .whole {
                try take(study.path(".sweep.lock"), LOCK_EX, study: study, shard: nil)
            } else {
                try take(study.path(".sweep.lock"), LOCK_SH, study: study, shard: nil)
                let dir = study.path("shards")
                try study.makeDirectory(atPath: dir)
                try take(dir + "/.\(shard.index)-of-\(shard.count).lock", LOCK_EX, study: study, shard: shard)
            }
        } catch {
            release()
            throw error
        }
    }

    private func take(_ path: String, _ operation: Int32, study: StudyDirectory, shard: Shard?) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw InputError("cannot create the study's lock file \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, operation | LOCK_NB) == 0 else {
            let why = errno
            close(fd)
            if why == EWOULDBLOCK { throw StudyError.busy(directory: study.root, shard: shard) }
            throw InputError("cannot lock \(path): \(String(cString: strerror(why)))")
        }
        fds.append(fd)
    }

    public func release() {
        for fd in fds { flock(fd, LOCK_UN); close(fd) }
        fds = []
    }

    deinit { release() }
}
