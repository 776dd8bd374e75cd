import Foundation
import Recorder

/// A parsed JSON value. Configs are read through `ConfigObject`, which tracks the JSON path of
/// every value so errors can name it (`JSONPath`), and `ConfigSource`, which knows where each
/// value was written and how its numbers were spelled. Arrays and objects hold their elements
/// out of line already, so the enum is not `indirect`: a value is stored inline, not boxed (a
/// 10 MB batch order parses 1.7x faster that way).
public enum JSON: Equatable, Codable, Sendable {
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

    /// Parses `bytes` strictly (`JSONParser`: duplicate keys, trailing commas, comments, NaN,
    /// leading zeros, lone surrogates and numbers beyond Float64 are errors, each naming its JSON
    /// path and `source:line:column`); `source` names the file in error messages. At most 16 MiB
    /// and `maxDepth` levels of nesting.
    public static func parse(_ bytes: [UInt8], source: String) throws -> JSON {
        try parse(bytes, source: source, collectSpellings: false).value
    }

    /// As `parse`; with `collectSpellings`, also the integral numbers written with a fraction or
    /// an exponent (`1234.0`, `1e3`) by JSON path, as written (`ConfigSource`).
    /// `line`: the text is that line of the file `source` (messages then say `source:line:column`);
    /// `limit`: the largest text accepted (`maxBytes` for configs).
    static func parse(_ bytes: [UInt8], source: String, collectSpellings: Bool, line: Int = 1, limit: Int = maxBytes) throws -> (value: JSON, spellings: [String: String]) {
        if bytes.count > limit {
            throw InputError("\(source): \(bytes.count) bytes is too large for a config (limit 16 MiB)")
        }
        return try bytes.withUnsafeBufferPointer { b in
            var p = JSONParser(b, source: source, maxDepth: maxDepth)
            p.lineOffset = line - 1
            if collectSpellings { p.spellings = [:] }
            let json = try p.parseDocument()
            return (json, p.spellings ?? [:])
        }
    }

    /// Largest JSON text accepted (16 MiB).
    public static let maxBytes = 16 << 20

    /// Deepest nesting of arrays and objects accepted (configs need about 10).
    public static let maxDepth = 100

    /// The deepest nesting of `[` and `{` outside strings (reported when a text nests too deep).
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

    /// `under` is the path of `self` (`JSONPath` notation), for error messages. A missing object
    /// key is created; an integer component indexes an existing array element (`model.layers.1.units`).
    private mutating func set(_ path: ArraySlice<String>, to value: JSON, under parent: String) throws {
        guard let first = path.first else { self = value; return }
        switch self {
        case .object(var o):
            let here = JSONPath.member(parent, first)
            var child = o[first] ?? .object([:])
            try child.set(path.dropFirst(), to: value, under: here)
            o[first] = child
            self = .object(o)
        case .array(var a):
            guard let i = Int(first), a.indices.contains(i) else {
                let here = Int(first).map { JSONPath.element(parent, $0) } ?? JSONPath.member(parent, first)
                throw InputError("cannot set \(here): \(parent) is an array of \(a.count) element\(a.count == 1 ? "" : "s")"
                                 + (a.isEmpty ? "" : ", indexed 0...\(a.count - 1)"))
            }
            try a[i].set(path.dropFirst(), to: value, under: JSONPath.element(parent, i))
            self = .array(a)
        default:
            let here = Int(first).map { JSONPath.element(parent, $0) } ?? JSONPath.member(parent, first)
            throw InputError("cannot set \(here): \(parent) is \(typeName), not an object or an array")
        }
    }

    /// A command-line value (`--set key=value`): read as JSON when it starts like JSON (`[`, `{`,
    /// `"`), where it must then be valid, else by `fromArgument`. `key` names it in the error.
    public static func argument(_ text: String, for key: [String], in config: JSON) throws -> JSON {
        if let first = text.unicodeScalars.first, "[{\"".unicodeScalars.contains(first) {
            do { _ = try JSON.parse(Array(text.utf8), source: "") } catch let e as InputError {
                throw InputError("cannot set \(config.path(dotted: key.joined(separator: "."))): \(JSONParser.clip(text)) is not valid JSON (\(e.message.drop { $0 == ":" }))")
            }
        }
        return fromArgument(text)
    }

    /// A dotted key (`model.layers.1.units`) in `JSONPath` notation (`model.layers[1].units`):
    /// an integer component is an index where this value holds an array there.
    public func path(dotted key: String) -> String {
        var out = "", node: JSON? = self
        for c in key.split(separator: ".", omittingEmptySubsequences: false).map(String.init) {
            if case .array(let a)? = node, let i = Int(c) {
                out = JSONPath.element(out, i)
                node = a.indices.contains(i) ? a[i] : nil
            } else {
                out = JSONPath.member(out, c)
                node = node?[c]
            }
        }
        return out
    }

    /// A command-line value: JSON if it parses strictly (numbers, booleans, null, arrays, objects,
    /// quoted strings), else the text as a string (`keras`, `NaN`, `01`).
    public static func fromArgument(_ s: String) -> JSON {
        (try? JSON.parse(Array(s.utf8), source: "argument")) ?? .string(s)
    }
}

