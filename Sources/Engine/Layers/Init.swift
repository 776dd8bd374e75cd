import Foundation
import Recorder

/// Parameter initialisation through recorder draws, one site per parameter (`init/<name>`), as
/// the semantics knobs `init.kernel` and `init.bias` say:
/// - kernel `pytorch`: U(-1/sqrt(fan_in), +1/sqrt(fan_in)) (torch's kaiming_uniform_ with a = sqrt(5));
///   `glorotUniform`: U(+-sqrt(6 / (fan_in + fan_out))) (Keras's default); `heUniform`: U(+-sqrt(6 / fan_in))
///   (Keras he_uniform, torch kaiming_uniform_ with nonlinearity="relu").
/// - bias `pytorch`: U(+-1/sqrt(fan_in)); `zeros`.
/// Conv fans are channels * kh * kw.
public enum Init {
    public static func kernel(_ ctx: Context, name: String, offset: Int, count: Int, fanIn: Int, fanOut: Int) {
        let bound: Float = switch ctx.semantics.knobs.initKernel {
        case .glorotUniform: Float((6.0 / Double(fanIn + fanOut)).squareRoot())
        case .heUniform: Float((6.0 / Double(fanIn)).squareRoot())
        case .pytorch: Float(1 / Double(fanIn).squareRoot())
        }
        let v = ctx.recorder.uniform(site: "init/\(name)", count: count, low: -bound, high: bound)
        (ctx.params.values + offset).update(from: v, count: count)
    }

    public static func bias(_ ctx: Context, name: String, offset: Int, count: Int, fanIn: Int) {
        switch ctx.semantics.knobs.initBias {
        case .zeros:
            (ctx.params.values + offset).update(repeating: 0, count: count)
        case .pytorch:
            let bound = Float(1 / Double(fanIn).squareRoot())
            let v = ctx.recorder.uniform(site: "init/\(name)", count: count, low: -bound, high: bound)
            (ctx.params.values + offset).update(from: v, count: count)
        }
    }

    /// Sets `count` values to a constant (BatchNorm weight 1, bias 0, running stats).
    public static func constant(_ ctx: Context, offset: Int, count: Int, value: Float) {
        (ctx.params.values + offset).update(repeating: value, count: count)
    }
}
