import XCTest

/// Bad usage exits 2 for every subcommand (ArgumentParser alone would exit 64), and help exits 0.
final class UsageCLITests: CLITestCase {
    func testUnknownOptionsAndMissingArgumentsExitTwo() throws {
        for args in [["record", "--bogus"], ["replay"], ["verify", "x.json"], ["diff", "a.cwr"], ["nosuchcommand"],
                     ["replay", "r.cwr", "--set"], ["diff", "a.cwr", "b.cwr", "--loss-tolerance", "nan"]] {
            let r = try CLI.run(args, cwd: dir)
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("Error:") || r.stderr.contains("error:"), "\(args): \(r.stderr)")
        }
    }

    func testHelpAndVersionExitZero() throws {
        for args in [["--help"], ["replay", "--help"], ["help", "explain"], ["--version"]] {
            let r = try CLI.run(args, cwd: dir)
            XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)")
            XCTAssertFalse(r.stdout.isEmpty, "\(args)")
        }
    }

    /// Defaults in help are the documented ones, not this machine's values printed a second time.
    func testVarianceHelpStatesTheJobsDefaultOnce() throws {
        let r = try CLI.run(["variance", "--help"], cwd: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let text = r.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        let jobs = try XCTUnwrap(text.components(separatedBy: "--jobs <jobs> Runs at a time").last?.components(separatedBy: "--json").first)
        XCTAssertTrue(jobs.contains("(default: the number of cores)"), jobs)
        XCTAssertEqual(jobs.components(separatedBy: "(default:").count, 2, jobs)
    }
}
