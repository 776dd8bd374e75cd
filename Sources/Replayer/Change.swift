import Engine
import Recorder

/// One difference between two configs or two environments: a key and its value on each side
/// (nil: absent there). Config keys are dotted JSON paths (`optimizer.lr`, `[i]` for an element of
/// an array of objects: `model.layers[1].units`) with values as canonical JSON text (`0.1`,
/// `"hat"`); environment keys are facts (`blas.core`) with their text.
public struct Change: Equatable, Hashable, Sendable {
    public var key: String
    public var old: String?
    public var new: String?

    public init(key: String, old: String?, new: String?) { self.key = key; self.old = old; self.new = new }

    /// A config's leaves: dotted paths to canonical JSON text, key-sorted. Arrays of objects are
    /// indexed (`[i]`), other arrays are one value.
    public static func leaves(_ j: JSON, prefix: String = "") -> [(key: String, value: String)] {
        switch j {
        case .object(let o):
            return o.keys.sorted().flatMap { leaves(o[$0]!, prefix: prefix.isEmpty ? $0 : "\(prefix).\($0)") }
        case .array(let a) where a.contains(where: { if case .object = $0 { true } else { false } }):
            return a.enumerated().flatMap { leaves($1, prefix: "\(prefix)[\($0)]") }
        default:
            return [(prefix, j.text)]
        }
    }

    /// The keys whose values differ between two sets of leaves, sorted by key.
    public static func between(_ a: [(key: String, value: String)], _ b: [(key: String, value: String)]) -> [Change] {
        let fa = Dictionary(a.map { ($0.key, $0.value) }, uniquingKeysWith: { x, _ in x })
        let fb = Dictionary(b.map { ($0.key, $0.value) }, uniquingKeysWith: { x, _ in x })
        return Set(fa.keys).union(fb.keys).sorted().compactMap { k in
            fa[k] == fb[k] ? nil : Change(key: k, old: fa[k], new: fb[k])
        }
    }

    /// The leaves that differ between two configs (resolved configs, usually).
    public static func between(_ a: JSON, _ b: JSON) -> [Change] { between(leaves(a), leaves(b)) }

    /// Differences in the environment facts that can change result bits. A fact the record does
    /// not hold (written by an older cwrepro) is unknown, not a difference; nor is the data
    /// fingerprint where the current run did not load its data (`verify`, `explain`).
    public static func environment(_ recorded: [String: String], _ current: [String: String]) -> [Change] {
        let r = EnvironmentProfile.comparable(recorded), c = EnvironmentProfile.comparable(current)
        return EnvironmentProfile.bitRelevantKeys.compactMap { k in
            guard let was = r[k], was != c[k] else { return nil }
            if c[k] == nil && EnvironmentProfile.dataKeys.contains(k) { return nil }
            return Change(key: k, old: was, new: c[k])
        }
    }
}

extension Array where Element == Change {
    /// The change of `key`, if any.
    public func of(_ key: String) -> Change? { first { $0.key == key } }
}
