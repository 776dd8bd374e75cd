import Foundation
import XCTest

/// Files from `data.source` are read again on replay; the record keeps a fingerprint of the loaded
/// data, so a changed file is named as the cause instead of a vague batch difference.
final class DataFingerprintCLITests: CLITestCase {
    static func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }

    func writeIDX(pixelSeed: Int) throws {
        let n = 40, side = 4
        let pixels = (0..<(n * side * side)).map { UInt8(($0 * 37 + pixelSeed) % 256) }
        try Data([0, 0, 8, 3] + Self.be32(n) + Self.be32(side) + Self.be32(side) + pixels).write(to: URL(fileURLWithPath: path("img.idx")))
        try Data([0, 0, 8, 1] + Self.be32(n) + (0..<n).map { UInt8($0 % 3) }).write(to: URL(fileURLWithPath: path("lab.idx")))
    }

    func testChangedDataFileIsNamedAsTheCause() throws {
        try writeIDX(pixelSeed: 0)
        let config = """
            {"seed": 1, "data": {"source": {"format": "idx", "images": "img.idx", "labels": "lab.idx", "trainCount": 32}, "batchSize": 8},
             "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]}, "training": {"maxSteps": 4}}
            """
        try Data(config.utf8).write(to: URL(fileURLWithPath: path("train.json")))
        XCTAssertEqual(try CLI.run(["record", path("train.json"), "-o", path("run.cwr")]).status, 0)
        XCTAssertEqual(try CLI.run(["replay", path("run.cwr")]).status, 0, "unchanged data replays bit-identical")
        let show = try CLI.run(["show", path("run.cwr"), "--json"])
        XCTAssertTrue(show.stdout.contains("\"data.train\" : \"32 x [1, 4, 4]: "), show.stdout)

        try writeIDX(pixelSeed: 1)
        let r = try CLI.run(["replay", path("run.cwr"), "--until-diverge"])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("cause: data order (the data differ from the recorded run's (data.train: 32 x [1, 4, 4]: "), r.stdout)
        XCTAssertTrue(r.stdout.contains("a data file changed"), r.stdout)
    }
}
