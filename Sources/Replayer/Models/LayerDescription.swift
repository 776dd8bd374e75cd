import Engine
import Recorder

/// What kind of computation a layer is: the unit the architecture alignment pairs (a relu and a
/// tanh are both activations, so a changed activation is named rather than seen as two layers).
public enum LayerKind: String, CaseIterable, Sendable {
    case conv2d, dense, batchnorm, maxpool, avgpool, globalavgpool, flatten, dropout, activation, residual, concat, other
}

/// A property of a layer that two zoos may set differently.
public enum LayerAttribute: String, CaseIterable, Sendable {
    /// conv2d output channels, dense units.
    case filters, units
    /// [kh, kw], [sh, sw], [top, bottom, left, right], [dh, dw] (always [1, 1]: the engine has no dilation).
    case kernel, stride, padding, dilation
    /// Convolution groups (always 1: the engine has no grouped convolution).
    case groups
    case bias
    /// Max-pool padding: "-inf" (torch) or "zero" (Keras ZeroPadding2D); only when padded.
    case padValue
    case countIncludePad
    /// BatchNorm: weight of the new batch, epsilon, the variance kept ("unbiased" / "biased").
    case momentum, epsilon, runningVariance
    /// relu, tanh, sigmoid.
    case activation
    /// Dropout rate.
    case rate
    /// A residual block's shortcut: "identity" or "projection".
    case shortcut
    /// Where a residual block downsamples: its first direct child with a stride above 1
    /// ("body.3"), or "none". The v1 / v1.5 bottleneck difference, which changes no parameter shape.
    case strideAt
}

/// An attribute's value.
public enum AttributeValue: Equatable, Sendable {
    case int(Int)
    case ints([Int])
    case number(Double)
    case flag(Bool)
    /// A named choice (an enum's raw value: "relu", "-inf", "identity", "body.3").
    case choice(String)
}

/// An attribute and its value.
public struct LayerProperty: Equatable, Sendable {
    public var attribute: LayerAttribute
    public var value: AttributeValue
    public init(_ attribute: LayerAttribute, _ value: AttributeValue) { self.attribute = attribute; self.value = value }
}

/// One parameter or buffer of a layer: its name within the layer and its shape.
public struct ParameterShape: Equatable, Sendable {
    /// "weight", "bias", "running_mean", "running_var".
    public var name: String
    public var shape: [Int]
    public var trainable: Bool
}

/// A layer of a built model as the alignment sees it. Blocks come before their children
/// (pre-order), children carry `depth` + 1.
public struct LayerDescription: Equatable, Sendable {
    /// The layer's state-dict prefix ("4", "4.body.3").
    public var name: String
    public var kind: LayerKind
    /// Nesting: 0 at the top, 1 inside a block, ...
    public var depth: Int
    /// Per-sample input and output shapes.
    public var inputShape: [Int]
    public var outputShape: [Int]
    public var attributes: [LayerProperty]
    /// The layer's own parameters and buffers (a block's are its children's).
    public var parameters: [ParameterShape]

    /// Trainable parameters of the layer itself.
    public var parameterCount: Int { parameters.filter(\.trainable).reduce(0) { $0 + $1.shape.reduce(1, *) } }

    public func value(_ a: LayerAttribute) -> AttributeValue? { attributes.first { $0.attribute == a }?.value }
}

extension LayerDescription {
    /// Every layer of `model`, blocks expanded, in pre-order.
    public static func describe(_ model: Model) -> [LayerDescription] {
        var rows: [LayerDescription] = []
        describe(model.body.layers, input: model.inputShape, depth: 0, params: model.params, into: &rows)
        return rows
    }

    static func describe(_ layers: [Layer], input: [Int], depth: Int, params: ParameterStore, into rows: inout [LayerDescription]) {
        var shape = input
        for layer in layers {
            rows.append(describe(layer, input: shape, depth: depth, params: params))
            if let block = layer as? LayerContainer {
                for child in block.children { describe(child.layers.layers, input: shape, depth: depth + 1, params: params, into: &rows) }
            }
            shape = layer.outputShape
        }
    }

    static func describe(_ layer: Layer, input: [Int], depth: Int, params: ParameterStore) -> LayerDescription {
        let prefix = layer.name + "."
        let own = params.entries.compactMap { e -> ParameterShape? in
            guard e.name.hasPrefix(prefix) else { return nil }
            let rest = String(e.name.dropFirst(prefix.count))
            return rest.contains(".") ? nil : ParameterShape(name: rest, shape: e.shape, trainable: e.trainable)
        }
        let (kind, attributes) = attributes(of: layer)
        return LayerDescription(name: layer.name, kind: kind, depth: depth, inputShape: input, outputShape: layer.outputShape,
                                attributes: attributes, parameters: own)
    }

    static func window(_ g: Window2D) -> [LayerProperty] {
        [.init(.kernel, .ints([g.kh, g.kw])), .init(.stride, .ints([g.sh, g.sw])), .init(.padding, .ints([g.top, g.bottom, g.left, g.right]))]
    }

    static func padded(_ g: Window2D) -> Bool { g.top + g.bottom + g.left + g.right > 0 }

    /// The kind and attributes of one layer, read from its typed fields.
    static func attributes(of layer: Layer) -> (LayerKind, [LayerProperty]) {
        switch layer {
        case let c as Conv2D:
            return (.conv2d, [.init(.filters, .int(c.filters))] + window(c.geometry)
                    + [.init(.dilation, .ints([1, 1])), .init(.groups, .int(1)), .init(.bias, .flag(c.hasBias))])
        case let d as Dense:
            return (.dense, [.init(.units, .int(d.outFeatures)), .init(.bias, .flag(d.hasBias))])
        case let b as BatchNorm:
            return (.batchnorm, [.init(.momentum, .number(b.momentum)), .init(.epsilon, .number(b.epsilon)),
                                 .init(.runningVariance, .choice(b.unbiased ? "unbiased" : "biased"))])
        case let p as MaxPool2D:
            return (.maxpool, window(p.geometry) + (padded(p.geometry) ? [.init(.padValue, .choice("-inf"))] : []))
        case let p as ZeroPaddedMaxPool:
            return (.maxpool, window(p.geometry) + (padded(p.geometry) ? [.init(.padValue, .choice("zero"))] : []))
        case let p as AvgPool2D:
            return (.avgpool, window(p.geometry) + [.init(.countIncludePad, .flag(p.countIncludePad))])
        case is GlobalAvgPool:
            return (.globalavgpool, [])
        case is Flatten:
            return (.flatten, [])
        case let d as Dropout:
            return (.dropout, [.init(.rate, .number(d.rate))])
        case let a as Activation:
            return (.activation, [.init(.activation, .choice(a.kind.rawValue))])
        case let r as Residual:
            return (.residual, [.init(.shortcut, .choice(r.shortcut.layers.isEmpty ? "identity" : "projection")),
                                .init(.strideAt, .choice(strideAt(r.body).map { "body.\($0)" } ?? "none"))])
        case is Concat:
            return (.concat, [])
        default:
            return (.other, [])
        }
    }

    /// The index of the first layer of `body` that strides (a convolution or pooling with a stride above 1).
    static func strideAt(_ body: Sequential) -> Int? {
        body.layers.firstIndex { layer in
            let g: Window2D? = (layer as? Conv2D)?.geometry ?? (layer as? MaxPool2D)?.geometry
                ?? (layer as? ZeroPaddedMaxPool)?.geometry ?? (layer as? AvgPool2D)?.geometry
            return g.map { $0.sh > 1 || $0.sw > 1 } ?? false
        }
    }
}
