import ArgumentParser
import Engine
import Foundation
import Presentation
import Recorder
import Replayer

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "Audit trained models: compare two that claim to be the same.",
        subcommands: [ModelsCompareCommand.self])
}

struct ModelsCompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two trained models: architecture, behaviour on the same inputs, latency, and the first layer where their outputs part.",
        discussion: """
            A and B are each a config whose model.init holds trained weights, or config.json:weights.safetensors. \
            Architecture: the expanded layer lists aligned, every difference named (a stride that moves between \
            layers of equal parameter shapes, as ResNet v1 against v1.5, included). Behaviour: accuracy and \
            per-class accuracy on the split, McNemar's test, the disagreement rate and the classes that disagree \
            most. Latency: both models timed in one run, interleaved, on the same threads; the ratio B / A with \
            its interval. Localisation: each paired layer's output on the same batch against A's own rounding \
            noise, and the first layer that leaves tolerance. --html writes the report as a page too, through \
            a temporary file renamed into place: an existing file is replaced only with --force, and never when \
            it is a config or weights file, a device, a FIFO or a directory (checked before anything is run). \
            Exit 0 when the models are equivalent (no architecture difference, no disagreement, every layer \
            within tolerance), 1 when they differ, 2 on bad input or an --html file that exists or cannot be written.
            """)

    @Argument(help: "Model A: config.json (its model.init holds the weights) or config.json:weights.safetensors.")
    var a: String

    @Argument(help: "Model B, the same way.")
    var b: String

    @Option(help: "The split both are scored on: test or train.")
    var split: EvaluationSplit = .test

    @OptionGroup var latency: LatencyFlags

    @Option(help: "Confidence level of the latency ratio's interval.")
    var level = 0.95

    @Option(help: "Samples in the batch whose layer outputs are compared (the first of the split).")
    var samples = 32

    @Option(name: .customLong("noise-factor"), help: "A layer diverges when max |A - B| exceeds this many times A's own rounding noise (and 16 ulp).")
    var noiseFactor = 8.0

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Flag(help: "Print the report as Markdown.")
    var md = false

    @Option(help: ArgumentHelp("Also write the report as a self-contained HTML page.", valueName: "file"))
    var html: String?

    @Flag(help: "Replace the --html file if it exists (only a regular file that is none of the configs and weights).")
    var force = false

    func checkUsage() throws {
        if json && md { throw InputError("give at most one of --json and --md") }
        if samples < 1 { throw InputError("--samples \(samples): give at least 1") }
        guard noiseFactor >= 1, noiseFactor.isFinite else { throw InputError("--noise-factor \(noiseFactor): give a finite number >= 1") }
        if force && html == nil { throw InputError("--force replaces the --html file; give --html FILE too") }
    }

    func run() throws {
        var report: ModelComparisonReport?
        try guarded(outputs: html.map { [$0: "--html"] } ?? [:]) {
            try checkUsage()
            let arguments = [ModelArgument(a), ModelArgument(b)]
            // Checked before the models are loaded and timed: an existing page only with --force, never an input.
            let inputs = arguments.flatMap { [$0.config] + ($0.weights.map { [$0] } ?? []) }
            if let html { try OutputFile.check(html, force: force, inputs: inputs) }
            report = try wordingModelErrors {
                let ma = try arguments[0].load(), mb = try arguments[1].load()
                let options = ModelComparisonOptions(split: split, latency: latency.options(level: level),
                                                     localisation: LocalisationOptions(batchSize: samples, noiseFactor: noiseFactor))
                return try ModelComparison.run(ma, mb, options: options)
            }
            if let report, let html {
                let page = Array(report.html(generator: "cwrepro \(CWRepro.configuration.version)").utf8)
                try OutputFile.write(page, to: html, force: force, inputs: inputs)
                eprint("wrote \(html)")
            }
        }
        guard let report else { return }
        if json { print(report.json) } else { printText(md ? report.markdown : report.humanText) }
        if !report.equivalent { throw Exit.failed }
    }
}

/// A model on the command line: `config.json` (weights in its model.init) or
/// `config.json:weights.safetensors` (split at the last colon when no file has the whole name).
struct ModelArgument {
    var config: String
    var weights: String?

    init(config: String, weights: String?) { self.config = config; self.weights = weights }

    init(_ argument: String) {
        if !FileManager.default.fileExists(atPath: argument), let colon = argument.lastIndex(of: ":") {
            config = String(argument[..<colon])
            weights = String(argument[argument.index(after: colon)...])
        } else {
            config = argument
            weights = nil
        }
    }

    func load(changes: [ConfigAssignment] = []) throws -> TrainedModel {
        try TrainedModel(config: TrainConfig.File(path: config).config(applying: changes), configPath: config, weights: weights)
    }
}

/// The latency options shared by `evaluate` and `models compare`.
struct LatencyFlags: ParsableArguments {
    @Option(name: .customLong("batch-size"), help: "Samples per timed forward pass (default: the config's data.batchSize).")
    var batchSize: Int?

    @Option(help: "Untimed forward passes before the timed ones (0 to 10000).")
    var warmup = 3

    @Option(help: "Timed forward passes (2 to 100000).")
    var timed = 30

    @Option(help: "Threads of the timed passes, for the layers and OpenBLAS (default: the config's determinism.threads; A's for a comparison).")
    var threads: Int?

    func options(level: Double = 0.95) -> LatencyOptions {
        LatencyOptions(batchSize: batchSize, warmup: warmup, timed: timed, threads: threads, level: level)
    }
}

extension EvaluationSplit: ExpressibleByArgument {}

/// Runs `body`, wording the model sessions' typed errors with the options that fix them
/// (as input errors, exit 2); `guarded` handles the rest.
func wordingModelErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as TrainedModelError {
        switch e {
        case .noWeights(let config):
            throw InputError("\(config): no trained weights: set model.init in the config, or give them (evaluate --weights w.safetensors; models compare \(config):w.safetensors)")
        }
    } catch let e as LatencyOptionsError {
        switch e {
        case .batchSize(let n): throw InputError("--batch-size \(n): give at least 1")
        case .warmup(let n):
            let r = LatencyOptions.warmupRange
            throw InputError("--warmup \(n): give \(r.lowerBound) to \(r.upperBound)")
        case .timed(let n):
            let r = LatencyOptions.timedRange
            throw InputError("--timed \(n): give \(r.lowerBound) to \(r.upperBound) (a spread needs two passes)")
        case .threads(let n): throw InputError("--threads \(n): give 1 to 256")
        case .level(let x): throw InputError("--level \(x): give a confidence level between 0 and 1, e.g. 0.95")
        }
    } catch let e as ModelComparisonError {
        switch e {
        case .differentSamples(let split, let detail):
            throw InputError("A and B do not score the same \(split.rawValue) samples (\(detail)); give configs with the same data")
        }
    }
}

extension EvaluateCommand: ComputesWithOpenBLAS {}
extension ModelsCompareCommand: ComputesWithOpenBLAS {}
