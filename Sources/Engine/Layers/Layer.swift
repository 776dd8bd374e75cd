import Recorder

/// What every layer sees during a forward or backward pass.
public final class Context {
    public let recorder: Recorder
    public let params: ParameterStore
    public let semantics: Semantics
    public let gemm: GEMMMode
    public let reduction: ReductionMode
    /// Training mode (batch statistics, dropout) or evaluation mode.
    public var training = true
    /// The current training step (for draw sites such as `dropout/4/step-17`).
    public var step = 0

    public init(recorder: Recorder, params: ParameterStore, semantics: Semantics, gemm: GEMMMode = .openblas,
                reduction: ReductionMode = .sequential) {
        self.recorder = recorder; self.params = params; self.semantics = semantics
        self.gemm = gemm; self.reduction = reduction
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
}

extension Layer {
    public func initialize(_ ctx: Context) {}
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
}

/// Summation order of the engine's own reductions (bias gradients, batch statistics, loss mean).
/// `sequential`: index order, one accumulator. `pairwise`: recursive halving down to blocks of 8
/// (like numpy), more accurate for long sums, a different rounding.
public enum ReductionMode: String, Sendable { case sequential, pairwise }

public enum Reduce {
    /// Sums `count` values at `p` with stride `stride` in the given order.
    @inline(__always)
    public static func sum(_ p: UnsafePointer<Float>, count: Int, stride: Int = 1, mode: ReductionMode) -> Float {
        switch mode {
        case .sequential:
            var acc: Float = 0
            var i = 0
            while i < count { acc += p[i &* stride]; i &+= 1 }
            return acc
        case .pairwise:
            if count <= 8 {
                var acc: Float = 0
                for i in 0..<count { acc += p[i &* stride] }
                return acc
            }
            let half = count / 2
            return sum(p, count: half, stride: stride, mode: mode) + sum(p + half &* stride, count: count - half, stride: stride, mode: mode)
        }
    }

    /// out[j] += sum over rows i of m[i, j] for an [rows, cols] row-major matrix (bias gradients).
    public static func columnSums(_ m: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>, mode: ReductionMode) {
        switch mode {
        case .sequential:
            // Row by row: each column's sum is in row order, and the loop vectorises across columns.
            var acc = [Float](repeating: 0, count: cols)
            acc.withUnsafeMutableBufferPointer { a in
                for i in 0..<rows {
                    let row = m + i &* cols
                    for j in 0..<cols { a[j] += row[j] }
                }
                for j in 0..<cols { out[j] += a[j] }
            }
        case .pairwise:
            for j in 0..<cols { out[j] += sum(m + j, count: rows, stride: cols, mode: mode) }
        }
    }
}
