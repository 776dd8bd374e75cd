import Engine
import Recorder
import Replayer

/// The documented exit statuses (README, "Exit codes"; `cwrepro --help`). 0 is success.
public enum ExitStatus: Int32, CaseIterable, Sendable {
    /// The check failed or the run did: diverged, not identical, not equivalent, a digest does not
    /// match, training hit a non-finite value, trials of a sweep or study failed.
    case failed = 1
    /// Bad usage or bad input, or an output that cannot be written (the message names the file).
    case badInput = 2
    /// The record cannot be read or trusted (not a record, newer schema, truncated, tampered, locked).
    case unreadableRecord = 3
    /// This CPU cannot run what was asked (the binary, OPENBLAS_CORETYPE, a record's kernels).
    case unsupportedCPU = 4
    /// Nothing differs, but the comparison does not cover a whole finished run: the record or
    /// golden was killed, is still being recorded, or failed; or no training step was compared.
    case incomplete = 5
}

/// What the CLI says when a command stops on an error the lower layers document: the message
/// (`error: ...`), hints naming the options that fix it (`hint: ...`; the lower layers' messages
/// name no flags), and the exit status.
public struct FailureText: Equatable, Sendable {
    public let message: String
    public let hints: [String]
    public let status: ExitStatus

    public init(_ message: String, hints: [String] = [], _ status: ExitStatus) {
        self.message = message
        self.hints = hints
        self.status = status
    }

    /// The text and status of `error`, or nil for an error no layer documents (ArgumentParser's
    /// own, an exit code a command chose): the caller passes those on. `outputs` maps each output
    /// path the command writes to the option that gave it (`--export`, `--junit`, `-o` of
    /// `hashes`); a path it does not name is the record of `record -o`. `examples` maps an option
    /// to the file name suggested when its path is a directory, where the command's differs from
    /// `exampleNames` (`report -o`: an HTML page, not `hashes`'s golden).
    public static func of(_ error: Error, outputs: [String: String] = [:], examples: [String: String] = [:]) -> FailureText? {
        switch error {
        case let e as UnsupportedCPUError:
            guard case .recordedCoreType = e.subject else { return FailureText("\(e)", .unsupportedCPU) }
            return FailureText("\(e)", hints: [
                "--no-patch replays on this CPU's own kernels (\(BLAS.coreName)) and reports where the bits part; records made with determinism.gemm: reference replay bit-identical on any x86-64 CPU with AVX2 and FMA",
            ], .unsupportedCPU)
        case let e as DataFileMissing:
            return FailureText(e.error.message, hints: [
                "if the data moved, point to it: --data-dir NEWDIR (the config's directory is now NEWDIR) or --data-dir OLD=NEW (replay, record --resume)",
            ], .badInput)
        case let e as RecordingWriteFailure:
            return FailureText(e.message, .badInput)
        case let e as ResumeRefusal:
            if case .coreNotLoaded = e { return FailureText(e.message, .unsupportedCPU) }
            return FailureText(e.message, .badInput)
        case let e as InputError:
            return FailureText(e.message, .badInput)
        case let e as TraceError:
            return FailureText("\(e)", .badInput)
        case let e as ImportedRecordError:
            return FailureText("\(e)", hints: [
                "compare it with another record or trace (`cwrepro compare A B`), check it against a golden (`cwrepro verify --record \(e.path) --golden steps.hashes`), or record cwrepro's emulation of the model from its exported config",
            ], .badInput)
        case let e as RecordReadError:
            return FailureText("\(e)", .unreadableRecord)
        case let e as OutputError:
            return FailureText(outputMessage(e, outputs: outputs, examples: examples), .badInput)
        case let e as RecordCreateFailure:
            return FailureText("\(e)", .badInput)
        case let e as ResumeError:
            guard case .failed(let p, _) = e else { return FailureText("\(e)", .badInput) }
            return FailureText("\(e)", hints: [
                "record it again from its config (`cwrepro record CONFIG -o \(p) --force`), with --allow-nonfinite if training through NaN or Inf is intended",
            ], .badInput)
        case let e as NonFiniteError:
            return FailureText("\(e)", hints: ["lower the learning rate or check the data; --allow-nonfinite trains on regardless"], .failed)
        case let e as ConfigAssignment.SyntaxError:
            if let dotted = e.dottedKey {
                let value = e.text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).dropFirst().first ?? ""
                return FailureText("--set \(e.text): array indexes are dot components in --set keys; write --set \(dotted)=\(value)", .badInput)
            }
            return FailureText("--set \(e.text): expected key=value, e.g. --set optimizer.lr=0.05", .badInput)
        case let e as VerifyError:
            switch e {
            case .stepsOutOfRange(let n, let available, let golden):
                return FailureText("--steps \(n): the golden \(golden) has \(available) steps; give at most \(available)", .badInput)
            }
        case let e as VarianceError:
            switch e {
            case .noShuffledOrder:
                return FailureText("--vary order: the config has no shuffled data order to vary (data.shuffle is false or data.order is given)", .badInput)
            }
        case let e as StudyError:
            return FailureText("\(e)", .badInput)
        case let e as ExecutorError:
            return FailureText("\(e)", hints: [
                "--executor ray runs `python -m cwrepro.ray` with --python, $CWREPRO_PYTHON or python3: that Python needs ray and the cwrepro package (pip install ./python)",
            ], .failed)
        case let e as ResumeMismatch:
            let changes = e.changes.prefix(3).map(DivergenceText.change).joined(separator: "; ")
            return FailureText("\(e.path): this cwrepro resolves the recorded config differently (\(changes)); the resumed steps could not be bit-identical: record again with this build", .badInput)
        default:
            return nil
        }
    }

    /// The file name suggested for an output option whose path is a directory (`-o` is `hashes`'s
    /// unless the command gives its own: `FailureText.of(_:outputs:examples:)`).
    static let exampleNames = ["--export": "weights.safetensors", "--junit": "verify.xml", "--html": "comparison.html", "-o": "steps.hashes"]

    /// An output error's message with the option that fixes it.
    static func outputMessage(_ e: OutputError, outputs: [String: String], examples: [String: String] = [:]) -> String {
        switch e {
        case .exists(let p): return "\(p) already exists; choose another output with \(outputs[p] ?? "-o"), or pass --force to replace it"
        case .partialExists(let p, _): return "\(e) (`cwrepro record --resume \(p)` continues it)"
        case .notRegular(let p, kind: .directory):
            guard let o = outputs[p] else { return "\(p) is a directory; give the record a file name, e.g. -o \(p)/run.cwr" }
            return "\(o) \(p): is a directory; give a file name, e.g. \(p)/\(examples[o] ?? exampleNames[o] ?? "steps.hashes")"
        case .parentMissing(let p, let parent):
            return outputs[p].map { "\($0) \(p): the directory \(parent) does not exist; create it first" } ?? "\(e)"
        case .notRegular(let p, _), .isInput(let p, _), .io(let p, _):
            return outputs[p].map { "\($0) \(p): \(e)" } ?? "\(e)"
        }
    }
}
