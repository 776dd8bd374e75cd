import Presentation
import Recorder
@testable import Replayer
import XCTest

/// `EventAlignment`: a step's events matched by name and role, so that an event only one side has
/// is reported as missing or extra and the comparisons after it stay on the right tensors.
final class EventAlignmentTests: XCTestCase {
    func event(_ seq: Int, _ name: String, _ role: TensorRole, hash: UInt64 = 1, shape: [Int] = [2]) -> RecordedEvent {
        RecordedEvent(step: 0, seq: seq, name: name, role: role, dtype: .float32, shape: shape, hash: hash, nonFinite: 0)
    }

    /// Every divergence of `actual` against `expected`, in execution order, with the kind and name.
    func divergences(_ expected: [RecordedEvent], _ actual: [RecordedEvent]) -> [String] {
        var a = EventAlignment(expected)
        let found = actual.flatMap { a.match($0).divergences } + a.remaining()
        return found.map { "\($0.kind.rawValue) \($0.name)" }
    }

    func testADrawOnlyTheExpectedSideHasIsMissingAndTheRestStaysAligned() {
        let expected = [event(0, "init/1.weight", .draw), event(1, "init/1.bias", .draw), event(2, "1.weight", .param), event(3, "1.bias", .param)]
        let actual = [event(0, "init/1.weight", .draw), event(1, "1.weight", .param), event(2, "1.bias", .param, hash: 9)]
        XCTAssertEqual(divergences(expected, actual), ["missing init/1.bias", "hash 1.bias"])
    }

    func testADrawOnlyTheActualSideHasIsExtra() {
        let expected = [event(0, "batch.x", .batch), event(1, "1.weight", .grad)]
        let actual = [event(0, "augment/flip/step-0", .draw), event(1, "batch.x", .batch, hash: 5), event(2, "1.weight", .grad)]
        XCTAssertEqual(divergences(expected, actual), ["extra augment/flip/step-0", "hash batch.x"])
    }

    func testARenamedOrReshapedTensorTakesTheExpectedOnesPlace() {
        let expected = [event(0, "1.output", .activation), event(1, "2.output", .activation)]
        XCTAssertEqual(divergences(expected, [event(0, "1.out", .activation), event(1, "2.output", .activation)]), ["structure 1.out"])
        XCTAssertEqual(divergences(expected, [event(0, "1.output", .activation, shape: [3]), event(1, "2.output", .activation)]), ["structure 1.output"])
    }

    /// The text of a renamed tensor in the other's place names both (two different models compared).
    func testARenamedTensorsTextNamesBoth() throws {
        var a = EventAlignment([event(0, "1.weight", .param, shape: [32, 64])])
        let d = try XCTUnwrap(a.match(event(0, "0.weight", .param, hash: 2, shape: [8, 1, 3, 3])).divergences.first)
        let lines = DivergenceText.lines(d, draw: nil, sides: .diff)
        XCTAssert(lines.contains { $0.hasPrefix("  A has 1.weight (param) with shape [32, 64], B has 0.weight with shape [8, 1, 3, 3]") }, "\(lines)")
    }

    func testFewerOrMoreEventsAtTheEndOfAStep() {
        let expected = [event(0, "loss", .loss), event(1, "1.weight", .grad)]
        XCTAssertEqual(divergences(expected, [event(0, "loss", .loss)]), ["missing 1.weight"])
        XCTAssertEqual(divergences(expected, expected + [event(2, "reduce/1.weight/step-0", .reduction)]), ["extra reduce/1.weight/step-0"])
        XCTAssertEqual(divergences(expected, expected), [])
    }
}
