import Recorder

/// Where the values of a config were written: the file's name and text, so that an error about
/// any JSON path can say `file:line:column`, and how integral numbers were spelled (`1234.0`,
/// `1e3`), which the `JSON` value cannot tell from `1234` and integer fields refuse.
///
/// `ConfigObject`s read it: given explicitly, or the one bound to the current task with
/// `reading(_:)` (a task-local value, so concurrent readers of different configs never see each
/// other's). Locations are found on demand by parsing the text again up to the path (errors
/// only), so carrying a source costs nothing on the happy path.
///
/// Values replaced after parsing (by `ConfigAssignment`) are not in the file: `masking(sets:)`
/// returns a source that knows nothing about them.
public final class ConfigSource: Sendable {
    /// The file name used in messages.
    public let name: String
    let bytes: [UInt8]
    /// Integral numbers written with a fraction or an exponent, by JSON path, as written.
    let spellings: [String: String]
    /// Paths (and everything under them) whose values no longer come from the file.
    let masked: [String]

    init(name: String, bytes: [UInt8], spellings: [String: String], masked: [String] = []) {
        self.name = name; self.bytes = bytes; self.spellings = spellings; self.masked = masked
    }

    /// The source `ConfigObject`s created without an explicit one use (see `reading`).
    @TaskLocal public static var current: ConfigSource?

    /// Parses a config's bytes strictly (`JSON.parse`) and keeps its source.
    /// `line`: the bytes are that line of the file (a JSON Lines trace): syntax errors then say
    /// `name:line:column` (`location(of:)` still counts within the bytes). `limit`: the largest
    /// text accepted (16 MiB, `JSON.maxBytes`, for configs).
    public static func parse(_ bytes: [UInt8], name: String, line: Int = 1, limit: Int = JSON.maxBytes) throws -> (JSON, ConfigSource) {
        let (json, spellings) = try JSON.parse(bytes, source: name, collectSpellings: true, line: line, limit: limit)
        return (json, ConfigSource(name: name, bytes: bytes, spellings: spellings))
    }

    /// Runs `body` with this source bound as `ConfigSource.current`.
    public func reading<T>(_ body: () throws -> T) rethrows -> T {
        try ConfigSource.$current.withValue(self, operation: body)
    }

    /// This source without what it knew about the values `sets` (`key=value`, dotted keys as
    /// `ConfigAssignment` takes them) replaced.
    public func masking(sets: [String]) -> ConfigSource {
        let paths = sets.flatMap { s -> [String] in
            let key = s.split(separator: "=", maxSplits: 1).first.map(String.init) ?? s
            return JSONPath.renderings(ofDotted: key.split(separator: ".").map(String.init))
        }
        return ConfigSource(name: name, bytes: bytes, spellings: spellings, masked: masked + paths)
    }

    func isMasked(_ path: String) -> Bool {
        masked.contains { m in path == m || path.hasPrefix(m + ".") || path.hasPrefix(m + "[") }
    }

    /// How an integral number at `path` was written, when with a fraction or an exponent.
    public func nonIntegerSpelling(at path: String) -> String? {
        isMasked(path) ? nil : spellings[path]
    }

    /// `line:column` of the value at `path` (of its key when `key` and the value is an object
    /// member), or nil when the path is not in the file.
    public func location(of path: String, key: Bool = false) -> (line: Int, column: Int)? {
        guard !isMasked(path) else { return nil }
        return bytes.withUnsafeBufferPointer { b -> (line: Int, column: Int)? in
            var p = JSONParser(b, source: name, maxDepth: JSON.maxDepth)
            p.target = path
            do { _ = try p.parseDocument() } catch {}
            guard let found = p.located else { return nil }
            let (l, c) = JSONParser.lineColumn(b, key ? (found.key ?? found.value) : found.value)
            return (l, c)
        }
    }

    /// "train.json:4:17: " for a path in the file, else "".
    public func prefix(for path: String, key: Bool = false) -> String {
        guard let (l, c) = location(of: path, key: key) else { return "" }
        return "\(name):\(l):\(c): "
    }
}
