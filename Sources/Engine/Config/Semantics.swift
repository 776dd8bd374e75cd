import Recorder

/// A resolved set of knob values: a profile's defaults (`Knobs.all`, pytorch or keras column)
/// with the config's `"overrides"` applied. Stored in the record's resolved config as `knobs`.
public struct Semantics: Equatable, Sendable {
    public static let profiles = ["pytorch", "keras"]
    public let profile: String
    public private(set) var values: [String: JSON]

    public init(profile: String) {
        precondition(Self.profiles.contains(profile))
        self.profile = profile
        values = Dictionary(uniqueKeysWithValues: Knobs.all.map { ($0.name, profile == "keras" ? $0.keras : $0.pytorch) })
    }

    /// Applies `overrides` (knob name -> value), checking each name and value. Nested objects
    /// flatten to dotted knob names: {"batchnorm": {"momentum": 0.01}} is "batchnorm.momentum" (what
    /// `--set overrides.batchnorm.momentum=0.01` produces); a nested value replaces a dotted key
    /// naming the same knob. (The flattening was added for --set by the blocks branch; it lives
    /// entirely in this function.)
    public mutating func apply(_ overrides: [String: JSON], path: String = "overrides") throws {
        var flat: [String: JSON] = [:], fromNested: Set<String> = []
        func walk(_ o: [String: JSON], prefix: String) {
            for (k, v) in o {
                let name = prefix.isEmpty ? k : "\(prefix).\(k)"
                if case .object(let inner) = v, Knobs.named(name) == nil {
                    walk(inner, prefix: name)
                } else if !prefix.isEmpty {
                    flat[name] = v; fromNested.insert(name)
                } else if !fromNested.contains(name) {
                    flat[name] = v
                }
            }
        }
        walk(overrides, prefix: "")
        for (name, v) in flat.sorted(by: { $0.key < $1.key }) {
            guard let knob = Knobs.named(name) else {
                throw InputError("\(path).\(name): unknown semantics knob\(suggestion(name, Knobs.all.map(\.name))); `cwrepro semantics` lists them")
            }
            if let choices = knob.choices {
                guard case .string(let s) = v, choices.contains(s) else {
                    throw InputError("\(path).\(name): expected one of \(choices.joined(separator: ", ")), found \(v.text)")
                }
            } else {
                guard case .number(let d) = v, d.isFinite, d >= 0 else {
                    throw InputError("\(path).\(name): expected a non-negative number, found \(v.text)")
                }
            }
            values[name] = v
        }
    }

    public func string(_ name: String) -> String {
        guard case .string(let s)? = values[name] else { preconditionFailure("knob \(name) is not a string") }
        return s
    }

    public func double(_ name: String) -> Double {
        guard case .number(let d)? = values[name] else { preconditionFailure("knob \(name) is not a number") }
        return d
    }

    /// Knobs whose values differ between two semantics, in table order.
    public func differences(from other: Semantics) -> [String] {
        Knobs.all.map(\.name).filter { values[$0] != other.values[$0] }
    }

    public var json: JSON { .object(values) }
}
