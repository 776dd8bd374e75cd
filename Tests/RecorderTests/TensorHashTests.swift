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

    /// The known-answer vectors of docs/record-format.md section 1.4 (computed with the reference
    /// Python `xxhash` package; the Python package tests the same table).
    func testKnownAnswerVectors() {
        func bits(_ v: [UInt32]) -> [Float] { v.map { Float(bitPattern: $0) } }
        let cases: [(DType, [Int], [UInt8], UInt64, UInt64)] = [
            (.float32, [], bytes([Float(1)]), 0x26f2_a114_8cf5_2011, 0x61f8_425a_2c91_35f1),
            (.float32, [2, 3], bytes([Float]([1, 2, 3, 4, 5, 6])), 0x0ab7_d81d_c732_25d9, 0x349c_6151_2275_a40c),
            (.float32, [3, 2], bytes([Float]([1, 2, 3, 4, 5, 6])), 0x95c6_cb84_987d_bdea, 0xbc9d_7ab9_c0f8_2cfe),
            (.float32, [4], bytes(bits([0, 0x8000_0000, 0x7fc0_0000, 0x7f80_0000])), 0x3b0d_aa1d_10fd_ec5a, 0xa908_d722_6b7f_f7c7),
            (.float32, [0], [], 0x8928_45e1_3539_8998, 0x8bad_c90c_7b83_5129),
            (.int32, [5], bytes([Int32]([3, 1, 4, 1, -5])), 0x4251_1fa6_e2e3_e4d1, 0x81f4_8b2b_75e7_5c7b),
            (.float32, [1000], bytes((0..<1000).map { Float($0) * Float(0.001) }), 0xb7a5_709a_10d0_36e9, 0xc7e3_2a5b_e150_6bf8),
        ]
        for (dtype, shape, raw, seed, hash) in cases {
            XCTAssertEqual(TensorHash.header(dtype: dtype, shape: shape), seed, "seed of \(dtype) \(shape)")
            XCTAssertEqual(raw.withUnsafeBytes { TensorHash.tensor(dtype: dtype, shape: shape, raw: $0) }, hash, "hash of \(dtype) \(shape)")
        }
        XCTAssertEqual(TensorHash.digest([("1.weight", "param", 1), ("1.bias", "param", 2)]), 0x8fd0_223c_45c7_4cd0)
    }

    private func bytes<T>(_ v: [T]) -> [UInt8] { v.withUnsafeBytes { Array($0) } }

    func testHex() {
        XCTAssertEqual(hex64(0xab), "00000000000000ab")
    }
}
