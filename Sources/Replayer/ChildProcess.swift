import Engine
import Foundation

/// Runs this executable again as a child process (a variance worker, an sgemm probe on another
/// OpenBLAS core type): the one way cwrepro starts processes of its own. The executable and the
/// child's OpenBLAS core type come from `ProcessConfiguration`.
public struct ChildProcess: Sendable {
    /// The command-line arguments (after the executable).
    public var arguments: [String]
    /// `OPENBLAS_CORETYPE` for the child (nil: OpenBLAS's own choice, whatever this process has).
    public var coreType: String?

    public init(arguments: [String], coreType: String? = nil) { self.arguments = arguments; self.coreType = coreType }

    /// What a child did.
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: Data
        public var stderr: Data
        public var stderrText: String { String(decoding: stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    /// Runs the child to its end (an `UnsupportedCPUError` when this CPU cannot run `coreType`'s
    /// kernels). Standard error is drained on its own thread, so a chatty child
    /// cannot fill the pipe and block.
    public func run() throws -> Output {
        let p = Process()
        p.executableURL = ProcessConfiguration.executable
        p.arguments = arguments
        p.environment = try ProcessConfiguration.childEnvironment(coreType: coreType)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let drained = Drained()
        let reader = Thread { drained.data = err.fileHandleForReading.readDataToEndOfFile(); drained.done.signal() }
        reader.start()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        drained.done.wait()
        return Output(status: p.terminationStatus, stdout: data, stderr: drained.data)
    }

    /// Standard error read by another thread; `done` says when.
    private final class Drained: @unchecked Sendable {
        var data = Data()
        let done = DispatchSemaphore(value: 0)
    }

    /// Runs `count` children, at most `width` at a time, and returns each one's result in order.
    /// `finished(n)` is called (serially) each time one more child has finished.
    public static func pool<R: Sendable>(_ count: Int, width: Int, finished: (@Sendable (Int) -> Void)? = nil,
                                         _ body: @escaping @Sendable (Int) throws -> R) -> [Result<R, Error>] {
        let results = PoolResults<R>(count: count)
        let slots = DispatchSemaphore(value: max(1, width)), group = DispatchGroup()
        for i in 0..<count {
            DispatchQueue.global().async(group: group) {
                slots.wait()
                defer { slots.signal() }
                let r = Result { try body(i) }
                results.set(i, r, finished: finished)
            }
        }
        group.wait()
        return results.all
    }

    /// Results filled in by the pool's threads.
    private final class PoolResults<R>: @unchecked Sendable {
        private let lock = NSLock()
        private var results: [Result<R, Error>?]
        private var done = 0
        init(count: Int) { results = Array(repeating: nil, count: count) }

        func set(_ i: Int, _ r: Result<R, Error>, finished: ((Int) -> Void)?) {
            lock.lock(); defer { lock.unlock() }
            results[i] = r
            done += 1
            finished?(done)
        }

        var all: [Result<R, Error>] { lock.lock(); defer { lock.unlock() }; return results.map { $0! } }
    }
}
