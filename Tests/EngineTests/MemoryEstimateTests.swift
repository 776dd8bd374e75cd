import Foundation
import XCTest
@testable import Engine
import Recorder

/// The memory limit and the estimate: sizes, the default, what each part counts (checked against
/// what the loaders and the model really allocate), saturation instead of overflow, the refusal.
final class MemoryEstimateTests: XCTestCase {
    func config(_ text: String, base: String = "/") throws -> TrainConfig {
        let (json, source) = try ConfigSource.parse(Array(text.utf8), name: "t.json")
        var c = try source.reading { try TrainConfig.parse(json, baseDirectory: base) }
        c.source = source
        return c
    }

    func testSizes() throws {
        let g = 16 << 30
        func bytes(_ s: String) throws -> Int? { try MemoryLimit.parse(s, origin: "test", memory: g).bytes }
        XCTAssertEqual(try bytes("8G"), 8 << 30)
        XCTAssertEqual(try bytes("8GiB"), 8 << 30)
        XCTAssertEqual(try bytes("8gb"), 8 << 30)
        XCTAssertEqual(try bytes("512M"), 512 << 20)
        XCTAssertEqual(try bytes("1.5G"), 3 << 29)
        XCTAssertEqual(try bytes("64k"), 64 << 10)
        XCTAssertEqual(try bytes("2T"), 2 << 40)
        XCTAssertEqual(try bytes("123456789"), 123_456_789)
        XCTAssertEqual(try bytes("50%"), 8 << 30)
        XCTAssertNil(try bytes("none"))
        for bad in ["", "G", "-1G", "8X", "1e9", "0", "150%", "0.1", "lots"] {
            XCTAssertThrowsError(try bytes(bad), bad) { e in
                XCTAssertEqual("\(e)", "test: \"\(bad)\" is not a memory size; write e.g. 8G, 512M, 1.5G, 75% or none")
            }
        }
        XCTAssertEqual(MemoryLimit.machineDefault(memory: 16 << 30).bytes, 12 << 30)
        XCTAssertLessThanOrEqual(MemoryLimit.machineMemory(), Int(ProcessInfo.processInfo.physicalMemory))
        XCTAssertEqual(try MemoryLimit.fromEnvironment(["CWREPRO_MEMORY_LIMIT": "3G"]), MemoryLimit(bytes: 3 << 30, origin: "CWREPRO_MEMORY_LIMIT=3G"))
        XCTAssertEqual(try MemoryLimit.fromEnvironment([:]).bytes, MemoryLimit.machineMemory() / 4 * 3)
        XCTAssertEqual(MemoryLimit.format(1536 << 20), "1.5 GiB")
        XCTAssertEqual(MemoryLimit(bytes: 1, origin: "x").raise(to: 5 << 30 + 1), "CWREPRO_MEMORY_LIMIT=6G")
        XCTAssertEqual(MemoryLimit(bytes: 1, origin: "x", change: "--memory-limit {size}").raise(to: 300 << 20), "--memory-limit 300M")
    }

    func testSaturatingArithmetic() {
        XCTAssertEqual(Bytes.product(Int.max, 2), Int.max)
        XCTAssertEqual(Bytes.product(1 << 40, 1 << 30), Int.max)
        XCTAssertEqual(Bytes.sum(Int.max, 1), Int.max)
        XCTAssertEqual(Bytes.product(3, 4, 5), 60)
        XCTAssertEqual(Bytes.product([]), 1)
    }

    /// Parameters: the count is the real model's; the bytes follow the store's doubling capacity.
    func testParametersOfAnMLP() throws {
        let c = try config(#"{"data": {"dataset": "digits"}, "optimizer": {"momentum": 0.9}, "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 64}, {"type": "relu"}, {"type": "dense", "units": 10}]}}"#)
        let m = try MemoryEstimate.estimate(c)
        let model = try Model(layers: c.layers, inputShape: [1, 8, 8])
        XCTAssertEqual(m.parameterCount, model.params.count)
        XCTAssertEqual(m.parameterCount, 4810)
        // Capacity 4096, then 8192 (peak while growing: (4096 + 8192) x 8 bytes), momentum 4 x 4810,
        // a checkpoint's encoding 2 x 8 x 4810.
        XCTAssertEqual(m.part("parameters"), 98_304 + 19_240 + 76_960)
        XCTAssertEqual(m.batchSize, 32)
        XCTAssertEqual(m.largestParameters?.path, "model.layers[1]")
        XCTAssertLessThan(m.total, 80 << 20)
    }

    /// Data: counts, shape and held bytes as the loaders really produce them.
    func testDataEstimatesMatchTheLoadedData() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cwrepro-estimate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func held(_ s: DataSplit) -> Int { (s.train.images.count + s.test.images.count) * 4 + (s.train.count + s.test.count) * 4 }
        func check(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws {
            let c = try config(text, base: dir.path)
            let e = try DataSource.estimate(c)
            let loaded = try DataSource.load(c, recorder: Recorder(seed: 1, level: .grads, sink: NullSink()))
            XCTAssertEqual(e.trainCount, loaded.train.count, file: file, line: line)
            XCTAssertEqual(e.testCount, loaded.test.count, file: file, line: line)
            XCTAssertEqual(e.sampleShape, loaded.train.sampleShape, file: file, line: line)
            XCTAssertEqual(e.held, held(loaded), file: file, line: line)
            XCTAssertGreaterThanOrEqual(e.peak, e.held, file: file, line: line)
        }
        let layers = #""model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]}"#
        try check(#"{"data": {"dataset": "digits"}, "# + layers + "}")
        try check(#"{"data": {"dataset": "synthetic", "shape": [3, 8, 8], "trainSize": 64, "testSize": 16}, "# + layers + "}")
        // IDX, raw and gzip, one pair split and two pairs.
        let img = [UInt8]([0, 0, 8, 3, 0, 0, 0, 20, 0, 0, 0, 5, 0, 0, 0, 6]) + (0..<600).map { UInt8($0 % 256) }
        let lab = [UInt8]([0, 0, 8, 1, 0, 0, 0, 20]) + (0..<20).map { UInt8($0 % 10) }
        try Data(img).write(to: dir.appendingPathComponent("i.idx"))
        try Data(try GzipFile.compress(img)).write(to: dir.appendingPathComponent("i.idx.gz"))
        try Data(lab).write(to: dir.appendingPathComponent("l.idx"))
        try check(#"{"data": {"source": {"format": "idx", "images": "i.idx.gz", "labels": "l.idx", "trainCount": 15}}, "# + layers + "}")
        try check(#"{"data": {"source": {"format": "idx", "trainImages": "i.idx", "trainLabels": "l.idx", "testImages": "i.idx.gz", "testLabels": "l.idx"}}, "# + layers + "}")
        // CSV, with a header, CRLF line ends and no final line break.
        try Data(("a,b,c,d,label\r\n" + (0..<30).map { "\($0),1,2,3,\($0 % 4)" }.joined(separator: "\r\n")).utf8).write(to: dir.appendingPathComponent("d.csv"))
        try check(#"{"data": {"source": {"format": "csv", "path": "d.csv", "trainCount": 20, "header": true, "shape": [2, 2]}}, "# + layers + "}")
        // CIFAR-10: two batches of 3 and 2 records, a test batch of 1.
        let cifar = dir.appendingPathComponent("cifar")
        try FileManager.default.createDirectory(at: cifar, withIntermediateDirectories: true)
        func records(_ n: Int) -> [(label: UInt8, pixels: [UInt8])] { (0..<n).map { (UInt8($0 % 10), [UInt8](repeating: UInt8($0), count: 3072)) } }
        try CIFAR10.write(records(3), to: cifar.appendingPathComponent("data_batch_1.bin").path)
        try CIFAR10.write(records(2), to: cifar.appendingPathComponent("data_batch_2.bin").path)
        try CIFAR10.write(records(1), to: cifar.appendingPathComponent("test_batch.bin").path)
        try check(#"{"data": {"source": {"format": "cifar10", "directory": "cifar"}}, "# + layers + "}")
    }

    /// One training step grows with the batch; the layer with the largest output is named.
    func testActivationsScaleWithTheBatch() throws {
        func estimate(batch: Int) throws -> MemoryEstimate {
            try MemoryEstimate.estimate(config(#"{"data": {"dataset": "synthetic", "shape": [3, 16, 16], "trainSize": 512, "testSize": 16, "batchSize": \#(batch)},"#
                + #" "model": {"layers": [{"type": "conv2d", "filters": 32, "kernel": 3, "padding": 1}, {"type": "relu"}, {"type": "maxpool", "size": 2},"#
                + #" {"type": "residual", "body": [{"type": "conv2d", "filters": 32, "kernel": 3, "padding": 1}], "shortcut": []},"#
                + #" {"type": "dropout", "rate": 0.5}, {"type": "globalavgpool"}, {"type": "dense", "units": 10}]}}"#))
        }
        let a = try estimate(batch: 32), b = try estimate(batch: 64)
        XCTAssertEqual(a.largestOutput?.path, "model.layers[0]")
        XCTAssertEqual(a.largestOutput?.bytes, 32 * 32 * 16 * 16 * 4)
        let stepA = a.part("one training step"), stepB = b.part("one training step")
        XCTAssertGreaterThan(stepA, 32 * 32 * 16 * 16 * 4 * 2)
        XCTAssertEqual(Double(stepB) / Double(stepA), 2, accuracy: 0.05)
        XCTAssertEqual(a.part("evaluation"), b.part("evaluation"), "evaluation runs 256 samples at a time whatever the batch")
        XCTAssertGreaterThan(a.part("layer scratch"), 0)
    }

    /// The issue's three cases, in process: refused with the estimate, no trap, nothing allocated.
    func testTheIssuesCasesAreRefused() throws {
        let limit = MemoryLimit(bytes: 4 << 30, origin: "test")
        let conv = try config(#"{"data": {"dataset": "digits"}, "model": {"layers": [{"type": "conv2d", "filters": 1048576, "kernel": 3}, {"type": "globalavgpool"}, {"type": "dense", "units": 10}]}}"#)
        XCTAssertThrowsError(try MemoryEstimate.check(conv, limit: limit)) { e in
            XCTAssertTrue("\(e)".hasPrefix("the run needs an estimated "), "\(e)")
            XCTAssertTrue("\(e)".contains("shrink model.layers[0] (output [1048576, 6, 6] per sample"), "\(e)")
        }
        let synthetic = try config(#"{"data": {"dataset": "synthetic", "shape": [1, 4096, 4096], "trainSize": 100, "testSize": 20}, "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]}}"#)
        XCTAssertThrowsError(try MemoryEstimate.check(synthetic, limit: limit)) { e in
            XCTAssertTrue("\(e)".contains("the data take 7.5 GiB: use fewer or smaller samples (100 train + 20 test samples of [1, 4096, 4096] (synthetic data))"), "\(e)")
        }
        // Far beyond Int: saturated, still a clear refusal.
        let absurd = try config(#"{"data": {"dataset": "digits", "batchSize": 1000000}, "model": {"layers": [{"type": "conv2d", "filters": 2000000, "kernel": 1}, {"type": "conv2d", "filters": 1000, "kernel": 1}, {"type": "globalavgpool"}, {"type": "dense", "units": 10}]}}"#)
        XCTAssertThrowsError(try MemoryEstimate.check(absurd, limit: limit)) { e in
            XCTAssertTrue("\(e)".contains("over the limit of 4.0 GiB (test)"), "\(e)")
        }
        XCTAssertNoThrow(try MemoryEstimate.check(absurd, limit: MemoryLimit(bytes: nil, origin: "none")))
    }

    func testGzipIsBoundedByItsClaims() throws {
        let content = [UInt8](repeating: 7, count: 100_000)
        let gz = try GzipFile.compress(content)
        XCTAssertEqual(Gzip.claimedSize(gz), 100_000)
        XCTAssertEqual(try Gzip.decompress(gz, name: "x.gz"), content)
        XCTAssertThrowsError(try Gzip.decompress(gz, name: "x.gz", limit: 1000, claimedBy: "its header (1000 bytes)")) { e in
            XCTAssertEqual("\(e)", "x.gz: the gzip data inflates beyond the 1000 bytes its header (1000 bytes) claims; refusing (a damaged or hostile file)")
        }
        // A trailer claiming less than the stream holds.
        var lying = gz
        lying[lying.count - 4] = 0x10; lying[lying.count - 3] = 0; lying[lying.count - 2] = 0; lying[lying.count - 1] = 0
        XCTAssertThrowsError(try Gzip.decompress(lying, name: "x.gz")) { e in
            XCTAssertEqual("\(e)", "x.gz: the gzip data inflates beyond the 16 bytes its gzip trailer claims; refusing (a damaged or hostile file)")
        }
        XCTAssertEqual(try Gzip.inflatePrefix(gz, count: 10, name: "x.gz"), [UInt8](repeating: 7, count: 10))
    }

    /// A FIFO or device as a data file is refused (it has no size to check and may never end); a
    /// config may still come from a FIFO (`train <(jq ...)`), read up to the config size limit.
    func testNonRegularFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cwrepro-fifo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertThrowsError(try IDX.readImages(path: "/dev/zero")) { e in
            XCTAssertEqual("\(e)", "IDX image file /dev/zero is not a regular file (a FIFO, socket or device); copy the data into a file")
        }
        let fifo = dir.appendingPathComponent("train.json").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let text = #"{"data": {"dataset": "digits"}, "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]}}"#
        let writer = Thread {
            let fd = open(fifo, O_WRONLY)
            _ = text.withCString { write(fd, $0, strlen($0)) }
            close(fd)
        }
        writer.start()
        let c = try TrainConfig.load(path: fifo)
        XCTAssertEqual(c.data.dataset, "digits")
    }
}
