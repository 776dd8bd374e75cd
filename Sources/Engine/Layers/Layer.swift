import Recorder

/// What every layer sees during a forward or backward pass.
public final class Context {
    public let recorder: Recorder
    public let params: ParameterStore
    public let semantics: Semantics
    /// The GEMM every layer calls, with `threads` workers for the reference GEMM.
    public let gemm: GEMM
    public let reduction: ReductionMode
    /// The run's threads (`determinism.threads`): workers of parallel reductions, of im2col and
    /// pooling over channel planes, and of the reference GEMM. Layers read no other thread count.
    public let threads: Int
    /// Training mode (batch statistics, dropout) or evaluation mode.
    public var training = true
    /// The current training step (for draw sites such as `dropout/4/step-17`).
    public var step = 0
    /// Called with every layer's name and output as a `Sequential` produces it (nested layers
    /// included, in execution order: a block's children before the block), in any mode; nil
    /// (the default) costs one check per layer. `models compare` localises where two models part.
    public var outputObserver: ((String, Tensor) -> Void)?

    public init(recorder: Recorder, params: ParameterStore, semantics: Semantics, gemm: GEMMMode = .openblas,
                reduction: ReductionMode = .sequential, threads: Int = 1) {
        self.recorder = recorder; self.params = params; self.semantics = semantics
        self.gemm = GEMM(gemm, threads: threads); self.reduction = reduction; self.threads = max(1, threads)
    }

    @inline(__always) public func w(_ offset: Int) -> UnsafeMutablePointer<Float> { params.values + offset }
    @inline(__always) public func g(_ offset: Int) -> UnsafeMutablePointer<Float> { params.grads + offset }
}

/// A layer: forward and backward side by side, parameters in the model's ParameterStore.
/// `backward` receives dL/d(output), accumulates parameter gradients into the store, and
/// returns dL/d(input). A layer keeps what backward needs from the last forward call.
public protocol Layer: AnyObject {
    /// State-dict prefix: "1", "3.body.0".
    var name: String { get }
    /// The layer's JSON with every default filled in.
    var spec: JSON { get }
    /// Per-sample output shape.
    var outputShape: [Int] { get }
    /// Draws (or sets) initial parameters through the recorder, site `init/<param name>`.
    func initialize(_ ctx: Context)
    func forward(_ x: Tensor, _ ctx: Context) -> Tensor
    func backward(_ dy: Tensor, _ ctx: Context) -> Tensor
    /// `backward` without dL/d(input): only the parameter gradients, for the first layer with
    /// parameters, whose input gradient nobody reads (`Sequential.backwardParameters`). The same
    /// parameter gradients, bit for bit, as `backward`.
    func backwardParameters(_ dy: Tensor, _ ctx: Context)
}

extension Layer {
    public func initialize(_ ctx: Context) {}
    public func backwardParameters(_ dy: Tensor, _ ctx: Context) { _ = backward(dy, ctx) }
}

/// Layers in sequence, as `nn.Sequential`: records each layer's output (`<name>.output`) and
/// each backward input-gradient (`<name>.grad_input`) at record level `activations`. Blocks
/// (Blocks.swift) run their children through Sequentials of their own, so nested layers record
/// too, under their full names (`3.body.1.output`), in execution order.
public final class Sequential {
    public let layers: [Layer]
    public init(_ layers: [Layer]) { self.layers = layers }

    public func initialize(_ ctx: Context) { for l in layers { l.initialize(ctx) } }

    public func forward(_ x: Tensor, _ ctx: Context) -> Tensor {
        var x = x
        let record = ctx.training && ctx.recorder.wants(.activation)
        for l in layers {
            x = l.forward(x, ctx)
            if record { ctx.recorder.record(name: "\(l.name).output", role: .activation, shape: x.shape, floats: x.data) }
            ctx.outputObserver?(l.name, x)
        }
        return x
    }

    public func backward(_ dy: Tensor, _ ctx: Context) -> Tensor {
        var d = dy
        let record = ctx.recorder.wants(.activation)
        for l in layers.reversed() {
            d = l.backward(d, ctx)
            if record { ctx.recorder.record(name: "\(l.name).grad_input", role: .activation, shape: d.shape, floats: d.data) }
        }
        return d
    }

    /// The parameter gradients of a backward pass whose input gradient is not needed (a model's
    /// first layers): layers from the last down to `first` (the first layer with parameters),
    /// which runs `backwardParameters`; the layers before it, which have no parameters, not at
    /// all. At record level `activations` every layer's input gradient is recorded, so this is
    /// then the whole `backward`. `finished(i)` follows the backward pass of layer i, whose
    /// parameter gradients are then final.
    public func backwardParameters(_ dy: Tensor, _ ctx: Context, first: Int, finished: ((Int) -> Void)? = nil) {
        guard !ctx.recorder.wants(.activation), layers.indices.contains(first) else { _ = backward(dy, ctx); return }
        var d = dy
        for i in layers.indices.reversed() where i >= first {
            if i == first { layers[i].backwardParameters(d, ctx) } else { d = layers[i].backward(d, ctx) }
            finished?(i)
        }
    }
}
