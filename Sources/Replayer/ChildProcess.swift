import Engine
import Foundation
import Recorder

/// Runs this executable again as a child process (a variance worker, a sweep's trial, an sgemm
/// probe on another OpenBLAS core type), or another program that runs it (a sweep's Ray driver):
/// the one way cwrepro starts processes. The executable and the child's OpenBLAS core type come
/// from `ProcessConfiguration`.
public struct ChildProcess: Sendable {
    /// The command-line arguments (after the executable).
    public var arguments: [String]
    /// `OPENBLAS_CORETYPE` for the child (nil: OpenBLAS's own choice, whatever this process has).
    public var coreType: String?
    /// Another program to run (nil: this executable), found on `PATH` when not a path.
    public var executable: String?
    /// Variables set in the child's environment (on top of this process's).
    public var environment: [String: String]

    public init(arguments: [String], coreType: String? = nil, executable: String? = nil, environment: [String: String] = [:]) {
        self.arguments = arguments; self.coreType = coreType; self.executable = executable; self.environment = environment
    }

    /// What a child did.
    public struct Output: Sendable {
        /// The exit status; for a child killed by a signal, 128 + the signal's number (as a shell
        /// reports it), with `signal` set.
        public var status: Int32
        /// The signal that ended the child (nil: it exited).
        public var signal: Int32?
        public var stdout: Data
        public var stderr: Data
        /// "exit status 2", "killed by signal 9 (Killed)".
        public var ending: String { processEnding(status: status, signal: signal) }
        public var stderrText: String { String(decoding: stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    /// Runs the child to its end (an `UnsupportedCPUError` when this CPU cannot run `coreType`'s
    /// kernels). Standard error is drained on its own thread, so a chatty child
    /// cannot fill the pipe and block.
    public func run() throws -> Output { try run(lines: nil) }

    /// Runs the child to its end, handing each line of its standard output to `lines` as it
    /// arrives (a driver reporting trials as they finish); `Output.stdout` then holds them all too.
    public func run(lines: ((String) -> Void)?) throws -> Output {
        let p = Process()
        var env = try ProcessConfiguration.childEnvironment(coreType: coreType)
        env.merge(environment) { _, new in new }
        if let executable {
            guard let url = Self.find(executable, path: env["PATH"]) else {
                throw InputError("\(executable): program not found\(executable.contains("/") ? "" : " on PATH")")
            }
            p.executableURL = url
        } else {
            p.executableURL = ProcessConfiguration.executable
        }
        p.arguments = arguments
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try Self.withDefaultSignalMask { try p.run() }
        let drained = Drained()
        let reader = Thread { drained.data = err.fileHandleForReading.readDataToEndOfFile(); drained.done.signal() }
        reader.start()
        var data = Data()
        if let lines {
            var pending = Data()
            while true {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                data += chunk
                pending += chunk
                while let nl = pending.firstIndex(of: 0x0A) {
                    lines(String(decoding: pending[pending.startIndex..<nl], as: UTF8.self))
                    pending = Data(pending[(nl + 1)...])
                }
            }
            if !pending.isEmpty { lines(String(decoding: pending, as: UTF8.self)) }
        } else {
            data = out.fileHandleForReading.readDataToEndOfFile()
        }
        p.waitUntilExit()
        drained.done.wait()
        let signal = p.terminationReason == .uncaughtSignal ? p.terminationStatus : nil
        return Output(status: signal.map { 128 + $0 } ?? p.terminationStatus, signal: signal, stdout: data, stderr: drained.data)
    }

    /// `name` as an executable file: a path as given, else the first match on `path`.
    static func find(_ name: String, path: String?) -> URL? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? URL(fileURLWithPath: name) : nil }
        for dir in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return URL(fileURLWithPath: candidate) }
        }
        return nil
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

extension ChildProcess {
    /// Runs `body` (which starts a child) with no signal blocked on the calling thread: a child
    /// inherits its parent thread's signal mask, and the threads of libdispatch's pools (where
    /// `ChildProcess.pool` runs its children) block most signals, so a trial started there would
    /// ignore SIGTERM and SIGINT. The thread's mask is restored afterwards.
    static func withDefaultSignalMask<T>(_ body: () throws -> T) rethrows -> T {
        var none = sigset_t(), saved = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        return try body()
    }
}

/// How a process ended, as people read it: "exit status 2", or "killed by signal 9 (Killed)".
public func processEnding(status: Int32, signal: Int32?) -> String {
    guard let signal else { return "exit status \(status)" }
    return "killed by signal \(signal)" + (strsignal(signal).map { " (\(String(cString: $0)))" } ?? "")
}
