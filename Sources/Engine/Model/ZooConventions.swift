import Recorder

/// What a model zoo's code fixes beyond "ResNet-50" or "VGG-16": where a bottleneck puts its
/// stride, whether convolutions before BatchNorm carry a bias, BatchNorm's momentum and epsilon,
/// what max-pool padding holds, the classifier. Two models of the same name from two zoos differ
/// in these, and a weight file loads into either when the parameter shapes agree (the stride's
/// place, epsilon and momentum change no shape). Read from an architecture preset's keys; the
/// `zoo` key sets every default at once, and each key given overrides it.
///
/// Sources (read for issue 16; docs/config.md cites them per key):
/// - torchvision `torchvision/models/resnet.py`: `Bottleneck` strides its 3x3 `conv2` ("ResNet
///   V1.5"; the original paper and Keras stride the first 1x1), convs `bias=False`,
///   `nn.BatchNorm2d` defaults (eps 1e-5, momentum 0.1, `torch/nn/modules/batchnorm.py`),
///   `nn.MaxPool2d(3, 2, padding=1)` (implicit -inf padding, `torch.nn.MaxPool2d` docs).
/// - Keras `keras/src/applications/resnet.py`: `residual_block_v1` strides `_1_conv` (1x1) and
///   the `_0_conv` projection; every block `Conv2D` keeps `use_bias=True`; every
///   `BatchNormalization(epsilon=1.001e-5)` with the default momentum 0.99 (= 0.01 as the weight
///   of the new batch); `ZeroPadding2D(1)` + `MaxPooling2D(3, strides=2)` (zeros, not -inf).
/// - torchvision `torchvision/models/vgg.py`: conv3x3 with bias (also before BatchNorm in
///   `vgg*_bn`), classifier Linear-ReLU-Dropout(0.5)-Linear-ReLU-Dropout(0.5)-Linear.
/// - Keras `keras/src/applications/vgg16.py`: no BatchNorm, classifier Dense(4096, relu) x 2 and
///   Dense(classes), no dropout.
/// - Keras `keras/src/applications/densenet.py`: BatchNormalization(epsilon=1.001e-5), convs
///   `use_bias=False` (as torchvision `densenet.py`).
public struct ZooConventions: Equatable, Sendable {
    /// A zoo whose conventions set the defaults.
    public enum Zoo: String, CaseIterable, Sendable { case torchvision, keras }
    /// Where a ResNet bottleneck strides when it downsamples.
    public enum Variant: String, CaseIterable, Sendable {
        /// The first 1x1 convolution (He et al. 2015; Keras applications `residual_block_v1`).
        case v1
        /// The 3x3 convolution (torchvision `Bottleneck`, NVIDIA's "ResNet v1.5").
        case v15 = "v1.5"
    }
    /// What max-pool padding holds.
    public enum PadValue: String, CaseIterable, Sendable {
        /// -inf: never selected (torch `MaxPool2d(padding=p)`).
        case negativeInfinity = "-inf"
        /// 0: Keras `ZeroPadding2D` followed by a valid `MaxPooling2D`.
        case zero
    }
    /// The classifier of VGG.
    public enum Classifier: String, CaseIterable, Sendable {
        /// flatten, dropout, dense(classes) (CIFAR VGG).
        case linear
        /// flatten, dense(hidden)-relu-dropout twice, dense(classes) (torchvision and Keras applications).
        case mlp
    }

    public var zoo: Zoo?
    public var variant: Variant
    public var convBias: Bool
    /// BatchNorm momentum (weight of the new batch) and epsilon written into every batchnorm
    /// layer; nil leaves them to the semantics knobs.
    public var batchNormMomentum: Double?
    public var batchNormEpsilon: Double?
    /// VGG: BatchNorm after every convolution.
    public var batchNorm: Bool
    public var poolPadValue: PadValue
    public var classifier: Classifier
    public var hidden: Int
    public var dropout: Double

    /// Which preset reads the conventions: defaults differ (ResNet convs have no bias, VGG's do).
    public enum Preset: Sendable { case vgg, resnet, densenet }

    /// The defaults of `zoo` for `preset` (nil: the CIFAR presets as they were before zoos).
    public static func defaults(_ zoo: Zoo?, for preset: Preset) -> ZooConventions {
        switch zoo {
        case nil:
            return ZooConventions(zoo: nil, variant: .v15, convBias: preset == .vgg, batchNormMomentum: nil, batchNormEpsilon: nil,
                                  batchNorm: true, poolPadValue: .negativeInfinity, classifier: .linear, hidden: 4096, dropout: 0)
        case .torchvision?:
            return ZooConventions(zoo: zoo, variant: .v15, convBias: preset == .vgg, batchNormMomentum: 0.1, batchNormEpsilon: 1e-5,
                                  batchNorm: true, poolPadValue: .negativeInfinity, classifier: .mlp, hidden: 4096,
                                  dropout: preset == .vgg ? 0.5 : 0)
        case .keras?:
            return ZooConventions(zoo: zoo, variant: .v1, convBias: preset != .densenet, batchNormMomentum: 0.01, batchNormEpsilon: 1.001e-5,
                                  batchNorm: preset != .vgg, poolPadValue: .zero, classifier: .mlp, hidden: 4096, dropout: 0)
        }
    }

    /// Reads `zoo` and the keys each preset takes (`variant` and `poolPadding` for resnet,
    /// `classifier` and `hidden` for vgg, `batchnorm`, `convBias` and `dropout` for all), every one
    /// checked against its JSON path.
    static func read(_ o: ConfigObject, preset: Preset) throws -> ZooConventions {
        let zoo = try o.choice("zoo", Zoo.allCases.map(\.rawValue)).flatMap(Zoo.init(rawValue:))
        var c = defaults(zoo, for: preset)
        c.convBias = try o.bool("convBias", default: c.convBias)
        c.dropout = try o.double("dropout", default: c.dropout)
        guard (0..<1).contains(c.dropout) else { throw o.error("dropout", "\(c.dropout) must be in [0, 1)") }
        switch o.raw("batchnorm") {
        case nil: break
        case .bool(let on)?:
            guard preset == .vgg else { throw o.error("batchnorm", "true or false is for vgg (with or without BatchNorm); give {\"momentum\": m, \"epsilon\": e}") }
            c.batchNorm = on
        case .object?:
            let b = try o.object("batchnorm")!
            if let m = try b.double("momentum") {
                guard (0...1).contains(m) else { throw b.error("momentum", "\(m) must be in [0, 1] (the weight of the new batch: torch 0.1, Keras momentum 0.99 is 0.01)") }
                c.batchNormMomentum = m
            }
            if let e = try b.double("epsilon") {
                guard e > 0 else { throw b.error("epsilon", "\(e) must be positive") }
                c.batchNormEpsilon = e
            }
            try b.finish()
        case let v?:
            throw o.error("batchnorm", "expected {\"momentum\": m, \"epsilon\": e}\(preset == .vgg ? ", true or false" : ""), found \(v.typeName)")
        }
        if preset == .resnet {
            if let v = try o.choice("variant", Variant.allCases.map(\.rawValue)) { c.variant = Variant(rawValue: v)! }
            if let p = try o.choice("poolPadding", PadValue.allCases.map(\.rawValue)) { c.poolPadValue = PadValue(rawValue: p)! }
        }
        if preset == .vgg {
            if let k = try o.choice("classifier", Classifier.allCases.map(\.rawValue)) { c.classifier = Classifier(rawValue: k)! }
            c.hidden = try o.int("hidden", default: c.hidden, range: 1...1_000_000)
        }
        return c
    }

    /// A batchnorm layer with the momentum and epsilon these conventions fix (none: the knobs').
    var batchNormLayer: JSON {
        var o: [String: JSON] = ["type": .string("batchnorm")]
        if let m = batchNormMomentum { o["momentum"] = .number(m) }
        if let e = batchNormEpsilon { o["epsilon"] = .number(e) }
        return .object(o)
    }
}
