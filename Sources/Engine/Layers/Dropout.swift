import Recorder

/// Inverted dropout, as torch.nn.Dropout. Train mode: u ~ U[0, 1) per element drawn through the
/// recorder at site `dropout/<layer name>/step-<step>`; an element is kept when u >= rate and then
/// scaled by 1 / (1 - rate) (scale rounded to Float32 first, as torch's `noise.div_(1 - p)`):
///   y = x * m,  m = [u >= rate] / (1 - rate);   dx = dy * m.
/// Eval mode, and rate 0: identity (no draws). JSON {"type": "dropout", "rate": 0.5} (default 0.5, torch's p).
public final class Dropout: Layer {
    public let name: String
    public let rate: Double
    public let outputShape: [Int]
    private var mask: [Float] = []

    public init(name: String, rate: Double, shape: [Int]) {
        precondition((0..<1).contains(rate))
        self.name = name; self.rate = rate; outputShape = shape
    }

    public var spec: JSON { .object(["type": .string("dropout"), "rate": .number(rate)]) }

    /// The draw site of a training step.
    public func site(step: Int) -> String { "dropout/\(name)/step-\(step)" }


    public func forward(_ x: Tensor, _ ctx: Context) -> Tensor {
        guard ctx.training, rate > 0 else { return x }
        return forward(x, uniforms: ctx.recorder.uniform(site: site(step: ctx.step), count: x.count), ctx)
    }

    /// Train-mode forward with given uniforms (one per element); keeps the mask for backward.
    public func forward(_ x: Tensor, uniforms u: [Float], _ ctx: Context? = nil) -> Tensor {
        precondition(u.count == x.count)
        let threshold = Float(rate), scale = 1 / Float(1 - rate)
        mask = u.map { $0 >= threshold ? scale : 0 }
        return Dropout.times(x, mask, ctx)
    }

    public func backward(_ dy: Tensor, _ ctx: Context) -> Tensor {
        guard rate > 0 else { return dy }
        precondition(mask.count == dy.count, "\(name): backward without a matching train-mode forward")
        return Dropout.times(dy, mask, ctx)
    }

    /// t * mask elementwise, out of place (split over the context's threads when one is given).
    static func times(_ t: Tensor, _ mask: [Float], _ ctx: Context?) -> Tensor {
        t.data.withUnsafeBufferPointer { tp in
            mask.withUnsafeBufferPointer { mp in
                let fill = { (out: UnsafeMutablePointer<Float>) in
                    Elementwise.multiply(tp.baseAddress!, mp.baseAddress!, into: out, count: t.count, threads: ctx?.threads ?? 1)
                }
                return Tensor.uninitialized(t.shape, fill)
            }
        }
    }
}
