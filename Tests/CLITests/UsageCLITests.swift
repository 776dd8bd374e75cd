import XCTest

/// Bad usage exits 2 for every subcommand (ArgumentParser alone would exit 64), and help exits 0.
final class UsageCLITests: CLITestCase {
    func testUnknownOptionsAndMissingArgumentsExitTwo() throws {
        for args in [["record", "--bogus"], ["replay"], ["verify", "x.json"], ["diff", "a.cwr"], ["nosuchcommand"],
                     ["replay", "r.cwr", "--set"]] {
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
}
