import Foundation
import Recorder

/// A parsed JSON value. Configs are read through `ConfigObject`, which tracks the JSON path of
/// every value so errors can name it.
public indirect enum JSON: Equatable, Codable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSON].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSON].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let d):
            if d == d.rounded(), abs(d) < 1e15 { try c.encode(Int64(d)) } else { try c.encode(d) }
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// Parses `bytes`; `source` names the file in error messages.
    public static func parse(_ bytes: [UInt8], source: String) throws -> JSON {
        if bytes.count > 16 << 20 {
            throw InputError("\(source): \(bytes.count) bytes is too large for a config (limit 16 MiB)")
        }
        let depth = nestingDepth(bytes)
        if depth > maxDepth {
            throw InputError("\(source): nested \(depth) levels deep; JSON here may nest at most \(maxDepth) levels")
        }
        do {
            return try JSONDecoder().decode(JSON.self, from: Data(bytes))
        } catch let DecodingError.dataCorrupted(ctx) {
            // JSONSerialization says where the syntax breaks; the decoder often does not.
            var detail = (ctx.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            if detail == nil {
                do { _ = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) } catch {
                    detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
                }
            }
            throw InputError("\(source) is not valid JSON: \(detail ?? ctx.underlyingError.map { "\($0)" } ?? ctx.debugDescription)")
        } catch DecodingError.typeMismatch(_, let ctx) {
            // Valid syntax, yet no case of JSON decodes it: a number beyond Float64's range (1e400).
            var path = ""
            for k in ctx.codingPath {
                if let i = k.intValue, k.stringValue.hasPrefix("Index") { path += "[\(i)]" } else { path += path.isEmpty ? k.stringValue : ".\(k.stringValue)" }
            }
            // The decoder reports the innermost container it could not read, not always the number.
            throw InputError("\(source): \(path.isEmpty ? "the config" : path) is or holds a number beyond Float64's range (such as 1e400); write a finite number")
        } catch {
            throw InputError("\(source) is not valid JSON: \(error)")
        }
    }

    /// Deepest nesting of arrays and objects accepted (configs need about 10).
    public static let maxDepth = 100

    /// The deepest nesting of `[` and `{` outside strings (a cheap pre-scan, so a hostile file
    /// cannot exhaust the decoder's stack).
    static func nestingDepth(_ bytes: [UInt8]) -> Int {
        var depth = 0, deepest = 0, inString = false, escaped = false
        for b in bytes {
            if inString {
                if escaped { escaped = false } else if b == 0x5C { escaped = true } else if b == 0x22 { inString = false }
            } else if b == 0x22 {
                inString = true
            } else if b == 0x5B || b == 0x7B {
                depth += 1
                deepest = max(deepest, depth)
            } else if b == 0x5D || b == 0x7D {
                depth -= 1
            }
        }
        return deepest
    }

    /// Compact, key-sorted text: the canonical form stored in records and hashed.
    public var text: String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? enc.encode(self)) ?? Data(), as: UTF8.self)
    }

    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    public subscript(key: String) -> JSON? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// Sets the value at a dotted path (`optimizer.lr`), creating objects on the way.
    public mutating func set(path: [String], to value: JSON) throws {
        try set(path[...], to: value, under: "")
    }

    /// `under` is the dotted path of `self`, for error messages. A missing object key is created;
    /// an integer component indexes an existing array element (`model.layers.1.units`).
    private mutating func set(_ path: ArraySlice<String>, to value: JSON, under parent: String) throws {
        guard let first = path.first else { self = value; return }
        let here = parent.isEmpty ? first : "\(parent).\(first)"
        switch self {
        case .object(var o):
            var child = o[first] ?? .object([:])
            try child.set(path.dropFirst(), to: value, under: here)
            o[first] = child
            self = .object(o)
        case .array(var a):
            guard let i = Int(first), a.indices.contains(i) else {
                throw InputError("cannot set \(here): \(parent) is an array of \(a.count) element\(a.count == 1 ? "" : "s")"
                                 + (a.isEmpty ? "" : "; index it with 0...\(a.count - 1), e.g. \(parent).0"))
            }
            try a[i].set(path.dropFirst(), to: value, under: here)
            self = .array(a)
        default:
            throw InputError("cannot set \(here): \(parent) is \(typeName), not an object or an array")
        }
    }

    /// Applies command-line changes `key=value` in order: `key` is a dotted JSON path (integer
    /// components index arrays), `value` is read by `fromArgument`.
    public mutating func apply(sets: [String]) throws {
        for s in sets {
            guard let eq = s.firstIndex(of: "="), eq != s.startIndex else {
                throw InputError("--set \(s): expected key=value, e.g. --set optimizer.lr=0.05")
            }
            try set(path: s[..<eq].split(separator: ".").map(String.init), to: JSON.fromArgument(String(s[s.index(after: eq)...])))
        }
    }

    /// A command-line value: JSON if it parses (numbers, booleans, arrays, quoted strings), else a string.
    public static func fromArgument(_ s: String) -> JSON {
        (try? JSONDecoder().decode(JSON.self, from: Data(s.utf8))) ?? .string(s)
    }
}

/// A JSON object being read by config code. Every key read is marked; `finish()` rejects the
/// keys nobody read, with a "did you mean" suggestion.
public final class ConfigObject {
    public let path: String
    public let values: [String: JSON]
    private var used: Set<String> = []

    public init(_ json: JSON, path: String) throws {
        guard case .object(let o) = json else { throw InputError("\(path): expected an object, found \(json.typeName)") }
        self.path = path
        values = o
    }

    func at(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    public func has(_ key: String) -> Bool { values[key] != nil && values[key] != .null }

    public func raw(_ key: String) -> JSON? {
        used.insert(key)
        if case .null = values[key] { return nil }
        return values[key]
    }

    public func double(_ key: String) throws -> Double? {
        guard let v = raw(key) else { return nil }
        guard case .number(let d) = v, d.isFinite else { throw InputError("\(at(key)): expected a number, found \(v.typeName)") }
        return d
    }

    public func double(_ key: String, default d: Double) throws -> Double { try double(key) ?? d }

    public func int(_ key: String, range: ClosedRange<Int>? = nil) throws -> Int? {
        guard let v = raw(key) else { return nil }
        guard case .number(let d) = v, d == d.rounded(), abs(d) < 9e15 else {
            throw InputError("\(at(key)): expected an integer, found \(v == .null ? "null" : v.text)")
        }
        let i = Int(d)
        if let r = range, !r.contains(i) {
            throw InputError("\(at(key)): \(i) is out of range; expected \(r.lowerBound)...\(r.upperBound)")
        }
        return i
    }

    public func int(_ key: String, default d: Int, range: ClosedRange<Int>? = nil) throws -> Int { try int(key, range: range) ?? d }

    public func bool(_ key: String, default d: Bool) throws -> Bool {
        guard let v = raw(key) else { return d }
        guard case .bool(let b) = v else { throw InputError("\(at(key)): expected true or false, found \(v.typeName)") }
        return b
    }

    public func string(_ key: String) throws -> String? {
        guard let v = raw(key) else { return nil }
        guard case .string(let s) = v else { throw InputError("\(at(key)): expected a string, found \(v.typeName)") }
        return s
    }

    /// A string that must be one of `choices`.
    public func choice(_ key: String, _ choices: [String], default d: String? = nil) throws -> String? {
        guard let s = try string(key) else { return d }
        guard choices.contains(s) else {
            throw InputError("\(at(key)): unknown value \"\(s)\"; expected one of \(choices.joined(separator: ", "))\(suggestion(s, choices))")
        }
        return s
    }

    public func object(_ key: String) throws -> ConfigObject? {
        guard let v = raw(key) else { return nil }
        return try ConfigObject(v, path: at(key))
    }

    public func array(_ key: String) throws -> [JSON]? {
        guard let v = raw(key) else { return nil }
        guard case .array(let a) = v else { throw InputError("\(at(key)): expected an array, found \(v.typeName)") }
        return a
    }

    public func ints(_ key: String) throws -> [Int]? {
        guard let a = try array(key) else { return nil }
        return try a.enumerated().map { i, v in
            guard case .number(let d) = v, d == d.rounded(), abs(d) < 9e15 else {
                throw InputError("\(at(key))[\(i)]: expected an integer, found \(v.typeName)")
            }
            return Int(d)
        }
    }

    /// Rejects keys that were never read.
    public func finish() throws {
        let unknown = values.keys.filter { !used.contains($0) }.sorted()
        guard let k = unknown.first else { return }
        let known = Array(used).sorted()
        throw InputError("\(at(k)): unknown key\(suggestion(k, known)); known keys here: \(known.joined(separator: ", "))")
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
