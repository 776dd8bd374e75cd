import XCTest
@testable import Recorder

final class TensorHashTests: XCTestCase {
    func testKnownXXH3Value() {
        // XXH3-64 of the empty input with seed 0 (from the xxHash reference).
        XCTAssertEqual(TensorHash.bytes(UnsafeRawBufferPointer(start: nil, count: 0)), 0x2D06_8005_38D3_94C2)
    }

    func testPermutedReshapedAndRetypedTensorsHashDifferently() {
        let v: [Float] = [1, 2, 3, 4, 5, 6]
        let h = TensorHash.floats(v, shape: [2, 3])
        XCTAssertEqual(h, TensorHash.floats(v, shape: [2, 3]))
        XCTAssertNotEqual(h, TensorHash.floats([2, 1, 3, 4, 5, 6], shape: [2, 3]), "a permutation must change the hash")
        XCTAssertNotEqual(h, TensorHash.floats(v, shape: [3, 2]), "the shape is part of the hash")
        let asInts = v.map { Int32(bitPattern: $0.bitPattern) }
        XCTAssertNotEqual(h, asInts.withUnsafeBytes { TensorHash.tensor(dtype: .int32, shape: [2, 3], raw: $0) }, "the dtype is part of the hash")
        XCTAssertNotEqual(TensorHash.floats([0.0], shape: [1]), TensorHash.floats([-0.0], shape: [1]), "bits, not values")
    }

    func testStepDigestIsOrderSensitive() {
        let a = ("1.weight", "param", UInt64(1)), b = ("1.bias", "param", UInt64(2))
        XCTAssertNotEqual(TensorHash.digest([a, b]), TensorHash.digest([b, a]))
        XCTAssertNotEqual(TensorHash.digest([a]), TensorHash.digest([("1.weight", "grad", UInt64(1))]))
    }

    func testNonFiniteCountCountsNaNAndInfOnly() {
        let v: [Float] = [0, -0.0, 1, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude,
                          .nan, -.nan, .signalingNaN, .infinity, -.infinity, 3]
        XCTAssertEqual(v.withUnsafeBufferPointer { Recorder.nonFiniteCount($0) }, 5)
        XCTAssertEqual([Float]().withUnsafeBufferPointer { Recorder.nonFiniteCount($0) }, 0)
        let many = (0..<1001).map { $0 % 7 == 0 ? Float.nan : Float($0) }
        XCTAssertEqual(many.withUnsafeBufferPointer { Recorder.nonFiniteCount($0) }, 143)
    }

    func testStoredShapeTextParsesBackToTheShape() {
        for shape in [[], [1], [32, 1, 8, 8], [1437], [0, 3]] {
            let e = RecordedEvent(step: 0, seq: 0, name: "x", role: .param, dtype: .float32, shape: shape, hash: 0, nonFinite: 0)
            XCTAssertEqual(RecordReader.dims(e.shapeText), shape)
        }
    }

    func testHex() {
        XCTAssertEqual(hex64(0xab), "00000000000000ab")
    }
}
