import Recorder

/// A resolved set of knob values: a profile's defaults (`KnobSettings.pytorch` or `.keras`) with
/// the config's `"overrides"` applied. Stored in the record's resolved config as `knobs`.
public struct Semantics: Equatable, Sendable {
    /// The framework whose defaults a config starts from (`"semantics"`).
    public enum Profile: String, CaseIterable, Sendable {
        case pytorch, keras

        public var defaults: KnobSettings { self == .keras ? .keras : .pytorch }
    }

    /// The profiles' names, for messages and command-line checks.
    public static let profiles = Profile.allCases.map(\.rawValue)

    public let profile: Profile
    /// Every knob, typed: what the engine reads.
    public private(set) var knobs: KnobSettings

    public init(profile: Profile) {
        self.profile = profile
        knobs = profile.defaults
    }

    /// Applies `overrides` (knob name -> value), checking each name and value. Nested objects
    /// flatten to dotted knob names: {"batchnorm": {"momentum": 0.01}} is "batchnorm.momentum" (what
    /// `overrides.batchnorm.momentum=0.01` set on the command line produces); a nested value
    /// replaces a dotted key naming the same knob.
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
            guard knob.assign(&knobs, v) else {
                if let choices = knob.choices {
                    throw InputError("\(path).\(name): expected one of \(choices.joined(separator: ", ")), found \(v.text)")
                }
                throw InputError("\(path).\(name): expected a non-negative number, found \(v.text)")
            }
        }
    }

    /// Every knob's value as written in configs, by name.
    public var values: [String: JSON] { Dictionary(uniqueKeysWithValues: Knobs.all.map { ($0.name, $0.value(knobs)) }) }

    /// Knobs whose values differ between two semantics, in table order.
    public func differences(from other: Semantics) -> [String] {
        Knobs.all.filter { $0.value(knobs) != $0.value(other.knobs) }.map(\.name)
    }

    /// The resolved config's `knobs` object.
    public var json: JSON { .object(values) }
}
