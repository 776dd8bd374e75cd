import Foundation
import XCTest
@testable import Engine
import Recorder

/// The data sources of DESIGN.md section 7, each on small files written by the test.
final class DataTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("cwrepro-data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = dir.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    func gzip(_ path: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["gzip", "-kf", path]
        try p.run(); p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        return path + ".gz"
    }

    static func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }

    func testEmbeddedDigitsSplit() throws {
        let d = try Digits.load()
        XCTAssertEqual(d.train.count, 1437)
        XCTAssertEqual(d.test.count, 360)
        XCTAssertEqual(d.train.sampleShape, [1, 8, 8])
        XCTAssertEqual(d.train.classes, 10)
        // Pixels are 0...16 scaled by 1/16; the first row of the UCI file is a 0.
        XCTAssertEqual(d.train.images.max(), 1)
        XCTAssertEqual(d.train.images.min(), 0)
        XCTAssertEqual(d.train.labels[0], 0)
        XCTAssertEqual(Array(d.train.images[0..<8]).map { $0 * 16 }, [0, 0, 5, 13, 9, 1, 0, 0])
    }

    func testIDXRawAndGzipGiveTheSameDataset() throws {
        let n = 3, rows = 2, cols = 3
        let pixels: [UInt8] = (0..<(n * rows * cols)).map { UInt8($0 * 13 % 256) }
        let images = try write("img.idx", [0, 0, 8, 3] + Self.be32(n) + Self.be32(rows) + Self.be32(cols) + pixels)
        let labels = try write("lab.idx", [0, 0, 8, 1] + Self.be32(n) + [7, 0, 3])
        let raw = try IDX.load(images: images, labels: labels, scale: 1.0 / 255)
        XCTAssertEqual(raw.sampleShape, [1, 2, 3])
        XCTAssertEqual(raw.labels, [7, 0, 3])
        XCTAssertEqual(raw.images[1], Float(13) / Float(255), "torchvision ToTensor: uint8 / 255 in float32")
        for p in 0...255 { XCTAssertEqual(Float(Double(p) * (1.0 / 255)), Float(p) / Float(255)) }
        let gz = try IDX.load(images: try gzip(images), labels: try gzip(labels), scale: 1.0 / 255)
        XCTAssertEqual(gz, raw)
    }

    func testIDXErrorsNameTheFileAndTheProblem() throws {
        let images = try write("bad.idx", [0, 0, 8, 1] + Self.be32(1) + Self.be32(2) + Self.be32(2) + [1, 2, 3, 4])
        XCTAssertThrowsError(try IDX.readImages(path: images)) { XCTAssert("\($0)".contains("magic number"), "\($0)") }
        let short = try write("short.idx", [0, 0, 8, 3] + Self.be32(2) + Self.be32(2) + Self.be32(2) + [1, 2, 3])
        XCTAssertThrowsError(try IDX.readImages(path: short)) { XCTAssert("\($0)".contains("truncated"), "\($0)") }
        let img = try write("ok.idx", [0, 0, 8, 3] + Self.be32(2) + Self.be32(1) + Self.be32(1) + [1, 2])
        let lab = try write("lab3.idx", [0, 0, 8, 1] + Self.be32(3) + [1, 2, 3])
        XCTAssertThrowsError(try IDX.load(images: img, labels: lab, scale: 1)) { XCTAssert("\($0)".contains("2 images but"), "\($0)") }
    }

    func testCSVWithHeaderLabelColumnAndShape() throws {
        let p = try write("d.csv", Array("a,b,c,d,label\n1,2,3,4,1\n5,6,7,8,0\n".utf8))
        let d = try CSVData.load(path: p, labelColumn: -1, header: true, scale: 0.5, sampleShape: [1, 2, 2], classes: 3)
        XCTAssertEqual(d.count, 2)
        XCTAssertEqual(d.images, [0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4])
        XCTAssertEqual(d.labels, [1, 0])
        XCTAssertEqual(d.classes, 3)
        let bad = try write("bad.csv", Array("1,2,3\n4,x,1\n".utf8))
        XCTAssertThrowsError(try CSVData.load(path: bad)) { XCTAssert("\($0)".contains("line 2, column 2"), "\($0)") }
    }

    func testCSVCellsAreTrimmed() throws {
        let p = try write("s.csv", Array(" 1, 2 ,\t3\n4 ,5,  0 \n".utf8))
        let d = try CSVData.load(path: p)
        XCTAssertEqual(d.images, [1, 2, 4, 5])
        XCTAssertEqual(d.labels, [3, 0])
    }

    func testCIFAR10BinaryRecords() throws {
        let sub = dir.appendingPathComponent("cifar")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        let rec = { (l: UInt8) in (label: l, pixels: (0..<3072).map { UInt8(($0 + Int(l)) % 256) }) }
        try CIFAR10.write([rec(3), rec(9)], to: sub.appendingPathComponent("data_batch_1.bin").path)
        try CIFAR10.write([rec(1)], to: sub.appendingPathComponent("test_batch.bin").path)
        let s = try CIFAR10.load(directory: sub.path, scale: 1)
        XCTAssertEqual(s.train.labels, [3, 9])
        XCTAssertEqual(s.test.labels, [1])
        XCTAssertEqual(s.train.sampleShape, [3, 32, 32])
        XCTAssertEqual(s.train.images[3072 + 1024], Float((1024 + 9) % 256), "channel planes in file order (R, G, B)")
    }

    func testSyntheticIsAPureFunctionOfTheSeed() {
        func make(_ seed: UInt64) -> DataSplit {
            let r = Recorder.plain(seed: seed)
            return Synthetic.make(shape: [3, 8, 8], classes: 4, trainSize: 32, testSize: 8) { r.uniform(site: $0, count: $1) }
        }
        XCTAssertEqual(make(5), make(5))
        XCTAssertNotEqual(make(5).train.images, make(6).train.images)
        XCTAssertEqual(Set(make(5).train.labels), [0, 1, 2, 3])
    }

    func testBatchOrderRefusesIndicesOutsideTheTrainSet() throws {
        let ok = try BatchOrder.parse(Array(#"{"batches": [[0, 2], [1]]}"#.utf8), name: "o.json", trainCount: 3)
        XCTAssertEqual(ok.batches, [[0, 2], [1]])
        XCTAssertThrowsError(try BatchOrder.parse(Array(#"{"batches": [[0, 3]]}"#.utf8), name: "o.json", trainCount: 3)) {
            XCTAssert("\($0)".contains("batches[0][1]"), "\($0)")
        }
    }

    func testSafeTensorsRoundTripAndModelLoadChecksNamesAndShapes() throws {
        let tensors: [SafeTensors.Entry] = [("1.weight", [2, 3], [1, 2, 3, 4, 5, 6]), ("1.bias", [2], [0.5, -0.5])]
        let p = dir.appendingPathComponent("w.safetensors").path
        try SafeTensors.write(tensors, metadata: ["format": "pt"], to: p)
        let back = try SafeTensors.read(path: p)
        XCTAssertEqual(back.map(\.name), ["1.weight", "1.bias"])
        XCTAssertEqual(back[0].data, tensors[0].data)
        XCTAssertEqual(back[1].shape, [2])
        let model = try Model(layers: [.object(["type": .string("flatten")]), .object(["type": .string("dense"), "units": .number(2)])],
                              inputShape: [1, 1, 3])
        try model.load(back, source: p)
        XCTAssertEqual(Array(model.params.values(of: model.params.entry("1.bias")!)), [0.5, -0.5])
        XCTAssertThrowsError(try model.load([("1.weight", [3, 2], [1, 2, 3, 4, 5, 6]), ("1.bias", [2], [0, 0])], source: "x")) {
            XCTAssert("\($0)".contains("shape [3, 2]"), "\($0)")
        }
    }
}
