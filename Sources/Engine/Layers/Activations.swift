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

    public func forward(_ x: Tensor, _ ctx: Context) -> Tensor {
        var y = x
        y.data.withUnsafeMutableBufferPointer { p in
            switch kind {
            case .relu: for i in p.indices where !(p[i] > 0) { p[i] = p[i].isNaN ? p[i] : 0 }
            case .tanh: for i in p.indices { p[i] = Foundation.tanh(p[i]) }
            case .sigmoid: for i in p.indices { p[i] = 1 / (1 + Foundation.exp(-p[i])) }
            }
        }
        if ctx.training { output = y }
        return y
    }

    public func backward(_ dy: Tensor, _ ctx: Context) -> Tensor {
        var dx = dy
        dx.data.withUnsafeMutableBufferPointer { d in
            output.data.withUnsafeBufferPointer { y in
                switch kind {
                case .relu: for i in d.indices where !(y[i] > 0) { d[i] = 0 }
                case .tanh: for i in d.indices { d[i] = d[i] * (1 - y[i] * y[i]) }
                case .sigmoid: for i in d.indices { d[i] = d[i] * (y[i] * (1 - y[i])) }
                }
            }
        }
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
