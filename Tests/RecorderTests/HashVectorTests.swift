import Foundation
import XCTest
@testable import Recorder

/// The known-answer vectors of testdata/hash-vectors.json, shared with the Python package
/// (python/tests/test_hash_vectors.py): the Swift and the Python implementations of the tensor
/// hash, header hash, step digest and statistics must give the same bits on every vector.
/// The file is written by python/tools/make_hash_vectors.py; its format is described there.
final class HashVectorTests: XCTestCase {
    struct Vectors: Decodable {
        var format: String
        var version: Int
        var tensors: [TensorVector]
        var distinct: [[String]]
        var digests: [DigestVector]
    }

    struct TensorVector: Decodable {
        var label: String
        var dtype: String
        var shape: [Int]
        var values: [Value]
        var bytes: String
        var header: String
        var hash: String
        var stats: Stats
    }

    struct Stats: Decodable, Equatable {
        var nonfinite: Int
        var min: Double?
        var max: Double?
        var mean: Double?
        var l2: Double?
    }

    /// A number, or "0x..." with the IEEE-754 bit pattern of a float that JSON cannot spell (NaN, Inf, -0.0).
    enum Value: Decodable {
        case number(Double), bits(UInt64)
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) {
                guard s.hasPrefix("0x"), let b = UInt64(s.dropFirst(2), radix: 16) else {
                    throw DecodingError.dataCorruptedError(in: c, debugDescription: "bad bit pattern \(s)")
                }
                self = .bits(b)
            } else {
                self = .number(try c.decode(Double.self))
            }
        }
    }

    struct DigestVector: Decodable {
        struct Entry: Decodable { var name: String; var role: String; var hash: String }
        var label: String
        var entries: [Entry]
        var input: String
        var digest: String
    }

    static let vectorsURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("testdata/hash-vectors.json")

    func loadVectors() throws -> Vectors {
        let data = try Data(contentsOf: Self.vectorsURL)
        let v = try JSONDecoder().decode(Vectors.self, from: data)
        XCTAssertEqual(v.format, "cwrepro-hash-vectors")
        XCTAssertEqual(v.version, 1)
        return v
    }

    func dtype(_ name: String) throws -> DType {
        let all: [DType] = [.float32, .int32, .uint32, .int64, .float64, .uint8]
        return try XCTUnwrap(all.first { $0.name == name }, "unknown dtype \(name)")
    }

    /// The little-endian bytes of the spelled-out values (independent of the file's `bytes`).
    func encode(_ values: [Value], _ d: DType) throws -> [UInt8] {
        var out: [UInt8] = []
        func append<T: FixedWidthInteger>(_ x: T) { withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) } }
        for v in values {
            switch (d, v) {
            case (.float32, .number(let x)):
                let f = Float(x)
                XCTAssertEqual(Double(f), x, "\(x) is not exactly a Float")
                append(f.bitPattern)
            case (.float32, .bits(let b)): append(UInt32(b))
            case (.float64, .number(let x)): append(x.bitPattern)
            case (.float64, .bits(let b)): append(b)
            case (.int32, .number(let x)): append(try XCTUnwrap(Int32(exactly: x)))
            case (.uint32, .number(let x)): append(try XCTUnwrap(UInt32(exactly: x)))
            case (.int64, .number(let x)): append(try XCTUnwrap(Int64(exactly: x)))
            case (.uint8, .number(let x)): append(try XCTUnwrap(UInt8(exactly: x)))
            default: XCTFail("value \(v) cannot be a \(d.name)")
            }
        }
        return out
    }

    func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    func testTensorAndHeaderHashesMatchTheVectors() throws {
        let v = try loadVectors()
        XCTAssertGreaterThanOrEqual(v.tensors.count, 20)
        for t in v.tensors {
            let d = try dtype(t.dtype)
            let bytes = try encode(t.values, d)
            XCTAssertEqual(bytes.count, t.shape.reduce(1, *) * d.size, t.label)
            XCTAssertEqual(hex(bytes), t.bytes, "\(t.label): the values encode to other bytes")
            XCTAssertEqual(hex64(TensorHash.header(dtype: d, shape: t.shape)), t.header, "\(t.label): header hash")
            let h = bytes.withUnsafeBytes { TensorHash.tensor(dtype: d, shape: t.shape, raw: $0) }
            XCTAssertEqual(hex64(h), t.hash, "\(t.label): tensor hash")
        }
    }

    func testDistinctGroupsHashDifferently() throws {
        let v = try loadVectors()
        let hashes = Dictionary(uniqueKeysWithValues: v.tensors.map { ($0.label, $0.hash) })
        for group in v.distinct {
            let hs = try group.map { try XCTUnwrap(hashes[$0], "no vector \($0)") }
            XCTAssertEqual(Set(hs).count, group.count, "hashes should all differ: \(group)")
        }
    }

    func testStepDigestsMatchTheVectors() throws {
        let v = try loadVectors()
        for d in v.digests {
            let entries = try d.entries.map { ($0.name, $0.role, try XCTUnwrap(UInt64($0.hash, radix: 16))) }
            var input: [UInt8] = []
            for (n, r, h) in entries { TensorHash.appendDigestEntry(name: n, role: r, hash: h, to: &input) }
            XCTAssertEqual(hex(input), d.input, "\(d.label): digest input bytes")
            XCTAssertEqual(hex64(TensorHash.digest(entries)), d.digest, "\(d.label): digest")
        }
    }

    /// The statistics definition (docs/trace-format.md section 3, docs/record-format.md section 2)
    /// written out as plain loops: the non-finite count, min and max over the finite elements,
    /// and the sums in cwrepro's order (element i, a non-finite one as +0.0, into accumulator
    /// i mod 16 from +0.0; the 16 combined pairwise). It must give the vectors' bits, as the
    /// Python package does. `testRecorderStatisticsGiveTheVectorsBits` checks the Recorder's
    /// TensorStats (the vectorised kernel) against the same bits.
    func testStatisticsDefinitionGivesTheVectorsBits() throws {
        let v = try loadVectors()
        for t in v.tensors {
            let d = try dtype(t.dtype)
            let bytes = try encode(t.values, d)
            var xs: [Double] = [], nonfinite = 0
            var s = [Double](repeating: 0, count: 16), q = [Double](repeating: 0, count: 16)
            bytes.withUnsafeBytes { raw in
                for i in 0..<(bytes.count / d.size) {
                    let x: Double
                    switch d {
                    case .float32: x = Double(Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                    case .float64: x = Double(bitPattern: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
                    case .int32: x = Double(raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))
                    case .uint32: x = Double(raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
                    case .int64: x = Double(raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
                    case .uint8: x = Double(raw[i])
                    }
                    if x.isFinite { xs.append(x) } else { nonfinite += 1 }
                    let f = x.isFinite ? x : 0
                    s[i % 16] += f
                    q[i % 16] += f * f
                }
            }
            if d == .float32 {
                let floats = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                XCTAssertEqual(floats.withUnsafeBufferPointer { Recorder.nonFiniteCount($0) }, t.stats.nonfinite, t.label)
            }
            var expected = Stats(nonfinite: nonfinite, min: nil, max: nil, mean: nil, l2: nil)
            if !xs.isEmpty {
                var w = 8
                while w >= 1 {
                    for j in 0..<w { s[j] += s[j + w]; q[j] += q[j + w] }
                    w /= 2
                }
                expected.min = xs.min()! + 0.0
                expected.max = xs.max()! + 0.0
                expected.mean = s[0] / Double(xs.count)
                expected.l2 = q[0].squareRoot()
            }
            XCTAssertEqual(expected, t.stats, t.label)
        }
    }

    /// The Recorder's statistics (Sources/CTensorStats, AVX2 or baseline clone) give the vectors'
    /// bits, at every alignment of the input.
    func testRecorderStatisticsGiveTheVectorsBits() throws {
        for t in try loadVectors().tensors {
            let d = try dtype(t.dtype)
            let bytes = try encode(t.values, d)
            for offset in [0, 1, 3] {
                let padded = [UInt8](repeating: 0xAB, count: offset) + bytes
                let s = padded.withUnsafeBytes { TensorStats(dtype: d, raw: UnsafeRawBufferPointer(rebasing: $0[offset...])) }
                XCTAssertEqual(Stats(nonfinite: s.nonFinite, min: s.min, max: s.max, mean: s.mean, l2: s.l2), t.stats, "\(t.label), offset \(offset)")
            }
        }
    }
}
