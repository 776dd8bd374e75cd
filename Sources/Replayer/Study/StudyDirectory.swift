import Engine
import Foundation
import Recorder

/// A study's directory:
///
/// ```
/// study/study.json          the plan: the sweep as parsed, its fingerprint, sides, seeds, points, trials
/// study/runs/<trial>.cwr    one sealed record per trial (`<side>-s<seed>-<id>.cwr`)
/// study/points/<id>.json    points Ray Tune proposed (a Tune search: the plan grows as it runs)
/// study/shards/I-of-N.jsonl the trials one shard finished (`--shard I/N`)
/// study/trials.jsonl        one line per finished trial, all shards (`TrialResult`)
/// study/summary.json        the study summary
/// study/explanations/       the explanations of the largest gaps, one file per point
/// ```
///
/// Files other processes may read at the same time are written to a temporary name and renamed.
public struct StudyDirectory: Sendable {
    /// Absolute path.
    public let root: String

    public init(_ path: String) {
        root = URL(fileURLWithPath: path).standardizedFileURL.path
    }

    public func path(_ relative: String) -> String { (root as NSString).appendingPathComponent(relative) }

    public var manifestPath: String { path("study.json") }
    public var trialsPath: String { path("trials.jsonl") }
    public var summaryPath: String { path("summary.json") }

    /// Creates the directory and its `runs/` (an existing study is fine; a file in the way is an error).
    public func create() throws {
        for dir in [root, path("runs")] {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory) {
                guard isDirectory.boolValue else { throw InputError("\(dir) exists and is not a directory; give a directory for the study") }
                continue
            }
            do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
                throw InputError("cannot create the study directory \(dir): \(error.localizedDescription)")
            }
        }
    }

    /// Creates the directory at `path` (and its parents) inside the study, or says what is in the way.
    func makeDirectory(atPath dir: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw InputError("\(dir) is a file where the study keeps a directory: move it away (or give another study directory)")
            }
            return
        }
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw InputError("cannot create the study's directory \(dir): \(error.localizedDescription)")
        }
    }

    /// Writes `data` to `relative` through a temporary file and a rename (readers never see half a file).
    public func write(_ data: Data, to relative: String) throws {
        _ = try write(data, to: relative, replacing: true)
    }

    /// Writes `data` to `relative` through a temporary file, moved into place by a rename
    /// (`replacing`) or a hard link, which fails when the file exists: then nothing is written and
    /// the result is false (two sweeps planning into one new directory: one plan wins, the other
    /// is compared with it).
    func write(_ data: Data, to relative: String, replacing: Bool) throws -> Bool {
        let target = path(relative)
        let dir = (target as NSString).deletingLastPathComponent
        try makeDirectory(atPath: dir)
        let temporary = dir + "/.\((target as NSString).lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp"
        do {
            try data.write(to: URL(fileURLWithPath: temporary))
            if replacing {
                if rename(temporary, target) != 0 { throw InputError("cannot write \(target): \(String(cString: strerror(errno)))") }
                return true
            }
            defer { unlink(temporary) }
            if link(temporary, target) == 0 { return true }
            if errno == EEXIST { return false }
            throw InputError("cannot write \(target): \(String(cString: strerror(errno)))")
        } catch let e as InputError {
            try? FileManager.default.removeItem(atPath: temporary)
            throw e
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw InputError("cannot write \(target): \(error.localizedDescription)")
        }
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        return e
    }()

    /// Writes the plan, or checks that an existing one is the same sweep (a study directory holds one sweep).
    public func adopt(_ manifest: StudyManifest) throws {
        let data = try Self.encoder.encode(manifest)
        if !FileManager.default.fileExists(atPath: manifestPath), try write(data, to: "study.json", replacing: false) { return }
        let existing = try readManifest()
        guard existing.fingerprint == manifest.fingerprint else {
            throw StudyError.differentSweep(directory: root, existing: existing.sweepFile, given: manifest.sweepFile)
        }
        if existing.trials != manifest.trials { try write(data, to: "study.json") }
    }

    public func readManifest() throws -> StudyManifest {
        guard FileManager.default.fileExists(atPath: manifestPath) else { throw StudyError.notAStudy(root) }
        let data = try readFile(manifestPath, what: "study plan", limit: 1 << 30)
        do { return try JSONDecoder().decode(StudyManifest.self, from: data) } catch is DecodingError {
            throw StudyError.unreadablePlan(manifestPath, data.isEmpty ? "the file is empty" : "not a study plan (invalid or edited JSON)")
        }
    }

    /// `trials.jsonl`: one line per result, in trial order.
    public func writeTrials(_ results: [TrialResult], to relative: String = "trials.jsonl") throws {
        let text = results.sorted { $0.trial < $1.trial }.map { $0.line + "\n" }.joined()
        try write(Data(text.utf8), to: relative)
    }

    /// The lines of a trials file (empty when it does not exist).
    public func readTrials(_ relative: String = "trials.jsonl") throws -> [TrialResult] {
        let p = path(relative)
        guard FileManager.default.fileExists(atPath: p) else { return [] }
        let text = String(decoding: try readFile(p, what: "trials file", limit: 1 << 30), as: UTF8.self)
        return try text.split(separator: "\n").enumerated().map { i, line in
            do { return try JSONDecoder().decode(TrialResult.self, from: Data(line.utf8)) } catch {
                throw StudyError.unreadablePlan(p, "line \(i + 1): \(error)")
            }
        }
    }

    /// Removes a killed trial's unfinished record (and SQLite's files beside it).
    func removeRecord(_ relative: String) {
        let p = path(relative)
        for suffix in ["", "-wal", "-shm", "-journal"] { try? FileManager.default.removeItem(atPath: p + suffix) }
    }
}

/// `study.json`: what a study is. Written once by the first `sweep` (or shard) into a directory
/// and checked by every later one, so shards of one study agree on every trial.
public struct StudyManifest: Codable, Sendable, Equatable {
    public var format = "cwrepro-study"
    public var version = 1
    public var name: String
    /// The sweep file (absolute path) and its content as parsed.
    public var sweepFile: String
    public var sweep: JSON
    /// XXH3-64 of the sweep and of each side's config as parsed: two sweeps with the same
    /// fingerprint plan the same trials.
    public var fingerprint: String
    public var objective: SweepSpec.Objective
    public var sides: [StudySideInfo]
    public var seeds: [UInt64]
    /// The search: grid, random or tune.
    public var search: String
    public var points: [StudyPoint]
    public var trials: [PlannedTrial]

    public init(plan: SweepPlan, sweep: JSON) throws {
        name = plan.spec.name
        sweepFile = plan.spec.path
        self.sweep = sweep
        var parts = [sweep.text]
        for config in Set(plan.sides.map(\.config)).sorted() { parts.append(try TrainConfig.File(path: config).json.text) }
        fingerprint = SweepPlan.id(resolvedText: parts.joined(separator: "\n"))
        objective = plan.spec.objective
        sides = plan.sides
        seeds = plan.seeds
        switch plan.spec.search {
        case .grid: search = "grid"
        case .random: search = "random"
        case .tune: search = "tune"
        }
        points = plan.points
        trials = plan.trials
    }

    public func sideName(_ side: StudySide) -> String { sides.first { $0.side == side }?.name ?? side.rawValue }
}

/// Why a study directory cannot be used.
public enum StudyError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The directory holds another sweep's study.
    case differentSweep(directory: String, existing: String, given: String)
    /// No `study.json` in the directory.
    case notAStudy(String)
    /// A study file that does not parse.
    case unreadablePlan(String, String)
    /// Trials a collect found no finished record for.
    case missingTrials(Int)
    /// Another sweep holds the directory's lock (`shard` nil: `.sweep.lock`) or the shard's (`StudyLock`).
    case busy(directory: String, shard: Shard?)

    public var description: String {
        switch self {
        case let .differentSweep(dir, existing, given):
            return "\(dir) holds a study of another sweep (\(existing)), or of this sweep before the text of \(given) or of its configs changed (the study's fingerprint hashes both, as parsed): give another study directory"
        case .notAStudy(let dir):
            return "\(dir) is not a study directory (no study.json): run cwrepro sweep into it first"
        case let .unreadablePlan(path, why):
            return "\(path) cannot be read: \(why); restore it, or delete it and run the sweep again (the plan is made again and the finished trials' records are checked and kept), or give another study directory"
        case .missingTrials(let n):
            return "\(n) trial\(n == 1 ? " has" : "s have") no finished record"
        case .busy(let dir, nil):
            return "\(dir) is in use by another cwrepro sweep (an unsharded sweep runs alone in its study directory; the shards of one study run side by side): wait for it to end or stop it, then run this sweep again (finished trials are kept)"
        case .busy(let dir, let shard?):
            return "shard \(shard) of \(dir) is already being run by another cwrepro sweep: wait for it to end or stop it, then run it again (finished trials are kept)"
        }
    }
}
