import Foundation
import Recorder

/// An optimizer updates every trainable parameter from its gradient, with state buffers in the
/// ParameterStore's layout. Formulas follow the semantics knobs (see each type).
public protocol Optimizer: AnyObject {
    /// State buffer names as in torch's optimizer state (`momentum_buffer`, `exp_avg`, ...).
    var stateNames: [String] { get }
    /// The state buffer `index`, in the parameter layout.
    func state(_ index: Int) -> [Float]
    func step(_ params: ParameterStore, lr: Float)
    /// Everything carried from one step to the next (buffers and counters), for checkpoints.
    func saveState() -> OptimizerState
    /// Restores a saved state; false when it does not fit this optimizer (other type or size).
    func restoreState(_ state: OptimizerState) -> Bool
}

extension Optimizer {
    /// Records each state buffer per parameter (`1.weight.exp_avg`, role `optimizer-state`).
    public func record(_ params: ParameterStore, _ recorder: Recorder) {
        guard recorder.wants(.optimizerState) else { return }
        for (s, stateName) in stateNames.enumerated() {
            let buf = state(s)
            buf.withUnsafeBufferPointer { p in
                for e in params.entries where e.trainable {
                    recorder.record(name: "\(e.name).\(stateName)", role: .optimizerState, shape: e.shape,
                                    floats: UnsafeBufferPointer(rebasing: p[e.offset..<(e.offset + e.count)]))
                }
            }
        }
    }
}

public enum Optimizers {
    public static func make(_ c: TrainConfig.OptimizerConfig, semantics: Semantics, count: Int) -> Optimizer {
        let fused = semantics.string("update.rounding") == "fused"
        let decoupled = semantics.string("weightDecay.mode") == "decoupled"
        switch c.type {
        case "adam": return Adam(c, count: count, hat: semantics.string("adam.epsilonMode") == "hat", decoupled: decoupled)
        case "rmsprop": return RMSprop(c, count: count, inside: semantics.string("rmsprop.epsilonMode") == "inside", fused: fused, decoupled: decoupled)
        default: return SGD(c, count: count, kerasMomentum: semantics.string("sgd.momentumMode") == "keras", fused: fused, decoupled: decoupled)
        }
    }

    /// Runs `body(offset, count)` over each trainable range of the layout.
    @inline(__always)
    static func forEachTrainable(_ params: ParameterStore, _ body: (Int, Int) -> Void) {
        for e in params.entries where e.trainable { body(e.offset, e.count) }
    }

    /// Decoupled weight decay (Keras): w -= (w * wd) * lr, before the update.
    static func decoupledDecay(_ params: ParameterStore, wd: Float, lr: Float) {
        guard wd != 0 else { return }
        let w = params.values
        forEachTrainable(params) { o, n in for i in o..<(o + n) { w[i] -= (w[i] * wd) * lr } }
    }
}

/// SGD with momentum, Nesterov and weight decay.
/// - `sgd.momentumMode` pytorch: g += wd*w (coupled); buf = g at the first step, then
///   buf = mu*buf + g; g = nesterov ? g + mu*buf : buf; w -= lr*g.
/// - keras: v = v*mu - g*lr; w += nesterov ? v*mu - g*lr : v. (With a constant lr the two agree up
///   to rounding; after an lr change they differ: torch's buffer carries gradients, Keras's carries steps.)
/// - `update.rounding` fused: w - lr*g in one FMA (torch's vectorised add with alpha); separate: lr*g rounded first.
public final class SGD: Optimizer {
    let c: TrainConfig.OptimizerConfig
    let kerasMomentum: Bool, fused: Bool, decoupled: Bool
    var buf: [Float]
    var started = false

    init(_ c: TrainConfig.OptimizerConfig, count: Int, kerasMomentum: Bool, fused: Bool, decoupled: Bool) {
        self.c = c; self.kerasMomentum = kerasMomentum; self.fused = fused; self.decoupled = decoupled
        buf = [Float](repeating: 0, count: c.momentum != 0 ? count : 0)
    }

    public var stateNames: [String] { c.momentum != 0 ? ["momentum_buffer"] : [] }
    public func state(_ index: Int) -> [Float] { buf }

    public func step(_ params: ParameterStore, lr: Float) {
        let w = params.values, gr = params.grads
        let mu = c.momentum, wd = c.weightDecay, nesterov = c.nesterov, first = !started
        if decoupled { Optimizers.decoupledDecay(params, wd: wd, lr: lr) }
        buf.withUnsafeMutableBufferPointer { b in
            Optimizers.forEachTrainable(params) { o, n in
                for i in o..<(o + n) {
                    var g = gr[i]
                    if !decoupled && wd != 0 { g = fused ? g.addingProduct(w[i], wd) : g + wd * w[i] }
                    if mu == 0 {
                        w[i] = fused ? w[i].addingProduct(g, -lr) : w[i] - g * lr
                    } else if kerasMomentum {
                        b[i] = b[i] * mu - g * lr
                        w[i] = nesterov ? w[i] + (b[i] * mu - g * lr) : w[i] + b[i]
                    } else {
                        b[i] = first ? g : b[i] * mu + g
                        let d = nesterov ? (fused ? g.addingProduct(b[i], mu) : g + mu * b[i]) : b[i]
                        w[i] = fused ? w[i].addingProduct(d, -lr) : w[i] - d * lr
                    }
                }
            }
        }
        started = true
    }
}

/// Adam. m = lerp(m, g, 1-b1) (torch: m + (1-b1)(g - m), as one FMA), v = b2*v + (1-b2)*g*g.
/// - `adam.epsilonMode` corrected (torch): w -= (lr/(1-b1^t)) * m / (sqrt(v)/sqrt(1-b2^t) + eps), bias
///   corrections computed in Float64 and rounded to Float32 once, as torch does with Python floats.
/// - hat (Keras): alpha = lr*sqrt(1-b2^t)/(1-b1^t) in Float32; m += (g - m)(1-b1); v += (g^2 - v)(1-b2);
///   w -= (m*alpha) / (sqrt(v) + eps).
public final class Adam: Optimizer {
    let c: TrainConfig.OptimizerConfig
    let hat: Bool, decoupled: Bool
    var m: [Float], v: [Float]
    var t = 0

    init(_ c: TrainConfig.OptimizerConfig, count: Int, hat: Bool, decoupled: Bool) {
        self.c = c; self.hat = hat; self.decoupled = decoupled
        m = [Float](repeating: 0, count: count); v = m
    }

    public var stateNames: [String] { ["exp_avg", "exp_avg_sq"] }
    public func state(_ index: Int) -> [Float] { index == 0 ? m : v }

    public func step(_ params: ParameterStore, lr: Float) {
        t += 1
        let w = params.values, gr = params.grads
        let b1 = c.beta1, b2 = c.beta2, eps = c.epsilon, wd = c.weightDecay
        if decoupled { Optimizers.decoupledDecay(params, wd: wd, lr: lr) }
        if hat {
            let b1p = Foundation.pow(b1, Float(t)), b2p = Foundation.pow(b2, Float(t))
            let alpha = lr * (1 - b2p).squareRoot() / (1 - b1p)
            let omb1 = 1 - b1, omb2 = 1 - b2
            m.withUnsafeMutableBufferPointer { m in v.withUnsafeMutableBufferPointer { v in
                Optimizers.forEachTrainable(params) { o, n in
                    for i in o..<(o + n) {
                        var g = gr[i]
                        if !decoupled && wd != 0 { g = g + wd * w[i] }
                        m[i] = m[i] + (g - m[i]) * omb1
                        v[i] = v[i] + (g * g - v[i]) * omb2
                        w[i] = w[i] - (m[i] * alpha) / (v[i].squareRoot() + eps)
                    }
                }
            } }
        } else {
            let bc1 = 1 - Foundation.pow(Double(b1), Double(t)), bc2 = 1 - Foundation.pow(Double(b2), Double(t))
            let stepSize = Float(Double(lr) / bc1), bc2Sqrt = Float(bc2.squareRoot())
            let w1 = Float(1 - Double(b1)), w2 = Float(1 - Double(b2))
            m.withUnsafeMutableBufferPointer { m in v.withUnsafeMutableBufferPointer { v in
                Optimizers.forEachTrainable(params) { o, n in
                    for i in o..<(o + n) {
                        var g = gr[i]
                        if !decoupled && wd != 0 { g = g.addingProduct(w[i], wd) }
                        m[i] = m[i].addingProduct(w1, g - m[i])
                        v[i] = v[i] * b2 + (w2 * g) * g
                        let denom = v[i].squareRoot() / bc2Sqrt + eps
                        w[i] = w[i] + (-stepSize * m[i]) / denom
                    }
                }
            } }
        }
    }
}

/// RMSprop (no momentum, not centered). v = rho*v + (1-rho)*g^2;
/// `rmsprop.epsilonMode` outside (torch): w -= lr * g / (sqrt(v) + eps); inside (Keras): w -= lr*g / sqrt(v + eps).
public final class RMSprop: Optimizer {
    let c: TrainConfig.OptimizerConfig
    let inside: Bool, fused: Bool, decoupled: Bool
    var v: [Float]

    init(_ c: TrainConfig.OptimizerConfig, count: Int, inside: Bool, fused: Bool, decoupled: Bool) {
        self.c = c; self.inside = inside; self.fused = fused; self.decoupled = decoupled
        v = [Float](repeating: 0, count: count)
    }

    public var stateNames: [String] { ["square_avg"] }
    public func state(_ index: Int) -> [Float] { v }

    public func step(_ params: ParameterStore, lr: Float) {
        let w = params.values, gr = params.grads
        let rho = c.rho, eps = c.epsilon, wd = c.weightDecay
        if decoupled { Optimizers.decoupledDecay(params, wd: wd, lr: lr) }
        v.withUnsafeMutableBufferPointer { v in
            Optimizers.forEachTrainable(params) { o, n in
                for i in o..<(o + n) {
                    var g = gr[i]
                    if !decoupled && wd != 0 { g = g + wd * w[i] }
                    if inside {
                        v[i] = rho * v[i] + (1 - rho) * (g * g)
                        w[i] = w[i] - (lr * g) / (v[i] + eps).squareRoot()
                    } else {
                        v[i] = v[i] * rho + ((1 - rho) * g) * g
                        w[i] = w[i] + (-lr * g) / (v[i].squareRoot() + eps)
                    }
                }
            }
        }
    }
}
