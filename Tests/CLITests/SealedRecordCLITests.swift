import Foundation
import GRDB
import XCTest

/// Sealed, single-file records through the binary: tampering exits 3, a forced re-record killed
/// with SIGKILL leaves the old record intact and the new one resumable, `--force` never replaces
/// an input or a device, and a finished record replays from a read-only mount.
final class SealedRecordCLITests: CLITestCase {
    static let small = """
        {"name": "sealed", "seed": 3, "data": {"dataset": "digits", "batchSize": 32},
         "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]},
         "training": {"maxSteps": 20}, "record": {"checkpointEvery": 5}}
        """

    func record(_ name: String) throws -> String {
        let cfg = try write("small.json", Self.small)
        let r = try CLI.run(["record", cfg, "-o", path(name)])
        XCTAssertEqual(r.status, 0, r.stderr)
        return path(name)
    }

    func edit(_ p: String, _ sql: String) throws {
        let db = try DatabaseQueue(path: p)
        try db.writeWithoutTransaction { try $0.execute(sql: sql) }
        try db.close()
    }

    func testTamperedRecordsExitThreeInEveryReadingCommand() throws {
        let cases = [
            ("trailing steps deleted", "DELETE FROM steps WHERE step >= 15; DELETE FROM tensors WHERE step >= 15; DELETE FROM evaluations WHERE step >= 15; DELETE FROM checkpoints WHERE step >= 15",
             "its seal does not match its rows"),
            ("a middle step deleted", "DELETE FROM steps WHERE step = 7; DELETE FROM tensors WHERE step = 7", "step 7 is missing"),
            ("the seal deleted", "DELETE FROM meta WHERE key = 'seal'", "has no seal"),
            ("a trigger added", "CREATE TRIGGER t AFTER INSERT ON meta BEGIN SELECT 1; END", "added trigger t"),
        ]
        for (i, (name, sql, message)) in cases.enumerated() {
            let p = try record("t\(i).cwr")
            try edit(p, sql)
            for command in [["show", p], ["replay", p], ["hashes", p, "-o", path("t\(i).hashes")]] {
                let r = try CLI.run(command)
                XCTAssertEqual(r.status, 3, "\(name), \(command[0]): \(r.stdout) \(r.stderr)")
                XCTAssertTrue(r.stderr.contains(message) && r.stderr.contains("has been tampered with"), "\(name), \(command[0]): \(r.stderr)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("t\(i).hashes")), "no golden from a tampered record")
        }
    }

    /// A FIFO given as a record: exit 3 at once (it used to hang every reader).
    func testAFIFOIsRefused() throws {
        XCTAssertEqual(mkfifo(path("pipe.cwr"), 0o644), 0)
        let p = try CLI.start(["show", path("pipe.cwr")])
        let deadline = Date().addingTimeInterval(20)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit(); return XCTFail("show hung on a FIFO") }
        XCTAssertEqual(p.terminationStatus, 3)
    }

    func testForceNeverReplacesAnInputOrADevice() throws {
        let cfg = try write("small.json", Self.small)
        let input = try CLI.run(["record", cfg, "-o", cfg, "--force"])
        XCTAssertEqual(input.status, 2, input.stderr)
        XCTAssertTrue(input.stderr.contains("is an input of this command"), input.stderr)
        XCTAssertEqual(try String(contentsOfFile: cfg, encoding: .utf8), Self.small)
        let device = try CLI.run(["record", cfg, "-o", "/dev/null", "--force"])
        XCTAssertEqual(device.status, 2, device.stderr)
        XCTAssertTrue(device.stderr.contains("/dev/null is a device"), device.stderr)
        var st = stat()
        XCTAssertEqual(stat("/dev/null", &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFCHR, "/dev/null is still a device")
    }

    /// `record -o run.cwr --force` over an existing record, killed with SIGKILL while it writes:
    /// the old record is byte for byte intact, and the new one is resumable at run.cwr.partial.
    func testAForcedRecordKilledMidWriteLeavesTheOldRecordIntact() throws {
        let target = try record("run.cwr")
        let old = try Data(contentsOf: URL(fileURLWithPath: target))
        let cfg = try write("resume.json", ResumeCLITests.config)
        let partial = target + ".partial"
        let p = try CLI.start(["record", cfg, "-o", target, "--force"])
        let deadline = Date().addingTimeInterval(120)
        var committed = 0
        while p.isRunning, committed < 200, Date() < deadline {
            usleep(5_000)
            committed = committedSteps(partial) ?? committed
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .uncaughtSignal, "the run was killed mid-write (it had \(committed) steps)")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: target)), old, "the old record is intact")
        XCTAssertEqual(try CLI.run(["replay", target]).status, 0)
        let resumed = try CLI.run(["record", "--resume", partial])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let show = try CLI.run(["show", partial])
        XCTAssertTrue(show.stdout.hasPrefix("record   \(partial) (complete; schema 2)"), show.stdout + show.stderr)
    }

    func committedSteps(_ path: String) -> Int? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(0.25)
        guard let db = try? DatabaseQueue(path: path, configuration: config) else { return nil }
        defer { try? db.close() }
        return try? db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM steps WHERE step >= 0") }
    }

    /// A finished record is one file and replays from a read-only bind mount, which even root
    /// cannot write (permission bits would not stop root, who runs CI). Without the privilege to
    /// mount (an unprivileged user), a directory without write permission is read-only enough.
    func testAFinishedRecordReplaysFromAReadOnlyMount() throws {
        let ro = dir.appendingPathComponent("ro")
        try FileManager.default.createDirectory(at: ro, withIntermediateDirectories: true)
        let cfg = try write("small.json", Self.small)
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", ro.appendingPathComponent("run.cwr").path]).status, 0)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: ro.path), ["run.cwr"], "one file, no -wal or -shm")
        let record = ro.appendingPathComponent("run.cwr").path
        let script = """
            mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" || exit 77
            if touch "$1/probe" 2>/dev/null; then exit 78; fi
            "$2" replay "$1/run.cwr" || exit $?
            "$2" show "$1/run.cwr" >/dev/null || exit $?
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        p.arguments = ["-m", "sh", "-c", script, "sh", ro.path, CLI.binary.path]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let canUnshare = FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")
        if canUnshare { try p.run() }
        let o = canUnshare ? String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) : ""
        let e = canUnshare ? String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) : ""
        if canUnshare { p.waitUntilExit() }
        if !canUnshare || p.terminationStatus == 77 || (p.terminationReason == .exit && p.terminationStatus == 1 && e.contains("unshare")) {
            guard getuid() != 0 else { throw XCTSkip("cannot mount read-only here (no unshare or no privilege: \(e)), and root ignores permission bits") }
            chmod(ro.path, 0o555)
            defer { chmod(ro.path, 0o755) }
            let r = try CLI.run(["replay", record])
            XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
            return
        }
        XCTAssertNotEqual(p.terminationStatus, 78, "the mount was writable")
        XCTAssertEqual(p.terminationStatus, 0, o + e)
        XCTAssertTrue(o.contains("bit-identical: 20 steps"), o + e)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: ro.path), ["run.cwr"])
    }
}
