import ArgumentParser
import Engine
import Foundation
import Presentation
import Recorder
import Replayer

/// The documented exit codes (README, "Exit codes"; `cwrepro --help`).
enum Exit {
    /// Diverged, verification failed, training hit a non-finite value, a digest does not match.
    static let diverged = ExitCode(1)
    /// Bad usage or bad input, or an output that cannot be written (the message names the file).
    static let badInput = ExitCode(2)
    /// The record cannot be read or trusted (not a record, newer schema, truncated, tampered, locked).
    static let unreadableRecord = ExitCode(3)
    /// This CPU cannot run what was asked (the binary, OPENBLAS_CORETYPE, a record's kernels).
    static let unsupportedCPU = ExitCode(4)
    /// Nothing differs, but the comparison does not cover a whole finished run: the record or
    /// golden was killed, is still being recorded, or failed; or no training step was compared.
    static let incomplete = ExitCode(5)
}

/// Ends a replay or a verification with the exit code of its outcome: 0 identical (or an
/// incomplete run accepted), 1 diverged, 5 incomplete.
func conclude(_ outcome: CheckOutcome) throws {
    switch outcome {
    case .identical, .acceptedIncomplete: return
    case .diverged: throw Exit.diverged
    case .incomplete: throw Exit.incomplete
    }
}

/// Runs a command body, turning known errors into a message on stderr and the documented exit
/// code: bad input or an unwritable output 2, an unreadable record 3, a CPU that cannot run the
/// kernels 4, a non-finite value 1. The messages of errors from the lower layers are completed
/// here with the options that fix them; `outputs` names the option that gave each output path.
func guarded(outputs: [String: String] = [:], _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as UnsupportedCPUError {
        eprint("error: \(e)")
        if case .recordedCoreType = e.subject {
            eprint("hint: --no-patch replays on this CPU's own kernels (\(BLAS.coreName)) and reports where the bits part; records made with determinism.gemm: reference replay bit-identical on any x86-64 CPU with AVX2 and FMA")
        }
        throw ExitCode(4)
    } catch let e as DataFileMissing {
        eprint("error: \(e.error.message)")
        eprint("hint: if the data moved, point to it: --data-dir NEWDIR (the config's directory is now NEWDIR) or --data-dir OLD=NEW (replay, record --resume)")
        throw ExitCode(2)
    } catch let e as RecordingWriteFailure {
        eprint("error: \(e.message)")
        throw Exit.badInput
    } catch let e as ResumeRefusal {
        eprint("error: \(e.message)")
        if case .coreNotLoaded = e { throw Exit.unsupportedCPU }
        throw Exit.badInput
    } catch let e as InputError {
        eprint("error: \(e.message)")
        throw ExitCode(2)
    } catch let e as TraceError {
        eprint("error: \(e)")
        throw ExitCode(2)
    } catch let e as ImportedRecordError {
        eprint("error: \(e)")
        eprint("hint: compare it with another record or trace (`cwrepro compare A B`), check it against a golden (`cwrepro verify --record \(e.path) --golden steps.hashes`), or record cwrepro's emulation of the model from its exported config")
        throw ExitCode(2)
    } catch let e as RecordReadError {
        eprint("error: \(e)")
        throw ExitCode(3)
    } catch let e as OutputError {
        eprint("error: \(outputMessage(e, outputs: outputs))")
        throw ExitCode(2)
    } catch let e as ResumeError {
        eprint("error: \(e)")
        if case .failed(let p, _) = e {
            eprint("hint: record it again from its config (`cwrepro record CONFIG -o \(p) --force`), with --allow-nonfinite if training through NaN or Inf is intended")
        }
        throw ExitCode(2)
    } catch let e as NonFiniteError {
        eprint("error: \(e)")
        eprint("hint: lower the learning rate or check the data; --allow-nonfinite trains on regardless")
        throw ExitCode(1)
    } catch let e as ConfigAssignment.SyntaxError {
        eprint("error: --set \(e.text): expected key=value, e.g. --set optimizer.lr=0.05")
        throw ExitCode(2)
    } catch let e as VerifyError {
        switch e {
        case .stepsOutOfRange(let n, let available, let golden):
            eprint("error: --steps \(n): the golden \(golden) has \(available) steps; give at most \(available)")
        }
        throw ExitCode(2)
    } catch let e as VarianceError {
        switch e {
        case .noShuffledOrder:
            eprint("error: --vary order: the config has no shuffled data order to vary (data.shuffle is false or data.order is given)")
        }
        throw ExitCode(2)
    } catch let e as StudyError {
        eprint("error: \(e)")
        throw ExitCode(2)
    } catch let e as ExecutorError {
        eprint("error: \(e)")
        eprint("hint: --executor ray runs `python -m cwrepro.ray` with --python, $CWREPRO_PYTHON or python3: that Python needs ray and the cwrepro package (pip install ./python)")
        throw ExitCode(1)
    } catch let e as ResumeMismatch {
        eprint("error: \(e.path): this cwrepro resolves the recorded config differently (\(e.changes.prefix(3).map(DivergenceText.change).joined(separator: "; "))); the resumed steps could not be bit-identical: record again with this build")
        throw ExitCode(2)
    }
}

/// An output error with the options that fix it (Recorder's messages name no flags): `outputs`
/// maps each output path a command writes to its option (`--export`, `--junit`, `-o` of
/// `hashes`); a path it does not name is the record of `record -o`.
func outputMessage(_ e: OutputError, outputs: [String: String] = [:]) -> String {
    switch e {
    case .exists(let p): return "\(p) already exists; choose another output with \(outputs[p] ?? "-o"), or pass --force to replace it"
    case .partialExists(let p, _): return "\(e) (`cwrepro record --resume \(p)` continues it)"
    case .notRegular(let p, kind: .directory):
        guard let o = outputs[p] else { return "\(p) is a directory; give the record a file name, e.g. -o \(p)/run.cwr" }
        return "\(o) \(p): is a directory; give a file name, e.g. \(p)/\(["--export": "weights.safetensors", "--junit": "verify.xml"][o] ?? "steps.hashes")"
    case .parentMissing(let p, let parent):
        return outputs[p].map { "\($0) \(p): the directory \(parent) does not exist; create it first" } ?? "\(e)"
    case .notRegular(let p, _), .isInput(let p, _), .io(let p, _):
        return outputs[p].map { "\($0) \(p): \(e)" } ?? "\(e)"
    }
}

/// `--memory-limit`, for every command that trains: this process's limit and, through
/// `CWREPRO_MEMORY_LIMIT`, that of every process it starts (variance workers, re-executions).
struct ResourceOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The most memory a run may plan to use: 8G, 512M, 75% (of this machine's memory) or none; default CWREPRO_MEMORY_LIMIT, else 3/4 of the machine's memory. The run is refused (exit 2) when its estimate is above it.", valueName: "size"))
    var memoryLimit: String?

    /// Sets the process's limit (a malformed size is an `InputError`) and exports it to children.
    func apply() throws {
        guard let memoryLimit else { return }
        MemoryLimit.setProcess(try MemoryLimit.parse(memoryLimit, origin: "--memory-limit \(memoryLimit)", change: "--memory-limit {size}"))
        setenv(MemoryLimit.environmentVariable, memoryLimit, 1)
    }
}

/// A message on stderr, its control characters escaped (`Text.printable`).
func eprint(_ s: String) {
    FileHandle.standardError.write(Data((Text.printable(s) + "\n").utf8))
}

/// A report or other human output (text or Markdown) on stdout, its control characters escaped
/// (`Text.printable`): record names, tensor names and config values are untrusted text. JSON is
/// printed as it is (its encoder escapes them already).
func printText(_ s: String, terminator: String = "\n") {
    print(Text.printable(s), terminator: terminator)
}

/// True when stderr is a terminal (progress is then a bar redrawn in place: `Progress`).
var stderrIsTerminal: Bool { isatty(2) == 1 }

/// `--set`, shared by every command that trains from a config (`replay` has its own wording:
/// there a change is the point of the replay).
struct ConfigChanges: ParsableArguments {
    @Option(name: .customLong("set"), help: ArgumentHelp("Change one config value: key=value with a dotted JSON path, integers indexing arrays (model.layers.1.units=64; repeatable).", valueName: "key=value"))
    var sets: [String] = []

    /// The changes, parsed (a malformed one is a `ConfigAssignment.SyntaxError`). Apply them to a
    /// read config file (`TrainConfig.File(path:).config(applying:)`): a missing file is reported first.
    func assignments() throws -> [ConfigAssignment] { try sets.map(ConfigAssignment.init(parsing:)) }
}

/// Options shared by the commands that train from a config.
struct TrainOptions: ParsableArguments {
    @Argument(help: "The train.json config (its format: docs/config.md in the cwrepro repository).")
    var config: String

    @OptionGroup var changes: ConfigChanges

    @Option(help: ArgumentHelp("Write the final parameters to a safetensors file (PyTorch names and layouts).", valueName: "file"))
    var export: String?

    @Flag(help: "Replace the --export file if it exists (only a regular file that is not the config).")
    var force = false

    @OptionGroup var resources: ResourceOptions

    /// The config with the --set changes applied.
    func load() throws -> TrainConfig { try TrainConfig.File(path: config).config(applying: changes.assignments()) }
}
