import Foundation
import XCTest

/// The HTML pages (`report -o`, its default `<record>.html`, `models compare --html`) follow the
/// rule of every other output (`OutputFilesCLITests`): an existing path is refused unless
/// --force, and --force replaces only a regular file that is none of the inputs: never a
/// directory, a FIFO, a device or a symbolic link. Each case is checked without and with --force,
/// and afterwards the thing at the path is what it was (a FIFO is never opened: a refused FIFO
/// cannot hang the command). Devices are made with mknod inside the test's directory (root only),
/// never a real one.
final class OutputPolicyCLITests: CLITestCase {
    override class func tearDown() { BadInputCLITests.tearDown() }

    /// A finished record of BadInputCLITests' small config at `name`.
    func record(_ name: String) throws -> String {
        let cfg = try write("good.json", BadInputCLITests.good)
        let r = try CLI.run(["record", cfg, "-o", path(name)])
        XCTAssertEqual(r.status, 0, r.stderr)
        return path(name)
    }

    /// What is at `path` (not following a symbolic link): its file type bits, or nil.
    func kind(_ path: String) -> mode_t? {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & S_IFMT : nil
    }

    /// The test directory holds no temporary file of an output (`.<name>.tmp-<pid>`).
    func assertNoTemporaryFiles(file: StaticString = #filePath, line: UInt = #line) throws {
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp-") }
        XCTAssertEqual(left, [], "temporary files left behind", file: file, line: line)
    }

    /// `args` exits 2 with `message` with --force, and with "already exists" without it (a
    /// directory: `message` both times), and `path` is still of `kind` afterwards.
    func assertRefusedEvenWithForce(_ args: [String], path target: String, kind expected: mode_t, message: String,
                                    file: StaticString = #filePath, line: UInt = #line) throws {
        for force in [false, true] {
            let r = try CLI.run(args + (force ? ["--force"] : []))
            XCTAssertEqual(r.status, 2, "\(args) force \(force): " + r.stdout + r.stderr, file: file, line: line)
            let wanted = force || expected == S_IFDIR ? message : "already exists; choose another output with"
            let said = r.stderr.replacingOccurrences(of: dir.path + "/", with: "")
            XCTAssertTrue(said.contains(wanted), "force \(force): expected \"\(wanted)\" in: \(said)", file: file, line: line)
            XCTAssertEqual(kind(target), expected, "\(target) is what it was", file: file, line: line)
        }
    }

    func testReportRefusesAnExistingPageUnlessForced() throws {
        let rec = try record("g.cwr")
        let first = try CLI.run(["report", rec])
        XCTAssertEqual(first.status, 0, first.stderr)
        let page = path("g.html")
        try Data("an earlier page".utf8).write(to: URL(fileURLWithPath: page))
        try checkRow("report over its default page g.html", ["report", rec], exit: 2,
                     message: "g.html already exists; choose another output with -o, or pass --force to replace it")
        XCTAssertEqual(try String(contentsOfFile: page, encoding: .utf8), "an earlier page")
        let forced = try CLI.run(["report", rec, "--force"])
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertTrue(try String(contentsOfFile: page, encoding: .utf8).contains("<html"))

        let other = try write("other.html", "keep me")
        try checkRow("report -o over an existing file", ["report", rec, "-o", other], exit: 2,
                     message: "other.html already exists; choose another output with -o, or pass --force to replace it")
        XCTAssertEqual(try String(contentsOfFile: other, encoding: .utf8), "keep me")
        XCTAssertEqual(try CLI.run(["report", rec, "-o", other, "--force"]).status, 0)
        XCTAssertTrue(try String(contentsOfFile: other, encoding: .utf8).contains("<html"))

        // Two records: the default compare.html is in the working directory.
        try Data("old comparison".utf8).write(to: dir.appendingPathComponent("compare.html"))
        let pair = try CLI.run(["report", rec, rec], cwd: dir)
        XCTAssertEqual(pair.status, 2, pair.stderr)
        XCTAssertTrue(pair.stderr.contains("compare.html already exists; choose another output with -o, or pass --force"), pair.stderr)
        XCTAssertEqual(try String(contentsOfFile: path("compare.html"), encoding: .utf8), "old comparison")
        try assertNoTemporaryFiles()
    }

    func testReportNeverReplacesADirectoryFIFOLinkOrInput() throws {
        let rec = try record("g.cwr")
        try FileManager.default.createDirectory(atPath: path("d"), withIntermediateDirectories: false)
        try checkRow("report -o a directory", ["report", rec, "-o", path("d")], exit: 2,
                     message: "-o d: is a directory; give a file name, e.g. d/g.html")
        try assertRefusedEvenWithForce(["report", rec, "-o", path("d")], path: path("d"), kind: S_IFDIR,
                                       message: "-o d: is a directory; give a file name, e.g. d/g.html")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("d")), [], "nothing written into it")

        XCTAssertEqual(mkfifo(path("p.html"), 0o644), 0)
        try checkRow("report -o a FIFO (--force)", ["report", rec, "-o", path("p.html"), "--force"], exit: 2,
                     message: "-o p.html: p.html is a FIFO; only a regular file is ever replaced")
        try assertRefusedEvenWithForce(["report", rec, "-o", path("p.html")], path: path("p.html"), kind: S_IFIFO,
                                       message: "-o p.html: p.html is a FIFO; only a regular file is ever replaced")

        let target = try write("target.html", "the link's target")
        try FileManager.default.createSymbolicLink(atPath: path("link.html"), withDestinationPath: target)
        try assertRefusedEvenWithForce(["report", rec, "-o", path("link.html")], path: path("link.html"), kind: S_IFLNK,
                                       message: "-o link.html: link.html is a symbolic link; only a regular file is ever replaced")
        XCTAssertEqual(try String(contentsOfFile: target, encoding: .utf8), "the link's target")

        let before = try Data(contentsOf: URL(fileURLWithPath: rec))
        try checkRow("report -o naming its record (--force)", ["report", rec, "-o", rec, "--force"], exit: 2,
                     message: "-o g.cwr: g.cwr is an input of this command; it is never overwritten")
        try FileManager.default.createSymbolicLink(atPath: path("alias.cwr"), withDestinationPath: rec)
        let alias = try CLI.run(["report", rec, "-o", path("alias.cwr"), "--force"])
        XCTAssertEqual(alias.status, 2, alias.stderr)
        XCTAssertTrue(alias.stderr.contains("is the same file as the input"), alias.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: rec)), before, "the record is untouched")
        try checkRow("report -o into a missing directory", ["report", rec, "-o", path("nowhere/r.html")], exit: 2,
                     message: "-o nowhere/r.html: the directory nowhere does not exist; create it first")
        try assertNoTemporaryFiles()
    }

    /// A character device made with mknod in the test directory (the numbers of /dev/null, so
    /// even a wrong write could do no harm) is refused with and without --force and stays a device.
    func testReportNeverReplacesADevice() throws {
        let rec = try record("g.cwr")
        let device = path("dev.html")
        try XCTSkipUnless(mknod(device, S_IFCHR | 0o600, dev_t((1 << 8) | 3)) == 0, "mknod needs root")
        try checkRow("report -o a device (--force)", ["report", rec, "-o", device, "--force"], exit: 2,
                     message: "-o dev.html: dev.html is a device; only a regular file is ever replaced")
        try assertRefusedEvenWithForce(["report", rec, "-o", device], path: device, kind: S_IFCHR,
                                       message: "-o dev.html: dev.html is a device; only a regular file is ever replaced")
        try assertNoTemporaryFiles()
    }

    /// `models compare --html` checks its page before the models are loaded or timed.
    func testModelsCompareHTMLFollowsTheSameRule() throws {
        let cfg = try write("good.json", BadInputCLITests.good)
        XCTAssertEqual(try CLI.run(["train", cfg, "--export", path("w.safetensors")]).status, 0)
        let model = cfg + ":" + path("w.safetensors")
        let compare = ["models", "compare", model, model, "--timed", "2", "--warmup", "0", "--samples", "4"]
        let page = try write("m.html", "an earlier page")
        try checkRow("models compare --html over an existing file", compare + ["--html", page], exit: 2,
                     message: "m.html already exists; choose another output with --html, or pass --force to replace it")
        XCTAssertEqual(try String(contentsOfFile: page, encoding: .utf8), "an earlier page")
        let forced = try CLI.run(compare + ["--html", page, "--force"])
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertTrue(try String(contentsOfFile: page, encoding: .utf8).contains("<html"))

        try checkRow("models compare --html naming the weights (--force)", compare + ["--html", path("w.safetensors"), "--force"], exit: 2,
                     message: "--html w.safetensors: w.safetensors is an input of this command; it is never overwritten")
        try FileManager.default.createDirectory(atPath: path("d"), withIntermediateDirectories: false)
        try assertRefusedEvenWithForce(compare + ["--html", path("d")], path: path("d"), kind: S_IFDIR,
                                       message: "--html d: is a directory; give a file name, e.g. d/comparison.html")
        XCTAssertEqual(mkfifo(path("p.html"), 0o644), 0)
        try assertRefusedEvenWithForce(compare + ["--html", path("p.html")], path: path("p.html"), kind: S_IFIFO,
                                       message: "--html p.html: p.html is a FIFO; only a regular file is ever replaced")
        if mknod(path("dev.html"), S_IFCHR | 0o600, dev_t((1 << 8) | 3)) == 0 {
            try assertRefusedEvenWithForce(compare + ["--html", path("dev.html")], path: path("dev.html"), kind: S_IFCHR,
                                           message: "--html dev.html: dev.html is a device; only a regular file is ever replaced")
        }
        let usage = try CLI.run(compare + ["--force"])
        XCTAssertEqual(usage.status, 2, usage.stderr)
        XCTAssertTrue(usage.stderr.contains("--force replaces the --html file; give --html FILE too"), usage.stderr)
        try assertNoTemporaryFiles()
    }
}

/// A sweep plans at most `SweepSpec.maxTrials` (1,000,000) trials, the limit of a random search's
/// `trials`: a larger grid is refused from its sizes alone, before a point is made (a 10^6-point
/// grid with 1,000 seeds used to print nothing for 40 s while its memory grew).
final class SweepLimitCLITests: CLITestCase {
    override class func tearDown() { BadInputCLITests.tearDown() }

    /// A sweep file over `keys`, each a domain of `count` values (`kind`: grid or choice).
    func sweep(_ keys: [String], values count: Int, kind: String = "grid", extra: String = "") throws -> String {
        let cfg = try write("good.json", BadInputCLITests.good)
        let values = (1...count).map(String.init).joined(separator: ", ")
        let space = keys.map { "\"\($0)\": {\"\(kind)\": [\(values)]}" }.joined(separator: ", ")
        return try write("huge.json", "{\"base\": \"\(cfg)\", \"space\": {\(space)}\(extra)}")
    }

    func testAGridOfATrillionTrialsIsRefusedAtOnce() throws {
        let keys = ["data.batchSize", "model.layers.1.units", "optimizer.lr", "optimizer.momentum", "schedule.gamma", "training.maxSteps"]
        let file = try sweep(keys, values: 100)
        let start = Date()
        try checkRow("sweep: a grid of 10^12 trials", ["sweep", file, "-o", path("study")], exit: 2,
                     message: "space: the grid makes 1,000,000,000,000 trials (100 x 100 x 100 x 100 x 100 x 100 values of "
                        + keys.joined(separator: ", ") + " x 1 seed x 1 side), over the limit of 1,000,000; sweep fewer keys or values "
                        + "(data.batchSize has 100), give fewer seeds, or draw points at random")
        XCTAssertLessThan(Date().timeIntervalSince(start), 2, "refused before anything is planned")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("study")), "no study directory")
    }

    func testACountPastIntIsRefusedWithoutOverflowing() throws {
        let keys = (1...10).map { "model.layers.\($0).units" }
        let r = try CLI.run(["sweep", try sweep(keys, values: 100, extra: ", \"seeds\": 10000"), "-o", path("study")])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("space: the grid makes more than 9,223,372,036,854,775,807 trials ("), r.stderr)
        XCTAssertTrue(r.stderr.contains("x 10,000 seeds x 1 side), over the limit of 1,000,000"), r.stderr)
    }

    /// A random search multiplies every draw by the grid keys' values: the same limit.
    func testARandomSearchTimesItsGridIsCountedToo() throws {
        let file = try sweep(["optimizer.lr"], values: 2000, extra: ", \"search\": {\"type\": \"random\", \"trials\": 1000, \"seed\": 1}")
        try checkRow("sweep: a random search of 1,000 draws x a 2,000-value grid", ["sweep", file, "-o", path("study")], exit: 2,
                     message: "search: the random search makes up to 2,000,000 trials (1,000 draws x 2,000 values of optimizer.lr x 1 seed x 1 side), over the limit of 1,000,000")
    }
}
