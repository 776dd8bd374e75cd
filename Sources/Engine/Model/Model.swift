import Recorder

/// A sequential model built from `model.layers`, its parameters in one ParameterStore.
public final class Model {
    public let params = ParameterStore()
    public let body: Sequential
    public let inputShape: [Int]
    public let outputShape: [Int]

    /// `semantics` resolves build-time knobs (`padding.same`).
    public init(layers specs: [JSON], inputShape: [Int], semantics: Semantics = Semantics(profile: .pytorch)) throws {
        self.inputShape = inputShape
        let layers = try LayerFactory.build(specs, prefix: "", path: "model.layers", inputShape: inputShape, params: params,
                                            semantics: semantics)
        body = Sequential(layers)
        outputShape = layers.last?.outputShape ?? inputShape
        let params = self.params
        firstWithParameters = layers.firstIndex { l in params.entries.contains { $0.name.hasPrefix(l.name + ".") } } ?? layers.count
        trainedBy = layers.map { l in params.entries.filter { $0.trainable && $0.name.hasPrefix(l.name + ".") } }
    }

    /// The trainable entries of each top-level layer (its own and its children's): their gradients
    /// are final once that layer's backward pass is over.
    private let trainedBy: [[ParameterStore.Entry]]

    /// The index of the first top-level layer that owns parameters (`layers.count` if none):
    /// the backward pass of training stops there (`backwardParameters`).
    public let firstWithParameters: Int

    public var layerSpecs: [JSON] { body.layers.map(\.spec) }

    /// Draws initial parameters through the recorder (sites `init/<name>`).
    public func initialize(_ ctx: Context) { body.initialize(ctx) }

    /// Loads initial parameters from a safetensors file with PyTorch names and layouts. Every
    /// parameter of the model must be present with the same shape; extra tensors are refused.
    public func load(_ tensors: [(name: String, shape: [Int], data: [Float])], source: String) throws {
        var byName: [String: (shape: [Int], data: [Float])] = [:]
        for t in tensors { byName[t.name] = (t.shape, t.data) }
        let missing = params.entries.map(\.name).filter { byName[$0] == nil }
        if let first = missing.first {
            throw InputError("\(source): no tensor \"\(first)\"" + Self.missingSummary(missing, needed: params.entries.count, held: tensors.count))
        }
        for e in params.entries {
            guard let t = byName.removeValue(forKey: e.name) else { continue }
            guard t.shape == e.shape else {
                throw InputError("\(source): tensor \"\(e.name)\" has shape \(t.shape), the model needs \(e.shape)")
            }
            (params.values + e.offset).update(from: t.data, count: e.count)
        }
        if let extra = byName.keys.sorted().first {
            throw InputError("\(source): tensor \"\(extra)\" matches no parameter of the model (parameters: \(params.entries.map(\.name).joined(separator: ", ")))")
        }
    }

    /// "; 54 of the model's 160 tensors are missing (0.bias, 3.body.0.bias, ... and 46 more),
    /// the file holds 106: ..." for a file written for another variant of the model: the first
    /// eight missing names and the counts, not every name the model has.
    static func missingSummary(_ missing: [String], needed: Int, held: Int) -> String {
        let shown = missing.prefix(8).joined(separator: ", ") + (missing.count > 8 ? " and \(missing.count - 8) more" : "")
        return "; \(missing.count) of the model's \(needed) tensors are missing (\(shown)), the file holds \(held)"
            + ": were the weights written for another variant of the model (convolution biases, a layer more or less)?"
    }

    public func forward(_ x: Tensor, _ ctx: Context) -> Tensor { body.forward(x, ctx) }
    @discardableResult
    public func backward(_ dy: Tensor, _ ctx: Context) -> Tensor { body.backward(dy, ctx) }
    /// The parameter gradients of a training step: `backward` without the input gradient of the
    /// first layer with parameters, nor the backward pass of the layers before it (the same
    /// gradients; a sixth of an MLP's GEMM work, an im2col of the input for a CNN).
    ///
    /// When gradients are recorded, each layer's are handed to the recorder's second core as soon as
    /// its backward pass is over (`Recorder.prehash`), while the layers before it go on.
    public func backwardParameters(_ dy: Tensor, _ ctx: Context) {
        let recorder = ctx.recorder, params = params, trainedBy = trainedBy
        let finished: ((Int) -> Void)? = recorder.wants(.grad) ? { i in
            for e in trainedBy[i] { recorder.prehash(shape: e.shape, floats: UnsafeBufferPointer(params.grads(of: e))) }
        } : nil
        body.backwardParameters(dy, ctx, first: firstWithParameters, finished: finished)
    }

    /// Records every parameter (role `param`) in layout order.
    public func recordParams(_ recorder: Recorder) {
        guard recorder.wants(.param) else { return }
        for e in params.entries {
            recorder.record(name: e.name, role: .param, shape: e.shape, floats: UnsafeBufferPointer(params.values(of: e)))
        }
    }

    /// Records every trainable parameter's gradient (role `grad`) in layout order, hashed on the
    /// recorder's second core (`Recorder.recordLater`) while the optimizer runs: the gradients stay
    /// unchanged until the next step zeroes them, after this step has ended.
    public func recordGrads(_ recorder: Recorder) {
        guard recorder.wants(.grad) else { return }
        for e in params.entries where e.trainable {
            recorder.recordLater(name: e.name, role: .grad, shape: e.shape, floats: UnsafeBufferPointer(params.grads(of: e)))
        }
    }
}
