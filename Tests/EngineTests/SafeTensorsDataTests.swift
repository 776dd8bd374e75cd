import Foundation
import XCTest
@testable import Engine
import Recorder

/// `"dataset": "safetensors"`: train and test arrays in one safetensors file (what the Python
/// exporters write). Every bad file is an error naming the file and the tensor.
final class SafeTensorsDataTests: XCTestCase {
    /// One tensor for `file`: name, safetensors dtype, shape, raw little-endian bytes.
    typealias Raw = (name: String, dtype: String, shape: [Int], bytes: [UInt8])

    static func f32(_ v: [Float]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) } }
    static func i32(_ v: [Int32]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) } }
    static func i64(_ v: [Int64]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) } }

    /// A safetensors file of `tensors` in order; `offsets` overrides a tensor's data_offsets.
    static func file(_ tensors: [Raw], offsets: [String: [Int]] = [:], metadata: Bool = true) -> [UInt8] {
        var header: [String: JSON] = metadata ? ["__metadata__": .object(["framework": .string("test")])] : [:]
        var body: [UInt8] = []
        for t in tensors {
            let offs = offsets[t.name] ?? [body.count, body.count + t.bytes.count]
            header[t.name] = .object(["dtype": .string(t.dtype), "shape": .array(t.shape.map { .number(Double($0)) }),
                                      "data_offsets": .array(offs.map { .number(Double($0)) })])
            body += t.bytes
        }
        let h = Array(JSON.object(header).text.utf8)
        return withUnsafeBytes(of: UInt64(h.count).littleEndian, Array.init) + h + body
    }

    /// 6 train and 3 test samples of [1, 2, 2], labels 0, 1, 2 in turn.
    static func valid(trainImages: Raw? = nil, trainLabels: Raw? = nil, testImages: Raw? = nil, testLabels: Raw? = nil) -> [Raw] {
        [trainImages ?? ("train.images", "F32", [6, 1, 2, 2], f32((0..<24).map { Float($0) / 8 })),
         trainLabels ?? ("train.labels", "I32", [6], i32([0, 1, 2, 0, 1, 2])),
         testImages ?? ("test.images", "F32", [3, 1, 2, 2], f32((0..<12).map { -Float($0) })),
         testLabels ?? ("test.labels", "I64", [3], i64([2, 1, 0]))]
    }

    func parse(_ bytes: [UInt8], classes: Int? = nil, scale: Double? = nil) throws -> DataSplit {
        try SafeTensorsData.parse(bytes, name: "d.safetensors", classes: classes, scale: scale)
    }

    func assertError(_ bytes: [UInt8], classes: Int? = nil, scale: Double? = nil, _ expected: String...,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try parse(bytes, classes: classes, scale: scale), file: file, line: line) { e in
            let m = "\(e)"
            for s in expected { XCTAssertTrue(m.contains(s), "\"\(s)\" not in: \(m)", file: file, line: line) }
        }
    }

    func testLoadsFloatImagesAndIntegerLabels() throws {
        let split = try parse(Self.file(Self.valid()))
        XCTAssertEqual(split.train.sampleShape, [1, 2, 2])
        XCTAssertEqual(split.train.images, (0..<24).map { Float($0) / 8 })
        XCTAssertEqual(split.train.labels, [0, 1, 2, 0, 1, 2])
        XCTAssertEqual(split.test.images, (0..<12).map { -Float($0) })
        XCTAssertEqual(split.test.labels, [2, 1, 0])
        XCTAssertEqual(split.train.classes, 3, "largest label + 1")
        XCTAssertEqual(try parse(Self.file(Self.valid()), classes: 10).test.classes, 10, "data.classes")
    }

    func testUInt8ImagesAreScaledLikeIDX() throws {
        let pixels = (0..<24).map { UInt8($0 * 11) }
        let split = try parse(Self.file(Self.valid(trainImages: ("train.images", "U8", [6, 2, 2], pixels),
                                                   testImages: ("test.images", "U8", [3, 2, 2], Array(pixels[0..<12])))),
                              scale: 1.0 / 255)
        XCTAssertEqual(split.train.sampleShape, [2, 2])
        // The same conversion as IDX (Float64 product, rounded once).
        let idx = try IDX.dataset(images: (6, 2, 2, pixels), labels: [0, 1, 2, 0, 1, 2], imagesName: "i", labelsName: "l", scale: 1.0 / 255)
        XCTAssertEqual(split.train.images, idx.images)
        assertError(Self.file(Self.valid(trainImages: ("train.images", "U8", [6, 2, 2], pixels),
                                         testImages: ("test.images", "U8", [3, 2, 2], Array(pixels[0..<12])))),
                    "d.safetensors", "U8", "data.scale")
        assertError(Self.file(Self.valid()), scale: 0.5, "data.scale", "U8 images only", "F32")
    }

    /// The fingerprint is the loaded data's, whatever the source: the digits as arrays fingerprint
    /// like the built-in digits.
    func testDigitsAsArraysFingerprintLikeTheBuiltInDigits() throws {
        let digits = try Digits.load()
        let bytes = Self.file([("train.images", "F32", [digits.train.count, 1, 8, 8], Self.f32(digits.train.images)),
                               ("train.labels", "I64", [digits.train.count], Self.i64(digits.train.labels.map(Int64.init))),
                               ("test.images", "F32", [digits.test.count, 1, 8, 8], Self.f32(digits.test.images)),
                               ("test.labels", "I32", [digits.test.count], Self.i32(digits.test.labels))])
        let split = try parse(bytes, classes: 10)
        XCTAssertEqual(split, digits)
        XCTAssertEqual(split.fingerprint, digits.fingerprint)
    }

    func testMissingExtraAndMisnamedTensors() {
        assertError(Self.file(Array(Self.valid().dropLast())), "d.safetensors", "no tensor \"test.labels\"")
        assertError(Self.file(Self.valid() + [("extra", "F32", [1], Self.f32([1]))]), "d.safetensors", "unexpected tensor \"extra\"",
                    "train.images, train.labels, test.images, test.labels")
    }

    func testWrongDtypes() {
        assertError(Self.file(Self.valid(trainImages: ("train.images", "F64", [6, 1, 2, 2], [UInt8](repeating: 0, count: 192)))),
                    "d.safetensors", "\"train.images\"", "F64", "F32")
        assertError(Self.file(Self.valid(trainLabels: ("train.labels", "F32", [6], Self.f32([0, 1, 2, 0, 1, 2])))),
                    "\"train.labels\"", "F32", "I32, I64 or U8")
        assertError(Self.file(Self.valid(testImages: ("test.images", "U8", [3, 1, 2, 2], [UInt8](repeating: 0, count: 12)))),
                    scale: 1, "same dtype and sample shape")
        assertError(Self.file(Self.valid(trainImages: ("train.images", "BOOL", [6, 1, 2, 2], [UInt8](repeating: 0, count: 24)))),
                    "\"train.images\"", "BOOL")
    }

    func testShapeAndCountMismatches() {
        assertError(Self.file(Self.valid(trainLabels: ("train.labels", "I32", [5], Self.i32([0, 1, 2, 0, 1])))),
                    "\"train.labels\" has shape [5]; expected [6]", "one label per sample of \"train.images\"")
        assertError(Self.file(Self.valid(testImages: ("test.images", "F32", [3, 4], Self.f32([Float](repeating: 0, count: 12))))),
                    "\"train.images\" holds F32 samples of [1, 2, 2], \"test.images\" F32 samples of [4]")
        assertError(Self.file(Self.valid(trainImages: ("train.images", "F32", [24], Self.f32([Float](repeating: 0, count: 24))))),
                    "\"train.images\" has shape [24]", "[N, C, H, W]")
        assertError(Self.file(Self.valid(trainImages: ("train.images", "F32", [0, 1, 2, 2], []),
                                         trainLabels: ("train.labels", "I32", [0], []))),
                    "\"train.images\" has shape [0, 1, 2, 2]")
        assertError(Self.file(Self.valid(trainImages: ("train.images", "F32", [6, 1, 2, 2], Self.f32([Float](repeating: 0, count: 23))))),
                    "\"train.images\" has shape [6, 1, 2, 2] (24 x 4 bytes) but 92 bytes of data")
    }

    func testLabelsOutsideTheClasses() {
        assertError(Self.file(Self.valid(testLabels: ("test.labels", "I64", [3], Self.i64([2, -1, 0])))),
                    "d.safetensors", "test.labels[1] = -1 is not a class label")
        assertError(Self.file(Self.valid()), classes: 2, "train.labels[2] = 2 is not a class in 0..<2 (data.classes)")
    }

    func testNonFiniteImages() {
        var x = (0..<12).map { Float($0) }
        x[9] = .nan
        assertError(Self.file(Self.valid(testImages: ("test.images", "F32", [3, 1, 2, 2], Self.f32(x)))),
                    "\"test.images\" holds a non-finite value (nan) in sample 2, element 1")
    }

    func testDamagedFiles() {
        let good = Self.file(Self.valid())
        assertError(Array(good.prefix(5)), "d.safetensors", "too short")
        assertError(Array(good.dropLast(4)), "\"test.labels\" data_offsets", "truncated file?")
        var huge = good
        huge.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(1 << 40).littleEndian, Array.init))
        assertError(huge, "header of 1099511627776 bytes exceeds")
        var long = good
        long.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(good.count).littleEndian, Array.init))
        assertError(long, "header claims")
        assertError([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0], "gzip-compressed", "gunzip")
        assertError(Self.file(Self.valid(), offsets: ["test.images": [0, 48]]), "overlap")
        let notJSON: [UInt8] = withUnsafeBytes(of: UInt64(3).littleEndian, Array.init) + Array("[1]".utf8)
        assertError(notJSON, "not a JSON object")
    }

    func testLayoutFromTheHeaderAlone() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sft-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("d.safetensors").path
        let bytes = Self.file(Self.valid())
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let layout = try SafeTensorsData.layout(path: path)
        XCTAssertEqual(layout.trainCount, 6)
        XCTAssertEqual(layout.testCount, 3)
        XCTAssertEqual(layout.sampleShape, [1, 2, 2])
        XCTAssertEqual(layout.fileBytes, bytes.count)
        XCTAssertEqual(layout.heldBytes, 9 * (4 * 4 + 4))
        XCTAssertEqual(layout.peakBytes, bytes.count + 9 * (4 * 4 + 4))
        XCTAssertThrowsError(try SafeTensorsData.layout(path: dir.appendingPathComponent("missing").path)) { e in
            XCTAssertTrue("\(e)".contains("not found"), "\(e)")
        }
    }

    /// The memory estimate reads the header alone and equals what a load holds; a missing file
    /// names data.path and where relative paths resolve.
    func testEstimateMatchesTheLoadedData() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sft-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(Self.file(Self.valid())).write(to: dir.appendingPathComponent("d.safetensors"))
        func config(_ path: String) throws -> TrainConfig {
            let text = #"{"data": {"dataset": "safetensors", "path": "PATH"}, "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 3}]}}"#
            return try TrainConfig.parse(JSON.parse(Array(text.replacingOccurrences(of: "PATH", with: path).utf8), source: "t"),
                                         baseDirectory: dir.path)
        }
        let c = try config("d.safetensors")
        let e = try DataSource.estimate(c)
        let loaded = try DataSource.load(c, recorder: Recorder(seed: 1, level: .grads, sink: NullSink()))
        XCTAssertEqual([e.trainCount, e.testCount], [loaded.train.count, loaded.test.count])
        XCTAssertEqual(e.sampleShape, loaded.train.sampleShape)
        XCTAssertEqual(e.held, (loaded.train.images.count + loaded.test.images.count + loaded.train.count + loaded.test.count) * 4)
        XCTAssertEqual(e.peak, e.held + Self.file(Self.valid()).count)
        XCTAssertTrue(e.what.hasSuffix("(\(dir.path)/d.safetensors)"), e.what)
        XCTAssertThrowsError(try DataSource.estimate(try config("gone.safetensors"))) { e in
            XCTAssertTrue("\(e)".contains("data.path: \(dir.path)/gone.safetensors not found; relative paths resolve against the config's directory"), "\(e)")
        }
    }

    func testConfigKeys() throws {
        let dir = "/cfg/dir"
        func parse(_ data: String) throws -> TrainConfig {
            try TrainConfig.parse(JSON.parse(Array("{\"data\": \(data), \"model\": {\"layers\": [{\"type\": \"flatten\"}]}}".utf8), source: "t"),
                                  baseDirectory: dir)
        }
        let c = try parse(#"{"dataset": "safetensors", "path": "sub/d.safetensors", "classes": 10}"#)
        XCTAssertEqual(c.data.safetensors, .init(path: "sub/d.safetensors", classes: 10, scale: nil))
        XCTAssertEqual(c.resolvePath("sub/d.safetensors"), "/cfg/dir/sub/d.safetensors", "relative to the config's directory")
        guard case .object(let data)? = c.resolved["data"] else { return XCTFail("no resolved data") }
        XCTAssertEqual(data["path"], .string("sub/d.safetensors"))
        XCTAssertEqual(data["classes"], .number(10))
        XCTAssertThrowsError(try parse(#"{"dataset": "safetensors"}"#)) { XCTAssertTrue("\($0)".contains("data.path: missing"), "\($0)") }
        XCTAssertThrowsError(try parse(#"{"dataset": "safetensors", "path": "d", "scale": -1}"#)) {
            XCTAssertTrue("\($0)".contains("data.scale"), "\($0)")
        }
        XCTAssertThrowsError(try parse(#"{"dataset": "digits", "path": "d.safetensors"}"#)) {
            XCTAssertTrue("\($0)".contains("data.path"), "a path with another dataset is an unknown key: \($0)")
        }
    }
}
