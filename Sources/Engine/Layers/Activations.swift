import Foundation

/// Elementwise activations. Each keeps its output for backward:
/// relu: y = max(x, 0), dx = dy * [y > 0];  tanh: dx = dy * (1 - y^2);  sigmoid: y = 1/(1+e^-x), dx = dy * y (1 - y).
public final class Activation: Layer {
    public enum Kind: String, CaseIterable { case relu, tanh, sigmoid }
    public let name: String
    public let kind: Kind
    public let outputShape: [Int]
    private var output = Tensor(zeros: [0])

    public init(name: String, kind: Kind, shape: [Int]) {
        self.name = name; self.kind = kind; outputShape = shape
    }

    public var spec: JSON { .object(["type": .string(kind.rawValue)]) }

    /// Out of place into a new buffer (never zero-filled): relu with 8-lane selects, tanh and sigmoid per element
    /// (libm, as before); all split over `ctx.threads` (elementwise: the same bits for any split).
    public func forward(_ x: Tensor, _ ctx: Context) -> Tensor {
        let n = x.count
        let y = x.data.withUnsafeBufferPointer { xb in
            Tensor.uninitialized(x.shape) { yp in
                let xp = xb.baseAddress!
                switch kind {
                case .relu: Elementwise.relu(xp, into: yp, count: n, threads: ctx.threads)
                case .tanh: Elementwise.split(n, threads: ctx.threads) { r in for i in r { yp[i] = Foundation.tanh(xp[i]) } }
                case .sigmoid: Elementwise.split(n, threads: ctx.threads) { r in for i in r { yp[i] = 1 / (1 + Foundation.exp(-xp[i])) } }
                }
            }
        }
        if ctx.training { output = y }
        return y
    }

    /// Drops the saved output (a step's backward is its last use).
    public func backward(_ dy: Tensor, _ ctx: Context) -> Tensor {
        precondition(output.count == dy.count, "\(name): backward without a matching train-mode forward")
        let n = dy.count
        let dx = dy.data.withUnsafeBufferPointer { db in
            output.data.withUnsafeBufferPointer { yb in
                Tensor.uninitialized(dy.shape) { dx in
                    let d = db.baseAddress!, y = yb.baseAddress!
                    switch kind {
                    case .relu: Elementwise.reluBackward(d, output: y, into: dx, count: n, threads: ctx.threads)
                    case .tanh: Elementwise.split(n, threads: ctx.threads) { r in for i in r { dx[i] = d[i] * (1 - y[i] * y[i]) } }
                    case .sigmoid: Elementwise.split(n, threads: ctx.threads) { r in for i in r { dx[i] = d[i] * (y[i] * (1 - y[i])) } }
                    }
                }
            }
        }
        output = .empty
        return dx
    }
}

/// Flattens each sample to a vector (row-major, so NCHW maps to torch's flatten order).
public final class Flatten: Layer {
    public let name: String
    let inputShape: [Int]
    public var outputShape: [Int] { [inputShape.reduce(1, *)] }
    public init(name: String, inputShape: [Int]) { self.name = name; self.inputShape = inputShape }
    public var spec: JSON { .object(["type": .string("flatten")]) }
    public func forward(_ x: Tensor, _ ctx: Context) -> Tensor { x.reshaped([x.batch, x.sampleSize]) }
    public func backward(_ dy: Tensor, _ ctx: Context) -> Tensor { dy.reshaped([dy.batch] + inputShape) }
}
