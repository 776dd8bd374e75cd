import Foundation
import GRDB
import XCTest

/// Runs the built `cwrepro` binary as a user would.
enum CLI {
    static var binary: URL {
        // The test bundle sits next to the products in .build/<config>/.
        var dir = Bundle(for: Marker.self).bundleURL.deletingLastPathComponent()
        if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("cwrepro").path) {
            dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        }
        return dir.appendingPathComponent("cwrepro")
    }

    static var repoRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    struct Result { let status: Int32; let stdout: String; let stderr: String }

    @discardableResult
    static func run(_ args: [String], cwd: URL? = nil, env: [String: String] = [:], executable: URL? = nil) throws -> Result {
        let p = Process()
        p.executableURL = executable ?? binary
        p.arguments = args
        if let cwd { p.currentDirectoryURL = cwd }
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// Starts the binary without waiting (environment `env` added to this one's).
    static func start(_ args: [String], cwd: URL? = nil, stderr: URL? = nil, env: [String: String] = [:]) throws -> Process {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        if let cwd { p.currentDirectoryURL = cwd }
        if !env.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(env) { _, new in new } }
        p.standardOutput = FileHandle.nullDevice
        if let stderr {
            _ = FileManager.default.createFile(atPath: stderr.path, contents: nil)
            p.standardError = try FileHandle(forWritingTo: stderr)
        } else {
            p.standardError = FileHandle.nullDevice
        }
        try p.run()
        return p
    }
}

final class Marker {}

class CLITestCase: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("cwrepro-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// Writes `text` to `name` in the test directory; returns its path.
    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let url = dir.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
}

extension CLITestCase {
    /// Runs `args` (environment `env` added), checks the exit code and that `message` appears on
    /// stderr or stdout, and adds a row to guideline 06's table of bad inputs and outcomes (the
    /// first line holding the message; written with BadInputCLITests' rows when
    /// CWREPRO_BAD_INPUT_TABLE is set).
    @discardableResult
    func checkRow(_ name: String, _ args: [String], env: [String: String] = [:], exit: Int32, message: String,
                  function: String = #function, file: StaticString = #filePath, line: UInt = #line) throws -> CLI.Result {
        let r = try CLI.run(args, env: env)
        XCTAssertEqual(r.status, exit, r.stdout + r.stderr, file: file, line: line)
        tableRow(name, status: r.status, output: r.stderr + "\n" + r.stdout, message: message, function: function, file: file, line: line)
        return r
    }

    /// Adds a row to guideline 06's table of bad inputs and outcomes for a run that ended with
    /// `status`: the first line of `output` holding `message`, which must be there (paths in the
    /// test directory are compared and tabled relative to it).
    func tableRow(_ name: String, status: Int32, output: String, message: String,
                  function: String = #function, file: StaticString = #filePath, line: UInt = #line) {
        let lines = output.split(separator: "\n").map { $0.replacingOccurrences(of: dir.path + "/", with: "") }
        let shown = lines.first { $0.contains(message) }
        XCTAssertNotNil(shown, "expected \"\(message)\" in: \(output)", file: file, line: line)
        BadInputCLITests.table.append((name, "\(type(of: self)).\(function.replacingOccurrences(of: "()", with: ""))", status, shown ?? ""))
    }

    /// Starts `record` of `config` into `record`, kills it (SIGKILL) once `steps` training steps
    /// are committed, and returns how many were (fails when the run ended first).
    @discardableResult
    func recordAndKill(_ config: String, into record: String, after steps: Int, env: [String: String] = [:],
                       file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        let p = try CLI.start(["record", config, "-o", record], env: env)
        let deadline = Date().addingTimeInterval(120)
        var seen = 0
        while p.isRunning, seen < steps, Date() < deadline {
            usleep(5_000)
            seen = Self.committedSteps(record) ?? seen
        }
        guard p.isRunning else {
            XCTFail("the run ended (status \(p.terminationStatus)) before it could be killed", file: file, line: line)
            return seen
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        return Self.committedSteps(record) ?? seen
    }

    /// Committed training steps of a record, read directly (cheap enough to poll); nil before its schema exists.
    static func committedSteps(_ path: String) -> Int? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(0.25)
        guard let db = try? DatabaseQueue(path: path, configuration: config) else { return nil }
        defer { try? db.close() }
        return try? db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM steps WHERE step >= 0") }
    }
}
