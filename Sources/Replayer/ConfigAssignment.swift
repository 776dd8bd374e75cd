import Engine
import Recorder

/// One change to a config: a dotted JSON path (integer components index arrays:
/// `model.layers.1.units`) and the value to put there. `replay` and `verify` apply them to a
/// recorded or given config.
public struct ConfigAssignment: Equatable, Sendable {
    public var path: [String]
    public var value: JSON

    public init(path: [String], value: JSON) { self.path = path; self.value = value }

    /// Text that is not `key=value`.
    public struct SyntaxError: Error, Equatable, Sendable {
        public let text: String
    }

    /// `key=value`: the value is read as JSON when it parses (numbers, booleans, arrays, quoted
    /// strings), else as a string (`adam.epsilonMode=hat`).
    public init(parsing text: String) throws {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else { throw SyntaxError(text: text) }
        path = text[..<eq].split(separator: ".").map(String.init)
        value = JSON.fromArgument(String(text[text.index(after: eq)...]))
    }

    /// Applies `changes` to `json` in order (objects on the way are created; array elements must exist).
    public static func apply(_ changes: [ConfigAssignment], to json: inout JSON) throws {
        for c in changes { try json.set(path: c.path, to: c.value) }
    }
}

extension TrainConfig {
    /// This config with `changes` applied and parsed again (embedded files kept).
    public func applying(_ changes: [ConfigAssignment]) throws -> TrainConfig {
        guard !changes.isEmpty else { return self }
        var json = given
        try ConfigAssignment.apply(changes, to: &json)
        var out = try TrainConfig.parse(json, baseDirectory: baseDirectory)
        out.embedded = embedded
        return out
    }

}
