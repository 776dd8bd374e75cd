import Foundation
import Recorder

/// A replay session's sink: compares every event against the record as it arrives, so the first
/// mismatch in execution order is the first divergent tensor. Bits or nothing: no tolerances.
final class ReplaySink: RecordSink {
    let reader: RecordReader
    let untilDiverge: Bool
    let lastStep: Int
    let payloadSteps: Set<Int>
    /// Recorded events of a window of steps, read together (`window` steps from the first one asked for).
    private var cache: (first: Int, steps: [[RecordedEvent]])?
    /// Steps read per query: one read transaction and one query per table for every `window`
    /// steps instead of per step (a per-step read cost more than a small model's training step).
    static let window = 64
    private var orderCache: (step: Int, orders: [Int: (site: String, order: [Int])])?
    private var recordedEvals: [String: Evaluation] = [:]
    /// The first divergent tensor and the first divergent draw or data order.
    private(set) var first = FirstDivergences()
    private(set) var divergentSteps: [Int] = []
    private(set) var evaluationMismatches: [EvaluationMismatch] = []
    private(set) var compared = 0
    private var stepDiverged = false
    private var stop = false
    /// First read error (a tampered or corrupt step); raised at the next step end.
    private var readError: Error?

    init(reader: RecordReader, untilDiverge: Bool) throws {
        self.reader = reader
        self.untilDiverge = untilDiverge
        lastStep = try reader.steps().last?.step ?? initStep - 1
        payloadSteps = try reader.stepsWithPayload()
        for e in try reader.evaluations() { recordedEvals["\(e.step)/\(e.split)"] = e }
    }

    var shouldStop: Bool { stop }
    func wantsPayload(step: Int) -> Bool { payloadSteps.contains(step) }

    private func expected(_ step: Int) -> [RecordedEvent] {
        if let c = cache, step >= c.first, step - c.first < c.steps.count { return c.steps[step - c.first] }
        let steps: [[RecordedEvent]]
        do { steps = try reader.events(steps: step...max(step, min(step + Self.window - 1, lastStep))) } catch {
            readError = readError ?? error
            steps = [[]]
        }
        cache = (step, steps)
        return steps[0]
    }

    /// The recorded order of a parallel reduction, imposed on the replay (nil when the record has
    /// none at this position: the replay then uses its own order and the event comparison reports it).
    func recordedReductionOrder(step: Int, seq: Int, site: String) -> [Int]? {
        guard step <= lastStep else { return nil }
        if orderCache?.step != step {
            do { orderCache = (step, try reader.reductionOrders(step: step, events: expected(step))) } catch {
                readError = readError ?? error
                orderCache = (step, [:])
            }
        }
        guard let o = orderCache?.orders[seq], o.site == site else { return nil }
        return o.order
    }

    func event(_ e: RecordedEvent) {
        guard e.step <= lastStep else { return }
        let exp = expected(e.step)
        compared += 1
        guard var d = Divergence.between(expected: e.seq < exp.count ? exp[e.seq] : nil, actual: e) else { return }
        if d.kind == .hash, let actual = e.payload, e.dtype == .float32, let stored = try? reader.payload(step: e.step, seq: e.seq) {
            d.values = ValueDiff.compare(expected: stored, actual: actual)
        }
        note(d)
    }

    private func note(_ d: Divergence) {
        stepDiverged = true
        first.note(d)
    }

    func endStep(_ summary: StepSummary, events: [RecordedEvent]) throws {
        if let readError { throw readError }
        guard summary.step <= lastStep else { stop = true; return }
        let exp = expected(summary.step)
        if events.count < exp.count { note(.missing(exp[events.count])) }
        if stepDiverged { divergentSteps.append(summary.step) }
        if untilDiverge && stepDiverged { stop = true }
        if summary.step == lastStep { stop = true }
        stepDiverged = false
    }

    func evaluation(_ e: Evaluation) throws {
        guard let r = recordedEvals["\(e.step)/\(e.split)"] else { return }
        if r.predictionsHash != e.predictionsHash {
            evaluationMismatches.append(EvaluationMismatch(step: e.step, split: e.split, recordedAccuracy: r.accuracy, replayedAccuracy: e.accuracy))
        }
    }
}
