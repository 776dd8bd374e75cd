import Foundation
import XCTest
@testable import Recorder

/// A record verified on its own thread while its steps are taken (a replay's way of reading):
/// the same steps and events as the reader's, in order, whatever the pace of either side.
/// Tampering found this way: `SealedRecordTests.expectTampering` streams every case too.
final class VerifiedStepsTests: RecordDirectoryTestCase {
    func record(steps: Int = 5, finish: RecordStatus? = .complete) throws -> String {
        let p = path("run-\(UUID().uuidString.prefix(6)).cwr")
        try SealedRecordTests.writeRun(p, steps: steps, finish: finish)
        return p
    }

    func testStepsArriveInOrderWithTheReadersEvents() throws {
        let p = try record(steps: 9)
        let expected = try RecordReader(path: p)
        let reader = try RecordReader(path: p)
        for ahead in [1, 3, 1024] {
            let stream = try VerifiedSteps(reader: reader, aheadSteps: ahead)
            var seen: [Int] = []
            while let s = try stream.next() {
                XCTAssertEqual(s.events, try expected.events(step: s.step), "step \(s.step), \(ahead) ahead")
                seen.append(s.step)
                if s.step == 4 { Thread.sleep(forTimeInterval: 0.02) }   // the verifier waits, then goes on
            }
            XCTAssertEqual(seen, Array(-1...8))
            try stream.finish()
        }
        XCTAssertEqual(try reader.steps().map(\.step), Array(-1...8))
    }

    func testFinishVerifiesWhatWasNotTaken() throws {
        let p = try record(steps: 6)
        let reader = try RecordReader(path: p)
        let stream = try VerifiedSteps(reader: reader, aheadSteps: 1)
        XCTAssertEqual(try stream.next()?.step, -1)
        try stream.finish()
        XCTAssertEqual(try reader.steps().count, 7)
        XCTAssertNotNil(try reader.sealDigest())

        // The seal is checked after the last step: steps come, then finish throws.
        let broken = try record(steps: 3)
        try SealedRecordTests.edit(broken, "UPDATE meta SET value = 'x' WHERE key = 'finished_at'")
        let s2 = try VerifiedSteps(reader: try RecordReader(path: broken), aheadSteps: 1)
        XCTAssertEqual(try s2.next()?.step, -1)
        XCTAssertThrowsError(try s2.finish()) { XCTAssertTrue("\($0)".contains("its seal does not match"), "\($0)") }
    }

    func testATamperedStepStopsTheStepsThere() throws {
        let p = try record(steps: 6)
        try SealedRecordTests.edit(p, "UPDATE tensors SET hash = hash + 1 WHERE step = 3 AND seq = 0")
        let stream = try VerifiedSteps(reader: try RecordReader(path: p), aheadSteps: 2)
        var seen: [Int] = []
        XCTAssertThrowsError(try { while let s = try stream.next() { seen.append(s.step) } }()) { e in
            XCTAssertTrue("\(e)".contains("step 3 do not match their checksum"), "\(e)")
        }
        XCTAssertEqual(seen, [-1, 0, 1, 2])
        XCTAssertThrowsError(try stream.finish())
    }

    func testCancelEndsTheVerification() throws {
        let p = try record(steps: 20)
        let stream = try VerifiedSteps(reader: try RecordReader(path: p), aheadSteps: 1)
        XCTAssertEqual(try stream.next()?.step, -1)
        stream.cancel()
        XCTAssertThrowsError(try stream.finish()) { XCTAssertTrue($0 is CancellationError, "\($0)") }
    }
}
