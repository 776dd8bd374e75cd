import Recorder

/// The semantics knobs of a run, decoded once: one typed field per knob of `Knobs.all`. The engine
/// reads these fields (`ctx.semantics.knobs.adamEpsilonMode == .hat`), never a knob name.
///
/// A new knob is a field here, its value in both profiles (`pytorch`, `keras`: the memberwise
/// initialiser makes each profile give every field), and a row in `Knobs.all` naming it; its
/// name, choices, JSON form and override parsing all derive from that row.
public struct KnobSettings: Equatable, Sendable {
    /// `init.kernel`: bound of U(-b, b) for dense and conv kernels.
    public enum KernelInit: String, CaseIterable, Sendable { case pytorch, glorotUniform, heUniform }
    /// `init.bias`: dense and conv biases drawn like torch, or zero.
    public enum BiasInit: String, CaseIterable, Sendable { case pytorch, zeros }
    /// `batchnorm.runningVariance`: the batch variance that enters the running variance.
    public enum RunningVariance: String, CaseIterable, Sendable { case unbiased, biased }
    /// `optimizer.arithmetic`: how optimizer constants and updates are rounded.
    public enum Arithmetic: String, CaseIterable, Sendable { case torch, keras }
    /// `sgd.momentumMode`: what SGD's momentum buffer holds (gradients or steps).
    public enum MomentumMode: String, CaseIterable, Sendable { case pytorch, keras }
    /// `adam.epsilonMode`: where Adam adds epsilon.
    public enum AdamEpsilonMode: String, CaseIterable, Sendable { case corrected, hat }
    /// `rmsprop.epsilonMode`: epsilon outside or inside the square root.
    public enum RMSpropEpsilonMode: String, CaseIterable, Sendable { case outside, inside }
    /// `weightDecay.mode`: decay added to the gradient, or applied to the weights apart.
    public enum WeightDecayMode: String, CaseIterable, Sendable { case coupled, decoupled }
    /// `schedule.unit`: what a step schedule counts.
    public enum ScheduleUnit: String, CaseIterable, Sendable { case epoch, step }

    public var initKernel: KernelInit
    public var initBias: BiasInit
    public var batchNormMomentum: Double
    public var batchNormEpsilon: Double
    public var batchNormRunningVariance: RunningVariance
    /// `padding.same`: how "same" padding splits an odd total.
    public var paddingSame: Window2D.SameMode
    public var optimizerArithmetic: Arithmetic
    public var sgdLR: Double
    public var sgdMomentumMode: MomentumMode
    public var adamEpsilon: Double
    public var adamEpsilonMode: AdamEpsilonMode
    public var rmspropLR: Double
    public var rmspropRho: Double
    public var rmspropEpsilon: Double
    public var rmspropEpsilonMode: RMSpropEpsilonMode
    public var weightDecayMode: WeightDecayMode
    public var scheduleUnit: ScheduleUnit

    /// PyTorch's values (torch 2.13).
    public static let pytorch = KnobSettings(
        initKernel: .pytorch, initBias: .pytorch, batchNormMomentum: 0.1, batchNormEpsilon: 1e-5,
        batchNormRunningVariance: .unbiased, paddingSame: .symmetric, optimizerArithmetic: .torch, sgdLR: 1e-3,
        sgdMomentumMode: .pytorch, adamEpsilon: 1e-8, adamEpsilonMode: .corrected, rmspropLR: 1e-2, rmspropRho: 0.99,
        rmspropEpsilon: 1e-8, rmspropEpsilonMode: .outside, weightDecayMode: .coupled, scheduleUnit: .epoch)

    /// Keras's values (Keras 3.15 / TF 2.21).
    public static let keras = KnobSettings(
        initKernel: .glorotUniform, initBias: .zeros, batchNormMomentum: 0.01, batchNormEpsilon: 1e-3,
        batchNormRunningVariance: .biased, paddingSame: .tensorflow, optimizerArithmetic: .keras, sgdLR: 1e-2,
        sgdMomentumMode: .keras, adamEpsilon: 1e-7, adamEpsilonMode: .hat, rmspropLR: 1e-3, rmspropRho: 0.9,
        rmspropEpsilon: 1e-7, rmspropEpsilonMode: .inside, weightDecayMode: .decoupled, scheduleUnit: .step)
}

/// One difference between frameworks that changes training numerics: its name in configs
/// (`"overrides": {"adam.epsilonMode": "hat"}`), what it decides, and the field of
/// `KnobSettings` that holds it.
public struct Knob: Sendable {
    public let name: String
    /// One line: what the knob decides.
    public let summary: String
    /// The formula of each value.
    public let formula: String
    /// Where each framework decides it (torch 2.13 / keras 3.15 source files).
    public let source: String
    /// Allowed string values; nil for a number.
    public let choices: [String]?
    /// The knob's value in `settings`, as written in configs.
    public let value: @Sendable (_ settings: KnobSettings) -> JSON
    /// Sets the knob from a config value; false when the value is not one the knob takes.
    let assign: @Sendable (_ settings: inout KnobSettings, _ value: JSON) -> Bool

    public var pytorch: JSON { value(.pytorch) }
    public var keras: JSON { value(.keras) }

    /// A knob with named values (an enum field).
    static func choice<E: RawRepresentable & CaseIterable & Sendable>(
        _ name: String, _ field: WritableKeyPath<KnobSettings, E> & Sendable, summary: String, formula: String, source: String
    ) -> Knob where E.RawValue == String {
        Knob(name: name, summary: summary, formula: formula, source: source, choices: E.allCases.map(\.rawValue),
             value: { .string($0[keyPath: field].rawValue) },
             assign: { settings, v in
                 guard case .string(let s) = v, let e = E(rawValue: s) else { return false }
                 settings[keyPath: field] = e
                 return true
             })
    }

    /// A knob with a non-negative number.
    static func number(_ name: String, _ field: WritableKeyPath<KnobSettings, Double> & Sendable, summary: String, formula: String,
                       source: String) -> Knob {
        Knob(name: name, summary: summary, formula: formula, source: source, choices: nil,
             value: { .number($0[keyPath: field]) },
             assign: { settings, v in
                 guard case .number(let d) = v, d.isFinite, d >= 0 else { return false }
                 settings[keyPath: field] = d
                 return true
             })
    }
}

/// The semantics knobs of DESIGN.md section 6 and the others found while matching the real
/// frameworks' traces (shared/reference), each with both frameworks' values. Measured with
/// torch 2.13 and Keras 3.15 / TF 2.21. `cwrepro semantics` prints this table; the porting
/// guideline (guidelines/04-porting-between-frameworks.md) documents it and a test checks the
/// two agree.
public enum Knobs {
    public static let all: [Knob] = initAndLayers + optimizers + training

    static let initAndLayers: [Knob] = [
        .choice("init.kernel", \.initKernel, summary: "dense and conv kernel initialisation",
              formula: "pytorch: U(+-1/sqrt(fan_in)) (kaiming_uniform_ a=sqrt(5)); glorotUniform: U(+-sqrt(6/(fan_in+fan_out))); heUniform: U(+-sqrt(6/fan_in)); conv fans = channels*kh*kw",
              source: "torch/nn/modules/linear.py, conv.py reset_parameters; keras/src/layers/core/dense.py, convolutional/base_conv.py kernel_initializer=\"glorot_uniform\""),
        .choice("init.bias", \.initBias, summary: "dense and conv bias initialisation",
              formula: "pytorch: U(+-1/sqrt(fan_in)); zeros: 0",
              source: "torch/nn/modules/linear.py reset_parameters; keras/src/layers/core/dense.py bias_initializer=\"zeros\""),
        .number("batchnorm.momentum", \.batchNormMomentum, summary: "BatchNorm: weight of the new batch in the running statistics",
              formula: "running = (1-m)*running + m*batch (Keras momentum 0.99 is m = 0.01)",
              source: "torch/nn/modules/batchnorm.py (momentum=0.1); keras/src/layers/normalization/batch_normalization.py (momentum=0.99)"),
        .number("batchnorm.epsilon", \.batchNormEpsilon, summary: "BatchNorm: epsilon added to the variance",
              formula: "y = (x - mean)/sqrt(var + eps)*gamma + beta",
              source: "torch/nn/modules/batchnorm.py (eps=1e-5); keras/src/layers/normalization/batch_normalization.py (epsilon=1e-3)"),
        .choice("batchnorm.runningVariance", \.batchNormRunningVariance, summary: "BatchNorm: batch variance that enters the running variance",
              formula: "unbiased: sum((x-mean)^2)/(N-1); biased: sum((x-mean)^2)/N (N = batch*H*W); normalisation always uses the biased one",
              source: "aten/src/ATen/native/Normalization.cpp batch_norm_cpu_update_stats; keras/src/layers/normalization/batch_normalization.py (ops.moments)"),
        .choice("padding.same", \.paddingSame, summary: "conv/pool \"same\" padding when the total is odd (stride 2, even kernel)",
              formula: "symmetric: (k-1)/2 each side (torch padding=(k-1)//2); tensorflow: floor(total/2) top/left, the extra row/col bottom/right",
              source: "torch/nn/modules/conv.py (explicit padding); tensorflow/core/framework/kernel_shape_util.cc GetWindowedOutputSizeVerbose"),
    ]

    static let optimizers: [Knob] = [
        .choice("optimizer.arithmetic", \.optimizerArithmetic, summary: "how optimizer constants and updates are rounded",
              formula: "torch: constants from Python floats in Float64 (1-b1, 1-b1^t, lr/(1-b1^t)), fused kernels (add with alpha and lerp are one FMA: w = fma(-lr, g, w)); keras: every op a Float32 tensor op rounded on its own (b^t = pow(Float32(b), t), w -= (lr*g) rounded first)",
              source: "torch/optim/sgd.py, adam.py _single_tensor_*; aten/src/ATen/native/cpu/BinaryOpsKernel.cpp (add: vec::fmadd), LerpKernel.cpp; keras/src/optimizers/sgd.py, adam.py update_step (ops.*, assign_sub)"),
        .number("sgd.lr", \.sgdLR, summary: "SGD learning rate when optimizer.lr is not given",
              formula: "lr",
              source: "torch/optim/sgd.py (lr=1e-3); keras/src/optimizers/sgd.py (learning_rate=0.01)"),
        .choice("sgd.momentumMode", \.sgdMomentumMode, summary: "SGD momentum buffer: gradients or steps",
              formula: "pytorch: buf = mu*buf + g (buf = g at the first step); w -= lr*buf. keras: v = mu*v - lr*g; w += v. Equal while lr is constant; after an lr change torch rescales the whole buffer at once, Keras's velocity keeps the old lr",
              source: "torch/optim/sgd.py _single_tensor_sgd; keras/src/optimizers/sgd.py update_step"),
        .number("adam.epsilon", \.adamEpsilon, summary: "Adam epsilon when optimizer.epsilon is not given",
              formula: "eps",
              source: "torch/optim/adam.py (eps=1e-8); keras/src/optimizers/adam.py (epsilon=1e-7)"),
        .choice("adam.epsilonMode", \.adamEpsilonMode, summary: "where Adam adds epsilon",
              formula: "corrected: w -= lr*mhat/(sqrt(vhat)+eps), mhat = m/(1-b1^t), vhat = v/(1-b2^t); hat: w -= lr*sqrt(1-b2^t)/(1-b1^t) * m/(sqrt(v)+eps), i.e. eps*sqrt(1-b2^t) in torch's terms",
              source: "torch/optim/adam.py _single_tensor_adam; keras/src/optimizers/adam.py update_step"),
        .number("rmsprop.lr", \.rmspropLR, summary: "RMSprop learning rate when optimizer.lr is not given",
              formula: "lr",
              source: "torch/optim/rmsprop.py (lr=1e-2); keras/src/optimizers/rmsprop.py (learning_rate=0.001)"),
        .number("rmsprop.rho", \.rmspropRho, summary: "RMSprop decay of the squared-gradient average when optimizer.rho is not given",
              formula: "v = rho*v + (1-rho)*g^2 (torch alpha)",
              source: "torch/optim/rmsprop.py (alpha=0.99); keras/src/optimizers/rmsprop.py (rho=0.9)"),
        .number("rmsprop.epsilon", \.rmspropEpsilon, summary: "RMSprop epsilon when optimizer.epsilon is not given",
              formula: "eps",
              source: "torch/optim/rmsprop.py (eps=1e-8); keras/src/optimizers/rmsprop.py (epsilon=1e-7)"),
        .choice("rmsprop.epsilonMode", \.rmspropEpsilonMode, summary: "where RMSprop adds epsilon",
              formula: "outside: w -= lr*g/(sqrt(v)+eps); inside: w -= lr*g/sqrt(v+eps)",
              source: "torch/optim/rmsprop.py _single_tensor_rmsprop; keras/src/optimizers/rmsprop.py update_step"),
        .choice("weightDecay.mode", \.weightDecayMode, summary: "how optimizer.weightDecay acts",
              formula: "coupled: g += wd*w before the update (torch weight_decay); decoupled: w -= w*wd*lr before the update (Keras weight_decay)",
              source: "torch/optim/sgd.py, adam.py (grad.add(param, alpha=weight_decay)); keras/src/optimizers/base_optimizer.py _apply_weight_decay"),
    ]

    static let training: [Knob] = [
        .choice("schedule.unit", \.scheduleUnit, summary: "what a step schedule counts",
              formula: "lr = lr0 * gamma^floor(t/stepSize), t = epochs (torch StepLR stepped per epoch) or optimizer steps (Keras schedules take iterations)",
              source: "torch/optim/lr_scheduler.py StepLR; keras/src/optimizers/schedules/learning_rate_schedule.py"),
    ]

    public static func named(_ name: String) -> Knob? { all.first { $0.name == name } }
}
