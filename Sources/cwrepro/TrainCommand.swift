import ArgumentParser
import Engine
import Foundation
import Recorder

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train from a config without recording (the same numbers as `record`, no hashing).")

    @OptionGroup var options: TrainOptions

    @Flag(name: .customLong("allow-nonfinite"), help: "Keep training through NaN or Inf values (default: stop at the first, exit 1).")
    var allowNonFinite = false

    func run() throws {
        try guarded {
            let config = try options.load()
            try TrainOptions.checkExport(options.export)
            if let w = BLAS.coreTypeFallback { eprint("warning: " + "OPENBLAS_CORETYPE=\(w.requested) was not honoured: OpenBLAS loaded \(w.loaded) (a misspelled or unsupported core type falls back silently)") }
            let trainer = try Trainer(config: config, recorder: .plain(seed: config.seed))
            trainer.stopOnNonFinite = !allowNonFinite
            let progress = Progress(total: trainer.totalSteps, label: "train")
            let result = try trainer.run(progress: progress.update)
            progress.finish()
            print("\(config.name): \(result.steps) steps in \(fmt(result.seconds, 3)) s (\(fmt(Double(result.steps) / max(result.seconds, 1e-9), 0)) steps/s); final loss \(fmt(Double(result.finalLoss)))")
            if let e = result.final { print(describe(e)) }
            print("final parameters: digest \(hex64(parameterDigest(trainer.model.params))) (XXH3-64 of \(grouped(trainer.model.params.count)) float32)")
            try options.exportWeights(trainer)
        }
    }
}

/// XXH3-64 tensor hash of the whole parameter buffer (layout order, BatchNorm buffers included): two
/// runs end with the same parameters bit for bit exactly when their digests agree.
func parameterDigest(_ params: ParameterStore) -> UInt64 {
    TensorHash.tensor(dtype: .float32, shape: [params.count],
                      raw: UnsafeRawBufferPointer(start: params.values, count: params.count * MemoryLayout<Float>.size))
}
