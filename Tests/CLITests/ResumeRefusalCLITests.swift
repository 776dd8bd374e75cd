import Foundation
import GRDB
import XCTest

/// `record --resume` continues a record only where the rest of the run would be bit-identical:
/// it refuses changed data (naming the files), an OpenBLAS core it cannot load (exit 4), an edited
/// checkpoint (exit 3); it re-executes on the recorded core like replay and finds moved data with
/// --data-dir. A write failure while recording (here a file-size limit) exits 2 naming the file,
/// and --resume finishes the record bit-identical to an uninterrupted one; a record whose header
/// cannot be written at all is removed again (exit 2, nothing recorded, nothing left behind).
final class ResumeRefusalCLITests: CLITestCase {
    override class func tearDown() { BadInputCLITests.tearDown() }

    /// 40 IDX samples of 4x4 (32 for training, 4 steps an epoch), 6,000 steps, a checkpoint every 20.
    func writeData(in directory: URL, pixelSeed: Int = 0) throws {
        let be32 = DataFingerprintCLITests.be32
        let n = 40, side = 4
        let pixels = (0..<(n * side * side)).map { UInt8(($0 * 37 + pixelSeed) % 256) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data([0, 0, 8, 3] + be32(n) + be32(side) + be32(side) + pixels).write(to: directory.appendingPathComponent("img.idx"))
        try Data([0, 0, 8, 1] + be32(n) + (0..<n).map { UInt8($0 % 3) }).write(to: directory.appendingPathComponent("lab.idx"))
    }

    static let idxConfig = """
        {"name": "idx", "seed": 1, "data": {"source": {"format": "idx", "images": "data/img.idx", "labels": "data/lab.idx", "trainCount": 32}, "batchSize": 8},
         "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]}, "training": {"epochs": 1500},
         "record": {"checkpointEvery": 20}}
        """

    func killedRecord(_ name: String, env: [String: String] = [:]) throws -> (config: String, record: String) {
        try writeData(in: dir.appendingPathComponent("data"))
        let cfg = try write("idx.json", Self.idxConfig)
        let rec = path(name)
        try recordAndKill(cfg, into: rec, after: 100, env: env)
        return (cfg, rec)
    }

    func testChangedDataIsRefusedNamingTheFilesAndMovedDataIsFoundWithDataDir() throws {
        let (cfg, rec) = try killedRecord("killed.cwr")
        let committed = try XCTUnwrap(Self.committedSteps(rec))
        try writeData(in: dir.appendingPathComponent("data"), pixelSeed: 1)
        let r = try checkRow("`--resume` after a data file changed", ["record", "--resume", rec], exit: 2,
                             message: "cannot resume killed.cwr: the data differ from the recorded run's (data.train: 32 x [1, 4, 4]: ")
        XCTAssertTrue(r.stderr.contains("the data files: \(path("data/img.idx")) (data.source.images), \(path("data/lab.idx")) (data.source.labels)"), r.stderr)
        XCTAssertEqual(Self.committedSteps(rec), committed, "nothing discarded or written")

        // The original data, moved: found with --data-dir, checked by the fingerprints, finished.
        try FileManager.default.removeItem(at: dir.appendingPathComponent("data"))
        try writeData(in: dir.appendingPathComponent("moved/data"))
        let missing = try CLI.run(["record", "--resume", rec])
        XCTAssertEqual(missing.status, 2, missing.stderr)
        XCTAssertTrue(missing.stderr.contains("--data-dir OLD=NEW (replay, record --resume)"), missing.stderr)
        let moved = try CLI.run(["record", "--resume", rec, "--data-dir", path("moved")])
        XCTAssertEqual(moved.status, 0, moved.stderr)
        XCTAssertTrue(moved.stdout.contains("6000 in all"), moved.stdout)
        XCTAssertEqual(try CLI.run(["replay", rec, "--data-dir", path("moved")]).status, 0)
        _ = cfg
    }

    /// The recorded core is matched by a re-exec, as replay does; when OpenBLAS does not load it
    /// (here: the re-exec is suppressed), resuming is refused with exit 4, never continued on
    /// other kernels.
    func testResumeRunsOnTheRecordedCoreOrRefuses() throws {
        let (cfg, rec) = try killedRecord("haswell.cwr", env: ["OPENBLAS_CORETYPE": "Haswell"])
        let copy = path("copy.cwr")
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: rec + suffix) {
            try FileManager.default.copyItem(atPath: rec + suffix, toPath: copy + suffix)
        }
        let here = try CLI.run(["env", "--no-probe", "--json"])
        let core = ((try JSONSerialization.jsonObject(with: Data(here.stdout.utf8)) as? [String: Any])?["profile"] as? [String: String])?["blas.core"]
        if core != "Haswell" {
            try checkRow("`--resume` when OpenBLAS does not load the recorded core", ["record", "--resume", copy],
                         env: ["CWREPRO_REEXEC_FROM_CORE": core ?? "?"], exit: 4,
                         message: "cannot resume copy.cwr: it was recorded on OpenBLAS's Haswell kernels and OpenBLAS loaded \(core ?? "?") instead")
        }
        let resumed = try CLI.run(["record", "--resume", rec])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        if core != "Haswell" { XCTAssertTrue(resumed.stderr.contains("re-executed with OPENBLAS_CORETYPE=Haswell"), resumed.stderr) }
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("straight.cwr")], env: ["OPENBLAS_CORETYPE": "Haswell"]).status, 0)
        let diff = try CLI.run(["diff", path("straight.cwr"), rec])
        XCTAssertEqual(diff.status, 0, diff.stdout)
    }

    /// A record made on AVX-512 kernels, resumed on a CPU without them: exit 4 and a message,
    /// never SIGILL and never a record continued on other kernels.
    func testResumeOnACPUThatCannotRunTheRecordedKernelsIsRefused() throws {
        let flags = try CLI.run(["env", "--no-probe", "--json"]).stdout
        guard flags.contains("avx512f") else {
            throw XCTSkip("this CPU has no AVX-512, so it cannot make a SkylakeX record; OpenBLASCoreTests covers the decision with injected CPUs")
        }
        let (_, rec) = try killedRecord("sk.cwr", env: ["OPENBLAS_CORETYPE": "SkylakeX"])
        let committed = Self.committedSteps(rec)
        let r = try checkRow("`--resume` on a CPU that cannot run the recorded kernels", ["record", "--resume", rec],
                             env: ["CWREPRO_CPU_FLAGS": CPUPortabilityCLITests.avx2Flags], exit: 4,
                             message: "sk.cwr was made with OpenBLAS's SkylakeX kernels, which this CPU cannot run (this CPU lacks avx512f")
        XCTAssertTrue(r.stderr.contains("hint: a record is continued only on the kernels it was recorded with"), r.stderr)
        XCTAssertEqual(Self.committedSteps(rec), committed)
    }

    func testAnEditedCheckpointIsRefusedClearly() throws {
        let (_, rec) = try killedRecord("edited.cwr")
        let db = try DatabaseQueue(path: rec)
        try db.write { try $0.execute(sql: "UPDATE checkpoints SET step = step - 20") }
        try db.close()
        let r = try checkRow("`--resume` of a record whose checkpoint step was edited", ["record", "--resume", rec], exit: 3,
                             message: "has been tampered with")
        XCTAssertTrue(r.stderr.contains("checkpoint"), r.stderr)
        XCTAssertTrue(r.stderr.contains("hint: --resume extends only a record that verifies"), r.stderr)
    }

    /// A write failure while recording (a file-size limit: RLIMIT_FSIZE with SIGXFSZ ignored, as a
    /// full disk would fail a write) exits 2 naming the file and --resume; the record is left
    /// unsealed and resumes to the same record as an uninterrupted run.
    func testAWriteFailureExitsTwoNamesTheFileAndResumes() throws {
        try writeData(in: dir.appendingPathComponent("data"))
        let cfg = try write("idx.json", Self.idxConfig)
        let rec = path("full.cwr")
        // dash's ulimit -f counts 512-byte blocks, bash's 1024: 600 is 300 or 600 KB.
        let (status, stderr) = try Self.record(cfg, "-o", rec, fileSizeLimit: 600)
        XCTAssertEqual(status, 2, stderr)
        XCTAssertTrue(stderr.hasPrefix("error: cannot write the record \(rec): SQLite error"), stderr)
        XCTAssertTrue(stderr.contains("the steps committed so far are kept"), stderr)
        XCTAssertTrue(stderr.contains("then `cwrepro record --resume \(rec)` continues it"), stderr)
        tableRow("a write failure while recording (file-size limit; a full disk alike)", status: status, output: stderr,
                 message: "error: cannot write the record")
        let show = try CLI.run(["show", rec, "--json"])
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(show.stdout.contains("\"status\" : \"running\""), "unsealed, resumable")
        let resumed = try CLI.run(["record", "--resume", rec])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("straight.cwr")]).status, 0)
        XCTAssertEqual(try CLI.run(["diff", path("straight.cwr"), rec]).status, 0)
    }

    /// A record whose file is created but whose header cannot be written (a file-size limit of
    /// one block: SQLite's first page write fails, as on a full disk) exits 2 saying that nothing
    /// was recorded, and leaves no file behind: the next `record -o` to the same path works. When
    /// replacing a record (`--force`), the old one stays byte for byte and no `.partial` is left.
    func testARecordThatCannotBeCreatedLeavesNothingBehind() throws {
        try writeData(in: dir.appendingPathComponent("data"))
        let cfg = try write("idx.json", Self.idxConfig), short = ["--set", "training.epochs=2"]
        let rec = path("new.cwr")
        let (status, stderr) = try Self.record(cfg, "-o", rec, fileSizeLimit: 1)
        XCTAssertEqual(status, 2, stderr)
        XCTAssertTrue(stderr.hasPrefix("error: cannot create the record \(rec): SQLite error"), stderr)
        XCTAssertTrue(stderr.contains("nothing was recorded"), stderr)
        tableRow("a record whose header cannot be written (file-size limit; a full disk alike)", status: status, output: stderr,
                 message: "error: cannot create the record")
        for suffix in ["", "-wal", "-shm", "-journal"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: rec + suffix), "\(rec + suffix) left behind")
        }
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", rec] + short).status, 0, "the path is free for the next record")
        let old = try Data(contentsOf: URL(fileURLWithPath: rec))
        let (forced, forcedErr) = try Self.record([cfg, "-o", rec, "--force"] + short, fileSizeLimit: 1)
        XCTAssertEqual(forced, 2, forcedErr)
        XCTAssertTrue(forcedErr.contains("error: cannot create the record \(rec).partial: SQLite error"), forcedErr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: rec)), old, "the replaced record is untouched")
        XCTAssertFalse(FileManager.default.fileExists(atPath: rec + ".partial"), "no .partial left behind")
        XCTAssertEqual(try CLI.run(["replay", rec]).status, 0)
    }

    /// Diagnostics that cannot be written do not crash the command: with stderr a file under the
    /// same one-block limit, the note and the error of a failed creation overflow 512 bytes, and
    /// the command still exits 2 (before, `FileHandle.write` trapped: SIGILL).
    func testAStderrPastTheFileSizeLimitLosesTextNotTheExitStatus() throws {
        try writeData(in: dir.appendingPathComponent("data"))
        let cfg = try write("idx.json", Self.idxConfig), rec = path("old.cwr")
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", rec, "--set", "training.epochs=2"]).status, 0)
        let log = dir.appendingPathComponent("stderr.log")
        let (status, _) = try Self.record([cfg, "-o", rec, "--force"], fileSizeLimit: 1, stderrFile: log)
        XCTAssertEqual(status, 2)
        let written = String(decoding: try Data(contentsOf: log), as: UTF8.self)
        XCTAssertTrue(written.hasPrefix("note: recording into \(rec).partial"), written)
    }

    /// `cwrepro record <args>` under `ulimit -f <blocks>` with SIGXFSZ ignored (a write past the
    /// limit fails with EFBIG, as one on a full disk fails with ENOSPC); stderr goes to a pipe,
    /// which the limit does not cover, or to `stderrFile`, which it does. Returns the exit status
    /// (that of the signal's number plus 128 when the command died of one) and stderr.
    static func record(_ args: String..., fileSizeLimit blocks: Int) throws -> (Int32, String) {
        try record(args, fileSizeLimit: blocks)
    }

    static func record(_ args: [String], fileSizeLimit blocks: Int, stderrFile: URL? = nil) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "trap '' XFSZ; ulimit -f \(blocks); exec \"$0\" record \"$@\"", CLI.binary.path] + args
        var err: Pipe?
        if let stderrFile {
            FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
            p.standardError = try FileHandle(forWritingTo: stderrFile)
        } else {
            err = Pipe()
            p.standardError = err
        }
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let stderr = err.map { String(decoding: $0.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) } ?? ""
        p.waitUntilExit()
        return (p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus, stderr)
    }
}
