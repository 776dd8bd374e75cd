import Recorder

/// One difference between frameworks that changes training numerics, with each framework's value.
public struct Knob: Sendable {
    public let name: String
    /// One line: what the knob decides.
    public let summary: String
    /// The formula of each value.
    public let formula: String
    public let pytorch: JSON
    public let keras: JSON
    /// Allowed string values; nil for a number.
    public let choices: [String]?
    /// Where each framework decides it (torch 2.13 / keras 3.15 source files).
    public let source: String
}

/// The semantics knobs of DESIGN.md section 6 and the others found while matching the real
/// frameworks' traces (shared/reference), each with both frameworks' values. Measured with
/// torch 2.13 and Keras 3.15 / TF 2.21. `cwrepro semantics` prints this table; the porting
/// guideline (guidelines/04-porting-between-frameworks.md) documents it and a test checks the
/// two agree.
public enum Knobs {
    public static let all: [Knob] = initAndLayers + optimizers + training

    static let initAndLayers: [Knob] = [
        Knob(name: "init.kernel", summary: "dense and conv kernel initialisation",
             formula: "pytorch: U(+-1/sqrt(fan_in)) (kaiming_uniform_ a=sqrt(5)); glorotUniform: U(+-sqrt(6/(fan_in+fan_out))); heUniform: U(+-sqrt(6/fan_in)); conv fans = channels*kh*kw",
             pytorch: .string("pytorch"), keras: .string("glorotUniform"), choices: ["pytorch", "glorotUniform", "heUniform"],
             source: "torch/nn/modules/linear.py, conv.py reset_parameters; keras/src/layers/core/dense.py, convolutional/base_conv.py kernel_initializer=\"glorot_uniform\""),
        Knob(name: "init.bias", summary: "dense and conv bias initialisation",
             formula: "pytorch: U(+-1/sqrt(fan_in)); zeros: 0",
             pytorch: .string("pytorch"), keras: .string("zeros"), choices: ["pytorch", "zeros"],
             source: "torch/nn/modules/linear.py reset_parameters; keras/src/layers/core/dense.py bias_initializer=\"zeros\""),
        Knob(name: "batchnorm.momentum", summary: "BatchNorm: weight of the new batch in the running statistics",
             formula: "running = (1-m)*running + m*batch (Keras momentum 0.99 is m = 0.01)",
             pytorch: .number(0.1), keras: .number(0.01), choices: nil,
             source: "torch/nn/modules/batchnorm.py (momentum=0.1); keras/src/layers/normalization/batch_normalization.py (momentum=0.99)"),
        Knob(name: "batchnorm.epsilon", summary: "BatchNorm: epsilon added to the variance",
             formula: "y = (x - mean)/sqrt(var + eps)*gamma + beta",
             pytorch: .number(1e-5), keras: .number(1e-3), choices: nil,
             source: "torch/nn/modules/batchnorm.py (eps=1e-5); keras/src/layers/normalization/batch_normalization.py (epsilon=1e-3)"),
        Knob(name: "batchnorm.runningVariance", summary: "BatchNorm: batch variance that enters the running variance",
             formula: "unbiased: sum((x-mean)^2)/(N-1); biased: sum((x-mean)^2)/N (N = batch*H*W); normalisation always uses the biased one",
             pytorch: .string("unbiased"), keras: .string("biased"), choices: ["unbiased", "biased"],
             source: "aten/src/ATen/native/Normalization.cpp batch_norm_cpu_update_stats; keras/src/layers/normalization/batch_normalization.py (ops.moments)"),
        Knob(name: "padding.same", summary: "conv/pool \"same\" padding when the total is odd (stride 2, even kernel)",
             formula: "symmetric: (k-1)/2 each side (torch padding=(k-1)//2); tensorflow: floor(total/2) top/left, the extra row/col bottom/right",
             pytorch: .string("symmetric"), keras: .string("tensorflow"), choices: ["symmetric", "tensorflow"],
             source: "torch/nn/modules/conv.py (explicit padding); tensorflow/core/framework/kernel_shape_util.cc GetWindowedOutputSizeVerbose"),
    ]

    static let optimizers: [Knob] = [
        Knob(name: "optimizer.arithmetic", summary: "how optimizer constants and updates are rounded",
             formula: "torch: constants from Python floats in Float64 (1-b1, 1-b1^t, lr/(1-b1^t)), fused kernels (add with alpha and lerp are one FMA: w = fma(-lr, g, w)); keras: every op a Float32 tensor op rounded on its own (b^t = pow(Float32(b), t), w -= (lr*g) rounded first)",
             pytorch: .string("torch"), keras: .string("keras"), choices: ["torch", "keras"],
             source: "torch/optim/sgd.py, adam.py _single_tensor_*; aten/src/ATen/native/cpu/BinaryOpsKernel.cpp (add: vec::fmadd), LerpKernel.cpp; keras/src/optimizers/sgd.py, adam.py update_step (ops.*, assign_sub)"),
        Knob(name: "sgd.lr", summary: "SGD learning rate when optimizer.lr is not given",
             formula: "lr",
             pytorch: .number(1e-3), keras: .number(1e-2), choices: nil,
             source: "torch/optim/sgd.py (lr=1e-3); keras/src/optimizers/sgd.py (learning_rate=0.01)"),
        Knob(name: "sgd.momentumMode", summary: "SGD momentum buffer: gradients or steps",
             formula: "pytorch: buf = mu*buf + g (buf = g at the first step); w -= lr*buf. keras: v = mu*v - lr*g; w += v. Equal while lr is constant; after an lr change torch rescales the whole buffer at once, Keras's velocity keeps the old lr",
             pytorch: .string("pytorch"), keras: .string("keras"), choices: ["pytorch", "keras"],
             source: "torch/optim/sgd.py _single_tensor_sgd; keras/src/optimizers/sgd.py update_step"),
        Knob(name: "adam.epsilon", summary: "Adam epsilon when optimizer.epsilon is not given",
             formula: "eps",
             pytorch: .number(1e-8), keras: .number(1e-7), choices: nil,
             source: "torch/optim/adam.py (eps=1e-8); keras/src/optimizers/adam.py (epsilon=1e-7)"),
        Knob(name: "adam.epsilonMode", summary: "where Adam adds epsilon",
             formula: "corrected: w -= lr*mhat/(sqrt(vhat)+eps), mhat = m/(1-b1^t), vhat = v/(1-b2^t); hat: w -= lr*sqrt(1-b2^t)/(1-b1^t) * m/(sqrt(v)+eps), i.e. eps*sqrt(1-b2^t) in torch's terms",
             pytorch: .string("corrected"), keras: .string("hat"), choices: ["corrected", "hat"],
             source: "torch/optim/adam.py _single_tensor_adam; keras/src/optimizers/adam.py update_step"),
        Knob(name: "rmsprop.lr", summary: "RMSprop learning rate when optimizer.lr is not given",
             formula: "lr",
             pytorch: .number(1e-2), keras: .number(1e-3), choices: nil,
             source: "torch/optim/rmsprop.py (lr=1e-2); keras/src/optimizers/rmsprop.py (learning_rate=0.001)"),
        Knob(name: "rmsprop.rho", summary: "RMSprop decay of the squared-gradient average when optimizer.rho is not given",
             formula: "v = rho*v + (1-rho)*g^2 (torch alpha)",
             pytorch: .number(0.99), keras: .number(0.9), choices: nil,
             source: "torch/optim/rmsprop.py (alpha=0.99); keras/src/optimizers/rmsprop.py (rho=0.9)"),
        Knob(name: "rmsprop.epsilon", summary: "RMSprop epsilon when optimizer.epsilon is not given",
             formula: "eps",
             pytorch: .number(1e-8), keras: .number(1e-7), choices: nil,
             source: "torch/optim/rmsprop.py (eps=1e-8); keras/src/optimizers/rmsprop.py (epsilon=1e-7)"),
        Knob(name: "rmsprop.epsilonMode", summary: "where RMSprop adds epsilon",
             formula: "outside: w -= lr*g/(sqrt(v)+eps); inside: w -= lr*g/sqrt(v+eps)",
             pytorch: .string("outside"), keras: .string("inside"), choices: ["outside", "inside"],
             source: "torch/optim/rmsprop.py _single_tensor_rmsprop; keras/src/optimizers/rmsprop.py update_step"),
        Knob(name: "weightDecay.mode", summary: "how optimizer.weightDecay acts",
             formula: "coupled: g += wd*w before the update (torch weight_decay); decoupled: w -= w*wd*lr before the update (Keras weight_decay)",
             pytorch: .string("coupled"), keras: .string("decoupled"), choices: ["coupled", "decoupled"],
             source: "torch/optim/sgd.py, adam.py (grad.add(param, alpha=weight_decay)); keras/src/optimizers/base_optimizer.py _apply_weight_decay"),
    ]

    static let training: [Knob] = [
        Knob(name: "schedule.unit", summary: "what a step schedule counts",
             formula: "lr = lr0 * gamma^floor(t/stepSize), t = epochs (torch StepLR stepped per epoch) or optimizer steps (Keras schedules take iterations)",
             pytorch: .string("epoch"), keras: .string("step"), choices: ["epoch", "step"],
             source: "torch/optim/lr_scheduler.py StepLR; keras/src/optimizers/schedules/learning_rate_schedule.py"),
    ]

    public static func named(_ name: String) -> Knob? { all.first { $0.name == name } }
}
