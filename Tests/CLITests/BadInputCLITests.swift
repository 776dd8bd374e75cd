import Foundation
import XCTest

/// Bad input: a clear message naming what and where, the documented exit code, nothing written over.
final class BadInputCLITests: CLITestCase {
    static let good = """
        {"seed": 1, "data": {"dataset": "digits"}, "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]},
         "training": {"maxSteps": 3}}
        """

    func expect(_ config: String, exit: Int32, message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let cfg = try write("bad.json", config)
        let r = try CLI.run(["record", cfg, "-o", path("bad.cwr")])
        XCTAssertEqual(r.status, exit, r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(message), "expected \"\(message)\" in: \(r.stderr)", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("bad.cwr")), "no record is created for bad input", file: file, line: line)
    }

    func testMalformedJSON() throws {
        try expect("{\"seed\": 1,, }", exit: 2, message: "is not valid JSON")
    }

    func testUnknownKeyNamesThePathAndSuggests() throws {
        try expect(Self.good.replacingOccurrences(of: "\"maxSteps\"", with: "\"maxStep\""), exit: 2,
                   message: "training.maxStep: unknown key (did you mean \"maxSteps\"?)")
    }

    func testWrongType() throws {
        try expect(Self.good.replacingOccurrences(of: "\"units\": 10", with: "\"units\": \"ten\""), exit: 2,
                   message: "model.layers[1].units: expected an integer")
    }

    func testImpossibleShape() throws {
        try expect(Self.good.replacingOccurrences(of: "{\"type\": \"flatten\"}, ", with: ""), exit: 2,
                   message: "model.layers[0]: dense expects flat input, got shape [1, 8, 8]")
        try expect(Self.good.replacingOccurrences(of: "\"units\": 10", with: "\"units\": 7"), exit: 2,
                   message: "the last layer outputs [7], the data has 10 classes")
    }

    func testAbsurdLayerIsRefusedBeforeAllocating() throws {
        try expect(Self.good.replacingOccurrences(of: "\"units\": 10}", with: "\"units\": 1000000000}, {\"type\": \"dense\", \"units\": 10}"),
                   exit: 2, message: "over the limit")
    }

    func testMissingDataFile() throws {
        try expect(Self.good.replacingOccurrences(of: "\"dataset\": \"digits\"", with: "\"dataset\": \"digits\", \"order\": \"nowhere.json\""),
                   exit: 2, message: "nowhere.json")
    }

    func testMissingConfig() throws {
        let r = try CLI.run(["record", path("absent.json")])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("config file not found"), r.stderr)
    }

    func testExistingRecordIsNotOverwritten() throws {
        let cfg = try write("good.json", Self.good)
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("run.cwr")]).status, 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: path("run.cwr")))
        let again = try CLI.run(["record", cfg, "-o", path("run.cwr")])
        XCTAssertEqual(again.status, 2)
        XCTAssertTrue(again.stderr.contains("already exists"), again.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("run.cwr"))), before)
    }

    func testUnreadableRecordsExitThreeWithDistinctMessages() throws {
        try write("text.cwr", "not a database")
        let text = try CLI.run(["replay", path("text.cwr")])
        XCTAssertEqual(text.status, 3)
        XCTAssertTrue(text.stderr.contains("is not a cwrepro record (not an SQLite database)"), text.stderr)

        let missing = try CLI.run(["show", path("none.cwr")])
        XCTAssertEqual(missing.status, 3)
        XCTAssertTrue(missing.stderr.contains("no record at"), missing.stderr)
    }

    func testBadSetValue() throws {
        let cfg = try write("good.json", Self.good)
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("run.cwr")]).status, 0)
        let r = try CLI.run(["replay", path("run.cwr"), "--set", "optimizer"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("expected key=value"), r.stderr)
    }
}
