import Engine
import Foundation
import Recorder

/// `compare` on anything that holds a run: records, traces (imported into a temporary record
/// first) and configs (recorded by cwrepro into a temporary record first, at the trace's level).
/// The application-layer entry for other commands (`explain --trace-a/--trace-b` checks its
/// emulation of a real run with `compare(trace:config:)`).
public enum CompareSession {
    /// Whether the file at `path` is a trace (gzip or a JSON line) rather than a record.
    public static func isTrace(_ path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        let head = [UInt8]((try? h.read(upToCount: 16)) ?? Data())
        return TraceReader.looksLikeTrace(head)
    }

    /// Compares two runs, each a record or a trace.
    public static func compare(_ a: String, _ b: String, options: RecordComparison.Options = .init()) throws -> CompareReport {
        try withScratch { dir in
            let ra = try open(a, scratch: dir, tag: "a"), rb = try open(b, scratch: dir, tag: "b")
            return try relabel(RecordComparison.compare(ra, rb, options: options), a: a, b: b)
        }
    }

    /// A real run's trace (A) against cwrepro's record of `config` (B), recorded now at the
    /// trace's level into a temporary record: how closely cwrepro emulates the framework.
    public static func compare(trace: String, config: TrainConfig, configPath: String,
                               options: RecordComparison.Options = .init()) throws -> CompareReport {
        try withScratch { dir in
            let ra = try open(trace, scratch: dir, tag: "a")
            var config = config
            config.record.level = ra.level
            let out = (dir as NSString).appendingPathComponent("cwrepro.cwr")
            _ = try TrainingSession(recording: config, configPath: configPath, output: out, overwrite: false).run()
            return try relabel(RecordComparison.compare(ra, RecordReader(path: out), options: options), a: trace, b: configPath)
        }
    }

    /// A trace (or record) against a record.
    public static func compare(trace: String, record: String, options: RecordComparison.Options = .init()) throws -> CompareReport {
        try compare(trace, record, options: options)
    }

    /// A record at `path`, or a trace imported into a record in `scratch`.
    static func open(_ path: String, scratch: String, tag: String) throws -> RecordReader {
        // Either kind may be meant: a missing file is bad input (exit 2), as `import` says.
        guard FileManager.default.fileExists(atPath: path) else {
            throw InputError("\(path): no such file; compare takes records (.cwr, from `cwrepro record` or `import`) and traces (.trace, .trace.gz)")
        }
        guard isTrace(path) else { return try RecordReader(path: path) }
        let out = (scratch as NSString).appendingPathComponent("\(tag).cwr")
        _ = try TraceImport.write(TraceReader.read(path: path), to: out, overwrite: false)
        return try RecordReader(path: out)
    }

    /// The report names the inputs as given, not the temporary records.
    static func relabel(_ r: CompareReport, a: String, b: String) -> CompareReport {
        var r = r
        r.a.path = a
        r.b.path = b
        return r
    }

    /// Runs `body` with a fresh temporary directory, removed afterwards.
    static func withScratch<T>(_ body: (String) throws -> T) throws -> T {
        let dir = (NSTemporaryDirectory() as NSString).appendingPathComponent("cwrepro-compare-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return try body(dir)
    }
}
