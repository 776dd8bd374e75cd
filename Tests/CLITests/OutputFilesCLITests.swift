import Foundation
import XCTest

/// Every file a command writes (`hashes -o`, `train --export`, `record --export`, `verify
/// --junit`) goes through a temporary file renamed into place: an existing file is replaced only
/// with --force, and then only a regular file that is none of the command's inputs (never the
/// record or config, a device, a directory); a SIGKILL while the file is written leaves the old
/// one intact.
final class OutputFilesCLITests: CLITestCase {
    override class func tearDown() { BadInputCLITests.tearDown() }

    func testHashesOutputIsNeverClobbered() throws {
        let cfg = try write("good.json", BadInputCLITests.good)
        let rec = path("g.cwr")
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", rec]).status, 0)
        let golden = try write("steps.hashes", "committed golden\n")
        try checkRow("hashes -o over an existing file", ["hashes", rec, "-o", golden], exit: 2,
                     message: "steps.hashes already exists; choose another output with -o, or pass --force to replace it")
        XCTAssertEqual(try String(contentsOfFile: golden, encoding: .utf8), "committed golden\n")
        let forced = try CLI.run(["hashes", rec, "-o", golden, "--force"])
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertTrue(try String(contentsOfFile: golden, encoding: .utf8).hasPrefix("# cwrepro step hashes"))

        let before = try Data(contentsOf: URL(fileURLWithPath: rec))
        try checkRow("hashes -o naming its own record (--force)", ["hashes", rec, "-o", rec, "--force"], exit: 2,
                     message: "-o g.cwr: g.cwr is an input of this command; it is never overwritten")
        try FileManager.default.createSymbolicLink(atPath: path("alias.cwr"), withDestinationPath: rec)
        XCTAssertEqual(try CLI.run(["hashes", rec, "-o", path("alias.cwr"), "--force"]).status, 2, "another name for the input")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: rec)), before, "the record is untouched")
        try checkRow("hashes -o /dev/null --force", ["hashes", rec, "-o", "/dev/null", "--force"], exit: 2,
                     message: "-o /dev/null: /dev/null is a device; only a regular file is ever replaced")
        var st = stat()
        XCTAssertEqual(stat("/dev/null", &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFCHR, "/dev/null is still a device")
        try checkRow("hashes -o into a missing directory", ["hashes", rec, "-o", path("nowhere/steps.hashes")], exit: 2,
                     message: "-o nowhere/steps.hashes: the directory nowhere does not exist; create it first")
    }

    /// `record -o X --force` says it records into X.partial only when X is a record it will
    /// replace: a directory or a FIFO is refused with no such note before the refusal.
    func testRecordForceNotesAReplacementOnlyForAFileItReplaces() throws {
        let cfg = try write("good.json", BadInputCLITests.good)
        try FileManager.default.createDirectory(atPath: path("d"), withIntermediateDirectories: false)
        XCTAssertEqual(mkfifo(path("fifo"), 0o600), 0)
        for (target, message) in [("d", "d is a directory; give the record a file name"), ("fifo", "fifo is a FIFO; only a regular file is ever replaced")] {
            let r = try CLI.run(["record", cfg, "-o", path(target), "--force"])
            XCTAssertEqual(r.status, 2, r.stderr)
            XCTAssertTrue(r.stderr.contains(message), r.stderr)
            XCTAssertFalse(r.stderr.contains("note: recording into"), r.stderr)
        }
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("r.cwr")]).status, 0)
        let replaced = try CLI.run(["record", cfg, "-o", path("r.cwr"), "--force"])
        XCTAssertEqual(replaced.status, 0, replaced.stderr)
        XCTAssertTrue(replaced.stderr.contains("note: recording into \(path("r.cwr")).partial"), replaced.stderr)
    }

    /// `explain --record` follows the same rule, checked before any of explain's training runs.
    func testExplainRecordIsNeverClobbered() throws {
        let cfg = try write("good.json", BadInputCLITests.good)
        let existing = try write("a.cwr", "an earlier record")
        try checkRow("explain --record over an existing file", ["explain", cfg, "--profiles", "pytorch,keras", "--seeds", "2", "--record", existing], exit: 2,
                     message: "a.cwr already exists; choose another output with --record, or pass --force to replace it")
        XCTAssertEqual(try String(contentsOfFile: existing, encoding: .utf8), "an earlier record")
        try checkRow("explain --record naming its config (--force)", ["explain", cfg, "--profiles", "pytorch,keras", "--seeds", "2", "--record", cfg, "--force"], exit: 2,
                     message: "--record good.json: good.json is an input of this command; it is never overwritten")
        XCTAssertEqual(try String(contentsOfFile: cfg, encoding: .utf8), BadInputCLITests.good)
        try checkRow("explain --force without --record", ["explain", cfg, "--profiles", "pytorch,keras", "--force"], exit: 2,
                     message: "--force replaces the --record file; give --record FILE too")
    }

    func testExportsAreCheckedBeforeTrainingAndNeverClobbered() throws {
        let cfg = try write("good.json", BadInputCLITests.good)
        let weights = try write("w.safetensors", "old weights")
        try checkRow("train --export over an existing file", ["train", cfg, "--export", weights], exit: 2,
                     message: "w.safetensors already exists; choose another output with --export, or pass --force to replace it")
        XCTAssertEqual(try String(contentsOfFile: weights, encoding: .utf8), "old weights")
        XCTAssertEqual(try CLI.run(["train", cfg, "--export", weights, "--force"]).status, 0)
        XCTAssertNotEqual(try Data(contentsOf: URL(fileURLWithPath: weights)), Data("old weights".utf8))

        try checkRow("train --export naming the config (--force)", ["train", cfg, "--export", cfg, "--force"], exit: 2,
                     message: "--export good.json: good.json is an input of this command; it is never overwritten")
        XCTAssertEqual(try String(contentsOfFile: cfg, encoding: .utf8), BadInputCLITests.good)
        try checkRow("record --export naming the record", ["record", cfg, "-o", path("r.cwr"), "--export", path("r.cwr")], exit: 2,
                     message: "--export r.cwr: r.cwr is an input of this command; it is never overwritten")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("r.cwr")), "refused before anything was recorded")
        let rec = try CLI.run(["record", cfg, "-o", path("r.cwr"), "--export", weights])
        XCTAssertEqual(rec.status, 2, "the export exists: refused before training")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("r.cwr")))
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("r.cwr"), "--export", weights, "--force"]).status, 0)
        try checkRow("train --export /dev/null --force", ["train", cfg, "--export", "/dev/null", "--force"], exit: 2,
                     message: "--export /dev/null: /dev/null is a device")
    }

    func testJUnitReportIsNeverClobbered() throws {
        let cfg = try write("good.json", BadInputCLITests.good)
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("g.cwr")]).status, 0)
        XCTAssertEqual(try CLI.run(["hashes", path("g.cwr"), "-o", path("g.hashes")]).status, 0)
        let junit = try write("verify.xml", "<old/>")
        try checkRow("verify --junit over an existing file", ["verify", cfg, "--golden", path("g.hashes"), "--junit", junit], exit: 2,
                     message: "verify.xml already exists; choose another output with --junit, or pass --force to replace it")
        XCTAssertEqual(try String(contentsOfFile: junit, encoding: .utf8), "<old/>")
        XCTAssertEqual(try CLI.run(["verify", cfg, "--golden", path("g.hashes"), "--junit", junit, "--force"]).status, 0)
        XCTAssertTrue(try String(contentsOfFile: junit, encoding: .utf8).contains("<testsuites"))
        try checkRow("verify --junit naming the golden (--force)", ["verify", cfg, "--golden", path("g.hashes"), "--junit", path("g.hashes"), "--force"],
                     exit: 2, message: "--junit g.hashes: g.hashes is an input of this command; it is never overwritten")
        XCTAssertTrue(try String(contentsOfFile: path("g.hashes"), encoding: .utf8).hasPrefix("# cwrepro step hashes"))
    }

    /// `train --export w.safetensors --force` over an existing file, killed with SIGKILL while
    /// the new weights (30 MB) are being written: the old file is intact, byte for byte. The kill
    /// is aimed at the moment the temporary file exists; an attempt whose kill lands before or
    /// after it is repeated (at most 6 times), and each attempt checks the file is the old or the
    /// whole new one, never a cut one.
    func testAKillWhileTheExportIsWrittenLeavesTheOldFileIntact() throws {
        let cfg = try write("wide.json", """
            {"name": "wide", "seed": 1, "data": {"dataset": "digits", "batchSize": 8},
             "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 120000}, {"type": "dense", "units": 10}]},
             "training": {"maxSteps": 1}, "determinism": {"threads": 1}}
            """)
        let weights = path("w.safetensors")
        XCTAssertEqual(try CLI.run(["train", cfg, "--export", weights]).status, 0)
        let new = try Data(contentsOf: URL(fileURLWithPath: weights))
        XCTAssertGreaterThan(new.count, 30_000_000)
        let old = Data(repeating: 0x42, count: 1000)
        var landed = 0
        for _ in 0..<6 where landed == 0 {
            try old.write(to: URL(fileURLWithPath: weights))
            let p = try CLI.start(["train", cfg, "--export", weights, "--force"])
            let temporary = dir.appendingPathComponent(".w.safetensors.tmp-\(p.processIdentifier)").path
            var st = stat()
            while p.isRunning {
                if stat(temporary, &st) == 0 && st.st_size > 0 {
                    kill(p.processIdentifier, SIGKILL)
                    break
                }
                usleep(200)
            }
            p.waitUntilExit()
            let after = try Data(contentsOf: URL(fileURLWithPath: weights))
            XCTAssertTrue(after == old || after == new, "the file is the old or the whole new one, never cut (\(after.count) bytes)")
            if p.terminationReason == .uncaughtSignal && after == old { landed += 1 }
            try? FileManager.default.removeItem(atPath: temporary)
        }
        XCTAssertEqual(landed, 1, "a kill landed while the new file was being written, and the old file survived it")
    }
}
