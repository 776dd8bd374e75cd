import Engine
import Foundation
import Recorder

extension Explain {
    /// One difference between A and B that can be applied to A alone.
    public struct Item: Sendable {
        public enum Kind: String, Codable, Sendable { case knob, config }
        /// A knob's name (`adam.epsilonMode`), or a config value's path in `JSONPath` notation
        /// (`optimizer.lr`, `model.layers[1].momentum`); one field that differs alike in several
        /// layers of the same type is one difference, `model.layers[1,5].momentum`.
        public var name: String
        public var kind: Kind
        /// The values on each side (absent: the side leaves it to the default). A file is named by
        /// its absolute path.
        public var a: JSON?
        public var b: JSON?
        /// Where B's value goes in A's config: one component path per place (config items).
        var paths: [[String]]

        public init(name: String, kind: Kind, a: JSON?, b: JSON?) {
            self.init(name: name, kind: kind, a: a, b: b, paths: [name.split(separator: ".").map(String.init)])
        }

        init(name: String, kind: Kind, a: JSON?, b: JSON?, paths: [[String]]) {
            self.name = name; self.kind = kind; self.a = a; self.b = b; self.paths = paths
        }

        /// A's given config with this difference set to B's value.
        func apply(to given: inout JSON) throws {
            switch kind {
            case .knob:
                // A nested override of the same knob ({"adam": {"epsilonMode": ...}}) would win over the dotted key.
                given = given.removing(path: ["overrides"] + name.split(separator: ".").map(String.init))
                try given.set(path: ["overrides", name], to: b ?? .null)
            case .config:
                for path in paths {
                    if let b { try given.set(path: path, to: b) } else { given = given.removing(path: path) }
                }
            }
        }
    }

    /// Top-level config keys that are not differences in training numerics (or are handled apart:
    /// the seed is replaced by explain's seeds, knobs are compared resolved).
    static let notItems: Set<String> = ["version", "name", "seed", "semantics", "overrides", "record"]

    /// Config values that name a file or directory (relative to the config's directory). Two
    /// configs in different directories can name different files with the same string, or the
    /// same bytes under different names: these compare by absolute path and then by content.
    static let fileKeys: Set<[String]> = Set([
        "model.init", "data.order", "data.path", "data.source.path", "data.source.directory", "data.source.train",
        "data.source.test", "data.source.images", "data.source.labels", "data.source.trainImages",
        "data.source.trainLabels", "data.source.testImages", "data.source.testLabels",
    ].map { $0.split(separator: ".").map(String.init) })

    /// The differences between A and B: every knob whose resolved value differs (table order),
    /// then every other given config value that differs and whose resolved value differs too,
    /// sorted by name. Objects are compared key by key; two arrays of objects of the same length
    /// whose elements have the same `type` (layer lists) element by element, and a field that
    /// differs alike in several layers of one type is one difference; other arrays are one value.
    /// Files (`fileKeys`) are compared by absolute path, and two paths to identical bytes are no
    /// difference.
    public static func items(_ a: TrainConfig, _ b: TrainConfig) -> [Item] {
        let ka = a.semantics.values, kb = b.semantics.values
        var out = a.semantics.differences(from: b.semantics).map { Item(name: $0, kind: .knob, a: ka[$0], b: kb[$0]) }
        var diffs: [(path: [String], a: JSON?, b: JSON?)] = []
        collect(absolute(a), absolute(b), path: [], into: &diffs)
        diffs = diffs.filter { d in
            if fileKeys.contains(d.path) {
                // Resolved configs keep paths as written: compare the files.
                guard case .string(let x)? = d.a, case .string(let y)? = d.b else { return true }
                return !FileManager.default.contentsEqual(atPath: x, andPath: y)
            }
            // A value written on one side and left to the same default on the other is no difference.
            if let x = a.resolved.value(at: d.path), let y = b.resolved.value(at: d.path), x == y { return false }
            return true
        }
        out += grouped(diffs, layersA: a.layers)
        return out
    }

    /// `config.given` with every file path (`fileKeys`) made absolute (resolved as the run would).
    static func absolute(_ config: TrainConfig) -> JSON {
        var given = config.given
        for path in fileKeys {
            if case .string(let p)? = given.value(at: path) { try? given.set(path: path, to: .string(config.resolvePath(p))) }
        }
        return given
    }

    /// The differing leaves of `a` and `b` under `path` (see `items`).
    static func collect(_ a: JSON?, _ b: JSON?, path: [String], into out: inout [(path: [String], a: JSON?, b: JSON?)]) {
        if a == b { return }
        switch (a, b) {
        case (.object(let x)?, .object(let y)?):
            for k in Set(x.keys).union(y.keys).sorted() where !(path.isEmpty && notItems.contains(k)) {
                collect(x[k], y[k], path: path + [k], into: &out)
            }
        case (.object(let x)?, nil):
            for k in x.keys.sorted() where !(path.isEmpty && notItems.contains(k)) { collect(x[k], nil, path: path + [k], into: &out) }
        case (nil, .object(let y)?):
            for k in y.keys.sorted() where !(path.isEmpty && notItems.contains(k)) { collect(nil, y[k], path: path + [k], into: &out) }
        case (.array(let x)?, .array(let y)?) where x.count == y.count && zip(x, y).allSatisfy(sameType):
            for i in x.indices { collect(x[i], y[i], path: path + [String(i)], into: &out) }
        default:
            out.append((path, a, b))
        }
    }

    /// Two objects with the same `type` (two layers of one kind).
    static func sameType(_ x: JSON, _ y: JSON) -> Bool {
        guard case .object(let a) = x, case .object(let b) = y, let t = a["type"] else { return false }
        return t == b["type"]
    }

    /// Differences as items: a field under `model.layers.<i>` that differs alike (same values,
    /// same layer type) in several layers is one item naming them all.
    static func grouped(_ diffs: [(path: [String], a: JSON?, b: JSON?)], layersA: [JSON]) -> [Item] {
        var items: [Item] = []
        var groupOf: [String: Int] = [:]
        for d in diffs {
            if d.path.count > 3, d.path[0] == "model", d.path[1] == "layers", let i = Int(d.path[2]), layersA.indices.contains(i) {
                let field = Array(d.path.dropFirst(3))
                let key = [layersA[i]["type"]?.text ?? "", field.joined(separator: "\u{0}"), d.a?.text ?? "", d.b?.text ?? ""]
                    .joined(separator: "\u{1}")
                if let g = groupOf[key] {
                    items[g].paths.append(d.path)
                    continue
                }
                groupOf[key] = items.count
            }
            items.append(Item(name: "", kind: .config, a: d.a, b: d.b, paths: [d.path]))
        }
        for i in items.indices { items[i].name = name(items[i].paths) }
        return items.sorted { $0.name < $1.name }
    }

    /// `optimizer.lr`, `model.layers[1].momentum`, `model.layers[1,5].momentum`.
    static func name(_ paths: [[String]]) -> String {
        func render(_ p: [String]) -> String {
            p.reduce("") { out, c in Int(c).map { JSONPath.element(out, $0) } ?? JSONPath.member(out, c) }
        }
        guard paths.count > 1 else { return render(paths[0]) }
        let rest = render(Array(paths[0].dropFirst(3)))
        return render(Array(paths[0].prefix(2))) + "[" + paths.map { $0[2] }.joined(separator: ",") + "]" +
            (rest.isEmpty || rest.hasPrefix("[") ? rest : "." + rest)
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
        out.dataLocation = c.dataLocation
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
            c.dataLocation = a.dataLocation
            return c
        } catch let e as InputError {
            throw InputError("A with \(subset.map(\.name).joined(separator: ", ")) set to B's value is not a valid config: \(e.message)")
        }
    }
}

extension JSON {
    /// This value without the key or array element at `path` (unchanged when absent; an array
    /// element is removed from its array).
    func removing(path: [String]) -> JSON {
        guard let k = path.first else { return self }
        switch self {
        case .object(var o):
            if path.count == 1 { o[k] = nil } else if let v = o[k] { o[k] = v.removing(path: Array(path.dropFirst())) }
            return .object(o)
        case .array(var a):
            guard let i = Int(k), a.indices.contains(i) else { return self }
            if path.count == 1 { a.remove(at: i) } else { a[i] = a[i].removing(path: Array(path.dropFirst())) }
            return .array(a)
        default:
            return self
        }
    }

    /// The value at `path` (object keys; integer components index arrays), nil when absent.
    func value(at path: [String]) -> JSON? {
        guard let k = path.first else { return self }
        switch self {
        case .object(let o): return o[k]?.value(at: Array(path.dropFirst()))
        case .array(let a): return Int(k).flatMap { a.indices.contains($0) ? a[$0].value(at: Array(path.dropFirst())) : nil }
        default: return nil
        }
    }
}
