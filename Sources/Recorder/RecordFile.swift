import Foundation
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Where a new record is written and how it becomes the final file (the writer's file policy).
///
/// - The target does not exist: the record is written in place (created exclusively), so a
///   killed run stays resumable where the user asked for it.
/// - The target exists and may be replaced: it must be a regular file, none of the command's
///   inputs, and not being written by another process. The record is written beside it as
///   `<target>.partial` and renamed over the target when the run finishes: a kill leaves the old
///   record intact and the partial one resumable at `<target>.partial`.
///
/// The writer holds an exclusive lock on the file it writes (RecordLock) from creation to finish.
struct RecordFile {
    /// The path the finished record will have.
    let target: String
    /// The path being written: `target`, or `target.partial` when replacing.
    let writing: String
    let replaces: Bool
    let lock: RecordLock

    static func partialPath(for target: String) -> String { target + ".partial" }

    static func create(path: String, replace: Bool, inputs: [String]) throws -> RecordFile {
        guard try OutputFile.check(path, force: replace, inputs: inputs) else {
            return RecordFile(target: path, writing: path, replaces: false, lock: try RecordLock(path: path, create: true))
        }
        // Never replace a record that another process is still writing.
        try RecordLock(path: path, create: false).release()
        let partial = partialPath(for: path)
        if FileManager.default.fileExists(atPath: partial) {
            try RecordLock(path: partial, create: false).release()   // `locked` while its writer runs
            throw OutputError.partialExists(partial, target: path)
        }
        return RecordFile(target: path, writing: partial, replaces: true, lock: try RecordLock(path: partial, create: true))
    }

    /// Removes the file being written, which `create` made, with SQLite's files beside it, and
    /// releases its lock: a creation that failed leaves nothing behind (and, when replacing, the
    /// old record as it was).
    func discard() {
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(writing + suffix) }
        lock.release()
    }

    /// Reopens an existing record for resuming (its lock is held by the caller).
    static func resuming(path: String, lock: RecordLock) -> RecordFile {
        RecordFile(target: path, writing: path, replaces: false, lock: lock)
    }

    /// Makes the written, closed file the record: flushes it to disk and, when replacing, renames
    /// it over the target (checked again first). The old record's `-wal`/`-shm` are removed, or
    /// replaced by the new one's when readers kept it in WAL mode (`RecordWALRemains`): they
    /// belong to the file and move with it.
    func commit(inputs: [String]) throws {
        let fd = open(writing, O_RDONLY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); close(fd) }
        if replaces {
            try OutputFile.commit(writing, to: target, force: true, inputs: inputs)
            for suffix in ["-wal", "-shm"] where rename(writing + suffix, target + suffix) != 0 { unlink(target + suffix) }
        } else {
            OutputFile.syncDirectory(of: writing)
        }
    }
}
