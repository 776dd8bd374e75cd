import Engine
import Recorder

extension Explain {
    /// One difference between A and B that can be applied to A alone.
    public struct Item: Sendable {
        public enum Kind: String, Codable, Sendable { case knob, config }
        public var name: String
        public var kind: Kind
        public var a: JSON?
        public var b: JSON?

        public init(name: String, kind: Kind, a: JSON?, b: JSON?) { self.name = name; self.kind = kind; self.a = a; self.b = b }

        /// A's given config with this difference set to B's value.
        func apply(to given: inout JSON) throws {
            switch kind {
            case .knob:
                // A nested override of the same knob ({"adam": {"epsilonMode": ...}}) would win over the dotted key.
                given = given.removing(path: ["overrides"] + name.split(separator: ".").map(String.init))
                try given.set(path: ["overrides", name], to: b ?? .null)
            case .config:
                let path = name.split(separator: ".").map(String.init)
                if let b { try given.set(path: path, to: b) } else { given = given.removing(path: path) }
            }
        }
    }

    /// Top-level config keys that are not differences in training numerics (or are handled apart:
    /// the seed is replaced by A's, knobs are compared resolved).
    static let notItems: Set<String> = ["version", "name", "seed", "semantics", "overrides", "record"]

    /// The differences between A and B: every knob whose resolved value differs (table order),
    /// then every other given config value that differs (dotted paths, arrays as one value) and
    /// whose resolved value differs too.
    public static func items(_ a: TrainConfig, _ b: TrainConfig) -> [Item] {
        let ka = a.semantics.values, kb = b.semantics.values
        var out = a.semantics.differences(from: b.semantics).map { Item(name: $0, kind: .knob, a: ka[$0], b: kb[$0]) }
        let fa = leaves(a.given), fb = leaves(b.given)
        // A value written on one side and left to the same default on the other is no difference.
        let ra = leaves(a.resolved), rb = leaves(b.resolved)
        for path in Set(fa.keys).union(fb.keys).sorted() where fa[path] != fb[path] {
            if let x = ra[path], let y = rb[path], x == y { continue }
            out.append(Item(name: path, kind: .config, a: fa[path], b: fb[path]))
        }
        return out
    }

    /// A config's values by dotted path (arrays as one value), the top-level `notItems` left out.
    static func leaves(_ j: JSON, prefix: String = "") -> [String: JSON] {
        guard case .object(let o) = j else { return [prefix: j] }
        var out: [String: JSON] = [:]
        for (k, v) in o where !(prefix.isEmpty && notItems.contains(k)) {
            out.merge(leaves(v, prefix: prefix.isEmpty ? k : "\(prefix).\(k)")) { x, _ in x }
        }
        return out
    }

    /// One config under two semantics profiles, A's first (`explain A --profiles pytorch,keras`):
    /// the two sides, each named after its profile ("mlp-digits (pytorch)").
    public static func withProfiles(_ c: TrainConfig, _ a: String, _ b: String) throws -> (TrainConfig, TrainConfig) {
        var ca = try withProfile(c, a), cb = try withProfile(c, b)
        ca.name += " (\(a))"
        cb.name += " (\(b))"
        return (ca, cb)
    }

    /// A config with its semantics profile replaced; overrides kept.
    public static func withProfile(_ c: TrainConfig, _ profile: String) throws -> TrainConfig {
        var given = c.given
        try given.set(path: ["semantics"], to: .string(profile))
        var out = try TrainConfig.parse(given, baseDirectory: c.baseDirectory)
        out.embedded = c.embedded
        return out
    }

    /// A's config with `subset` of the differences applied (checked: a variant that is not a valid
    /// config is an error naming the differences).
    static func variant(_ a: TrainConfig, _ subset: [Item]) throws -> TrainConfig {
        var given = a.given
        do {
            for item in subset { try item.apply(to: &given) }
            var c = try TrainConfig.parse(given, baseDirectory: a.baseDirectory)
            c.embedded = a.embedded
            return c
        } catch let e as InputError {
            throw InputError("A with \(subset.map(\.name).joined(separator: ", ")) set to B's value is not a valid config: \(e.message)")
        }
    }
}

extension JSON {
    /// This value without the key at `path` (unchanged when absent).
    func removing(path: [String]) -> JSON {
        guard case .object(var o) = self, let k = path.first else { return self }
        if path.count == 1 { o[k] = nil } else if let v = o[k] { o[k] = v.removing(path: Array(path.dropFirst())) }
        return .object(o)
    }
}
