import Foundation
import Recorder

/// One change to a config: a dotted JSON path (integer components index arrays:
/// `model.layers.1.units`) and the value to put there (the command line's `--set key=value`).
/// Applied to a config file before it is checked (`TrainConfig.File.config(applying:)`), or to a
/// recorded config (`TrainConfig.applying`).
public struct ConfigAssignment: Equatable, Sendable {
    public var path: [String]
    public var value: JSON
    /// The value's text as given on the command line (checked when applied: text that starts like
    /// JSON must be valid JSON), nil for a value built in code.
    var text: String?

    public init(path: [String], value: JSON) { self.path = path; self.value = value }

    /// Text that is not `key=value`, or whose key indexes an array with brackets.
    public struct SyntaxError: Error, Equatable, Sendable {
        public let text: String
        /// The key written with dots for its indexes (`model.layers.1.units` for
        /// `model.layers[1].units`, the form messages print paths in), when that was the problem.
        public let dottedKey: String?
        public init(text: String, dottedKey: String? = nil) { self.text = text; self.dottedKey = dottedKey }
    }

    /// `key=value`: the value is read as JSON when it parses (numbers, booleans, arrays, quoted
    /// strings), else as a string (`adam.epsilonMode=hat`). The key's array indexes are dot
    /// components; an index in brackets (`layers[1]`) is refused with the dotted form.
    public init(parsing text: String) throws {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else { throw SyntaxError(text: text) }
        let key = text[..<eq]
        if let dotted = Self.dottedIndexes(String(key)) { throw SyntaxError(text: text, dottedKey: dotted) }
        path = key.split(separator: ".").map(String.init)
        self.text = String(text[text.index(after: eq)...])
        value = JSON.fromArgument(self.text!)
    }

    /// `key` with each bracketed integer index written as a dot component (`a[1].b` -> `a.1.b`),
    /// or nil when it has none. No config key contains brackets.
    static func dottedIndexes(_ key: String) -> String? {
        guard key.contains("[") else { return nil }
        var out = "", rest = Substring(key)
        while let open = rest.firstIndex(of: "[") {
            guard let close = rest[open...].firstIndex(of: "]"), let index = Int(rest[rest.index(after: open)..<close]), index >= 0 else { return nil }
            out += rest[..<open] + "." + String(index)
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    /// Applies `changes` to `json` in order (objects on the way are created; array elements must exist).
    public static func apply(_ changes: [ConfigAssignment], to json: inout JSON) throws {
        for c in changes {
            let value = try c.text.map { try JSON.argument($0, for: c.path, in: json) } ?? c.value
            try json.set(path: c.path, to: value)
        }
    }
}

extension TrainConfig {
    /// A config file read and parsed as JSON (strictly, see `ConfigSource`), not yet checked as a
    /// config: file and syntax errors surface when it is read, config errors when `config` checks it.
    public struct File: Sendable {
        public let path: String
        public let json: JSON
        public let source: ConfigSource

        public init(path: String) throws {
            self.path = path
            (json, source) = try ConfigSource.parse(Array(try readFile(path, what: "config file")), name: path)
        }

        /// The config with `changes` applied before it is checked: a value a change replaces is
        /// checked as given on the command line, not as the file spelled it.
        public func config(applying changes: [ConfigAssignment] = []) throws -> TrainConfig {
            var json = self.json
            try ConfigAssignment.apply(changes, to: &json)
            let source = changes.isEmpty ? self.source : self.source.masking(sets: changes.map { $0.path.joined(separator: ".") })
            let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
            var config = try source.reading { try TrainConfig.parse(json, baseDirectory: dir) }
            config.source = source
            return config
        }
    }

    /// This config with `changes` applied and parsed again (embedded files kept).
    public func applying(_ changes: [ConfigAssignment]) throws -> TrainConfig {
        guard !changes.isEmpty else { return self }
        var json = given
        try ConfigAssignment.apply(changes, to: &json)
        // The file's source still locates errors, except at the paths the changes replaced.
        let source = self.source?.masking(sets: changes.map { $0.path.joined(separator: ".") })
        var out = try source.map { s in try s.reading { try TrainConfig.parse(json, baseDirectory: baseDirectory) } }
            ?? TrainConfig.parse(json, baseDirectory: baseDirectory)
        out.source = source
        out.embedded = embedded
        out.dataLocation = dataLocation
        return out
    }

}
