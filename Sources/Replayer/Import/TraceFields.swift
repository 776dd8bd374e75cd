import Engine
import Foundation
import Recorder

/// Typed access to the fields of one trace line, each failure a `TraceError` naming the file,
/// the line and the field (the checks of python/cwrepro/reader.py, `_Checker`). Integers must be
/// written as JSON integers (`3`, not `3.0` or `3e0`) within ±2^53, like Python's `int`.
struct TraceFields {
    let path: String
    let line: Int
    /// How the line's numbers were spelled (integral values written with a fraction or an exponent).
    let source: ConfigSource

    func fail(_ field: String, _ message: String) -> TraceError {
        TraceError(path: path, line: line, field: field, message: message)
    }

    static func name(_ key: String, _ parent: String) -> String { parent.isEmpty ? key : "\(parent).\(key)" }

    /// Every `required` key present (reported in sorted order), no key outside `required` and `optional`.
    func fields(_ o: [String: JSON], _ required: Set<String>, _ optional: Set<String> = [], where parent: String = "") throws {
        if let k = required.subtracting(o.keys).sorted().first { throw fail(Self.name(k, parent), "missing") }
        if let k = Set(o.keys).subtracting(required).subtracting(optional).sorted().first {
            throw fail(Self.name(k, parent), "unknown field (known here: \(required.union(optional).sorted().joined(separator: ", ")))")
        }
    }

    /// The value at `path` rendered for a message, as Python's `json.dumps` would (near enough).
    static func shown(_ v: JSON?) -> String {
        guard let v else { return "null" }
        switch v {
        case .number(let d) where d == d.rounded() && abs(d) < 1e15: return String(Int64(d))
        default: return v.text
        }
    }

    /// A JSON integer at `field` (a path below the line's root), or nil when null is allowed.
    func integerValue(_ v: JSON?, at field: String, min: Int? = nil, nullable: Bool = false) throws -> Int? {
        if case .null? = v, nullable { return nil }
        if case .number(let d)? = v, d == d.rounded(), abs(d) > 9_007_199_254_740_991, source.nonIntegerSpelling(at: field) == nil {
            throw fail(field, "\(String(format: "%.0f", d)) is out of range: a trace's integers are exact only within ±(2^53 - 1) = ±9007199254740991 (JSON numbers); write it within that range (cwrepro's Python package refuses larger seeds)")
        }
        guard case .number(let d)? = v, d == d.rounded(), abs(d) <= 9_007_199_254_740_991,
              source.nonIntegerSpelling(at: field) == nil else {
            throw fail(field, "expected an integer, got \(source.nonIntegerSpelling(at: field) ?? Self.shown(v))")
        }
        let i = Int(d)
        if let min, i < min { throw fail(field, "\(i) is below the minimum \(min)") }
        return i
    }

    func integer(_ o: [String: JSON], _ key: String, min: Int? = nil, where parent: String = "") throws -> Int {
        try integerValue(o[key], at: Self.name(key, parent), min: min)!
    }

    func optionalInteger(_ o: [String: JSON], _ key: String, min: Int? = nil, where parent: String = "") throws -> Int? {
        try integerValue(o[key], at: Self.name(key, parent), min: min, nullable: true)
    }

    func number(_ o: [String: JSON], _ key: String, where parent: String = "", nullable: Bool = false) throws -> Double? {
        let v = o[key]
        if case .null? = v, nullable { return nil }
        guard case .number(let d)? = v else {
            throw fail(Self.name(key, parent), "expected a number\(nullable ? " or null" : ""), got \(Self.shown(v))")
        }
        return d
    }

    func string(_ o: [String: JSON], _ key: String, where parent: String = "", nullable: Bool = false, nonEmpty: Bool = true) throws -> String? {
        let v = o[key]
        if case .null? = v, nullable { return nil }
        guard case .string(let s)? = v, !(nonEmpty && s.isEmpty) else {
            throw fail(Self.name(key, parent), "expected a \(nonEmpty ? "non-empty " : "")string, got \(Self.shown(v))")
        }
        return s
    }

    func requiredString(_ o: [String: JSON], _ key: String, where parent: String = "") throws -> String {
        try string(o, key, where: parent)!
    }

    func object(_ v: JSON?, at field: String, _ expected: String) throws -> [String: JSON] {
        guard case .object(let o)? = v else { throw fail(field, "expected \(expected)") }
        return o
    }

    /// 16 lowercase hex digits: a hash.
    func hex16(_ o: [String: JSON], _ key: String) throws -> UInt64 {
        guard case .string(let s)? = o[key], s.utf8.count == 16, s.utf8.allSatisfy(Self.isLowerHex), let v = UInt64(s, radix: 16) else {
            throw fail(key, "expected 16 lowercase hex digits, got \(Self.shown(o[key]))")
        }
        return v
    }

    static func isLowerHex(_ c: UInt8) -> Bool { (0x30...0x39).contains(c) || (0x61...0x66).contains(c) }

    /// An array of non-negative integers.
    func shape(_ v: JSON?, at field: String) throws -> [Int] {
        guard case .array(let a)? = v else { throw fail(field, "expected an array of non-negative integers, got \(Self.shown(v))") }
        var out: [Int] = []
        for (i, x) in a.enumerated() {
            guard let n = try? integerValue(x, at: "\(field)[\(i)]", min: 0) else {
                throw fail(field, "expected an array of non-negative integers, got \(Self.shown(v))")
            }
            out.append(n)
        }
        return out
    }

    /// `loss` (number or null) and `lossBits` (8 hex digits or null), consistent with each other:
    /// the float32 loss, or nil when both are null. `what` names the line for the message.
    func lossPair(_ o: [String: JSON], required: Bool, what: String) throws -> Float? {
        let loss = o["loss"]
        guard case .string(let bits)? = o["lossBits"] else {
            if case .null? = o["lossBits"] {
                if required { throw fail("lossBits", "missing value (null): \(what) needs its float32 loss bits") }
                if case .null? = loss { return nil }
                throw fail("loss", "must be null when lossBits is null")
            }
            throw fail("lossBits", "expected 8 lowercase hex digits (the float32 bit pattern), got \(Self.shown(o["lossBits"]))")
        }
        guard bits.utf8.count == 8, bits.utf8.allSatisfy(Self.isLowerHex), let pattern = UInt32(bits, radix: 16) else {
            throw fail("lossBits", "expected 8 lowercase hex digits (the float32 bit pattern), got \(Self.shown(o["lossBits"]))")
        }
        let f = Float(bitPattern: pattern)
        if f.isFinite {
            guard case .number(let d)? = loss, d == Double(f) else {
                throw fail("loss", "\(Self.shown(loss)) is not the float32 value \(Double(f)) of lossBits \(bits)")
            }
        } else if loss != .null {
            throw fail("loss", "must be null for the non-finite loss bits \(bits)")
        }
        return f
    }
}
