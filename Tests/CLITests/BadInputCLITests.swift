import Foundation
import GRDB
import XCTest

/// Bad input: a clear message naming what and where, the documented exit code, nothing written over.
/// Every case is listed in guidelines/06-trustworthy-records.md; with CWREPRO_BAD_INPUT_TABLE=<file>
/// set, the test writes that table (case, exit code, message) from the runs it made.
final class BadInputCLITests: CLITestCase {
    /// The cases run so far (tests may run on any thread: the rows are kept under a lock).
    final class Table: @unchecked Sendable {
        typealias Row = (name: String, test: String, status: Int32, message: String)
        private let lock = NSLock()
        private var rows: [Row] = []
        func append(_ r: Row) { lock.lock(); rows.append(r); lock.unlock() }
        var all: [Row] { lock.lock(); defer { lock.unlock() }; return rows }
    }
    static let table = Table()

    override class func tearDown() {
        guard let out = ProcessInfo.processInfo.environment["CWREPRO_BAD_INPUT_TABLE"] else { return }
        var md = "| case | exit | message | test |\n|---|---|---|---|\n"
        for r in table.all.sorted(by: { $0.name < $1.name }) {
            let esc = { (t: String) in t.replacingOccurrences(of: "|", with: "\\|") }
            md += "| \(esc(r.name)) | \(r.status) | \(esc(r.message)) | `\(r.test)` |\n"
        }
        try? Data(md.utf8).write(to: URL(fileURLWithPath: out))
    }

    /// Runs `args`, checks the exit code and message, and adds the case to the table.
    @discardableResult
    func check(_ name: String, _ args: [String], exit: Int32, message: String,
               function: String = #function, file: StaticString = #filePath, line: UInt = #line) throws -> CLI.Result {
        let r = try CLI.run(args)
        XCTAssertEqual(r.status, exit, r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(message), "expected \"\(message)\" in: \(r.stderr)", file: file, line: line)
        let dirPath = dir.path
        let first = r.stderr.split(separator: "\n").first.map(String.init) ?? ""
        Self.table.append((name, function.replacingOccurrences(of: "()", with: ""), r.status, first.replacingOccurrences(of: dirPath + "/", with: "")))
        return r
    }
    static let good = """
        {"seed": 1, "data": {"dataset": "digits"}, "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]},
         "training": {"maxSteps": 3}}
        """

    func expect(_ config: String, exit: Int32, message: String, name: String? = nil, function: String = #function,
                file: StaticString = #filePath, line: UInt = #line) throws {
        let cfg = try write("bad.json", config)
        try check(name ?? "config: " + message, ["record", cfg, "-o", path("bad.cwr")], exit: exit, message: message,
                  function: function, file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("bad.cwr")), "no record is created for bad input", file: file, line: line)
    }

    // MARK: configs

    func testMalformedJSON() throws {
        try expect("{\"seed\": 1,, }", exit: 2, message: "bad.json:1:12: invalid JSON: expected a key in double quotes", name: "config is not JSON")
    }

    func testDeeplyNestedConfig() throws {
        let deep = "{\"seed\": " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"
        try expect(deep, exit: 2, message: "nested 100001 levels deep; JSON here may nest at most 100 levels", name: "config nested 100,000 deep")
    }

    func testHugeConfig() throws {
        let huge = "{\"name\": \"" + String(repeating: "x", count: 17 << 20) + "\"}"
        try expect(huge, exit: 2, message: "is too large for a config (limit 16 MiB)", name: "config of 17 MiB")
    }

    func testUnknownKeyNamesThePathAndSuggests() throws {
        try expect(Self.good.replacingOccurrences(of: "\"maxSteps\"", with: "\"maxStep\""), exit: 2,
                   message: "training.maxStep: unknown key (did you mean \"maxSteps\"?)", name: "config: unknown key")
    }

    func testWrongType() throws {
        try expect(Self.good.replacingOccurrences(of: "\"units\": 10", with: "\"units\": \"ten\""), exit: 2,
                   message: "model.layers[1].units: expected an integer", name: "config: wrong type")
    }

    func testNegativeAndAbsurdSizes() throws {
        try expect(Self.good.replacingOccurrences(of: "\"dataset\": \"digits\"", with: "\"dataset\": \"digits\", \"batchSize\": -4"), exit: 2,
                   message: "data.batchSize: -4 is out of range; expected 1...1000000", name: "config: negative batch size")
        try expect(Self.good.replacingOccurrences(of: "\"units\": 10", with: "\"units\": -10"), exit: 2,
                   message: "model.layers[1].units: -10 must be at least 1", name: "config: negative layer size")
        try expect(Self.good.replacingOccurrences(of: "\"maxSteps\": 3", with: "\"epochs\": 1000000000000"), exit: 2,
                   message: "training.epochs: 1000000000000 is out of range", name: "config: absurd epoch count")
        try expect(Self.good.replacingOccurrences(of: "\"dataset\": \"digits\"", with: "\"dataset\": \"synthetic\", \"shape\": [3, 100000, 100000]"), exit: 2,
                   message: "data.shape: [3, 100000, 100000] is not a valid sample shape", name: "config: absurd synthetic sample shape")
    }

    func testImpossibleShape() throws {
        try expect(Self.good.replacingOccurrences(of: "{\"type\": \"flatten\"}, ", with: ""), exit: 2,
                   message: "model.layers[0]: dense expects flat input, got shape [1, 8, 8]", name: "config: layer gets the wrong shape")
        try expect(Self.good.replacingOccurrences(of: "\"units\": 10", with: "\"units\": 7"), exit: 2,
                   message: "the last layer outputs [7], the data has 10 classes", name: "config: output size is not the class count")
    }

    func testAbsurdLayerIsRefusedBeforeAllocating() throws {
        try expect(Self.good.replacingOccurrences(of: "\"units\": 10}", with: "\"units\": 1000000000}, {\"type\": \"dense\", \"units\": 10}"),
                   exit: 2, message: "over the limit", name: "config: 10^9-unit layer (refused before allocating)")
    }

    /// 8e15 units after 3,072 inputs overflowed the parameter count (a trap) before the limit check.
    func testLayerSizeThatOverflowedTheParameterCount() throws {
        try expect(Self.good.replacingOccurrences(of: "\"dataset\": \"digits\"", with: "\"dataset\": \"synthetic\", \"shape\": [3, 32, 32], \"trainSize\": 8, \"testSize\": 8")
                    .replacingOccurrences(of: "\"units\": 10}", with: "\"units\": 8000000000000000}, {\"type\": \"dense\", \"units\": 10}"),
                   exit: 2, message: "model.layers[1].units: 8000000000000000 units is over the limit of 2147483648 parameters", name: "config: 8e15-unit layer after 3,072 inputs (overflowed before)")
    }

    func testMissingDataFile() throws {
        try expect(Self.good.replacingOccurrences(of: "\"dataset\": \"digits\"", with: "\"dataset\": \"digits\", \"order\": \"nowhere.json\""),
                   exit: 2, message: "data.order file not found", name: "data.order file missing")
    }

    func testMissingConfig() throws {
        try check("config file missing", ["record", path("absent.json")], exit: 2, message: "config file not found")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("conf.json"), withIntermediateDirectories: true)
        try check("config is a directory", ["train", path("conf.json")], exit: 2, message: "conf.json is a directory; give a file")
        let cfg = try write("good.json", Self.good)
        try check("data.order is a directory", ["train", cfg, "--set", "data.order=conf.json"], exit: 2,
                  message: "conf.json is a directory; give a file")
    }

    // MARK: datasets

    static func idxImages(count: Int, rows: Int, cols: Int, magic: UInt8 = 3, pixels: Int? = nil) -> Data {
        var b: [UInt8] = [0, 0, 8, magic]
        for v in [count, rows, cols] { b += withUnsafeBytes(of: UInt32(v).bigEndian, Array.init) }
        return Data(b + [UInt8](repeating: 7, count: pixels ?? count * rows * cols))
    }

    static func idxLabels(_ n: Int) -> Data {
        Data([0, 0, 8, 1] + withUnsafeBytes(of: UInt32(n).bigEndian, Array.init) + (0..<n).map { UInt8($0 % 10) })
    }

    /// A config reading `images.idx` / `labels.idx` from the test directory.
    func idxConfig(images: Data, labels: Data) throws -> String {
        try images.write(to: dir.appendingPathComponent("images.idx"))
        try labels.write(to: dir.appendingPathComponent("labels.idx"))
        return Self.good.replacingOccurrences(of: "\"dataset\": \"digits\"", with: """
            "source": {"format": "idx", "images": "images.idx", "labels": "labels.idx", "trainCount": 8}
            """).replacingOccurrences(of: "{\"type\": \"flatten\"}, ", with: "{\"type\": \"flatten\"}, ")
    }

    func testTruncatedIDX() throws {
        try expect(try idxConfig(images: Self.idxImages(count: 10, rows: 4, cols: 4, pixels: 100), labels: Self.idxLabels(10)), exit: 2,
                   message: "images.idx: truncated: 10 images of 4x4 need 160 bytes, the file has 100", name: "IDX images truncated")
    }

    func testWrongMagicIDX() throws {
        try expect(try idxConfig(images: Self.idxImages(count: 10, rows: 4, cols: 4, magic: 1), labels: Self.idxLabels(10)), exit: 2,
                   message: "images.idx: magic number 0x801 is not an IDX image file (expected 0x00000803)", name: "IDX wrong magic number")
    }

    func testIDXCountsDisagree() throws {
        try expect(try idxConfig(images: Self.idxImages(count: 10, rows: 4, cols: 4), labels: Self.idxLabels(9)), exit: 2,
                   message: "images.idx has 10 images but", name: "IDX image and label counts disagree")
    }

    func testIDXAbsurdDimensions() throws {
        try expect(try idxConfig(images: Self.idxImages(count: 0x7fff_ffff, rows: 0xffff, cols: 0xffff, pixels: 0), labels: Self.idxLabels(9)), exit: 2,
                   message: "images.idx: images of 65535x65535 pixels; expected 1...4096", name: "IDX header claims 2^31 images of 65535x65535")
    }

    func testCorruptGzip() throws {
        // gzip of 10 images of 4x4, cut after 25 of its 35 bytes: the header inflates, the pixels do not.
        let gz = Data([31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 99, 96, 224, 96, 102, 96, 96, 224, 2, 98, 22, 16, 102, 31, 228])
        try expect(try idxConfig(images: gz, labels: Self.idxLabels(10)), exit: 2,
                   message: "images.idx: corrupt or truncated gzip data", name: "gzip data corrupt")
    }

    func testTruncatedCIFAR() throws {
        let d = dir.appendingPathComponent("cifar")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        try Data(count: 3073 * 2 - 5).write(to: d.appendingPathComponent("data_batch_1.bin"))
        try Data(count: 3073).write(to: d.appendingPathComponent("test_batch.bin"))
        try expect(Self.good.replacingOccurrences(of: "\"dataset\": \"digits\"", with: "\"source\": {\"format\": \"cifar10\", \"directory\": \"cifar\"}"),
                   exit: 2, message: "data_batch_1.bin: 6141 bytes is not a whole number of 3073-byte CIFAR-10 records", name: "CIFAR-10 batch truncated")
    }

    func testRaggedCSV() throws {
        try write("d.csv", "1,2,0\n3,4,1\n5,0\n")
        try expect(Self.good.replacingOccurrences(of: "\"dataset\": \"digits\"", with: "\"source\": {\"format\": \"csv\", \"path\": \"d.csv\", \"trainCount\": 2}"),
                   exit: 2, message: "d.csv: line 3 has 2 columns, line 1 has 3", name: "CSV rows of different widths")
        try write("d.csv", "1,2,0\n3,x,1\n")
        try expect(Self.good.replacingOccurrences(of: "\"dataset\": \"digits\"", with: "\"source\": {\"format\": \"csv\", \"path\": \"d.csv\", \"trainCount\": 1}"),
                   exit: 2, message: "d.csv: line 2, column 2: \"x\" is not a number", name: "CSV cell is not a number")
    }

    // MARK: safetensors (model.init)

    /// A safetensors file for the `good` model (1.weight [10, 64], 1.bias [10]) with `header` as its JSON.
    func initConfig(header: String, dataBytes: Int = 2600, declaredLength: UInt64? = nil) throws -> String {
        let h = Array(header.utf8)
        var b = withUnsafeBytes(of: (declaredLength ?? UInt64(h.count)).littleEndian, Array.init) + h
        b += [UInt8](repeating: 0, count: dataBytes)
        try Data(b).write(to: dir.appendingPathComponent("init.safetensors"))
        return Self.good.replacingOccurrences(of: "{\"type\": \"dense\", \"units\": 10}]", with: "{\"type\": \"dense\", \"units\": 10}], \"init\": \"init.safetensors\"")
    }

    func testSafeTensorsLyingHeaders() throws {
        let w = #""1.weight": {"dtype": "F32", "shape": [10, 64], "data_offsets": [0, 2560]}"#
        try expect(try initConfig(header: "{\(w), \"1.bias\": {\"dtype\": \"F32\", \"shape\": [10], \"data_offsets\": [2560, 9999]}}"), exit: 2,
                   message: "tensor \"1.bias\" data_offsets [2560, 9999] fall outside the 2600-byte data buffer", name: "safetensors offsets out of range")
        try expect(try initConfig(header: "{\(w), \"1.bias\": {\"dtype\": \"F32\", \"shape\": [10], \"data_offsets\": [2560, 2596]}}"), exit: 2,
                   message: "tensor \"1.bias\" has shape [10] (10 x 4 bytes) but 36 bytes of data", name: "safetensors shape does not match byte count")
        try expect(try initConfig(header: "{}", declaredLength: 1 << 40), exit: 2,
                   message: "header of 1099511627776 bytes exceeds the 100 MiB limit", name: "safetensors header larger than the limit")
        try expect(try initConfig(header: "{}", dataBytes: 10, declaredLength: 5000), exit: 2,
                   message: "header claims 5000 bytes, the file has 12 after the length", name: "safetensors header longer than the file")
        try expect(try initConfig(header: "{\(w), \"1.bias\": {\"dtype\": \"F32\", \"shape\": [10], \"data_offsets\": [2500, 2540]}}"), exit: 2,
                   message: "tensors \"1.weight\" and \"1.bias\" overlap", name: "safetensors tensors overlap")
    }

    // MARK: outputs and records

    func testExistingRecordIsNotOverwritten() throws {
        let cfg = try write("good.json", Self.good)
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("run.cwr")]).status, 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: path("run.cwr")))
        try check("output record exists", ["record", cfg, "-o", path("run.cwr")], exit: 2, message: "already exists")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("run.cwr"))), before)
    }

    /// An --export path that cannot be written is refused before training, not after the last step.
    func testUnwritableExportIsRefusedBeforeTraining() throws {
        let cfg = try write("good.json", Self.good)
        let train = try check("--export into a missing directory", ["train", cfg, "--export", path("nowhere/w.safetensors")], exit: 2,
                              message: "nowhere/w.safetensors: the directory")
        XCTAssertEqual(train.stdout, "", "nothing was trained")
        try check("--export names a directory (record)", ["record", cfg, "-o", path("r.cwr"), "--export", dir.path], exit: 2,
                  message: "is a directory; give a file name")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("r.cwr")), "no record is created")
    }

    /// Values that would train something other than what was asked: a negative schedule gamma
    /// (a negative learning rate), and dropLast with a batch larger than the training set (it used
    /// to train on one partial batch anyway).
    func testScheduleGammaAndDropLastEdges() throws {
        let layers = #""model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]}"#
        try expect(#"{"data": {"dataset": "digits"}, "schedule": {"gamma": -1}, "# + layers + "}", exit: 2,
                   message: "schedule.gamma: -1.0 must be a positive number", name: "config: negative schedule gamma")
        try expect(#"{"data": {"dataset": "digits", "batchSize": 5000, "dropLast": true}, "# + layers + "}", exit: 2,
                   message: "data.batchSize: 5000 with data.dropLast leaves no full batch of the 1437 training samples",
                   name: "config: dropLast with a batch larger than the training set")
    }

    /// A number beyond Float64's range is named by its JSON path, or the array holding it (it was a
    /// decoder type-mismatch dump).
    func testHugeNumberNamesItsPath() throws {
        try expect(#"{"data": {"dataset": "digits"}, "schedule": {"gamma": 1e400}, "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]}}"#,
                   exit: 2, message: "bad.json:1:55: schedule.gamma: 1e400 is beyond Float64's range",
                   name: "config: a number beyond Float64's range")
        try expect(#"{"data": {"dataset": "digits"}, "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 1e400}]}}"#, exit: 2,
                   message: "bad.json:1:102: model.layers[1].units: 1e400 is beyond Float64's range", name: "config: a number beyond Float64's range in an array")
    }

    /// A BatchNorm value out of range names where it was written: the layer, or the override.
    func testBatchNormRangeNamesItsSource() throws {
        let bn = #""model": {"layers": [{"type": "batchnorm"}, {"type": "flatten"}, {"type": "dense", "units": 10}]}"#
        try expect(#"{"data": {"dataset": "digits"}, "overrides": {"batchnorm.momentum": 5}, "# + bn + "}", exit: 2,
                   message: "overrides.batchnorm.momentum (used by model.layers[0]): 5.0 must be in [0, 1]",
                   name: "config: BatchNorm momentum override out of range")
        try expect(#"{"data": {"dataset": "digits"}, "model": {"layers": [{"type": "batchnorm", "momentum": 7}, {"type": "flatten"}, {"type": "dense", "units": 10}]}}"#,
                   exit: 2, message: "model.layers[0].momentum: 7.0 must be in [0, 1]", name: "config: BatchNorm layer momentum out of range")
    }

    /// `-o` naming a directory is refused even with --force (which used to delete the directory's
    /// whole tree and write the record in its place); readers say it is a directory.
    func testOutputDirectoryIsNeverReplaced() throws {
        let cfg = try write("good.json", Self.good)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("out/sub"), withIntermediateDirectories: true)
        let keep = try write("out/sub/keep.txt", "precious")
        try check("output is a directory (even with --force)", ["record", cfg, "-o", path("out"), "--force"], exit: 2,
                  message: "out is a directory; give the record a file name")
        XCTAssertEqual(try String(contentsOfFile: keep, encoding: .utf8), "precious")
        try check("record is a directory", ["show", path("out")], exit: 3, message: "is not a cwrepro record (it is a directory)")
    }

    func testUnreadableRecordsExitThreeWithDistinctMessages() throws {
        try write("text.cwr", "not a database")
        try check("record is not SQLite", ["replay", path("text.cwr")], exit: 3, message: "is not a cwrepro record (not an SQLite database)")
        try check("record missing", ["show", path("none.cwr")], exit: 3, message: "no record at")
        let foreign = try DatabaseQueue(path: path("foreign.cwr"))
        try foreign.write { try $0.execute(sql: "CREATE TABLE people(name TEXT)") }
        try foreign.close()
        try check("record is another SQLite database", ["show", path("foreign.cwr")], exit: 3, message: "is not a cwrepro record (an SQLite database without cwrepro's tables)")
    }

    /// A finished record of the `good` config.
    func goodRecord(_ name: String) throws -> String {
        let cfg = try write("good.json", Self.good)
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path(name)]).status, 0)
        return path(name)
    }

    func testNewerSchema() throws {
        let rec = try goodRecord("newer.cwr")
        let db = try DatabaseQueue(path: rec)
        try db.write { try $0.execute(sql: "UPDATE meta SET value = '9' WHERE key IN ('schema_version', 'min_reader_version')") }
        try db.close()
        try check("record from a newer schema", ["replay", rec], exit: 3, message: "newer.cwr was written by a newer cwrepro (record schema 9); this one reads up to schema 2: upgrade cwrepro")
    }

    func testTruncatedRecord() throws {
        let rec = try goodRecord("cut.cwr")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: rec))
        try bytes.prefix(bytes.count / 2 + 100).write(to: URL(fileURLWithPath: rec))
        try check("record truncated", ["replay", rec], exit: 3, message: "is truncated")
    }

    func testTamperedHashIsReportedAsTampering() throws {
        let rec = try goodRecord("tampered.cwr")
        let db = try DatabaseQueue(path: rec)
        try db.write { try $0.execute(sql: "UPDATE tensors SET hash = hash + 1 WHERE step = 1 AND name = '1.weight' AND role = 'grad'") }
        try db.close()
        try check("record with a hash edited by hand", ["replay", rec], exit: 3,
                  message: "has been tampered with: the rows of step 1 do not match their checksum")
        try check("record with a hash edited by hand (show)", ["show", rec], exit: 3, message: "has been tampered with")
    }

    func testTamperedConfigIsReportedAsTampering() throws {
        let rec = try goodRecord("config.cwr")
        let db = try DatabaseQueue(path: rec)
        try db.write { try $0.execute(sql: "UPDATE meta SET value = replace(value, '\"maxSteps\":3', '\"maxSteps\":2') WHERE key = 'config_given'") }
        try db.close()
        try check("record with its config edited", ["replay", rec], exit: 3,
                  message: "has been tampered with: its header (config, environment or embedded files) does not match")
    }

    func testBadSetValue() throws {
        let rec = try goodRecord("run.cwr")
        try check("--set without =", ["replay", rec, "--set", "optimizer"], exit: 2, message: "expected key=value")
        try check("--set index outside an array", ["replay", rec, "--set", "model.layers.5.units=3"], exit: 2,
                  message: "cannot set model.layers[5]: model.layers is an array of 2 elements, indexed 0...1")
        try check("--set through a number", ["replay", rec, "--set", "seed.x=3"], exit: 2,
                  message: "cannot set seed.x: seed is a number, not an object or an array")
    }

    /// An integer path component indexes an array: `--set model.layers.1.units=16` changes one
    /// layer (with `train`, `record`, `verify` and `variance` alike, and on `replay`).
    func testSetIndexesArrays() throws {
        let cfg = try write("two.json", """
            {"seed": 1, "data": {"dataset": "digits"}, "training": {"maxSteps": 2},
             "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 32}, {"type": "relu"}, {"type": "dense", "units": 10}]}}
            """)
        let r = try CLI.run(["train", cfg, "--set", "model.layers.1.units=16"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("of 1,210 float32"), r.stdout)   // 64*16 + 16 + 16*10 + 10
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("r.cwr")]).status, 0)
        let replay = try CLI.run(["replay", path("r.cwr"), "--until-diverge", "--set", "model.layers.1.units=16"])
        XCTAssertEqual(replay.status, 1, replay.stderr)
        XCTAssertTrue(replay.stdout.contains("model.layers[1].units: 32 -> 16"), replay.stdout)
    }
}
