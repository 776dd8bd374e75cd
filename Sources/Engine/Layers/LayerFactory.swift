import Recorder

/// Builds layers from their JSON in `model.layers`, checking each against the input shape it
/// will receive. Errors name the JSON path (`model.layers[3].units`).
public enum LayerFactory {
    /// Largest parameter count of one layer, refused before allocating.
    public static let maxParameters = 1 << 31

    /// `semantics` decides build-time choices (the split of "same" padding, knob `padding.same`);
    /// each layer's `spec` records what was resolved.
    public static func build(_ specs: [JSON], prefix: String, path: String, inputShape: [Int], params: ParameterStore,
                             semantics: Semantics) throws -> [Layer] {
        var shape = inputShape
        var layers: [Layer] = []
        for (i, spec) in specs.enumerated() {
            let layer = try build(spec, name: prefix.isEmpty ? "\(i)" : "\(prefix).\(i)", path: "\(path)[\(i)]",
                                  inputShape: shape, params: params, semantics: semantics)
            shape = layer.outputShape
            layers.append(layer)
        }
        return layers
    }

    public static func build(_ spec: JSON, name: String, path: String, inputShape: [Int], params: ParameterStore,
                             semantics: Semantics) throws -> Layer {
        let o = try ConfigObject(spec, path: path)
        guard let type = try o.string("type") else { throw InputError("\(path).type: missing; every layer needs a \"type\"") }
        let layer: Layer
        switch type {
        case "flatten":
            layer = Flatten(name: name, inputShape: inputShape)
        case "dense":
            guard let units = try o.int("units") else { throw InputError("\(path).units: missing; a dense layer needs \"units\"") }
            guard units >= 1 else { throw InputError("\(path).units: \(units) must be at least 1") }
            guard inputShape.count == 1 else {
                throw InputError("\(path): dense expects flat input, got shape \(inputShape); put {\"type\": \"flatten\"} before it")
            }
            // units <= 2^31 first: then the product cannot overflow (8e15 units x 3072 inputs would).
            guard units <= maxParameters else {
                throw InputError("\(path).units: \(units) units is over the limit of \(maxParameters) parameters")
            }
            let n = inputShape[0] * units
            guard n <= maxParameters else {
                throw InputError("\(path).units: \(units) units x \(inputShape[0]) inputs = \(n) parameters, over the limit of \(maxParameters)")
            }
            layer = Dense(name: name, inFeatures: inputShape[0], units: units, bias: try o.bool("bias", default: true), params: params)
        case "conv2d":
            let same = semantics.knobs.paddingSame
            guard let filters = try o.int("filters") else { throw InputError("\(path).filters: missing; a conv2d layer needs \"filters\"") }
            guard filters >= 1 else { throw InputError("\(path).filters: \(filters) must be at least 1") }
            let (g, _) = try Window2D.parse(o, kernelKey: "kernel", defaultStride: 1, inputShape: inputShape, same: same)
            let (k, n) = g.patch.multipliedReportingOverflow(by: filters)
            guard !n, k <= maxParameters else {
                throw InputError("\(path): \(filters) filters x \(g.patch) (channels x kernel) = \(k) parameters, over the limit of \(maxParameters)")
            }
            layer = Conv2D(name: name, geometry: g, filters: filters, bias: try o.bool("bias", default: true), params: params)
        case "maxpool", "avgpool":
            // A window must cover at least one input element: padding < size on each side.
            let (g, same) = try Window2D.parse(o, kernelKey: "size", defaultStride: nil, inputShape: inputShape,
                                               same: semantics.knobs.paddingSame, maxPadding: { $0 - 1 })
            if type == "maxpool" {
                // `padValue`: what padding holds, "-inf" (torch, never selected) or "zero" (Keras ZeroPadding2D + valid pooling).
                let zero = try o.choice("padValue", ["-inf", "zero"], default: "-inf") == "zero"
                layer = zero ? ZeroPaddedMaxPool(name: name, geometry: g) : MaxPool2D(name: name, geometry: g)
            } else {
                layer = AvgPool2D(name: name, geometry: g, countIncludePad: try o.bool("countIncludePad", default: !same))
            }
        case "globalavgpool":
            guard inputShape.count == 3 else { throw InputError("\(path): globalavgpool expects per-sample input [channels, height, width], got \(inputShape)") }
            layer = GlobalAvgPool(name: name, inputShape: inputShape)
        // Normalisation, dropout and blocks (BatchNorm.swift, Dropout.swift, Blocks.swift).
        case "batchnorm":
            guard inputShape.count == 1 || inputShape.count == 3 else {
                throw InputError("\(path): batchnorm expects per-sample input [channels] or [channels, height, width], got \(inputShape)")
            }
            // A value the layer does not set comes from the semantics knob: errors name where it was written.
            let source = { (key: String) in o.has(key) ? "\(path).\(key)" : "overrides.batchnorm.\(key) (used by \(path))" }
            let momentum = try o.double("momentum", default: semantics.knobs.batchNormMomentum)
            guard (0...1).contains(momentum) else { throw InputError("\(source("momentum")): \(momentum) must be in [0, 1] (the weight of the new batch)") }
            let epsilon = try o.double("epsilon", default: semantics.knobs.batchNormEpsilon)
            guard epsilon > 0 else { throw InputError("\(source("epsilon")): \(epsilon) must be positive") }
            let rv = KnobSettings.RunningVariance(rawValue: try o.choice("runningVariance", KnobSettings.RunningVariance.allCases.map(\.rawValue),
                                                                        default: semantics.knobs.batchNormRunningVariance.rawValue)!)!
            layer = BatchNorm(name: name, shape: inputShape, momentum: momentum, epsilon: epsilon, unbiased: rv == .unbiased, params: params)
        case "dropout":
            let rate = try o.double("rate", default: 0.5)
            guard (0..<1).contains(rate) else { throw InputError("\(path).rate: \(rate) must be in [0, 1)") }
            layer = Dropout(name: name, rate: rate, shape: inputShape)
        case "residual", "concat":
            layer = try buildBlock(type, o, name: name, path: path, inputShape: inputShape, params: params, semantics: semantics)
        case let t where Activation.Kind(rawValue: t) != nil:
            layer = Activation(name: name, kind: Activation.Kind(rawValue: t)!, shape: inputShape)
        default:
            let known = ["flatten", "dense", "conv2d", "maxpool", "avgpool", "globalavgpool", "batchnorm", "dropout", "residual", "concat"] + Activation.Kind.allCases.map(\.rawValue)
            throw InputError("\(path).type: unknown layer type \"\(type)\"\(suggestion(type, known)); known: \(known.joined(separator: ", "))")
        }
        try o.finish()
        return layer
    }
}
