import Recorder
import Replayer

/// Shared wording of where a recorded run stands (`RecordStatus`), what a comparison does not
/// cover (`Incompleteness`) and its verdict (`CheckOutcome`): replay, verify, show, hashes and
/// seal say the same thing the same way.
public enum RunStateText {
    /// "a finished run", "a run killed before it finished (no seal)", "a run still being recorded
    /// by another process", "a failed run (it stopped: step 2: loss is NaN; ...)".
    public static func recordState(_ status: RecordStatus, writerActive: Bool) -> String {
        switch status {
        case .complete: "a finished run"
        case .running: writerActive ? "a run still being recorded by another process" : "a run killed before it finished (no seal)"
        case .failed(let reason): "a failed run (it stopped: \(reason))"
        }
    }

    /// What a comparison does not cover, as a clause: "the run was killed before it finished, so
    /// its end is unknown".
    public static func recordState(_ gap: Incompleteness) -> String {
        switch gap {
        case .noTrainingSteps: "no training step was compared"
        case .unfinished(stillRunning: false): "the run was killed before it finished, so its end is unknown"
        case .unfinished(stillRunning: true): "the run is still being recorded by another process"
        case .failedRun(let reason): "the recorded run failed (it stopped: \(reason))"
        }
    }

    /// The JSON name of an outcome: `identical`, `diverged`, `incomplete`, `nothing-to-compare`,
    /// `accepted-incomplete`.
    public static func name(_ outcome: CheckOutcome) -> String {
        switch outcome {
        case .identical: "identical"
        case .diverged: "diverged"
        case .incomplete(.noTrainingSteps): "nothing-to-compare"
        case .incomplete: "incomplete"
        case .acceptedIncomplete: "accepted-incomplete"
        }
    }

    /// The verdict at the head of a Markdown report: `pass` and `differ` for identical and
    /// diverged, `pass` with what was accepted for an accepted incomplete run, ⚠️ otherwise.
    public static func markdownVerdict(_ outcome: CheckOutcome, pass: String, differ: String, accepted: String) -> String {
        switch outcome {
        case .identical: pass
        case .acceptedIncomplete: "\(pass) (\(accepted) accepted)"
        case .diverged: differ
        case .incomplete(.noTrainingSteps): "⚠️ nothing to compare"
        case .incomplete: "⚠️ incomplete"
        }
    }

    /// The JSON name of what is missing: `no-training-steps`, `killed`, `still-running`, `failed`.
    public static func name(_ gap: Incompleteness) -> String {
        switch gap {
        case .noTrainingSteps: "no-training-steps"
        case .unfinished(stillRunning: false): "killed"
        case .unfinished(stillRunning: true): "still-running"
        case .failedRun: "failed"
        }
    }

    /// What a record's checks prove, in a line for `show`.
    public static func integrity(_ i: RecordIntegrity, status: RecordStatus, writerActive: Bool) -> String {
        switch i {
        case .sealed(let digest):
            "sealed, digest \(digest) (commit or sign it: guideline 06)"
        case .unsealed:
            writerActive ? "unsealed: still being recorded; every committed step is chained, the end is not yet sealed"
                : "unsealed: the run was killed before it finished; every committed step is chained, but steps or evaluations after the last one could be missing without a trace"
        case .legacy(let limits):
            "legacy (schema 1): rows are checksummed one by one; it cannot show " + limits.map(\.rawValue).joined(separator: ", ")
        }
    }
}
