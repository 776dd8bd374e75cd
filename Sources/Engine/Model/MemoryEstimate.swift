import Recorder

/// Saturating byte arithmetic for estimates: a size that overflows Int is Int.max, which is above
/// any limit (so an absurd config is refused, never wrapped around to a small number).
enum Bytes {
    static func sum(_ xs: Int...) -> Int { sum(xs) }
    static func sum(_ xs: [Int]) -> Int {
        var t = 0
        for x in xs {
            let (r, o) = t.addingReportingOverflow(max(x, 0))
            if o { return Int.max }
            t = r
        }
        return t
    }
    static func product(_ xs: Int...) -> Int { product(xs) }
    static func product(_ xs: [Int]) -> Int {
        var t = 1
        for x in xs {
            let (r, o) = t.multipliedReportingOverflow(by: max(x, 0))
            if o { return Int.max }
            t = r
        }
        return t
    }
}

/// The memory a run will use, estimated before anything is allocated, from the config, the data
/// files' headers (`DataSource.estimate`) and a dry build of the model (layers laid out in a
/// `ParameterStore` that allocates nothing, so shapes and parameter counts are the real ones).
///
/// total = max(data loading peak, held + parameters + max(one training step, evaluation) + scratch + runtime)
/// - data: samples as Float32 and labels as Int32 for train and test, the epoch's order (16
///   bytes per training sample); its loading peak as `DataEstimate` says;
/// - files kept for the record: `model.init` (its bytes and its tensors as Float32) and `data.order`
///   (its bytes, and while parsing up to 32 bytes per byte);
/// - parameters: values and gradients (4 + 4 bytes each, in the store's doubling capacity),
///   optimizer state (SGD with momentum 1, RMSprop 1, Adam 2 buffers of 4 bytes per value) and a
///   checkpoint's encoding (twice the values and the state);
/// - one training step at batch size b = min(data.batchSize, train samples), or the largest batch
///   of `data.order`: the batch (twice with
///   augmentation), every layer's output kept until backward (an upper bound: some are freed
///   earlier), what layers save for backward (dropout masks), and the largest backward
///   transient (dy and dx of one layer, plus blocks' extra gradients and `parallel`-reduction partials);
/// - evaluation, min(256, test samples) at a time: the largest input and output of one layer;
/// - scratch kept by layers between steps: convolutions' im2col, GEMM staging and gradient
///   buffers (per `Conv2D.groupSize`), max-pooling's argmax indices;
/// - runtime: 64 MiB (code, OpenBLAS's buffers, the recorder).
public struct MemoryEstimate: Equatable, Sendable {
    /// One line of the estimate: what, how many bytes, why.
    public struct Part: Equatable, Sendable {
        public var name: String
        public var bytes: Int
        public var detail: String
    }

    /// A layer that weighs most in some respect, for the advice.
    public struct Heaviest: Equatable, Sendable {
        public var path: String
        public var bytes: Int
        public var detail: String
    }

    public var data: DataEstimate
    public var batchSize: Int
    public var evaluationBatch: Int
    public var parameterCount: Int
    /// Held while training: data, files, parameters, step, evaluation, scratch, runtime.
    public var parts: [Part]
    public var total: Int
    /// The layer with the largest output at the batch size, and the one with the most parameters.
    public var largestOutput: Heaviest?
    public var largestParameters: Heaviest?

    static let runtime = 64 << 20
    static let evaluationChunk = 256

    public func part(_ name: String) -> Int { parts.first { $0.name == name }?.bytes ?? 0 }

    /// The estimate for `config`. Errors are the ones loading and building would raise (file
    /// headers, layer specs), so they come out before anything is allocated.
    public static func estimate(_ config: TrainConfig) throws -> MemoryEstimate {
        let data = try DataSource.estimate(config)
        let store = ParameterStore(allocating: false)
        let build = {
            try LayerFactory.build(config.layers, prefix: "", path: "model.layers", inputShape: data.sampleShape, params: store,
                                   semantics: config.semantics)
        }
        let layers = try config.source?.reading(build) ?? build()
        var b = max(1, min(config.data.batchSize, max(data.trainCount, 1)))
        if let p = config.data.order {
            // Batches given by a file may be larger than data.batchSize.
            let bytes = try config.embedded[p] ?? readFileBytes(config.resolvePath(p), what: "data.order file")
            let order = try BatchOrder.parse(bytes, name: config.resolvePath(p), trainCount: max(data.trainCount, 1))
            b = max(b, order.batches.map(\.count).max() ?? 1)
        }
        let e = max(1, min(evaluationChunk, max(data.testCount, 1)))
        var walk = LayerWalk(n: b, nEval: e, reduction: config.determinism.reduction,
                             threads: config.determinism.threads, store: store)
        let body = walk.sequence(layers, input: data.sampleShape, path: "model.layers")

        let sample = Bytes.product(data.sampleShape)
        let classes = Bytes.product(layers.last?.outputShape ?? [1])
        let batch = Bytes.product(b, sample, 4, config.data.augment == nil ? 1 : 2)
        let loss = Bytes.product(b, classes, 4, 3)
        let step = Bytes.sum(batch, Bytes.product(b, 8), loss, body.kept, body.backward)
        let evaluation = Bytes.sum(Bytes.product(e, sample, 4), Bytes.product(data.testCount, 4), Bytes.product(e, classes, 4, 2), body.eval)

        let count = store.count
        let buffers = optimizerBuffers(config.optimizer)
        var capacity = 0, growth = 0
        for entry in store.entries {
            let end = Bytes.sum(entry.offset, entry.count)
            if end > capacity {
                let next = max(end, Bytes.product(capacity, 2))
                growth = max(growth, Bytes.product(Bytes.sum(capacity, next), 8))
                capacity = next
            }
        }
        let parameters = Bytes.sum(max(Bytes.product(capacity, 8), growth), Bytes.product(count, 4, buffers),
                                   Bytes.product(count, 4, 1 + buffers, 2))
        let files = try fileBytes(config, parameters: count)

        var parts = [
            Part(name: "data", bytes: Bytes.sum(data.held, Bytes.product(data.trainCount, 16)),
                 detail: "\(data.what); \(MemoryLimit.format(data.peak)) at most while loading"),
            Part(name: "parameters", bytes: parameters,
                 detail: "\(count) values with gradients\(buffers == 0 ? "" : ", \(config.optimizer.type.rawValue) state") and a checkpoint's encoding"),
            Part(name: "one training step", bytes: step, detail: "at batch size \(b): outputs kept for backward, gradients, the batch"),
            Part(name: "evaluation", bytes: evaluation, detail: "\(e) test samples at a time"),
            Part(name: "layer scratch", bytes: body.persistent, detail: "im2col and GEMM buffers, pooling indices, kept between steps"),
            Part(name: "runtime", bytes: runtime, detail: "code, OpenBLAS buffers, the recorder"),
        ]
        if files.bytes > 0 { parts.insert(Part(name: "files", bytes: files.bytes, detail: files.detail), at: 1) }
        let training = Bytes.sum(parts.filter { $0.name != "one training step" && $0.name != "evaluation" }.map(\.bytes) + [max(step, evaluation)])
        return MemoryEstimate(data: data, batchSize: b, evaluationBatch: e, parameterCount: count, parts: parts,
                              total: max(Bytes.sum(data.peak, runtime), training),
                              largestOutput: walk.largestOutput, largestParameters: walk.largestParameters)
    }

    /// Buffers of 4 bytes per value an optimizer keeps (Optimizers.make).
    static func optimizerBuffers(_ o: TrainConfig.OptimizerConfig) -> Int {
        switch o.type {
        case .adam: 2
        case .rmsprop: 1
        case .sgd: o.momentum != 0 ? 1 : 0
        }
    }

    /// `model.init` and `data.order`: kept for the record, and parsed.
    static func fileBytes(_ config: TrainConfig, parameters: Int) throws -> (bytes: Int, detail: String) {
        var total = 0, detail: [String] = []
        func size(_ p: String, what: String) throws -> Int {
            if let e = config.embedded[p] { return e.count }
            let probe = try FileProbe.open(config.resolvePath(p), what: what, headBytes: 2)
            return Bytes.sum(probe.contentSize, probe.gzip ? probe.fileSize : 0)
        }
        if let p = config.initPath {
            // Its bytes and its tensors (as many values as the model has, or the file is refused).
            let n = try size(p, what: "model.init file")
            total = Bytes.sum(total, n, Bytes.product(parameters, 4))
            detail.append("model.init \(MemoryLimit.format(n))")
        }
        if let p = config.data.order {
            let n = try size(p, what: "data.order file")
            total = Bytes.sum(total, Bytes.product(n, 33))
            detail.append("data.order \(MemoryLimit.format(n)) (parsed: up to 32 bytes per byte)")
        }
        return (total, detail.joined(separator: ", "))
    }

    /// The estimate, or an `InputError` (exit 2) when it is above `limit`: the estimate, the
    /// limit, the largest part and what to change, then every part on its own line.
    @discardableResult
    public static func check(_ config: TrainConfig, limit: MemoryLimit) throws -> MemoryEstimate {
        let m = try estimate(config)
        try limit.check(m)
        return m
    }

    /// The message refusing this estimate under `limit`.
    public func refusal(limit: MemoryLimit) -> String {
        let fmt = MemoryLimit.format
        // The phase that sets the total (loading the data, or training), and its heaviest part.
        let loading = Bytes.sum(data.peak, MemoryEstimate.runtime) >= total
        let dataLoading = loading && data.peak >= MemoryEstimate.runtime
        let heaviest = loading ? (dataLoading ? Part(name: "data", bytes: data.peak, detail: "") : parts.first { $0.name == "runtime" }!)
            : parts.max { $0.bytes < $1.bytes }!
        let advice: String
        switch heaviest.name {
        case "data":
            advice = "the data take \(fmt(dataLoading ? data.peak : heaviest.bytes))\(dataLoading ? " while loading" : ""): use fewer or smaller samples (\(data.what))"
        case "parameters":
            advice = "the parameters take \(fmt(heaviest.bytes)): shrink the model" + (largestParameters.map { " (\($0.path) has \($0.detail))" } ?? "")
        case "one training step":
            advice = "one training step takes \(fmt(heaviest.bytes)) at batch size \(batchSize): lower data.batchSize" +
                (largestOutput.map { " or shrink \($0.path) (\($0.detail))" } ?? "")
        case "evaluation":
            advice = "evaluation takes \(fmt(heaviest.bytes)) (\(evaluationBatch) samples at a time)" + (largestOutput.map { ": shrink \($0.path) (\($0.detail))" } ?? "")
        case "files":
            advice = "the files the config names take \(fmt(heaviest.bytes))"
        case "runtime":
            advice = "the limit is below what any run needs (\(fmt(heaviest.bytes)) for code, OpenBLAS buffers and the recorder)"
        default:
            advice = "\(heaviest.name) takes \(fmt(heaviest.bytes))" + (largestOutput.map { ": shrink \($0.path) (\($0.detail))" } ?? "")
        }
        let origin = limit.origin.isEmpty ? "" : " (\(limit.origin))"
        let raising = limit.change.isEmpty ? "" : ", or raise the limit (\(limit.raise(to: total)))"
        var lines = ["the run needs an estimated \(fmt(total)) of memory, over the limit of \(fmt(limit.bytes ?? 0))\(origin): \(advice)\(raising)"]
        for p in parts { lines.append("  \(p.name): \(fmt(p.bytes)) (\(p.detail))") }
        return lines.joined(separator: "\n")
    }
}

/// Walks a model's layers (as built), adding up what a training step, an evaluation and the
/// layers' scratch take (see `MemoryEstimate`); remembers the heaviest layers.
struct LayerWalk {
    let n: Int, nEval: Int
    let reduction: ReductionMode
    let threads: Int
    let store: ParameterStore
    var largestOutput: MemoryEstimate.Heaviest?
    var largestParameters: MemoryEstimate.Heaviest?

    /// Parameter values per layer name (`3.body.0`): its entries' names without the last component.
    let parametersByLayer: [String: Int]

    init(n: Int, nEval: Int, reduction: ReductionMode, threads: Int, store: ParameterStore) {
        self.n = n; self.nEval = nEval; self.reduction = reduction; self.threads = threads; self.store = store
        var byLayer: [String: Int] = [:]
        for e in store.entries {
            let owner = e.name.split(separator: ".").dropLast().joined(separator: ".")
            byLayer[owner] = Bytes.sum(byLayer[owner] ?? 0, e.count)
        }
        parametersByLayer = byLayer
    }

    /// Bytes: kept from forward to backward, backward's peak transient, evaluation's peak
    /// transient, scratch kept between steps.
    struct Cost { var kept = 0, backward = 0, eval = 0, persistent = 0 }

    mutating func sequence(_ layers: [Layer], input: [Int], path: String) -> Cost {
        var c = Cost(), shape = input
        for (i, l) in layers.enumerated() {
            let lc = layer(l, input: shape, path: JSONPath.element(path, i))
            c.kept = Bytes.sum(c.kept, lc.kept)
            c.backward = max(c.backward, lc.backward)
            c.eval = max(c.eval, lc.eval)
            c.persistent = Bytes.sum(c.persistent, lc.persistent)
            shape = l.outputShape
        }
        return c
    }

    mutating func layer(_ l: Layer, input: [Int], path: String) -> Cost {
        let i = Bytes.product(input), o = Bytes.product(l.outputShape)
        let out = Bytes.product(n, o, 4), inp = Bytes.product(n, i, 4)
        var c = Cost(kept: out, backward: Bytes.sum(out, inp), eval: Bytes.product(nEval, Bytes.sum(i, o), 4))
        defer { if c.kept > 0 { note(l, path: path, outputBytes: out) } }
        let chunks = min(n, Reduce.parallelChunks)
        switch l {
        case is Flatten:
            c = Cost()
        case let d as Dense:
            if reduction == .parallel { c.backward = Bytes.sum(c.backward, Bytes.product(chunks, d.inFeatures, d.outFeatures, 4)) }
        case let conv as Conv2D:
            c.persistent = LayerWalk.convScratch(conv, n: max(n, nEval), threads: threads)
            if reduction.splitsBatch {
                let g = conv.geometry
                c.backward = Bytes.sum(c.backward, Bytes.product(chunks, conv.filters, g.patch, 4), Bytes.product(threads, g.patch, g.outPlane, 4))
            }
        case let d as Dropout:
            if d.rate == 0 { c = Cost() } else { c.kept = Bytes.product(out, 2); c.backward = Bytes.product(out, 2); c.eval = 0 }
        case is Activation:
            c.backward = Bytes.product(out, 2)
        case is MaxPool2D:
            c.persistent = Bytes.product(max(n, nEval), o, 4)
        case let bn as BatchNorm:
            // Pairwise sums stage the whole batch of a channel; backward a plane.
            if reduction == .pairwise { c.kept = Bytes.sum(c.kept, Bytes.product(n, bn.plane, 4)) }
            c.backward = Bytes.sum(Bytes.product(out, 2), Bytes.product(bn.plane, 4))
        case let r as Residual:
            let body = sequence(r.body.layers, input: input, path: path + ".body")
            let shortcut = sequence(r.shortcut.layers, input: input, path: path + ".shortcut")
            c.kept = Bytes.sum(body.kept, shortcut.kept, out)
            c.backward = Bytes.sum(max(body.backward, shortcut.backward), Bytes.product(inp, 2), out)
            c.eval = Bytes.sum(max(body.eval, shortcut.eval), Bytes.product(nEval, Bytes.sum(i, o), 4))
            c.persistent = Bytes.sum(body.persistent, shortcut.persistent)
        case let cat as Concat:
            let body = sequence(cat.body.layers, input: input, path: path + ".body")
            let bodyOut = Bytes.product(n, Bytes.product(cat.body.layers.last?.outputShape ?? input), 4)
            c.kept = Bytes.sum(body.kept, out)
            c.backward = Bytes.sum(body.backward, out, inp, bodyOut, inp)
            c.eval = Bytes.sum(body.eval, Bytes.product(nEval, Bytes.sum(i, o), 4))
            c.persistent = body.persistent
        case is AvgPool2D, is GlobalAvgPool:
            break
        default:
            // A layer type this estimate does not know: assume it keeps its input and output and
            // doubles its backward transient.
            c.kept = Bytes.sum(out, inp)
            c.backward = Bytes.product(c.backward, 2)
        }
        return c
    }

    /// The scratch a convolution keeps (its `Scratch` buffers at their largest), for batches up to
    /// `n`: one set of im2col, staging and dW^T buffers per worker on `threads` threads.
    static func convScratch(_ conv: Conv2D, n: Int, threads: Int = 1) -> Int {
        let g = conv.geometry, o = conv.filters, k = g.patch, p = g.outPlane
        let group = Conv2D.groupSize(n, g)
        let col = g.isPointwise ? 0 : Bytes.product(k, group, p)
        var dcol = group > 1 ? Bytes.product(o, group, p) : 0
        var gathered = dcol
        var flipped = 0
        if let t = conv.transposedGeometry {
            let tg = Conv2D.groupSize(n, t)
            dcol = max(dcol, t.isPointwise ? 0 : Bytes.product(t.patch, tg, t.outPlane))
            gathered = max(gathered, tg > 1 ? Bytes.product(g.channels, tg, t.outPlane) : 0)
            flipped = Bytes.product(o, k)
        } else if !g.isPointwise {
            dcol = max(dcol, Bytes.product(k, group, p))
        }
        let partial = max(Bytes.product(n, o), p, n)
        // At most as many workers as `Conv2D.workers` starts (8 for a chunked weight gradient).
        let workers = max(1, min(threads, max(Reduce.parallelChunks, Conv2D.workerScratchBytes / max(1, Bytes.product(k, group, p, 4)))))
        let perWorker = Bytes.product(Bytes.sum(col, dcol, gathered, Bytes.product(k, o)), workers)
        return Bytes.product(Bytes.sum(perWorker, flipped, partial), 4)
    }

    /// Remembers the layer with the largest output and the one with the most parameters.
    mutating func note(_ l: Layer, path: String, outputBytes: Int) {
        if l is LayerContainer { return }
        if outputBytes > (largestOutput?.bytes ?? -1) {
            largestOutput = .init(path: path, bytes: outputBytes,
                                  detail: "output \(l.outputShape) per sample, \(MemoryLimit.format(outputBytes)) at batch size \(n)")
        }
        let params = parametersByLayer[l.name] ?? 0
        if params > (largestParameters?.bytes ?? 0) {   // compared as counts
            largestParameters = .init(path: path, bytes: params, detail: "\(params) parameters")   // bytes: the count
        }
    }
}
