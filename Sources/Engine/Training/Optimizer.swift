import Foundation
import Recorder

/// An optimizer updates every trainable parameter from its gradient, with state buffers in the
/// ParameterStore's layout. Formulas follow the semantics knobs (see each type).
public protocol Optimizer: AnyObject {
    /// State buffer names as in torch's optimizer state (`momentum_buffer`, `exp_avg`, ...).
    var stateNames: [String] { get }
    /// The state buffer `index`, in the parameter layout.
    func stateBuffer(_ index: Int) -> StateBuffer
    /// One update of every trainable parameter. `updated(k)` is called once the update has written
    /// entry k of `params.entries` (and its state) for the last time in this step: the recorder
    /// starts hashing it then, while the update goes on with the next entries.
    func step(_ params: ParameterStore, lr: Float, updated: (Int) -> Void)
    /// Everything carried from one step to the next (buffers and counters), for checkpoints.
    func saveState() -> OptimizerState
    /// Restores a saved state; false when it does not fit this optimizer (other type or size).
    func restoreState(_ state: OptimizerState) -> Bool
}

extension Optimizer {
    /// The state buffer `index`, copied.
    public func state(_ index: Int) -> [Float] { stateBuffer(index).values }

    public func step(_ params: ParameterStore, lr: Float) { step(params, lr: lr, updated: { _ in }) }
}

public enum Optimizers {
    public static func make(_ c: TrainConfig.OptimizerConfig, semantics: Semantics, count: Int) -> Optimizer {
        let k = semantics.knobs
        let torch = k.optimizerArithmetic == .torch, decoupled = k.weightDecayMode == .decoupled
        switch c.type {
        case .sgd: return SGD(c, count: count, kerasMomentum: k.sgdMomentumMode == .keras, fused: torch, decoupled: decoupled)
        case .adam: return Adam(c, count: count, hat: k.adamEpsilonMode == .hat, torch: torch, decoupled: decoupled)
        case .rmsprop: return RMSprop(c, count: count, inside: k.rmspropEpsilonMode == .inside, torch: torch, decoupled: decoupled)
        }
    }

    /// Runs `body(offset, count)` over each trainable range, largest first
    /// (`ParameterStore.trainableLargestFirst`), then `updated(k)` with the range's index in
    /// `params.entries`.
    @inline(__always)
    static func forEachTrainable(_ params: ParameterStore, updated: (Int) -> Void = { _ in }, _ body: (Int, Int) -> Void) {
        for k in params.trainableLargestFirst {
            let e = params.entries[k]
            body(e.offset, e.count)
            updated(k)
        }
    }

    /// The Float64 value a Float32 hyperparameter was written as: its shortest round-tripping
    /// decimal (0.9f -> 0.9, not 0.8999999761581421). Both frameworks hold hyperparameters as
    /// Python floats and derive constants such as `1 - beta1` in Float64 before the kernel rounds
    /// them to Float32: 1 - 0.9 rounds to 0.1f, whereas 1 - 0.9f in Float32 is 0.100000024f.
    public static func decimal(_ f: Float) -> Double { Double("\(f)") ?? Double(f) }

    /// `1 - x` computed as the frameworks do (Float64 from the written value), rounded to Float32.
    static func oneMinus(_ x: Float) -> Float { Float(1 - decimal(x)) }

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
/// - `optimizer.arithmetic` torch: w - lr*g in one FMA (torch's vectorised add with alpha); keras: lr*g rounded first (assign_sub).
public final class SGD: Optimizer {
    let c: TrainConfig.OptimizerConfig
    let kerasMomentum: Bool, fused: Bool, decoupled: Bool
    let buf: StateBuffer
    var started = false

    init(_ c: TrainConfig.OptimizerConfig, count: Int, kerasMomentum: Bool, fused: Bool, decoupled: Bool) {
        self.c = c; self.kerasMomentum = kerasMomentum; self.fused = fused; self.decoupled = decoupled
        buf = StateBuffer(count: c.momentum != 0 ? count : 0)
    }

    public var stateNames: [String] { c.momentum != 0 ? ["momentum_buffer"] : [] }
    public func stateBuffer(_ index: Int) -> StateBuffer { buf }

    public func step(_ params: ParameterStore, lr: Float, updated: (Int) -> Void) {
        let w = params.values, gr = params.grads
        let mu = c.momentum, wd = c.weightDecay, nesterov = c.nesterov, first = !started
        if decoupled { Optimizers.decoupledDecay(params, wd: wd, lr: lr) }
        defer { started = true }
        let b = buf.pointer
        if mu != 0 && !first && !kerasMomentum && !nesterov && fused && (decoupled || wd == 0) {
            // The common case (torch momentum after the first step) as a branch-free loop that
            // vectorises: the same two expressions as the general loop below, so the same bits.
            Optimizers.forEachTrainable(params, updated: updated) { o, n in
                var i = o
                let end = o &+ n
                while i < end {
                    let v = b[i] * mu + gr[i]
                    b[i] = v
                    w[i] = w[i].addingProduct(v, -lr)
                    i &+= 1
                }
            }
            return
        }
        Optimizers.forEachTrainable(params, updated: updated) { o, n in
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
}

/// Adam (no amsgrad). t counts steps from 1; bc1 = 1 - b1^t, bc2 = 1 - b2^t.
/// - `adam.epsilonMode` corrected (torch): w -= lr*(m/bc1) / (sqrt(v/bc2) + eps);
///   hat (Keras): w -= (lr*sqrt(bc2)/bc1) * m / (sqrt(v) + eps), i.e. eps*sqrt(bc2) in torch's terms.
/// - `optimizer.arithmetic` torch (torch/optim/adam.py `_single_tensor_adam`): bc1, bc2 and lr/bc1 are
///   Python floats (Float64 from the written b1, b2, lr), rounded to Float32 where a kernel takes them;
///   m = lerp(m, g, 1-b1) (one FMA); v = v*b2 + ((1-b2)*g)*g; w += (-lr/bc1)*m / (sqrt(v)/sqrt(bc2) + eps).
/// - keras (keras/src/optimizers/adam.py `update_step`): every op in Float32 as Keras casts it:
///   b^t = pow(Float32(b), Float32(t)); m += (g-m)*(1-b1); v += (g^2-v)*(1-b2) (1-b from the Python
///   float); hat: w -= (m*alpha)/(sqrt(v)+eps), alpha = lr*sqrt(bc2)/bc1; corrected (a Keras optimizer
///   written with torch's formula): w -= (lr*(m/bc1)) / (sqrt(v/bc2) + eps).
/// Weight decay: coupled g += wd*w (torch, one FMA), or decoupled (Keras, see `decoupledDecay`).
public final class Adam: Optimizer {
    let c: TrainConfig.OptimizerConfig
    let hat: Bool, torch: Bool, decoupled: Bool
    let m: StateBuffer, v: StateBuffer
    var t = 0

    init(_ c: TrainConfig.OptimizerConfig, count: Int, hat: Bool, torch: Bool, decoupled: Bool) {
        self.c = c; self.hat = hat; self.torch = torch; self.decoupled = decoupled
        m = StateBuffer(count: count); v = StateBuffer(count: count)
    }

    public var stateNames: [String] { ["exp_avg", "exp_avg_sq"] }
    public func stateBuffer(_ index: Int) -> StateBuffer { index == 0 ? m : v }

    public func step(_ params: ParameterStore, lr: Float, updated: (Int) -> Void) {
        t += 1
        if decoupled { Optimizers.decoupledDecay(params, wd: c.weightDecay, lr: lr) }
        if torch { torchStep(params, lr: lr, updated) } else { kerasStep(params, lr: lr, updated) }
    }

    private func torchStep(_ params: ParameterStore, lr: Float, _ updated: (Int) -> Void) {
        let w = params.values, gr = params.grads
        let b2 = c.beta2, eps = c.epsilon, wd = decoupled ? 0 : c.weightDecay, hat = hat
        let bc1 = 1 - Foundation.pow(Optimizers.decimal(c.beta1), Double(t))
        let bc2 = 1 - Foundation.pow(Optimizers.decimal(c.beta2), Double(t))
        let lrd = Optimizers.decimal(lr)
        // corrected: step = lr/bc1, denominator sqrt(v)/sqrt(bc2) + eps; hat: step = lr*sqrt(bc2)/bc1, sqrt(v) + eps.
        let step = Float(hat ? lrd * bc2.squareRoot() / bc1 : lrd / bc1), bc2Sqrt = Float(hat ? 1 : bc2.squareRoot())
        let w1 = Optimizers.oneMinus(c.beta1), w2 = Optimizers.oneMinus(c.beta2)
        let m = self.m.pointer, v = self.v.pointer
        Optimizers.forEachTrainable(params, updated: updated) { o, n in
            for i in o..<(o + n) {
                var g = gr[i]
                if wd != 0 { g = g.addingProduct(w[i], wd) }
                m[i] = m[i].addingProduct(w1, g - m[i])
                v[i] = v[i] * b2 + (w2 * g) * g
                let denom = hat ? v[i].squareRoot() + eps : v[i].squareRoot() / bc2Sqrt + eps
                w[i] = w[i] + (-step * m[i]) / denom
            }
        }
    }

    private func kerasStep(_ params: ParameterStore, lr: Float, _ updated: (Int) -> Void) {
        let w = params.values, gr = params.grads
        let eps = c.epsilon, wd = decoupled ? 0 : c.weightDecay, hat = hat
        let bc1 = 1 - Foundation.pow(c.beta1, Float(t)), bc2 = 1 - Foundation.pow(c.beta2, Float(t))
        let alpha = lr * bc2.squareRoot() / bc1
        let omb1 = Optimizers.oneMinus(c.beta1), omb2 = Optimizers.oneMinus(c.beta2)
        let m = self.m.pointer, v = self.v.pointer
        Optimizers.forEachTrainable(params, updated: updated) { o, n in
            for i in o..<(o + n) {
                var g = gr[i]
                if wd != 0 { g = g + wd * w[i] }
                m[i] = m[i] + (g - m[i]) * omb1
                v[i] = v[i] + (g * g - v[i]) * omb2
                if hat {
                    w[i] = w[i] - (m[i] * alpha) / (v[i].squareRoot() + eps)
                } else {
                    w[i] = w[i] - (lr * (m[i] / bc1)) / ((v[i] / bc2).squareRoot() + eps)
                }
            }
        }
    }
}

/// RMSprop (no momentum, not centered). v = rho*v + (1-rho)*g^2 (1-rho from the written rho).
/// - `rmsprop.epsilonMode` outside (torch): w -= lr*g / (sqrt(v) + eps); inside (Keras): w -= lr*g / sqrt(v + eps).
/// - `optimizer.arithmetic` torch (torch/optim/rmsprop.py `_single_tensor_rmsprop`): v = v*rho + ((1-rho)*g)*g
///   (mul_ then addcmul_), w += (-lr*g) / denom (addcdiv_), coupled decay g = fma(wd, w, g);
///   keras (keras/src/optimizers/rmsprop.py): v = rho*v + (1-rho)*(g*g), w -= (lr*g) / denom, g + wd*w.
public final class RMSprop: Optimizer {
    let c: TrainConfig.OptimizerConfig
    let inside: Bool, torch: Bool, decoupled: Bool
    let v: StateBuffer

    init(_ c: TrainConfig.OptimizerConfig, count: Int, inside: Bool, torch: Bool, decoupled: Bool) {
        self.c = c; self.inside = inside; self.torch = torch; self.decoupled = decoupled
        v = StateBuffer(count: count)
    }

    public var stateNames: [String] { ["square_avg"] }
    public func stateBuffer(_ index: Int) -> StateBuffer { v }

    public func step(_ params: ParameterStore, lr: Float, updated: (Int) -> Void) {
        let w = params.values, gr = params.grads
        let rho = c.rho, omr = Optimizers.oneMinus(c.rho), eps = c.epsilon
        let wd = decoupled ? 0 : c.weightDecay, inside = inside, torch = torch
        if decoupled { Optimizers.decoupledDecay(params, wd: c.weightDecay, lr: lr) }
        let v = self.v.pointer
        Optimizers.forEachTrainable(params, updated: updated) { o, n in
            for i in o..<(o + n) {
                var g = gr[i]
                if wd != 0 { g = torch ? g.addingProduct(w[i], wd) : g + wd * w[i] }
                v[i] = torch ? v[i] * rho + (omr * g) * g : rho * v[i] + omr * (g * g)
                let denom = inside ? (v[i] + eps).squareRoot() : v[i].squareRoot() + eps
                w[i] = torch ? w[i] + (-lr * g) / denom : w[i] - (lr * g) / denom
            }
        }
    }
}
