import Engine
import Foundation
import Recorder

/// Which set a model is scored on.
public enum EvaluationSplit: String, CaseIterable, Sendable { case test, train }

/// Why a model cannot be scored.
public enum TrainedModelError: Error, Equatable, Sendable {
    /// The config names no weights (`model.init`) and none were given beside it.
    case noWeights(config: String)
}

/// A config and trained weights: the data of its config, its model built with the weights
/// loaded, nothing trained. Evaluation runs exactly as `Trainer.evaluate` runs after training
/// (the same batches of 256, the config's GEMM, reduction order and threads), so the weights a
/// run exported score to the accuracy and prediction hash its record holds.
public final class TrainedModel {
    public let config: TrainConfig
    /// The config file (for reports).
    public let configPath: String
    /// The safetensors file the weights came from.
    public let weightsPath: String
    let trainer: Trainer

    /// Builds the model of `config` and loads `weights` (a safetensors file; nil: the config's
    /// `model.init`, relative to the config's directory). Every input is read and checked here.
    public init(config: TrainConfig, configPath: String, weights: String?) throws {
        guard let path = weights ?? config.initPath.map(config.resolvePath) else { throw TrainedModelError.noWeights(config: configPath) }
        var config = config
        config.initPath = nil  // loaded below, not through the trainer's initialisation
        self.config = config
        self.configPath = configPath
        weightsPath = path
        trainer = try Trainer(config: config, recorder: .plain(seed: config.seed))
        try trainer.model.load(SafeTensors.read(path: path), source: path)
    }

    public var name: String { config.name }
    public var model: Model { trainer.model }
    public var semantics: Semantics { config.semantics }

    public func dataset(_ split: EvaluationSplit) -> Dataset { split == .test ? trainer.data.test : trainer.data.train }

    /// Scores `split` in evaluation mode: the evaluation (step and epoch -1: no training step) and
    /// each sample's predicted class.
    public func predict(_ split: EvaluationSplit) -> (evaluation: Evaluation, predictions: [Int32]) {
        trainer.withProcessConfigured {
            trainer.predict(dataset(split), step: -1, epoch: -1, split: split.rawValue)
        }
    }

    /// The first `count` samples of `split` (fewer when the split is smaller).
    public func batch(_ split: EvaluationSplit, count: Int) -> (x: Tensor, y: [Int32]) {
        let set = dataset(split)
        return set.batch(Array(0..<min(count, set.count)))
    }

    /// A context for inference on this model with another thread count, GEMM or reduction order
    /// (latency at a common thread count; the rounding-noise probe).
    func context(threads: Int? = nil, gemm: GEMMMode? = nil, reduction: ReductionMode? = nil) -> Context {
        let d = config.determinism
        let ctx = Context(recorder: .plain(seed: config.seed), params: model.params, semantics: config.semantics,
                          gemm: gemm ?? d.gemm, reduction: reduction ?? d.reduction, threads: threads ?? d.threads)
        ctx.training = false
        return ctx
    }

    /// The config's own inference context (the one `predict` uses).
    var ownContext: Context { context() }

    /// Every layer's output on `x` in evaluation mode, in execution order (a block's children
    /// before the block), computed with `ctx` under its OpenBLAS thread count.
    func layerOutputs(_ x: Tensor, _ ctx: Context) -> [(name: String, output: Tensor)] {
        var outputs: [(name: String, output: Tensor)] = []
        ctx.outputObserver = { outputs.append(($0, $1)) }
        defer { ctx.outputObserver = nil }
        _ = ProcessConfiguration.withOpenBLAS(threads: ctx.threads) { model.forward(x, ctx) }
        return outputs
    }
}
