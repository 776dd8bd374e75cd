import Foundation
import XCTest
@testable import Recorder

/// The per-tensor statistics of docs/record-format.md section 2.
final class TensorStatsTests: XCTestCase {
    func stats(_ v: [Float]) -> TensorStats { v.withUnsafeBufferPointer { TensorStats(floats: $0) } }

    func testSmallKnownValues() {
        let s = stats([1, -2, 3, 4])
        XCTAssertEqual(s, TensorStats(nonFinite: 0, min: -2, max: 4, mean: 1.5, l2: (30.0).squareRoot()))
    }

    func testNonFiniteElementsAreCountedAndLeftOut() {
        let s = stats([.nan, 2, .infinity, -.infinity, -0.5, -.nan, .signalingNaN])
        XCTAssertEqual(s.nonFinite, 5)
        XCTAssertEqual(s.min, -0.5)
        XCTAssertEqual(s.max, 2)
        XCTAssertEqual(s.mean, 0.75)
        XCTAssertEqual(s.l2, (4.25).squareRoot())
        XCTAssertEqual(stats([.nan, .infinity]), TensorStats(nonFinite: 2, min: nil, max: nil, mean: nil, l2: nil), "no finite element")
        XCTAssertEqual(stats([]), TensorStats(nonFinite: 0, min: nil, max: nil, mean: nil, l2: nil), "empty")
    }

    func testZeroExtremesAreStoredAsPositiveZero() {
        let s = stats([-0.0, -0.0, 0.0])
        XCTAssertEqual(s.min?.sign, .plus)
        XCTAssertEqual(s.max?.sign, .plus)
        XCTAssertEqual(stats([-0.0]).min?.sign, .plus)
    }

    /// Every length around the 16-lane blocks, values whose sums are exact in Float64 (so any
    /// order gives the same bits), at every alignment of the input.
    func testMatchesAnExactReferenceAtEveryLengthAndAlignment() {
        for n in [1, 2, 15, 16, 17, 31, 32, 33, 100, 1001] {
            let v = (0..<n).map { Float(($0 * 37) % 101) - 50 }
            let sum = v.reduce(0.0) { $0 + Double($1) }, sq = v.reduce(0.0) { $0 + Double($1) * Double($1) }
            let expected = TensorStats(nonFinite: 0, min: Double(v.min()!) + 0, max: Double(v.max()!) + 0, mean: sum / Double(n), l2: sq.squareRoot())
            for offset in 0..<4 {
                var raw = [UInt8](repeating: 0, count: offset)
                v.withUnsafeBytes { raw.append(contentsOf: $0) }
                let s = raw.withUnsafeBytes { TensorStats(dtype: .float32, raw: UnsafeRawBufferPointer(rebasing: $0[offset...])) }
                XCTAssertEqual(s, expected, "n \(n) offset \(offset)")
            }
        }
    }

    /// Sums that do round: the blocked order is deterministic and within rounding of a plain sum.
    func testRoundedSumsAreDeterministicAndClose() {
        var rng = RandomStream(seed: 3, site: "stats")
        var v = [Float](repeating: 0, count: 12_345)
        v.withUnsafeMutableBufferPointer { rng.normal(into: $0) }
        v[17] = .nan; v[400] = -.infinity
        let a = stats(v), b = stats(v)
        XCTAssertEqual(a, b)
        // The definition written out (element i into lane i mod 16, lanes combined pairwise): the
        // vectorised kernel gives its bits exactly.
        var s = [Double](repeating: 0, count: 16), q = [Double](repeating: 0, count: 16), n = 0
        for (i, x) in v.enumerated() where x.isFinite { s[i % 16] += Double(x); q[i % 16] += Double(x) * Double(x); n += 1 }
        var w = 8
        while w >= 1 { for j in 0..<w { s[j] += s[j + w]; q[j] += q[j + w] }; w /= 2 }
        XCTAssertEqual(a.mean, s[0] / Double(n))
        XCTAssertEqual(a.l2, q[0].squareRoot())
        XCTAssertEqual(a.nonFinite, 2)
        let finite = v.filter(\.isFinite)
        let plain = finite.reduce(0.0) { $0 + Double($1) } / Double(finite.count)
        XCTAssertEqual(a.mean!, plain, accuracy: 1e-12)
        let l2 = finite.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        XCTAssertEqual(a.l2!, l2, accuracy: 1e-9 * l2)
    }

    /// A finite tensor takes the unmasked pass (fused square-adds, 4-wide Float64 lanes): its bits
    /// are still those of the definition written out, for rounding sums of large, tiny (subnormal)
    /// and signed-zero values, and a NaN in the last partial block leaves the full blocks to it.
    func testFinitePassGivesTheDefinitionsBits() {
        var rng = RandomStream(seed: 11, site: "stats-finite")
        var v = [Float](repeating: 0, count: 4_099)
        v.withUnsafeMutableBufferPointer { rng.normal(into: $0) }
        for i in stride(from: 0, to: v.count, by: 7) { v[i] *= 3e37 }
        for i in stride(from: 3, to: v.count, by: 11) { v[i] = Float(bitPattern: UInt32(i)) }   // subnormals
        v[5] = -0.0
        func definition(_ v: [Float]) -> TensorStats {
            var s = [Double](repeating: 0, count: 16), q = s, n = 0, bad = 0
            var lo = Float.infinity, hi = -Float.infinity
            for (i, x) in v.enumerated() {
                guard x.isFinite else { bad += 1; continue }
                s[i % 16] += Double(x); q[i % 16] += Double(x) * Double(x); n += 1
                lo = Swift.min(lo, x); hi = Swift.max(hi, x)
            }
            var w = 8
            while w >= 1 { for j in 0..<w { s[j] += s[j + w]; q[j] += q[j + w] }; w /= 2 }
            return TensorStats(nonFinite: bad, min: Double(lo) + 0, max: Double(hi) + 0, mean: s[0] / Double(n), l2: q[0].squareRoot())
        }
        XCTAssertEqual(stats(v), definition(v))
        var tailNaN = v
        tailNaN[v.count - 1] = .nan
        XCTAssertEqual(stats(tailNaN), definition(tailNaN))
        var blockInf = v
        blockInf[2_000] = .infinity
        XCTAssertEqual(stats(blockInf), definition(blockInf), "a full block holding an infinity: the masked pass from the start")
    }

    func testIntegerTensors() {
        let ints: [Int32] = [3, -7, 12, 0, 5]
        let s = ints.withUnsafeBytes { TensorStats(dtype: .int32, raw: $0) }
        XCTAssertEqual(s, TensorStats(nonFinite: 0, min: -7, max: 12, mean: 2.6, l2: (227.0).squareRoot()))
        let bytes: [UInt8] = [255, 0, 7]
        XCTAssertEqual(bytes.withUnsafeBytes { TensorStats(dtype: .uint8, raw: $0) },
                       TensorStats(nonFinite: 0, min: 0, max: 255, mean: 262.0 / 3, l2: (65074.0).squareRoot()))
        let wide: [Int64] = [-1 << 40, 1 << 40, 2]
        XCTAssertEqual(wide.withUnsafeBytes { TensorStats(dtype: .int64, raw: $0) }.min, -0x1p40)
        let doubles: [Double] = [.nan, 1.5, -2.5]
        XCTAssertEqual(doubles.withUnsafeBytes { TensorStats(dtype: .float64, raw: $0) },
                       TensorStats(nonFinite: 1, min: -2.5, max: 1.5, mean: -0.5, l2: (8.5).squareRoot()))
    }

    /// The recorder stores the statistics of every tensor and the reader gives them back.
    func testStatisticsRoundTripThroughARecord() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cwrepro-stats-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("run.cwr").path
        let writer = try RecordWriter(path: path, header: RecordHeader(configGiven: "{}", configResolved: "{}", configPath: "/x.json",
                                                                       semantics: "pytorch", level: .grads, environment: [:], cwreproVersion: "test"))
        let rec = Recorder(seed: 1, sink: writer)
        rec.record(name: "w", role: .param, shape: [5], floats: [1, .nan, -3, 0.25, .infinity])
        rec.record(name: "y", role: .batch, shape: [3], ints: [4, 0, 9])
        rec.record(name: "empty", role: .param, shape: [0], floats: [])
        try rec.endStep(loss: 0, lr: 0, nextStep: 0, nextEpoch: 0)
        try writer.finish()
        let e = try RecordReader(path: path).events(step: initStep)
        XCTAssertEqual(e[0].stats, TensorStats(nonFinite: 2, min: -3, max: 1, mean: -1.75 / 3, l2: (10.0625).squareRoot()))
        XCTAssertEqual(e[1].stats, TensorStats(nonFinite: 0, min: 0, max: 9, mean: 13.0 / 3, l2: (97.0).squareRoot()))
        XCTAssertEqual(e[2].stats, TensorStats(nonFinite: 0, min: nil, max: nil, mean: nil, l2: nil))
    }
}
