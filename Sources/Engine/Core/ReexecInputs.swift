import Foundation
import Recorder

/// Inputs read from a pipe or a device (`--golden /dev/stdin`, a config given as `<(cat c.json)`),
/// handed to the process that `ProcessConfiguration.reexec` replaces this one with. The
/// re-executed process reads its inputs again from the same command line, and a pipe is read only
/// once: without a hand-over it would find the pipe empty.
///
/// - `readFile` notes the bytes of every input it reads from something that is not a regular file
///   (`note`), and in a re-executed process reads a handed-over path from its copy (`bytes(of:)`).
/// - Just before the exec, `handOver()` writes each noted input to a temporary file and unlinks it
///   at once: only its descriptor, left open across the exec, reaches the bytes. The environment
///   (`variable`, JSON) maps each path as given on the command line to its descriptor, so the
///   re-executed process names the input as the user did (`/dev/stdin`, not a temporary path).
/// - The re-executed process takes them over at start-up (`adopt()`): it marks the descriptors
///   close-on-exec, so that no worker or probe inherits them, and removes the variable.
///
/// Nothing is left on disk on any path out: the copies have no name, and the system frees them
/// when the last process holding them ends, or at once when the exec failed (`withdraw`).
public enum ReexecInputs {
    /// The environment variable of a re-executed process: `{"<path>": <descriptor>, ...}`.
    public static let variable = "CWREPRO_REEXEC_INPUTS"

    /// Notes `data`, just read from `path`, a pipe or a device: the bytes a re-executed process
    /// will need. The first read of a path is kept (a second read of a pipe finds what was left).
    static func note(_ data: Data, from path: String) {
        state.withLock { if $0.noted[path] == nil { $0.noted[path] = data } }
    }

    /// The bytes of `path` as the process that re-executed this one read them (nil: not handed over).
    static func bytes(of path: String) throws -> Data? {
        guard let fd = adopt()[path] else { return nil }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            // pread: every read of the path gets all of it, whatever the descriptor's offset.
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(data.count)) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else {
                throw InputError("\(path): the copy handed over by the re-executing cwrepro cannot be read (errno \(errno)); give \(path) as a regular file")
            }
            if n == 0 { return data }
            data.append(contentsOf: buffer[..<n])
        }
    }

    /// Descriptors given to the process about to be exec'd, to take back if the exec fails.
    public struct HandOver: Sendable {
        fileprivate var descriptors: [Int32]
    }

    /// Writes every noted input to an unlinked temporary file whose descriptor stays open across
    /// an exec, and names them in `variable`. Throws `InputError` (saying what to do) when no
    /// temporary file can be written.
    static func handOver() throws -> HandOver {
        let noted = state.withLock { $0.noted }
        guard !noted.isEmpty else { return HandOver(descriptors: []) }
        var map: [String: Int32] = [:]
        do {
            for (path, data) in noted.sorted(by: { $0.key < $1.key }) { map[path] = try unlinkedCopy(of: data, from: path) }
        } catch {
            map.values.forEach { _ = close($0) }
            throw error
        }
        let json = try JSONSerialization.data(withJSONObject: map.mapValues { Int($0) }, options: [.sortedKeys])
        setenv(variable, String(decoding: json, as: UTF8.self), 1)
        return HandOver(descriptors: Array(map.values))
    }

    /// After an exec that failed: closes the copies and removes `variable` (this process goes on
    /// with the bytes it read).
    static func withdraw(_ handOver: HandOver) {
        guard !handOver.descriptors.isEmpty else { return }
        handOver.descriptors.forEach { _ = close($0) }
        unsetenv(variable)
    }

    /// The inputs handed to this process, taken over once: only in a re-executed process (its
    /// `ProcessConfiguration.reexecMarker` set), only descriptors of regular files; each marked
    /// close-on-exec, and `variable` removed so that no child process sees it.
    @discardableResult
    static func adopt() -> [String: Int32] {
        state.withLock { s in
            if let adopted = s.adopted { return adopted }
            var adopted: [String: Int32] = [:]
            let env = ProcessInfo.processInfo.environment
            if env[ProcessConfiguration.reexecMarker] != nil, let text = env[variable],
               let map = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Int] {
                for (path, n) in map {
                    guard let fd = Int32(exactly: n), fd > 2 else { continue }
                    var st = stat()
                    guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
                    _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
                    adopted[path] = fd
                }
            }
            unsetenv(variable)
            s.adopted = adopted
            return adopted
        }
    }

    /// A temporary file holding `data`, already unlinked, open for reading and writing and not
    /// close-on-exec.
    private static func unlinkedCopy(of data: Data, from path: String) throws -> Int32 {
        let dir = FileManager.default.temporaryDirectory
        var template = Array(dir.appendingPathComponent("cwrepro-input-XXXXXX").path.utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw InputError("\(path) was read from a pipe and must be handed to the re-executed cwrepro, but no temporary file can be created in \(dir.path) (errno \(errno)): set TMPDIR to a writable directory, or give \(path) as a regular file")
        }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) & ~FD_CLOEXEC)
        var written = 0
        while written < data.count {
            let n = data.withUnsafeBytes { write(fd, $0.baseAddress! + written, data.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let code = errno
                _ = close(fd)
                throw InputError("\(path) was read from a pipe and must be handed to the re-executed cwrepro, but its copy in \(dir.path) cannot be written (errno \(code); disk full?): free space or set TMPDIR, or give \(path) as a regular file")
            }
            written += n
        }
        return fd
    }

    private struct State {
        var noted: [String: Data] = [:]
        var adopted: [String: Int32]?
    }

    /// The only mutable state here: what this process read from pipes, and what it was handed.
    private static let state = Locked(State())

    /// A value behind a lock.
    private final class Locked<Value>: @unchecked Sendable {
        private let lock = NSLock()
        private var value: Value
        init(_ value: Value) { self.value = value }
        func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
            lock.lock()
            defer { lock.unlock() }
            return try body(&value)
        }
    }
}
