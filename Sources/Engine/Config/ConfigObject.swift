import Recorder

/// A JSON object being read by config code. Every key read is marked; `finish()` rejects the
/// keys nobody read, with a "did you mean" suggestion. Errors name the JSON path (`JSONPath`
/// notation: `model.layers[1].units`) and, when the object's `source` knows the file, where the
/// value was written (`train.json:7:31: model.layers[1].units: ...`).
///
/// Integer fields (`int`, `ints`) take integers written as integers: `32` but not `32.5`, nor
/// `32.0` or `3.2e1` when the source saw that spelling (JSON readers such as Python's `json`
/// read a number with a fraction or an exponent as a float, so the two tools would disagree on
/// the type), nor anything of magnitude 9e15 or more.
public final class ConfigObject {
    public let path: String
    public let values: [String: JSON]
    /// Where the object was written (nil for configs rebuilt from records, or built in code).
    public let source: ConfigSource?
    private var used: Set<String> = []

    /// `source` defaults to the one bound by `ConfigSource.reading`.
    public init(_ json: JSON, path: String, source: ConfigSource? = ConfigSource.current) throws {
        self.path = path
        self.source = source
        guard case .object(let o) = json else {
            values = [:]
            throw ConfigObject.error(source, path, "expected an object, found \(json.typeName)")
        }
        values = o
    }

    func at(_ key: String) -> String { JSONPath.member(path, key) }

    /// An error about `key` (this object when nil), prefixed with where it was written: the
    /// value's line and column, or the key's when `atKey`.
    public func error(_ key: String?, _ message: String, atKey: Bool = false) -> InputError {
        ConfigObject.error(source, key.map(at) ?? path, message, atKey: atKey)
    }

    static func error(_ source: ConfigSource?, _ path: String, _ message: String, atKey: Bool = false) -> InputError {
        InputError((source?.prefix(for: path, key: atKey) ?? "") + (path.isEmpty ? "" : "\(path): ") + message)
    }

    public func has(_ key: String) -> Bool { values[key] != nil && values[key] != .null }

    public func raw(_ key: String) -> JSON? {
        used.insert(key)
        if case .null = values[key] { return nil }
        return values[key]
    }

    public func double(_ key: String) throws -> Double? {
        guard let v = raw(key) else { return nil }
        guard case .number(let d) = v, d.isFinite else { throw error(key, "expected a number, found \(v.typeName)") }
        return d
    }

    public func double(_ key: String, default d: Double) throws -> Double { try double(key) ?? d }

    public func int(_ key: String, range: ClosedRange<Int>? = nil) throws -> Int? {
        guard let v = raw(key) else { return nil }
        return try integer(v, at: at(key), range: range)
    }

    public func int(_ key: String, default d: Int, range: ClosedRange<Int>? = nil) throws -> Int { try int(key, range: range) ?? d }

    /// The largest integer a JSON number holds exactly (2^53 - 1): a config number is a double, as
    /// in JavaScript and Python's `json`, so larger ones are out of every integer key's range.
    public static let maxExactInteger = 9_007_199_254_740_991

    /// `v` (the value at `p`) as an integer: written as one, at most `maxExactInteger` in magnitude,
    /// in `range` (whose message bounds are clamped to what a JSON number holds exactly).
    func integer(_ v: JSON, at p: String, range: ClosedRange<Int>? = nil) throws -> Int {
        guard case .number(let d) = v else {
            throw ConfigObject.error(source, p, "expected an integer, found \(ConfigObject.show(v))")
        }
        let exact = Double(Self.maxExactInteger)
        if let written = source?.nonIntegerSpelling(at: p) {
            let why = written.contains(where: { $0 == "e" || $0 == "E" }) ? "an exponent" : "a fraction"
            throw ConfigObject.error(source, p, "expected an integer, found \(written) (written with \(why), a float to JSON readers such as Python's)"
                                     + (abs(d) <= exact && d == d.rounded() ? "; write \(Int(d))" : ""))
        }
        guard d == d.rounded() else {
            throw ConfigObject.error(source, p, "expected an integer, found \(ConfigObject.show(v))")
        }
        let low = max(range?.lowerBound ?? -Self.maxExactInteger, -Self.maxExactInteger)
        let high = min(range?.upperBound ?? Self.maxExactInteger, Self.maxExactInteger)
        guard abs(d) <= exact, case let i = Int(d), (low...high).contains(i) else {
            throw ConfigObject.error(source, p, "\(abs(d) <= exact ? String(Int(d)) : ConfigObject.show(v)) is out of range; expected \(low)...\(high)")
        }
        return i
    }

    /// A value in a message: its JSON text, shortened.
    static func show(_ v: JSON) -> String {
        let t = v == .null ? "null" : v.text
        return t.count > 60 ? String(t.prefix(57)) + "..." : t
    }

    public func bool(_ key: String, default d: Bool) throws -> Bool {
        guard let v = raw(key) else { return d }
        guard case .bool(let b) = v else { throw error(key, "expected true or false, found \(v.typeName)") }
        return b
    }

    public func string(_ key: String) throws -> String? {
        guard let v = raw(key) else { return nil }
        guard case .string(let s) = v else { throw error(key, "expected a string, found \(v.typeName)") }
        return s
    }

    /// A string that must be one of `choices`.
    public func choice(_ key: String, _ choices: [String], default d: String? = nil) throws -> String? {
        guard let s = try string(key) else { return d }
        guard choices.contains(s) else {
            throw error(key, "unknown value \"\(JSONPath.display(s))\"; expected one of \(choices.joined(separator: ", "))\(suggestion(s, choices))")
        }
        return s
    }

    public func object(_ key: String) throws -> ConfigObject? {
        guard let v = raw(key) else { return nil }
        return try ConfigObject(v, path: at(key), source: source)
    }

    public func array(_ key: String) throws -> [JSON]? {
        guard let v = raw(key) else { return nil }
        guard case .array(let a) = v else { throw error(key, "expected an array, found \(v.typeName)") }
        return a
    }

    public func ints(_ key: String) throws -> [Int]? {
        guard let a = try array(key) else { return nil }
        return try a.enumerated().map { i, v in try integer(v, at: JSONPath.element(at(key), i)) }
    }

    /// Rejects keys that were never read.
    public func finish() throws {
        let unknown = values.keys.filter { !used.contains($0) }.sorted()
        guard let k = unknown.first else { return }
        let known = Array(used).sorted()
        throw error(k, "unknown key\(suggestion(k, known)); known keys here: \(known.joined(separator: ", "))", atKey: true)
    }
}

/// " (did you mean \"x\"?)" for the closest candidate within edit distance 3, else "".
public func suggestion(_ word: String, _ candidates: [String]) -> String {
    let best = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }.min { $0.1 < $1.1 }
    guard let (c, d) = best, d <= max(2, min(3, word.count / 3)) else { return "" }
    return " (did you mean \"\(c)\"?)"
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    var prev = Array(0...b.count), cur = prev
    for i in 1...a.count {
        cur[0] = i
        for j in stride(from: 1, through: b.count, by: 1) {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&prev, &cur)
    }
    return prev[b.count]
}
