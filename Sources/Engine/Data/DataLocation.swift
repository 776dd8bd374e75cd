import Foundation
import Recorder

/// Where a run's files are now, when they moved after the config was written or the run was
/// recorded. It rewrites every path the config names (the files and directory of `data.source`,
/// `data.order`, `model.init`) as it is resolved; the content is still checked (a record's data
/// fingerprints `data.train` / `data.test`, and the embedded copies of `data.order` and
/// `model.init`, which a replay reads instead of the files).
///
/// - `root`: the config's directory is now this directory. Relative paths resolve against it,
///   and absolute paths that were inside the config's directory move with it.
/// - `substitutions`: an absolute path prefix `from` is now `to` (whole path components only:
///   `/data` does not match `/database`); the longest matching `from` wins, before `root`.
///
/// With neither, a path resolves as written: absolute as is, relative against the config's directory.
public struct DataLocation: Equatable, Sendable {
    public struct Substitution: Equatable, Sendable {
        public var from: String
        public var to: String
        public init(from: String, to: String) { self.from = from; self.to = to }
    }

    public var root: String?
    public var substitutions: [Substitution]

    public init(root: String? = nil, substitutions: [Substitution] = []) {
        self.root = root.map(DataLocation.standardized)
        self.substitutions = substitutions.map { Substitution(from: DataLocation.standardized($0.from), to: DataLocation.standardized($0.to)) }
    }

    /// Whether it changes anything.
    public var isIdentity: Bool { root == nil && substitutions.isEmpty }

    /// Reads `DIR` (a new root) or `OLD=NEW` (a substitution) and adds it; relative directories
    /// resolve against `currentDirectory`. Each directory named as the new place must exist.
    public func adding(_ spec: String, currentDirectory: String = FileManager.default.currentDirectoryPath) throws -> DataLocation {
        func absolute(_ p: String) -> String {
            p.hasPrefix("/") ? p : URL(fileURLWithPath: currentDirectory).appendingPathComponent(p).path
        }
        func existing(_ p: String) throws -> String {
            var isDirectory: ObjCBool = false
            let a = absolute(p)
            guard FileManager.default.fileExists(atPath: a, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw InputError("data directory \(p): \(FileManager.default.fileExists(atPath: a) ? "is not a directory" : "does not exist")")
            }
            return a
        }
        var out = self
        if let eq = spec.firstIndex(of: "="), eq != spec.startIndex {
            let from = String(spec[..<eq]), to = String(spec[spec.index(after: eq)...])
            guard from.hasPrefix("/") else {
                throw InputError("data directory \(spec): the old location \(from) must be an absolute path (as the record names it)")
            }
            out.substitutions.append(Substitution(from: DataLocation.standardized(from), to: DataLocation.standardized(try existing(to))))
        } else {
            guard out.root == nil else { throw InputError("data directory \(spec): a new root is already given (\(out.root!)); give one, plus OLD=NEW pairs") }
            out.root = DataLocation.standardized(try existing(spec))
        }
        return out
    }

    /// The absolute path of `path` as the config names it, the config being in `baseDirectory`.
    public func resolve(_ path: String, baseDirectory: String) -> String {
        let base = DataLocation.standardized(baseDirectory)
        let original = path.hasPrefix("/") ? DataLocation.standardized(path)
            : DataLocation.standardized(URL(fileURLWithPath: base).appendingPathComponent(path).path)
        var rules = substitutions.map { ($0.from, $0.to) }
        if let root { rules.append((base, root)) }
        guard let (from, to) = rules.filter({ DataLocation.isWithin(original, $0.0) }).max(by: { $0.0.count < $1.0.count }) else {
            return original
        }
        let rest = original.dropFirst(from.count).drop { $0 == "/" }
        return rest.isEmpty ? to : DataLocation.standardized(URL(fileURLWithPath: to).appendingPathComponent(String(rest)).path)
    }

    /// `path` equals `dir` or lies below it (whole components).
    static func isWithin(_ path: String, _ dir: String) -> Bool {
        dir == "/" || path == dir || path.hasPrefix(dir + "/")
    }

    /// An absolute path with `.`, `..` and repeated slashes removed (no symlinks resolved).
    static func standardized(_ p: String) -> String {
        var parts: [Substring] = []
        for c in p.split(separator: "/", omittingEmptySubsequences: true) {
            if c == "." { continue }
            if c == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(c)
        }
        return "/" + parts.joined(separator: "/")
    }
}
