import ArgumentParser
import Engine
import Foundation
import Presentation
import Recorder
import Replayer

/// Runs a command body, turning known errors into a message on stderr and the documented exit
/// code: bad input 2, an unreadable record 3, a CPU that cannot run the kernels 4, a non-finite
/// value 1. The messages of errors from
/// the lower layers are completed here with the options that fix them.
func guarded(_ body: () throws -> Void) throws {
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
        eprint("hint: if the data moved, point to it: --data-dir NEWDIR (the config's directory is now NEWDIR) or --data-dir OLD=NEW (replay)")
        throw ExitCode(2)
    } catch let e as InputError {
        eprint("error: \(e.message)")
        throw ExitCode(2)
    } catch let e as RecordReadError {
        eprint("error: \(e)")
        throw ExitCode(3)
    } catch let e as OutputError {
        eprint("error: \(outputMessage(e))")
        throw ExitCode(2)
    } catch let e as ResumeError {
        eprint("error: \(e)")
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

/// An output error with the options that fix it (Recorder's messages name no flags). Only
/// `record -o` writes through OutputFile so far.
func outputMessage(_ e: OutputError) -> String {
    switch e {
    case .exists(let p): "\(p) already exists; choose another output with -o, or pass --force to replace it"
    case .notRegular(let p, kind: .directory): "\(p) is a directory; give the record a file name, e.g. -o \(p)/run.cwr"
    case .partialExists(let p, _): "\(e) (`cwrepro record --resume \(p)` continues it)"
    default: "\(e)"
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

    /// The config with the --set changes applied.
    func load() throws -> TrainConfig { try TrainConfig.File(path: config).config(applying: changes.assignments()) }

    /// Checks before training that `--export` names a file in an existing directory, so a long
    /// run does not end in a write error (the weights are written after the last step).
    static func checkExport(_ export: String?) throws {
        guard let export else { return }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: export, isDirectory: &isDirectory), isDirectory.boolValue {
            throw InputError("--export \(export): is a directory; give a file name, e.g. \(export)/weights.safetensors")
        }
        let parent = URL(fileURLWithPath: export).deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw InputError("--export \(export): the directory \(parent) does not exist; create it first")
        }
    }
}
