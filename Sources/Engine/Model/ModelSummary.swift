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

    /// The summary as text lines: a table of name, type, output shape and parameters, and the total.
    public var summaryTable: [String] {
        let rows = summary
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
        func shape(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }
        let nameW = max(6, rows.map { $0.name.count + 2 * $0.depth }.max() ?? 0) + 2
        let typeW = max(4, rows.map(\.type.count).max() ?? 0) + 2
        let shapeW = max(12, rows.map { shape($0.outputShape).count }.max() ?? 0) + 2
        var lines = [pad("layer", nameW) + pad("type", typeW) + pad("output shape", shapeW) + lpad("parameters", 12)]
        lines.append(pad("input", nameW) + pad("", typeW) + shape(inputShape))
        for r in rows {
            let indent = String(repeating: "  ", count: r.depth)
            lines.append(pad(indent + r.name, nameW) + pad(r.type, typeW) + pad(shape(r.outputShape), shapeW) + lpad(grouped(r.parameters), 12))
        }
        let buffers = params.count - params.trainableCount
        lines.append("total: \(grouped(params.trainableCount)) trainable parameters" + (buffers > 0 ? " (+ \(grouped(buffers)) in buffers: BatchNorm running statistics)" : ""))
        return lines
    }
}

/// 1,234-style integers.
private func grouped(_ n: Int) -> String {
    var out = ""
    for (i, c) in String(n).reversed().enumerated() {
        if i > 0 && i % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return String(out.reversed())
}
