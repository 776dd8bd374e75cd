import Foundation

/// A JSON object built by a renderer: the keys a report's JSON form has, in any order (they are
/// printed sorted). Values are encoded as Swift's JSONEncoder encodes them (so a Float prints as
/// a float32, an absent optional leaves its key out unless `setNull` says otherwise).
public struct JSONDocument: Encodable {
    private var fields: [(String, any Encodable)] = []

    public init() {}

    /// Sets `key` to `value`; nil leaves the key out.
    public mutating func set(_ key: String, _ value: (any Encodable)?) {
        if let value { fields.append((key, value)) }
    }

    /// Sets `key` to `value`, or to null when it is nil.
    public mutating func setNull(_ key: String, _ value: (any Encodable)?) {
        fields.append((key, value ?? Null()))
    }

    struct Null: Encodable {
        func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encodeNil() }
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    struct Wrapped: Encodable {
        let value: any Encodable
        func encode(to encoder: Encoder) throws { try value.encode(to: encoder) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        for (k, v) in fields { try c.encode(Wrapped(value: v), forKey: Key(k)) }
    }
}

/// JSON text of an Encodable, pretty and key-sorted: the form of every `--json` output.
public func jsonText<T: Encodable>(_ v: T) -> String {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    // A run that went non-finite has NaN losses: print them as strings rather than no JSON at all.
    enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return String(decoding: (try? enc.encode(v)) ?? Data(), as: UTF8.self)
}
