import Recorder

/// One difference between frameworks that changes training numerics, with each framework's value.
public struct Knob: Sendable {
    public let name: String
    public let summary: String
    public let pytorch: JSON
    public let keras: JSON
    /// Allowed string values; nil for a number.
    public let choices: [String]?
    /// Where each framework decides it.
    public let source: String
}

/// The semantics knobs of DESIGN.md section 6, each with both frameworks' values.
/// Measured with torch 2.13 and Keras 3.15 / TF 2.21.
public enum Knobs {
    public static let all: [Knob] = [
        Knob(name: "init.kernel", summary: "dense/conv kernel init: pytorch = U(+-1/sqrt(fan_in)) (kaiming_uniform a=sqrt(5)); glorotUniform = U(+-sqrt(6/(fan_in+fan_out)))",
             pytorch: .string("pytorch"), keras: .string("glorotUniform"), choices: ["pytorch", "glorotUniform", "heNormal", "heUniform"],
             source: "torch/nn/modules/linear.py reset_parameters; keras/src/layers/core/dense.py kernel_initializer"),
        Knob(name: "init.bias", summary: "bias init: pytorch = U(+-1/sqrt(fan_in)); zeros",
             pytorch: .string("pytorch"), keras: .string("zeros"), choices: ["pytorch", "zeros"],
             source: "torch/nn/modules/linear.py; keras/src/layers/core/dense.py bias_initializer"),
        Knob(name: "batchnorm.momentum", summary: "weight of the new batch in running stats: r = (1-m) r + m batch (Keras momentum 0.99 = 0.01 here)",
             pytorch: .number(0.1), keras: .number(0.01), choices: nil,
             source: "torch/nn/modules/batchnorm.py; keras/src/layers/normalization/batch_normalization.py"),
        Knob(name: "batchnorm.epsilon", summary: "epsilon in (x - mean) / sqrt(var + eps)",
             pytorch: .number(1e-5), keras: .number(1e-3), choices: nil,
             source: "torch/nn/modules/batchnorm.py; keras/src/layers/normalization/batch_normalization.py"),
        Knob(name: "batchnorm.runningVariance", summary: "running variance update uses the unbiased (N-1) or biased (N) batch variance",
             pytorch: .string("unbiased"), keras: .string("biased"), choices: ["unbiased", "biased"],
             source: "aten/src/ATen/native/Normalization.cpp; keras batch_normalization.py"),
        Knob(name: "adam.epsilon", summary: "Adam epsilon default (used when optimizer.epsilon is not given)",
             pytorch: .number(1e-8), keras: .number(1e-7), choices: nil,
             source: "torch/optim/adam.py; keras/src/optimizers/adam.py"),
        Knob(name: "adam.epsilonMode", summary: "corrected: w -= lr*mhat/(sqrt(vhat)+eps); hat: w -= lr*sqrt(1-b2^t)/(1-b1^t) * m/(sqrt(v)+eps)",
             pytorch: .string("corrected"), keras: .string("hat"), choices: ["corrected", "hat"],
             source: "torch/optim/adam.py _single_tensor_adam; keras/src/optimizers/adam.py update_step"),
        Knob(name: "rmsprop.rho", summary: "RMSprop decay of the squared-gradient average (torch alpha)",
             pytorch: .number(0.99), keras: .number(0.9), choices: nil,
             source: "torch/optim/rmsprop.py; keras/src/optimizers/rmsprop.py"),
        Knob(name: "rmsprop.epsilon", summary: "RMSprop epsilon default",
             pytorch: .number(1e-8), keras: .number(1e-7), choices: nil,
             source: "torch/optim/rmsprop.py; keras/src/optimizers/rmsprop.py"),
        Knob(name: "rmsprop.epsilonMode", summary: "outside: g/(sqrt(v)+eps); inside: g/sqrt(v+eps)",
             pytorch: .string("outside"), keras: .string("inside"), choices: ["outside", "inside"],
             source: "torch/optim/rmsprop.py; keras/src/optimizers/rmsprop.py"),
        Knob(name: "sgd.momentumMode", summary: "pytorch: buf = mu*buf + g; w -= lr*buf. keras: v = mu*v - lr*g; w += v (differs once lr changes)",
             pytorch: .string("pytorch"), keras: .string("keras"), choices: ["pytorch", "keras"],
             source: "torch/optim/sgd.py; keras/src/optimizers/sgd.py"),
        Knob(name: "sgd.lr", summary: "SGD learning rate default (used when optimizer.lr is not given)",
             pytorch: .number(1e-3), keras: .number(1e-2), choices: nil,
             source: "torch/optim/sgd.py (lr=1e-3); keras/src/optimizers/sgd.py (0.01)"),
        Knob(name: "update.rounding", summary: "how w - lr*g is rounded: fused (one FMA rounding, torch's vectorised add with alpha) or separate (lr*g rounded, then subtracted: TF assign_sub)",
             pytorch: .string("fused"), keras: .string("separate"), choices: ["fused", "separate"],
             source: "aten/src/ATen/native/ufunc/add.h (vec::fmadd); keras/src/optimizers/sgd.py assign_sub(lr*g)"),
        Knob(name: "padding.same", summary: "\"same\" padding with an even total: symmetric (k-1)/2 each side, or tensorflow (the extra row/col at bottom/right)",
             pytorch: .string("symmetric"), keras: .string("tensorflow"), choices: ["symmetric", "tensorflow"],
             source: "torch/nn/modules/conv.py; tensorflow/core/framework/kernel_shape_util.cc"),
        Knob(name: "schedule.unit", summary: "a step schedule counts epochs (torch StepLR called per epoch) or optimizer steps (Keras schedules)",
             pytorch: .string("epoch"), keras: .string("step"), choices: ["epoch", "step"],
             source: "torch/optim/lr_scheduler.py StepLR; keras/src/optimizers/schedules/learning_rate_schedule.py"),
        Knob(name: "weightDecay.mode", summary: "coupled: g += wd*w (torch SGD/Adam weight_decay); decoupled: w -= lr*wd*w (Keras weight_decay)",
             pytorch: .string("coupled"), keras: .string("decoupled"), choices: ["coupled", "decoupled"],
             source: "torch/optim/sgd.py; keras/src/optimizers/base_optimizer.py _apply_weight_decay"),
    ]

    public static func named(_ name: String) -> Knob? { all.first { $0.name == name } }
}

/// A resolved set of knob values: a profile's defaults with the config's overrides applied.
public struct Semantics: Equatable, Sendable {
    public static let profiles = ["pytorch", "keras"]
    public let profile: String
    public private(set) var values: [String: JSON]

    public init(profile: String) {
        precondition(Self.profiles.contains(profile))
        self.profile = profile
        values = Dictionary(uniqueKeysWithValues: Knobs.all.map { ($0.name, profile == "keras" ? $0.keras : $0.pytorch) })
    }

    /// Applies `overrides` (knob name -> value), checking each name and value. Nested objects
    /// flatten to dotted knob names: {"batchnorm": {"momentum": 0.01}} is "batchnorm.momentum" (what
    /// `--set overrides.batchnorm.momentum=0.01` produces); a nested value replaces a dotted key
    /// naming the same knob. (The flattening was added for --set by the blocks branch; it lives
    /// entirely in this function.)
    public mutating func apply(_ overrides: [String: JSON], path: String = "overrides") throws {
        var flat: [String: JSON] = [:], fromNested: Set<String> = []
        func walk(_ o: [String: JSON], prefix: String) {
            for (k, v) in o {
                let name = prefix.isEmpty ? k : "\(prefix).\(k)"
                if case .object(let inner) = v, Knobs.named(name) == nil {
                    walk(inner, prefix: name)
                } else if !prefix.isEmpty {
                    flat[name] = v; fromNested.insert(name)
                } else if !fromNested.contains(name) {
                    flat[name] = v
                }
            }
        }
        walk(overrides, prefix: "")
        for (name, v) in flat.sorted(by: { $0.key < $1.key }) {
            guard let knob = Knobs.named(name) else {
                throw InputError("\(path).\(name): unknown semantics knob\(suggestion(name, Knobs.all.map(\.name))); `cwrepro semantics` lists them")
            }
            if let choices = knob.choices {
                guard case .string(let s) = v, choices.contains(s) else {
                    throw InputError("\(path).\(name): expected one of \(choices.joined(separator: ", ")), found \(v.text)")
                }
            } else {
                guard case .number(let d) = v, d.isFinite, d >= 0 else {
                    throw InputError("\(path).\(name): expected a non-negative number, found \(v.text)")
                }
            }
            values[name] = v
        }
    }

    public func string(_ name: String) -> String {
        guard case .string(let s)? = values[name] else { preconditionFailure("knob \(name) is not a string") }
        return s
    }

    public func double(_ name: String) -> Double {
        guard case .number(let d)? = values[name] else { preconditionFailure("knob \(name) is not a number") }
        return d
    }

    /// Knobs whose values differ between two semantics, in table order.
    public func differences(from other: Semantics) -> [String] {
        Knobs.all.map(\.name).filter { values[$0] != other.values[$0] }
    }

    public var json: JSON { .object(values) }
}
