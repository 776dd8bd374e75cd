/// One row of a model summary: a layer (blocks first, then their children, indented by `depth`).
public struct LayerSummary: Equatable, Encodable, Sendable {
    /// State-dict prefix: `3`, `3.body.1`.
    public let name: String
    public let type: String
    /// Per-sample output shape.
    public let outputShape: [Int]
    /// Trainable parameters of the layer and everything inside it.
    public let parameters: Int
    /// Non-trainable buffers (BatchNorm running statistics) of the layer and everything inside it.
    public let buffers: Int
    /// Nesting level: 0 for `model.layers`, 1 inside a block, ...
    public let depth: Int
}

extension Model {
    /// Every layer in execution order, blocks before their children (`body`, then `shortcut`),
    /// with output shapes and parameter counts (counted over the ParameterStore entries named
    /// under the layer's prefix, so a block's row includes its children).
    public var summary: [LayerSummary] {
        var rows: [LayerSummary] = []
        func count(_ prefix: String) -> (Int, Int) {
            params.entries.filter { $0.name.hasPrefix(prefix + ".") }
                .reduce((0, 0)) { $1.trainable ? ($0.0 + $1.count, $0.1) : ($0.0, $0.1 + $1.count) }
        }
        func walk(_ layers: [Layer], depth: Int) {
            for l in layers {
                let type: String = if case .string(let t)? = l.spec["type"] { t } else { "\(Swift.type(of: l))" }
                let (p, b) = count(l.name)
                rows.append(LayerSummary(name: l.name, type: type, outputShape: l.outputShape, parameters: p, buffers: b, depth: depth))
                if let c = l as? LayerContainer { for child in c.children { walk(child.layers.layers, depth: depth + 1) } }
            }
        }
        walk(body.layers, depth: 0)
        return rows
    }
}
