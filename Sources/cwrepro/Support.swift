import ArgumentParser
import Engine
import Foundation
import Presentation
import Recorder
import Replayer

/// The documented exit codes (`ExitStatus`) as ArgumentParser's exit codes.
enum Exit {
    static let failed = code(.failed)
    static let badInput = code(.badInput)
    static let unreadableRecord = code(.unreadableRecord)
    static let unsupportedCPU = code(.unsupportedCPU)
    static let incomplete = code(.incomplete)

    static func code(_ status: ExitStatus) -> ExitCode { ExitCode(status.rawValue) }
}

/// Ends a replay or a verification with the exit code of its outcome: 0 identical (or an
/// incomplete run accepted), 1 diverged, 5 incomplete.
func conclude(_ outcome: CheckOutcome) throws {
    switch outcome {
    case .identical, .acceptedIncomplete: return
    case .diverged: throw Exit.failed
    case .incomplete: throw Exit.incomplete
    }
}

/// Runs a command body, turning the errors the lower layers document into their message and
/// hints on stderr and the documented exit code (`FailureText.of`: bad input or an unwritable
/// output 2, an unreadable record 3, a CPU that cannot run the kernels 4, a non-finite value 1);
/// `outputs` names the option that gave each output path, `examples` the file name an option
/// suggests when its path is a directory (`FailureText.of`). Other errors pass on unchanged.
func guarded(outputs: [String: String] = [:], examples: [String: String] = [:], _ body: () throws -> Void) throws {
    do {
        try body()
    } catch {
        guard let failure = FailureText.of(error, outputs: outputs, examples: examples) else { throw error }
        eprint("error: \(failure.message)")
        for hint in failure.hints { eprint("hint: \(hint)") }
        throw Exit.code(failure.status)
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
    writeStderr(Text.printable(s) + "\n")
}

/// Writes `s` to stderr as it is. A write that fails (stderr closed, or a file past the process's
/// file-size limit) loses the text instead of trapping, as `FileHandle.write(_:)` does: the
/// command still exits with its documented status.
func writeStderr(_ s: String) {
    try? FileHandle.standardError.write(contentsOf: Data(s.utf8))
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
