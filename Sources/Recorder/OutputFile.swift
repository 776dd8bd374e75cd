import Foundation
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Why an output file cannot be written. Messages speak of files only; the command line adds
/// which option to change.
public enum OutputError: Error, Equatable, CustomStringConvertible {
    /// The target exists and the caller did not ask to replace it.
    case exists(String)
    /// The target exists and is not a regular file: it is never replaced.
    case notRegular(String, kind: FileKind)
    /// The target is (same device and inode) one of the command's inputs.
    case isInput(String, input: String)
    /// The directory the target would go in does not exist.
    case parentMissing(String, parent: String)
    /// An interrupted replacement of `target` left its partial record at the first path.
    case partialExists(String, target: String)
    /// A system call failed.
    case io(String, String)

    public enum FileKind: String, Sendable {
        case directory = "a directory", fifo = "a FIFO", device = "a device", socket = "a socket",
             symlink = "a symbolic link", other = "not a regular file"
    }

    public var description: String {
        switch self {
        case .exists(let p): "\(p) already exists"
        case .notRegular(let p, let kind): "\(p) is \(kind.rawValue); only a regular file is ever replaced"
        case .isInput(let p, let input):
            p == input ? "\(p) is an input of this command; it is never overwritten"
                : "\(p) is the same file as the input \(input); it is never overwritten"
        case .parentMissing(let p, let parent): "cannot write \(p): the directory \(parent) does not exist; create it first"
        case .partialExists(let p, let target):
            "\(p) holds an interrupted recording that was to replace \(target); resume it, move it away or delete it first"
        case .io(let p, let why): "cannot write \(p): \(why)"
        }
    }
}

/// Writes files so that no existing file is lost: the bytes go to a temporary file beside the
/// target, are flushed to disk (fsync), and are renamed into place; a kill or a full disk at any
/// moment leaves either the old file or the new one, never a truncated one. An existing target is
/// replaced only when the caller passes `force`, and then only a regular file that is none of the
/// command's `inputs` (compared by device and inode, so another name for an input is caught too).
public enum OutputFile {
    /// Checks `path` as an output before any work is done: its directory exists; if it exists,
    /// it is no input, `force` is given, and it is a regular file. Returns whether it exists.
    @discardableResult
    public static func check(_ path: String, force: Bool, inputs: [String] = []) throws -> Bool {
        let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var ps = stat()
        guard stat(parent, &ps) == 0, (ps.st_mode & S_IFMT) == S_IFDIR else {
            throw OutputError.parentMissing(path, parent: parent)
        }
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT { return false }
            throw OutputError.io(path, String(cString: strerror(errno)))
        }
        if let input = matchingInput(path, inputs) { throw OutputError.isInput(path, input: input) }
        let kind = st.st_mode & S_IFMT
        if kind == S_IFDIR { throw OutputError.notRegular(path, kind: .directory) }
        guard force else { throw OutputError.exists(path) }
        switch kind {
        case S_IFREG: return true
        case S_IFIFO: throw OutputError.notRegular(path, kind: .fifo)
        case S_IFCHR, S_IFBLK: throw OutputError.notRegular(path, kind: .device)
        case S_IFSOCK: throw OutputError.notRegular(path, kind: .socket)
        case S_IFLNK: throw OutputError.notRegular(path, kind: .symlink)
        default: throw OutputError.notRegular(path, kind: .other)
        }
    }

    /// The input that is the same file (device and inode) as `path`, if any.
    static func matchingInput(_ path: String, _ inputs: [String]) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        for input in inputs {
            var si = stat()
            if stat(input, &si) == 0 && si.st_dev == st.st_dev && si.st_ino == st.st_ino { return input }
        }
        return nil
    }

    /// Writes `bytes` to `path` through a temporary file beside it (see the type's description).
    public static func write(_ bytes: [UInt8], to path: String, force: Bool, inputs: [String] = []) throws {
        try check(path, force: force, inputs: inputs)
        let tmp = temporaryName(for: path)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw OutputError.io(path, String(cString: strerror(errno))) }
        var failure: Int32 = 0
        var done = 0
        while done < bytes.count && failure == 0 {
            let n = bytes.withUnsafeBytes { systemWrite(fd, $0.baseAddress! + done, $0.count - done) }
            if n > 0 { done += n } else if n < 0 && errno == EINTR { continue } else { failure = n == 0 ? ENOSPC : errno }
        }
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        close(fd)
        guard failure == 0 else {
            unlink(tmp)
            throw OutputError.io(path, String(cString: strerror(failure)))
        }
        do { try commit(tmp, to: path, force: force, inputs: inputs) } catch { unlink(tmp); throw error }
    }

    /// Moves the finished file `tmp` (already flushed) onto `path`. Without `force` the move fails
    /// if `path` appeared meanwhile (a hard link is created atomically or not at all); with it,
    /// the target is checked again just before the rename. The directory is flushed afterwards.
    public static func commit(_ tmp: String, to path: String, force: Bool, inputs: [String] = []) throws {
        if force {
            try check(path, force: true, inputs: inputs)
            guard rename(tmp, path) == 0 else { throw OutputError.io(path, String(cString: strerror(errno))) }
        } else if link(tmp, path) == 0 {
            unlink(tmp)
        } else if errno == EEXIST {
            unlink(tmp)
            throw OutputError.exists(path)
        } else {
            // A file system without hard links: check, then rename (a narrow race remains there).
            guard try !check(path, force: false, inputs: inputs), rename(tmp, path) == 0 else {
                throw OutputError.io(path, String(cString: strerror(errno)))
            }
        }
        syncDirectory(of: path)
    }

    /// A name beside `path` for its temporary file: hidden, with the process id.
    public static func temporaryName(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())").path
    }

    /// Flushes the directory entry of `path` (a rename is durable once its directory is).
    static func syncDirectory(of path: String) {
        let dir = open(URL(fileURLWithPath: path).deletingLastPathComponent().path, O_RDONLY | O_CLOEXEC)
        if dir >= 0 { fsync(dir); close(dir) }
    }
}

#if canImport(Glibc)
@inline(__always) private func systemWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { Glibc.write(fd, p, n) }
#else
@inline(__always) private func systemWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { Darwin.write(fd, p, n) }
#endif
