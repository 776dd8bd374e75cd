import Recorder

/// One key of a config section, described once: how it is read from the given config (through
/// `ConfigObject`'s accessors: its type, default and range, errors naming its JSON path) and how it
/// appears in the resolved config. `TrainConfig.parse` and `TrainConfig.resolved` both derive
/// from a section's list of keys (`ConfigSection.keys`), so they cannot drift apart.
struct ConfigKey<Section> {
    let name: String
    /// Reads the key from `object` into `section`. Keys are read in list order, so a key can
    /// check itself against the ones before it.
    let read: (_ object: ConfigObject, _ section: inout Section, _ semantics: Semantics) throws -> Void
    /// The key's entries in the resolved config (none: left out, e.g. an optional value not given).
    let resolved: (Section) -> [(String, JSON)]

    init(_ name: String, read: @escaping (ConfigObject, inout Section, Semantics) throws -> Void,
         resolved: @escaping (Section) -> [(String, JSON)]) {
        self.name = name; self.read = read; self.resolved = resolved
    }

    /// An integer with a default, in `range`.
    static func int(_ name: String, _ field: WritableKeyPath<Section, Int>, default d: Int, range: ClosedRange<Int>) -> ConfigKey {
        ConfigKey(name, read: { o, s, _ in s[keyPath: field] = try o.int(name, default: d, range: range) },
                  resolved: { [(name, .number(Double($0[keyPath: field])))] })
    }

    /// An optional integer in `range`, resolved only when given.
    static func int(_ name: String, _ field: WritableKeyPath<Section, Int?>, range: ClosedRange<Int>) -> ConfigKey {
        ConfigKey(name, read: { o, s, _ in s[keyPath: field] = try o.int(name, range: range) },
                  resolved: { s in s[keyPath: field].map { [(name, .number(Double($0)))] } ?? [] })
    }

    static func bool(_ name: String, _ field: WritableKeyPath<Section, Bool>, default d: Bool) -> ConfigKey {
        ConfigKey(name, read: { o, s, _ in s[keyPath: field] = try o.bool(name, default: d) },
                  resolved: { [(name, .bool($0[keyPath: field]))] })
    }

    /// An optional string, resolved only when given.
    static func string(_ name: String, _ field: WritableKeyPath<Section, String?>) -> ConfigKey {
        ConfigKey(name, read: { o, s, _ in s[keyPath: field] = try o.string(name) },
                  resolved: { s in s[keyPath: field].map { [(name, .string($0))] } ?? [] })
    }

    /// Any JSON value, checked later by the code that uses it; resolved as given.
    static func raw(_ name: String, _ field: WritableKeyPath<Section, JSON?>) -> ConfigKey {
        ConfigKey(name, read: { o, s, _ in s[keyPath: field] = o.raw(name) },
                  resolved: { s in s[keyPath: field].map { [(name, $0)] } ?? [] })
    }

    /// One of an enum's values (an unknown value is an error with a suggestion).
    static func choice<E: RawRepresentable & CaseIterable>(_ name: String, _ field: WritableKeyPath<Section, E>, default d: E) -> ConfigKey
    where E.RawValue == String {
        ConfigKey(name, read: { o, s, _ in
            s[keyPath: field] = E(rawValue: try o.choice(name, E.allCases.map(\.rawValue), default: d.rawValue)!)!
        }, resolved: { [(name, .string($0[keyPath: field].rawValue))] })
    }

    /// A Float32 setting written as a decimal: its default may depend on the keys read before and
    /// on the semantics knobs; `check(value, path)` throws when the value is out of range.
    /// Resolved as its shortest decimal (0.1, not 0.10000000149011612).
    static func float(_ name: String, _ field: WritableKeyPath<Section, Float>, default d: @escaping (Section, KnobSettings) -> Double,
                      check: @escaping (_ value: Double, _ path: String) throws -> Void) -> ConfigKey {
        ConfigKey(name, read: { o, s, semantics in
            let v = try o.double(name, default: d(s, semantics.knobs))
            try check(v, jsonPath(o, name))
            s[keyPath: field] = Float(v)
        }, resolved: { [(name, decimal($0[keyPath: field]))] })
    }

    /// An optional seed: a non-negative integer below 2^53, resolved only when given.
    static func seed(_ name: String, _ field: WritableKeyPath<Section, UInt64?>) -> ConfigKey {
        ConfigKey(name, read: { o, s, _ in s[keyPath: field] = try readSeed(o, name) },
                  resolved: { s in s[keyPath: field].map { [(name, .number(Double($0)))] } ?? [] })
    }
}

/// The JSON path of `key` in `o` ("optimizer.lr"; "seed" at the top level).
func jsonPath(_ o: ConfigObject, _ key: String) -> String { o.path.isEmpty ? key : "\(o.path).\(key)" }

/// The shortest decimal of a Float32 setting, as JSON.
func decimal(_ f: Float) -> JSON { .number(Double("\(f)") ?? Double(f)) }

/// A seed: a non-negative integer below 2^53 (exact in a JSON number), nil when not given.
func readSeed(_ o: ConfigObject, _ key: String) throws -> UInt64? {
    try o.int(key, range: 0...(1 << 53) - 1).map(UInt64.init)
}

/// A part of the config read from one JSON object through its list of keys.
protocol ConfigSection {
    /// The starting point of `read`: every key of `keys` sets its field (a test checks that the
    /// keys name every stored property).
    static var unread: Self { get }
    static var keys: [ConfigKey<Self>] { get }
    /// Checks across keys, after all are read and before unknown keys are refused.
    func check(path: String) throws
}

extension ConfigSection {
    func check(path: String) throws {}

    /// Reads every key of the section from `object` (absent: an empty object, so every default
    /// applies) and refuses keys nobody read.
    static func read(_ object: ConfigObject?, path: String, semantics: Semantics) throws -> Self {
        let o = try object ?? ConfigObject(.object([:]), path: path)
        var section = unread
        for key in keys { try key.read(o, &section, semantics) }
        try section.check(path: path)
        try o.finish()
        return section
    }

    /// The section as the resolved config holds it.
    var resolved: JSON {
        var out: [String: JSON] = [:]
        for key in Self.keys { for (k, v) in key.resolved(self) { out[k] = v } }
        return .object(out)
    }
}
