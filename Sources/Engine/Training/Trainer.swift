import Foundation
import Recorder

/// What a finished (or stopped) run reports.
public struct RunResult {
    public var steps: Int
    public var losses: [Float]
    public var evaluations: [Evaluation]
    public var stoppedEarly: Bool
    public var seconds: Double
    public var finalLoss: Float { losses.last ?? .nan }
    public var final: Evaluation? { evaluations.last }
}

/// The training loop. Every random draw, data order and tensor goes through `recorder`; the
/// per-step order of recorded tensors is:
/// [data order at an epoch start], batch.x, batch.y, [activations], loss, [grad_inputs],
/// grads (layout order), params after the update (layout order), optimizer state.
/// Initialisation is step `init` (-1): draws and the initial parameters.
public final class Trainer {
    public let config: TrainConfig
    public let recorder: Recorder
    public let data: DataSplit
    public let model: Model
    public let ctx: Context
    public let optimizer: Optimizer
    public let order: BatchOrder?
    /// `data.augment`: crops and flips of training batches (Augment.swift).
    public let augment: Augment?
    /// Files the run read (config-relative name -> bytes), for embedding in a record.
    public private(set) var artifacts: [(name: String, bytes: [UInt8])] = []
    private let initTensors: [(name: String, shape: [Int], data: [Float])]?

    /// Loads data, builds the model and reads every file, so that all input errors surface
    /// before anything is trained or written.
    public init(config: TrainConfig, recorder: Recorder) throws {
        self.config = config
        self.recorder = recorder
        recorder.hashInBackground = config.determinism.threads < ProcessInfo.processInfo.activeProcessorCount
        // Before anything is allocated: refuse a config that cannot run, or a run that would not
        // fit (exit 2, with the estimate).
        let estimate = try Self.preflight(config)
        try MemoryLimit.process().check(estimate)
        openBLASThreads = config.determinism.threads
        data = try DataSource.load(config, recorder: recorder)
        try Self.checkBatches(config.data, trainCount: data.train.count)
        augment = try Augment(config.data, sampleShape: data.train.sampleShape)
        model = try Model(layers: config.layers, inputShape: data.train.sampleShape, semantics: config.semantics)
        if model.outputShape != [data.train.classes] {
            throw InputError("model.layers: the last layer outputs \(model.outputShape), the data has \(data.train.classes) classes; end with {\"type\": \"dense\", \"units\": \(data.train.classes)}")
        }
        ctx = Context(recorder: recorder, params: model.params, semantics: config.semantics,
                      gemm: config.determinism.gemm, reduction: config.determinism.reduction,
                      threads: config.determinism.threads)
        optimizer = Optimizers.make(config.optimizer, semantics: config.semantics, count: model.params.count)
        if let p = config.data.order {
            let bytes = try config.embedded[p] ?? readFileBytes(config.resolvePath(p), what: "data.order file")
            order = try BatchOrder.parse(bytes, name: config.resolvePath(p), trainCount: data.train.count)
            artifacts.append((p, bytes))
        } else { order = nil }
        if let p = config.initPath {
            let bytes = try config.embedded[p] ?? readFileBytes(config.resolvePath(p), what: "model.init file")
            initTensors = try SafeTensors.parse(bytes, name: config.resolvePath(p))
            artifacts.append((p, bytes))
        } else { initTensors = nil }
    }

    /// The checks a config passes before anything is loaded or allocated, and its memory estimate:
    /// the data files' headers, every layer against the shape it receives (unknown keys, sizes),
    /// the batch against the training samples, the augmentation against the sample shape. What
    /// `record` refuses here a sweep refuses when it plans the trial (`SweepPlan`), before any
    /// trial runs. (The class count is checked once the labels are read.)
    public static func preflight(_ config: TrainConfig) throws -> MemoryEstimate {
        let estimate = try MemoryEstimate.estimate(config)
        try checkBatches(config.data, trainCount: estimate.data.trainCount)
        _ = try Augment(config.data, sampleShape: estimate.data.sampleShape)
        return estimate
    }

    /// With `data.dropLast`, at least one full batch of the training samples.
    static func checkBatches(_ data: TrainConfig.DataConfig, trainCount: Int) throws {
        if data.dropLast && trainCount < data.batchSize {
            throw InputError("data.batchSize: \(data.batchSize) with data.dropLast leaves no full batch of the \(trainCount) training samples; lower the batch size or set dropLast to false")
        }
    }

    /// Batches per epoch: ceil(train / batch), or floor with `data.dropLast`.
    public var stepsPerEpoch: Int {
        let n = data.train.count, b = config.data.batchSize
        return max(1, config.data.dropLast ? n / b : (n + b - 1) / b)
    }

    /// Total steps: `training.maxSteps`, else all of `data.order`, else epochs x stepsPerEpoch.
    public var totalSteps: Int {
        let planned = order.map { $0.batches.count } ?? config.training.epochs * stepsPerEpoch
        return min(planned, config.training.maxSteps ?? planned)
    }

    /// Learning rate at a step: lr * gamma^floor(t / stepSize), t counting epochs or steps (`schedule.unit`).
    /// Computed in Float64 from the values as written (torch's StepLR multiplies Python floats), then
    /// rounded once to Float32: 0.1 * 0.1 gives 0.01f, as in both frameworks.
    public func learningRate(step: Int, epoch: Int) -> Float {
        guard let s = config.schedule else { return config.optimizer.lr }
        let t = config.semantics.knobs.scheduleUnit == .step ? step : epoch
        return Float(Optimizers.decimal(config.optimizer.lr) * Foundation.pow(Optimizers.decimal(s.gamma), Double(t / s.stepSize)))
    }

    /// OpenBLAS's thread count during `run` (default `determinism.threads`; a replay sets the
    /// recorded count when it differs). Held for the run through `ProcessConfiguration`.
    public var openBLASThreads: Int

    /// Runs `body` with this run's process settings in force (OpenBLAS's thread count): `run` does,
    /// and so must code that calls `trainStep` itself.
    public func withProcessConfigured<T>(_ body: () throws -> T) rethrows -> T {
        try ProcessConfiguration.withOpenBLAS(threads: openBLASThreads, body)
    }

    /// Stop at the first non-finite loss, gradient or parameter with a `NonFiniteError` (the
    /// commands set it unless `--allow-nonfinite`; replays leave it off and compare hashes).
    public var stopOnNonFinite = false
    /// Receives the training state after a step, every `record.checkpointEvery` steps and at the
    /// end of each epoch (not after the last step): `(step, encoded Checkpoint)`.
    public var checkpointHandler: ((Int, [UInt8]) throws -> Void)?

    /// Trains from initialisation, or from `checkpoint` (a run resumed after a crash: steps after
    /// it are recorded exactly as an uninterrupted run records them).
    /// - Parameter source: names the record a checkpoint came from, in errors.
    public func run(from checkpoint: Checkpoint? = nil, source: String = "", progress: ((StepSummary) -> Void)? = nil) throws -> RunResult {
        try withProcessConfigured { try runSteps(from: checkpoint, source: source, progress: progress) }
    }

    private func runSteps(from checkpoint: Checkpoint?, source: String, progress: ((StepSummary) -> Void)?) throws -> RunResult {
        let start = Date()
        var step = 0
        if let checkpoint {
            try restore(checkpoint, source: source)
            step = checkpoint.step + 1
        } else {
            // Initialisation: draw or load, then record the initial parameters.
            if let t = initTensors { try model.load(t, source: config.initPath ?? "model.init") } else { model.initialize(ctx) }
            if let order { recorder.recordOrder(site: "data/order", order.batches.flatMap { $0 }) }
            model.recordParams(recorder)
            try recorder.endStep(loss: 0, lr: 0, nextStep: 0, nextEpoch: 0)
        }

        var result = RunResult(steps: 0, losses: [], evaluations: [], stoppedEarly: recorder.shouldStop, seconds: 0)
        let total = result.stoppedEarly ? 0 : totalSteps
        var epochBatches: [[Int]] = []
        if order == nil && step < total && step % stepsPerEpoch != 0 {
            // Resumed mid-epoch: the epoch's order was recorded in its first step; derive it again.
            epochBatches = batches(epoch: step / stepsPerEpoch, rederive: true)
        }
        let every = config.record.checkpointEvery
        while step < total {
            let epoch = step / stepsPerEpoch
            let inEpoch = step % stepsPerEpoch
            let indices: [Int]
            if let order {
                indices = order.batches[step]
            } else {
                if inEpoch == 0 { epochBatches = batches(epoch: epoch) }
                indices = epochBatches[inEpoch]
            }
            let lr = learningRate(step: step, epoch: epoch)
            let loss = trainStep(indices, step: step, lr: lr)
            let unhealthy = stopOnNonFinite ? healthCheck(step: step, loss: loss) : nil
            result.losses.append(loss)
            step += 1
            let nextEpoch = step / stepsPerEpoch
            let summary = try recorder.endStep(loss: loss, lr: lr, nextStep: step, nextEpoch: nextEpoch)
            progress?(summary)
            if let unhealthy { throw unhealthy }
            if recorder.shouldStop {
                result.stoppedEarly = true
                if recorder.evaluatesBeforeStopping { result.evaluations.append(try evaluate(step: step - 1, epoch: epoch)) }
                break
            }
            if (nextEpoch != epoch && step < total) {
                result.evaluations.append(try evaluate(step: step - 1, epoch: epoch))
            }
            // After the step's evaluation: a committed checkpoint implies its evaluation is committed.
            if let checkpointHandler, step < total, (every > 0 && step % every == 0) || nextEpoch != epoch {
                try checkpointHandler(step - 1, self.checkpoint(after: step - 1).encode())
            }
        }
        result.steps = step
        if !result.stoppedEarly && step > 0 {
            result.evaluations.append(try evaluate(step: step - 1, epoch: (step - 1) / stepsPerEpoch))
        }
        result.seconds = Date().timeIntervalSince(start)
        return result
    }

    /// The batches of an epoch: the train set in file order, or shuffled by the recorder (site
    /// `data/shuffle/epoch-<e>`, stream keyed by (`data.shuffleSeed` ?? seed, site)), cut into
    /// batchSize pieces (last partial kept unless dropLast).
    /// - Parameter rederive: derive the permutation again without drawing or recording it (resume).
    func batches(epoch: Int, rederive: Bool = false) -> [[Int]] {
        let n = data.train.count, b = config.data.batchSize
        let site = "data/shuffle/epoch-\(epoch)", seed = config.data.shuffleSeed ?? config.seed
        let perm = !config.data.shuffle ? Array(0..<n)
            : rederive ? recorder.rederivePermutation(site: site, count: n, seed: seed)
            : recorder.permutation(site: site, count: n, seed: seed)
        return (0..<stepsPerEpoch).map { i in Array(perm[(i * b)..<min(n, (i + 1) * b)]) }
    }

    /// One optimizer step on the batch `indices`; returns the loss.
    public func trainStep(_ indices: [Int], step: Int, lr: Float) -> Float {
        ctx.training = true
        ctx.step = step
        var (x, y) = data.train.batch(indices)
        augment?.apply(&x, step: step, recorder: recorder)
        recorder.record(name: "batch.x", role: .batch, shape: x.shape, floats: x.data)
        recorder.record(name: "batch.y", role: .batch, shape: [y.count], ints: y)
        model.params.zeroGrads()
        let logits = model.forward(x, ctx)
        let (loss, dlogits, _) = CrossEntropy.forwardBackward(logits: logits, labels: y, smoothing: config.loss.labelSmoothing,
                                                              reduction: ctx.batchReduction("loss"))
        recorder.record(name: "loss", role: .loss, shape: [], floats: [loss])
        model.backwardParameters(dlogits, ctx)
        model.recordGrads(recorder)
        let update = UpdateRecording(model.params, optimizer, recorder)
        optimizer.step(model.params, lr: lr, updated: update.updated)
        return loss
    }

    /// Evaluation mode over the test set: accuracy, per-class accuracy, mean loss, and the XXH3
    /// hash of the predicted labels (Int32 little-endian).
    public func evaluate(step: Int, epoch: Int, split: String = "test") throws -> Evaluation {
        let e = predict(data.test, step: step, epoch: epoch, split: split)
        try recorder.evaluation(e.evaluation)
        return e.evaluation
    }

    public func predict(_ set: Dataset, step: Int, epoch: Int, split: String) -> (evaluation: Evaluation, predictions: [Int32]) {
        ctx.training = false
        defer { ctx.training = true }
        let classes = set.classes
        var preds = [Int32](repeating: 0, count: set.count)
        var correct = 0, lossSum = 0.0
        var pc = [Int](repeating: 0, count: classes), pt = [Int](repeating: 0, count: classes)
        let chunk = 256
        var start = 0
        while start < set.count {
            let idx = Array(start..<min(set.count, start + chunk))
            let (x, y) = set.batch(idx)
            let logits = model.forward(x, ctx)
            let (l, _, _) = CrossEntropy.forwardBackward(logits: logits, labels: y, smoothing: 0, reduction: .sequential, wantGrad: false)
            lossSum += Double(l) * Double(idx.count)
            for (r, i) in idx.enumerated() {
                var best = 0
                for k in 1..<classes where logits.data[r * classes + k] > logits.data[r * classes + best] { best = k }
                preds[i] = Int32(best)
                let label = Int(y[r])
                pt[label] += 1
                if best == label { correct += 1; pc[label] += 1 }
            }
            start += chunk
        }
        let hash = preds.withUnsafeBytes { TensorHash.tensor(dtype: .int32, shape: [preds.count], raw: $0) }
        let e = Evaluation(step: step, epoch: epoch, split: split, correct: correct, total: set.count, perClassCorrect: pc,
                           perClassTotal: pt, predictionsHash: hash, loss: Float(lossSum / Double(max(1, set.count))))
        return (e, preds)
    }
}
