import Foundation
import XCTest

/// `"dataset": "safetensors"` end to end: a record of arrays is fingerprinted like any data,
/// replays bit-identical, names a changed file as the cause, and a bad file is exit 2 naming it.
final class SafeTensorsDataCLITests: CLITestCase {
    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }

    /// 40 train and 8 test samples of [1, 4, 4] (pixel values shifted by `shift`), labels 0...2.
    func writeData(_ name: String = "data.safetensors", shift: Float = 0, badLabel: Bool = false) throws {
        var header = "{", body: [UInt8] = []
        func add(_ key: String, _ dtype: String, _ shape: [Int], _ bytes: [UInt8]) {
            header += "\(header == "{" ? "" : ",")\"\(key)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":[\(body.count),\(body.count + bytes.count)]}"
            body += bytes
        }
        for (split, n) in [("train", 40), ("test", 8)] {
            add("\(split).images", "F32", [n, 1, 4, 4], (0..<(n * 16)).flatMap { Self.le((Float($0 % 17) / 16 + shift).bitPattern) })
            add("\(split).labels", "I64", [n], (0..<n).flatMap { Self.le(Int64(badLabel && $0 == 3 ? 7 : $0 % 3)) })
        }
        header += "}"
        try Data(Self.le(UInt64(header.utf8.count)) + Array(header.utf8) + body).write(to: URL(fileURLWithPath: path(name)))
    }

    func writeConfig(data: String = #""dataset": "safetensors", "path": "data.safetensors", "classes": 3"#) throws {
        let config = """
            {"seed": 1, "data": {\(data), "batchSize": 8},
             "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 3}]}, "training": {"maxSteps": 4}}
            """
        try Data(config.utf8).write(to: URL(fileURLWithPath: path("train.json")))
    }

    func testRecordReplayAndFingerprint() throws {
        try writeData()
        try writeConfig()
        // From another directory: the data path resolves against the config's.
        let r = try CLI.run(["record", path("train.json"), "-o", path("run.cwr")], cwd: URL(fileURLWithPath: "/"))
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let show = try CLI.run(["show", path("run.cwr"), "--json"])
        XCTAssertTrue(show.stdout.contains("\"data.train\" : \"40 x [1, 4, 4]: "), show.stdout)
        XCTAssertTrue(show.stdout.contains("\"data.test\" : \"8 x [1, 4, 4]: "), show.stdout)
        XCTAssertEqual(try CLI.run(["replay", path("run.cwr")]).status, 0, "unchanged arrays replay bit-identical")

        try writeData(shift: 0.5)
        let changed = try CLI.run(["replay", path("run.cwr"), "--until-diverge"])
        XCTAssertEqual(changed.status, 1, changed.stdout + changed.stderr)
        XCTAssertTrue(changed.stdout.contains("data.train: 40 x [1, 4, 4]: "), changed.stdout)
    }

    /// The memory limit judges the data from the file's header before reading it.
    func testMemoryLimitCountsTheDataFromItsHeader() throws {
        // 1,000 train + 200 test samples of [1, 64, 64] Float32: 19.7 MB on disk and held.
        let n = 1000, m = 200, side = 64
        var header = "{", body = [UInt8]()
        for (split, count) in [("train", n), ("test", m)] {
            let images = count * side * side * 4, labels = count * 8
            header += "\(header == "{" ? "" : ",")\"\(split).images\":{\"dtype\":\"F32\",\"shape\":[\(count),1,\(side),\(side)],\"data_offsets\":[\(body.count),\(body.count + images)]}"
            body += [UInt8](repeating: 0, count: images)
            header += ",\"\(split).labels\":{\"dtype\":\"I64\",\"shape\":[\(count)],\"data_offsets\":[\(body.count),\(body.count + labels)]}"
            body += [UInt8](repeating: 0, count: labels)
        }
        header += "}"
        try Data(Self.le(UInt64(header.utf8.count)) + Array(header.utf8) + body).write(to: URL(fileURLWithPath: path("big.safetensors")))
        try writeConfig(data: #""dataset": "safetensors", "path": "big.safetensors", "classes": 3"#)
        let r = try CLI.run(["train", path("train.json")], env: ["CWREPRO_MEMORY_LIMIT": "24M"])
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("over the limit of 24.0 MiB (CWREPRO_MEMORY_LIMIT=24M)"), r.stderr)
        XCTAssertTrue(r.stderr.contains("1000 train + 200 test samples of [1, 64, 64] (\(path("big.safetensors")))"), r.stderr)
        XCTAssertEqual(try CLI.run(["train", path("train.json")], env: ["CWREPRO_MEMORY_LIMIT": "1G"]).status, 0)
    }

    func testBadFilesAreExit2NamingTheFileAndTensor() throws {
        try writeData(badLabel: true)
        try writeConfig()
        let r = try CLI.run(["record", path("train.json"), "-o", path("run.cwr")])
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains(path("data.safetensors")), r.stderr)
        XCTAssertTrue(r.stderr.contains("train.labels[3] = 7 is not a class in 0..<3 (data.classes)"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("run.cwr")), "nothing recorded")

        try writeConfig(data: #""dataset": "safetensors", "path": "missing.safetensors""#)
        let missing = try CLI.run(["record", path("train.json"), "-o", path("run.cwr")])
        XCTAssertEqual(missing.status, 2, missing.stdout + missing.stderr)
        XCTAssertTrue(missing.stderr.contains("missing.safetensors"), missing.stderr)

        try writeConfig(data: #""dataset": "safetensors""#)
        let noPath = try CLI.run(["record", path("train.json"), "-o", path("run.cwr")])
        XCTAssertEqual(noPath.status, 2)
        XCTAssertTrue(noPath.stderr.contains("data.path: missing"), noPath.stderr)
    }
}
