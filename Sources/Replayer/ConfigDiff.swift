import Engine
import Recorder

/// Flattened differences between two JSON values, as "path: a -> b" lines (dotted paths,
/// `[i]` for array elements). Only changed keys unless `all`.
public enum ConfigDiff {
    public static func flatten(_ j: JSON, prefix: String = "") -> [(String, String)] {
        switch j {
        case .object(let o):
            return o.keys.sorted().flatMap { flatten(o[$0]!, prefix: prefix.isEmpty ? $0 : "\(prefix).\($0)") }
        case .array(let a) where a.contains(where: { if case .object = $0 { true } else { false } }):
            return a.enumerated().flatMap { flatten($1, prefix: "\(prefix)[\($0)]") }
        default:
            return [(prefix, j.text)]
        }
    }

    public static func changes(_ a: JSON, _ b: JSON) -> [String] {
        let fa = Dictionary(flatten(a), uniquingKeysWith: { x, _ in x })
        let fb = Dictionary(flatten(b), uniquingKeysWith: { x, _ in x })
        return Set(fa.keys).union(fb.keys).sorted().compactMap { k in
            let x = fa[k], y = fb[k]
            return x == y ? nil : "\(k): \(x ?? "(absent)") -> \(y ?? "(absent)")"
        }
    }

    /// Differences in the environment keys that can change result bits. A fact the record does
    /// not hold (written by an older cwrepro) is unknown, not a difference.
    public static func environment(_ recorded: [String: String], _ current: [String: String]) -> [String] {
        let r = EnvironmentProfile.comparable(recorded), c = EnvironmentProfile.comparable(current)
        return EnvironmentProfile.bitRelevantKeys.compactMap { k in
            guard let was = r[k], was != c[k] else { return nil }
            // The data fingerprint is known only where a run loaded its data (not to `verify` or `explain`).
            if c[k] == nil && EnvironmentProfile.dataKeys.contains(k) { return nil }
            return "\(k): \(was) -> \(c[k] ?? "(absent)")"
        }
    }
}
