import Engine
import Foundation
import Recorder

/// How one trial's process ended.
public struct TrialRun: Sendable, Equatable {
    /// The `record` process's exit status (0 finished, 1 stopped at a non-finite value; anything
    /// else: it could not train or was killed, then 128 + the signal).
    public var status: Int32
    /// The signal that killed it (nil: it exited).
    public var signal: Int32?
    /// Its standard error, trimmed (the reason when it failed).
    public var stderr: String
    /// Wall time of the process, start-up included.
    public var seconds: Double
    /// Where it ran (the Ray node's address; nil: this machine).
    public var node: String?

    public init(status: Int32, signal: Int32? = nil, stderr: String, seconds: Double, node: String? = nil) {
        self.status = status; self.signal = signal; self.stderr = stderr; self.seconds = seconds; self.node = node
    }

    /// "exit status 2", "killed by signal 9 (Killed)".
    public var ending: String { processEnding(status: status, signal: signal) }

    /// The process exited 0 (trained to the end) or 1 (stopped at a non-finite value, a sealed
    /// failed record): either way it ran to its end, and its record is the result.
    public var ranToItsEnd: Bool { signal == nil && (status == 0 || status == 1) }
}

/// Runs a study's trials, each as a `cwrepro record` process writing the trial's record.
/// `finished` is called once per trial, serially, as each ends.
public protocol TrialExecutor: Sendable {
    func run(_ trials: [PlannedTrial], in study: StudyDirectory, finished: @escaping @Sendable (PlannedTrial, TrialRun) -> Void) throws
}

/// The command line of one trial: this executable's arguments that record `trial` into
/// `recordPath` (the command line builds them: the application layer knows no option names).
public typealias TrialArguments = @Sendable (_ trial: PlannedTrial, _ recordPath: String) -> [String]

/// `--executor local`: a pool of at most `jobs` child processes on this machine.
public struct LocalExecutor: TrialExecutor {
    public var jobs: Int
    public var arguments: TrialArguments

    public init(jobs: Int, arguments: @escaping TrialArguments) { self.jobs = jobs; self.arguments = arguments }

    public func run(_ trials: [PlannedTrial], in study: StudyDirectory, finished: @escaping @Sendable (PlannedTrial, TrialRun) -> Void) throws {
        let serial = NSLock()
        let results = ChildProcess.pool(trials.count, width: jobs) { i -> Void in
            let trial = trials[i], start = Date()
            let out = try ChildProcess(arguments: arguments(trial, study.path(trial.record)), environment: StudyEnvironment.localTrial).run()
            serial.lock(); defer { serial.unlock() }
            finished(trial, TrialRun(status: out.status, signal: out.signal, stderr: out.stderrText, seconds: Date().timeIntervalSince(start)))
        }
        for case .failure(let e) in results { throw e }
    }
}

/// What every trial process gets.
enum StudyEnvironment {
    /// Its environment: no progress lines (nobody reads a trial's standard error until it fails).
    static let trial = ["CWREPRO_PROGRESS": "none"]

    /// A local trial's environment: also this process's id, so the trial ends when this process
    /// dies (`ParentWatch` in the command line): a killed sweep leaves no trial running.
    static var localTrial: [String: String] {
        trial.merging(["CWREPRO_PARENT_PID": String(ProcessInfo.processInfo.processIdentifier)]) { _, new in new }
    }

    /// The path of this executable as other programs (a Ray worker) run it.
    static var binaryPath: String {
        let exe = ProcessConfiguration.executable.path
        return (try? FileManager.default.destinationOfSymbolicLink(atPath: exe)) ?? URL(fileURLWithPath: exe).resolvingSymlinksInPath().path
    }
}

/// An executor in another program that runs the trials' command lines and reports each as a JSON
/// line on its standard output: `--executor ray` (Python's `cwrepro.ray`). The protocol, in
/// docs/sweep.md: the driver reads a task file (`ExecutorTasks`, JSON) and prints, per finished
/// trial, `{"id": ..., "status": <exit status>, "seconds": ..., "stderr": ..., "node": ...}`; it
/// exits 0 when it ran every trial (whatever their statuses), else non-zero with the reason on
/// its standard error.
public struct DriverExecutor: TrialExecutor {
    /// The driver's program and arguments for a task file (e.g. `python3 -m cwrepro.ray run tasks.json`).
    public var command: @Sendable (_ taskFile: String) -> (executable: String, arguments: [String])
    public var arguments: TrialArguments
    /// Variables for the driver (e.g. `PYTHONPATH`).
    public var environment: [String: String]
    /// What the driver is, for messages ("ray").
    public var name: String

    public init(name: String, environment: [String: String] = [:], command: @escaping @Sendable (String) -> (executable: String, arguments: [String]),
                arguments: @escaping TrialArguments) {
        self.name = name; self.environment = environment; self.command = command; self.arguments = arguments
    }

    public func run(_ trials: [PlannedTrial], in study: StudyDirectory, finished: @escaping @Sendable (PlannedTrial, TrialRun) -> Void) throws {
        let tasks = ExecutorTasks(
            binary: StudyEnvironment.binaryPath,
            directory: FileManager.default.currentDirectoryPath, environment: StudyEnvironment.trial,
            trials: trials.map { .init(id: $0.id, trial: $0.trial, record: study.path($0.record), arguments: arguments($0, study.path($0.record))) })
        let taskFile = "executor/tasks-\(ProcessInfo.processInfo.processIdentifier).json"
        try study.write(try StudyDirectory.encoder.encode(tasks), to: taskFile)
        defer { try? FileManager.default.removeItem(atPath: study.path(taskFile)) }
        let byID = Dictionary(trials.map { ($0.id, $0) }, uniquingKeysWith: { x, _ in x })
        var reported = Set<String>()
        var malformed: String?
        let (executable, args) = command(study.path(taskFile))
        let out = try ChildProcess(arguments: args, executable: executable, environment: environment).run { line in
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { return }
            guard let report = try? JSONDecoder().decode(DriverReport.self, from: Data(line.utf8)), let trial = byID[report.id] else {
                if malformed == nil { malformed = line }
                return
            }
            guard reported.insert(report.id).inserted else { return }
            finished(trial, TrialRun(status: report.status, signal: report.signal, stderr: report.stderr ?? "", seconds: report.seconds ?? 0,
                                     node: report.node))
        }
        guard out.status == 0 else { throw ExecutorError.driverFailed(name: name, ending: out.ending, stderr: out.stderrText) }
        if let malformed { throw ExecutorError.malformedReport(name: name, line: malformed) }
        if reported.count < trials.count {
            throw ExecutorError.driverFailed(name: name, ending: out.ending,
                                             stderr: "it reported \(reported.count) of \(trials.count) trials. \(out.stderrText)")
        }
    }
}

/// The task file a driver executor reads.
public struct ExecutorTasks: Codable, Sendable {
    public struct Task: Codable, Sendable {
        public var id: String
        public var trial: Int
        /// Absolute path of the record the task writes.
        public var record: String
        /// Arguments for `binary`.
        public var arguments: [String]
    }

    public var format = "cwrepro-executor-tasks"
    public var version = 1
    /// The cwrepro executable every task runs (absolute path; the same path on every node).
    public var binary: String
    /// The working directory of every task.
    public var directory: String
    /// Variables set for every task.
    public var environment: [String: String]
    public var trials: [Task]
}

/// One line of a driver's output.
struct DriverReport: Codable {
    var id: String
    var status: Int32
    /// The signal that killed the trial (absent: it exited).
    var signal: Int32?
    var seconds: Double?
    var stderr: String?
    var node: String?
}

/// Why an executor could not run the trials.
public enum ExecutorError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `ending`: "exit status 1", "killed by signal 9 (Killed)".
    case driverFailed(name: String, ending: String, stderr: String)
    case malformedReport(name: String, line: String)

    public var description: String {
        switch self {
        case let .driverFailed(name, ending, stderr):
            let tail = stderr.split(separator: "\n").suffix(12).joined(separator: "\n")
            return "the \(name) executor failed (\(ending))" + (tail.isEmpty ? "" : ":\n\(tail)")
        case let .malformedReport(name, line):
            return "the \(name) executor printed a line that is not a trial report: \(line.prefix(200))"
        }
    }
}
