import XCTest
@testable import Recorder

/// The byte builders behind the step checksum must produce exactly the interpolated text the
/// checksum was defined over: records written before them must still verify.
final class RecordTextTests: XCTestCase {
    /// The step checksum as first defined: String interpolation of every field.
    func interpolatedChecksum(_ s: StepSummary, _ events: [RecordedEvent]) -> UInt64 {
        var text = "\(s.step)|\(s.epoch)|\(s.loss.bitPattern)|\(s.lr.bitPattern)|\(s.digest)|\(s.tensorCount)\n"
        for e in events {
            text += "\(e.seq)|\(e.name)|\(e.role.rawValue)|\(e.dtype.name)|\(e.shapeText)|\(e.hash)|\(e.nonFinite)\n"
        }
        return TensorHash.string(text)
    }

    func testIntegersMatchInterpolation() {
        for v in [0, 1, -1, 9, 10, -10, 123_456_789, Int.max, Int.min] {
            var t = RecordText(); t.append(v)
            XCTAssertEqual(t.bytes, Array("\(v)".utf8), "\(v)")
        }
        var values: [UInt64] = [0, 7, 10, 99, 100, 101, 1 << 63, UInt64.max, UInt64.max - 1]
        var p: UInt64 = 1
        for _ in 0..<19 {
            p *= 10
            values += [p - 1, p, p + 1]
            if p <= UInt64.max / 10 { values.append(p * 9 + 9) }
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 { values.append(UInt64.random(in: 0...UInt64.max, using: &rng) >> UInt64.random(in: 0...63, using: &rng)) }
        for v in values {
            var t = RecordText(); t.append(v)
            XCTAssertEqual(t.bytes, Array("\(v)".utf8), "\(v)")
        }
    }

    func testShapeMatchesShapeText() {
        for shape in [[], [3], [64, 1, 3, 3], [0, 12]] {
            var t = RecordText(); t.appendShape(shape)
            let e = RecordedEvent(step: 0, seq: 0, name: "x", role: .param, dtype: .float32, shape: shape, hash: 0, nonFinite: 0)
            XCTAssertEqual(t.bytes, Array(e.shapeText.utf8))
        }
    }

    func testStepChecksumMatchesInterpolatedText() {
        let events = [
            RecordedEvent(step: -1, seq: 0, name: "init/1.weight", role: .draw, dtype: .float32, shape: [64, 10], hash: .max, nonFinite: 0),
            RecordedEvent(step: -1, seq: 1, name: "", role: .optimizerState, dtype: .int32, shape: [], hash: 0, nonFinite: 3),
            RecordedEvent(step: -1, seq: 2, name: "blöck.0.γ", role: .reduction, dtype: .uint8, shape: [1, 2, 3], hash: 1 << 40, nonFinite: 0),
        ]
        var scratch = RecordText()
        for (loss, step) in [(Float.nan, -1), (-0.0, 0), (2.5, 12_345), (Float.infinity, Int.max)] {
            let s = StepSummary(step: step, epoch: -3, loss: loss, lr: 1e-3, digest: 0xDEAD_BEEF_0123_4567, wallSeconds: 0.5,
                                tensorCount: events.count)
            XCTAssertEqual(RecordSchema.checksum(s, events), interpolatedChecksum(s, events))
            XCTAssertEqual(RecordSchema.checksum(s, events, text: &scratch), interpolatedChecksum(s, events))
        }
    }
    /// Readers build a step's text from the stored columns row by row (StepCheck, with no event
    /// objects); it must be byte for byte the text the writer hashed from its events, for both
    /// schemas, with and without kept digests, and the digest input must be TensorHash.digest's.
    func testTextFromStoredRowsIsTheWritersText() {
        let events = [
            RecordedEvent(step: 3, seq: 0, name: "init/1.weight", role: .draw, dtype: .float32, shape: [64, 10], hash: .max,
                          stats: TensorStats(nonFinite: 0, min: -0.5, max: 0.25, mean: 1e-9, l2: 3)),
            RecordedEvent(step: 3, seq: 1, name: "", role: .optimizerState, dtype: .int32, shape: [], hash: 0, nonFinite: 3),
            RecordedEvent(step: 3, seq: 2, name: "blöck.0.γ", role: .reduction, dtype: .uint8, shape: [1, 2, 3], hash: 1 << 40,
                          stats: TensorStats(nonFinite: 0, min: .nan, max: nil, mean: -0.0, l2: .infinity)),
        ]
        let kept: [RecordChain.Link?] = [Array(repeating: 0xAB, count: 32), nil, Array(repeating: 0xCD, count: 32)]
        let s = StepSummary(step: 3, epoch: 1, loss: 2.5, lr: 1e-3, digest: TensorHash.digest(events.map { ($0.name, $0.role.rawValue, $0.hash) }),
                            wallSeconds: 0.5, tensorCount: events.count)
        for schema in [1, 2] {
            var writer = RecordText()
            let expected: UInt64
            if schema >= 2 {
                RecordChain.stepText(s, events, kept: { kept[$0] }, into: &writer)
                expected = writer.bytes.withUnsafeBytes { TensorHash.bytes($0) }
            } else {
                expected = RecordSchema.checksum(s, events, text: &writer)
            }
            var check = StepCheck(schema: schema, path: "x.cwr")
            check.begin(s)
            for (i, e) in events.enumerated() {
                var name = e.name, shape = RecordText()
                shape.appendShape(e.shape)
                name.withUTF8 { n in
                    shape.bytes.withUnsafeBufferPointer { sh in
                        check.add(StoredTensorRow(step: e.step, seq: e.seq, name: n, role: e.role, dtype: e.dtype, shape: sh, hash: e.hash,
                                                  stats: schema >= 2 ? e.stats : TensorStats(nonFinite: e.nonFinite)),
                                  kept: schema >= 2 ? kept[i] : nil)
                    }
                }
            }
            if schema >= 2 { XCTAssertEqual(check.text.bytes, writer.bytes, "schema \(schema)") }
            XCTAssertNoThrow(try check.check(s, stored: expected), "schema \(schema)")
            XCTAssertThrowsError(try check.check(s, stored: expected ^ 1), "schema \(schema)")
        }
    }
}
