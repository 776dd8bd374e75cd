import Engine
import Foundation
import Recorder

/// One finished trial: a line of `study/trials.jsonl`. Pure data: its JSON (keys sorted) is the
/// contract readers of the file rely on. Every field but `seconds` depends only on what was
/// trained, never on where or by which executor.
public struct TrialResult: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        /// Trained every step.
        case complete
        /// Stopped at a non-finite value (`onNonFinite: stop`): no accuracy.
        case failed
    }

    public var trial: Int
    public var id: String
    /// The swept keys and their values.
    public var point: [String: JSON]
    public var side: StudySide
    /// The side's config name (or profile).
    public var sideName: String
    public var seed: UInt64
    /// The record, relative to the study directory.
    public var record: String
    public var status: Status
    /// Why a failed trial stopped.
    public var failure: String?
    /// The final step's digest (hex): equal for bit-identical runs.
    public var digest: String
    public var steps: Int
    /// The last test evaluation (nil: a failed trial, or a run without one).
    public var testAccuracy: Double?
    public var correct: Int?
    public var total: Int?
    public var perClassAccuracy: [Double]?
    /// The last step's loss (nil when not finite: JSON has no NaN).
    public var finalLoss: Double?
    /// Training time: the sum of the steps' wall times (seconds).
    public var seconds: Double

    public init(trial: Int, id: String, point: [String: JSON], side: StudySide, sideName: String, seed: UInt64, record: String,
                status: Status, failure: String?, digest: String, steps: Int, testAccuracy: Double?, correct: Int?, total: Int?,
                perClassAccuracy: [Double]?, finalLoss: Double?, seconds: Double) {
        self.trial = trial; self.id = id; self.point = point; self.side = side; self.sideName = sideName; self.seed = seed
        self.record = record; self.status = status; self.failure = failure; self.digest = digest; self.steps = steps
        self.testAccuracy = testAccuracy; self.correct = correct; self.total = total; self.perClassAccuracy = perClassAccuracy
        self.finalLoss = finalLoss; self.seconds = seconds
    }

    /// The trial's outcome as its record holds it. `trial` says what the record must be (its
    /// resolved config must hash to `trial.id`).
    public static func read(_ trial: PlannedTrial, sideName: String, recordPath: String) throws -> TrialResult {
        let reader = try RecordReader(path: recordPath)
        let steps = try reader.steps()
        let last = steps.last
        let test = try reader.evaluations().last { $0.split == "test" }
        let status: Status = reader.isComplete ? .complete : .failed
        let loss = last.map { Double($0.loss) }
        return TrialResult(
            trial: trial.trial, id: trial.id, point: trial.values, side: trial.side, sideName: sideName, seed: trial.seed,
            record: trial.record, status: status, failure: reader.status.failure,
            digest: hex64(last?.digest ?? 0), steps: steps.filter { $0.step >= 0 }.count,
            testAccuracy: status == .complete ? test?.accuracy : nil, correct: status == .complete ? test?.correct : nil,
            total: status == .complete ? test?.total : nil, perClassAccuracy: status == .complete ? test?.perClassAccuracy : nil,
            finalLoss: loss.flatMap { $0.isFinite ? $0 : nil },
            seconds: steps.reduce(0) { $0 + $1.wallSeconds })
    }

    /// The line's JSON text (keys sorted, no spaces).
    public var line: String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? e.encode(self)) ?? Data(), as: UTF8.self)
    }
}

/// Where a planned trial stands on disk.
public enum TrialState: Sendable {
    /// Its record is finished and sealed (complete, or failed at a non-finite value).
    case finished(TrialResult)
    /// A process is recording it now (another shard, or a trial of a killed sweep still running).
    case running
    /// Its record was left unfinished (the run was killed): it is trained again.
    case interrupted
    /// No record yet.
    case absent
    /// A record is there but holds another run (a config that resolves differently, an
    /// unreadable file): it is trained again.
    case stale(String)
}

extension PlannedTrial {
    /// This trial's state in `study`.
    public func state(in study: StudyDirectory, sideName: String) -> TrialState {
        let path = study.path(record)
        guard FileManager.default.fileExists(atPath: path) else { return .absent }
        if RecordFileLock.isHeld(path) { return .running }
        do {
            let reader = try RecordReader(path: path)
            if reader.writerActive { return .running }
            guard reader.status.isFinished else { return .interrupted }
            let resolved = SweepPlan.id(resolvedText: reader.configResolved)
            guard resolved == id else { return .stale("its config resolves to \(resolved), not \(id)") }
            return .finished(try TrialResult.read(self, sideName: sideName, recordPath: path))
        } catch {
            return .stale("\(error)")
        }
    }
}

/// Whether a process holds a record's writer lock (`flock`, exclusive, held for the whole run).
enum RecordFileLock {
    static func isHeld(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 { flock(fd, LOCK_UN); return false }
        return errno == EWOULDBLOCK
    }
}
