import Recorder

/// Builds layers from their JSON in `model.layers`, checking each against the input shape it
/// will receive. Errors name the JSON path (`model.layers[3].units`).
public enum LayerFactory {
    /// Largest parameter count of one layer, refused before allocating.
    public static let maxParameters = 1 << 31

    public static func build(_ specs: [JSON], prefix: String, path: String, inputShape: [Int], params: ParameterStore) throws -> [Layer] {
        var shape = inputShape
        var layers: [Layer] = []
        for (i, spec) in specs.enumerated() {
            let layer = try build(spec, name: prefix.isEmpty ? "\(i)" : "\(prefix).\(i)", path: "\(path)[\(i)]",
                                  inputShape: shape, params: params)
            shape = layer.outputShape
            layers.append(layer)
        }
        return layers
    }

    public static func build(_ spec: JSON, name: String, path: String, inputShape: [Int], params: ParameterStore) throws -> Layer {
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
            let n = inputShape[0] * units
            guard units <= maxParameters, n <= maxParameters else {
                throw InputError("\(path).units: \(units) units x \(inputShape[0]) inputs = \(n) parameters, over the limit of \(maxParameters)")
            }
            layer = Dense(name: name, inFeatures: inputShape[0], units: units, bias: try o.bool("bias", default: true), params: params)
        case let t where Activation.Kind(rawValue: t) != nil:
            layer = Activation(name: name, kind: Activation.Kind(rawValue: t)!, shape: inputShape)
        default:
            let known = ["flatten", "dense"] + Activation.Kind.allCases.map(\.rawValue)
            throw InputError("\(path).type: unknown layer type \"\(type)\"\(suggestion(type, known)); known: \(known.joined(separator: ", "))")
        }
        try o.finish()
        return layer
    }
}
