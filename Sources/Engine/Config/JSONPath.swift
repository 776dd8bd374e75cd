/// The one notation cwrepro uses for a place in a JSON document in every message: object keys
/// joined with dots, array elements by index in brackets, the root as the empty path.
///
///     model.layers[1].units      data.source.trainCount      overrides.adam.epsilonMode
///
/// (Input to `ConfigAssignment`, the `--set` syntax, stays all dots: `model.layers.1.units`.)
/// Keys are written as they are, except that control characters are escaped as in JSON
/// (`\u001b`), so a hostile key cannot reach a terminal as an escape sequence, and an empty
/// key is written `""`.
public enum JSONPath {
    /// `parent.key`, or `key` at the root.
    public static func member(_ parent: String, _ key: String) -> String {
        let k = display(key)
        return parent.isEmpty ? k : "\(parent).\(k)"
    }

    /// `parent[index]`.
    public static func element(_ parent: String, _ index: Int) -> String { "\(parent)[\(index)]" }

    /// A component of a path as the parser walks it.
    enum Component: Equatable, Sendable {
        case key(String)
        case index(Int)
    }

    static func render(_ components: [Component]) -> String {
        var out = ""
        for c in components {
            switch c {
            case .key(let k): out = member(out, k)
            case .index(let i): out = element(out, i)
            }
        }
        return out
    }

    /// A key as it appears in a path (and in messages).
    static func display(_ key: String) -> String {
        if key.isEmpty { return "\"\"" }
        guard key.unicodeScalars.contains(where: isControl) else { return key }
        var out = ""
        for s in key.unicodeScalars {
            if isControl(s) { out += "\\u" + hex4(s.value) } else { out.unicodeScalars.append(s) }
        }
        return out
    }

    /// C0 and C1 controls and DEL: never printed raw.
    static func isControl(_ s: Unicode.Scalar) -> Bool { s.value < 0x20 || (0x7F...0x9F).contains(s.value) }

    static func hex4(_ v: UInt32) -> String {
        let h = String(v, radix: 16)
        return String(repeating: "0", count: max(0, 4 - h.count)) + h
    }

    /// The paths a dotted `--set` key can denote: an integer component indexes an array or names
    /// an object key, so both renderings are returned (`model.layers.1` -> `model.layers[1]` and
    /// `model.layers.1`); used to forget what a file said about values replaced after parsing.
    static func renderings(ofDotted components: [String]) -> [String] {
        var paths = [""]
        for c in components {
            var next: [String] = []
            for p in paths {
                next.append(member(p, c))
                if let i = Int(c), i >= 0 { next.append(element(p, i)) }
            }
            // 2^k renderings for k integer components: cap the growth (paths are short in practice).
            paths = Array(next.prefix(64))
        }
        return paths
    }
}
