import Foundation
import Recorder

/// A replay session's sink: compares every event against the record as it arrives, so the first
/// mismatch in execution order is the first divergent tensor. Bits or nothing: no tolerances.
final class ReplaySink: RecordSink {
    let reader: RecordReader
    let untilDiverge: Bool
    let payloadSteps: Set<Int>
    /// The record's steps, verified as they are read (on another thread, beside the training).
    private let recorded: VerifiedSteps
    /// The recorded step the replay is at (or the next one); nil past the record's last step.
    private var current: VerifiedSteps.Step?
    private var orderCache: (step: Int, orders: [Int: (site: String, order: [Int])])?
    /// The replay's evaluations, compared with the record's once it is verified (`compareEvaluations`).
    private var replayedEvaluations: [Evaluation] = []
    /// The first divergent tensor and the first divergent draw or data order.
    private(set) var first = FirstDivergences()
    private(set) var divergentSteps: [Int] = []
    private(set) var evaluationMismatches: [EvaluationMismatch] = []
    private(set) var compared = 0
    private var stepDiverged = false
    /// The current step's events matched against the record's (`EventAlignment`).
    private var alignment: (step: Int, events: EventAlignment)?
    private var stop = false
    /// First read error (a tampered or corrupt step); raised at the next step end.
    private var readError: Error?

    init(reader: RecordReader, recorded: VerifiedSteps, untilDiverge: Bool) throws {
        self.reader = reader
        self.recorded = recorded
        self.untilDiverge = untilDiverge
        payloadSteps = try reader.stepsWithPayload()
        current = try recorded.next()
        if current == nil { stop = true }
    }

    var shouldStop: Bool { stop }
    func wantsPayload(step: Int) -> Bool { payloadSteps.contains(step) }

    /// The recorded events of `step`, nil when the record does not hold it. The replay asks in
    /// step order, so the steps before it are passed.
    private func expected(_ step: Int) -> [RecordedEvent]? {
        while let c = current, c.step < step { advance() }
        guard let c = current, c.step == step else { return nil }
        return c.events
    }

    private func advance() {
        do { current = try recorded.next() } catch {
            readError = readError ?? error
            current = nil
        }
    }

    /// The recorded order of a parallel reduction, imposed on the replay (nil when the record has
    /// none at this position: the replay then uses its own order and the event comparison reports it).
    func recordedReductionOrder(step: Int, seq: Int, site: String) -> [Int]? {
        guard let events = expected(step) else { return nil }
        if orderCache?.step != step {
            do { orderCache = (step, try reader.reductionOrders(step: step, events: events)) } catch {
                readError = readError ?? error
                orderCache = (step, [:])
            }
        }
        guard let o = orderCache?.orders[seq], o.site == site else { return nil }
        return o.order
    }

    func event(_ e: RecordedEvent) {
        guard let exp = expected(e.step) else { return }
        compared += 1
        if alignment?.step != e.step { alignment = (e.step, EventAlignment(exp)) }
        let (divergences, matched) = alignment!.events.match(e)
        for var d in divergences {
            if d.kind == .hash, let x = matched, let actual = e.payload, e.dtype == .float32,
               let stored = try? reader.payload(step: x.step, seq: x.seq) {
                d.values = ValueDiff.compare(expected: stored, actual: actual)
            }
            note(d)
        }
    }

    private func note(_ d: Divergence) {
        stepDiverged = true
        first.note(d)
    }

    func endStep(_ summary: StepSummary, events: [RecordedEvent]) throws {
        if let readError { throw readError }
        guard let exp = expected(summary.step) else { stop = true; return }
        if let d = EventAlignment.firstUnmatched(alignment, step: summary.step, expected: exp) { note(d) }
        alignment = nil
        if stepDiverged { divergentSteps.append(summary.step) }
        if untilDiverge && stepDiverged { stop = true }
        stepDiverged = false
        advance()
        if let readError { throw readError }
        if current == nil { stop = true }
    }

    func evaluation(_ e: Evaluation) throws {
        replayedEvaluations.append(e)
    }

    /// Notes the replay's evaluations whose predictions differ from the record's (`recorded`: its
    /// verified evaluations).
    func compareEvaluations(_ recorded: [Evaluation]) {
        var byKey: [String: Evaluation] = [:]
        for e in recorded { byKey["\(e.step)/\(e.split)"] = e }
        for e in replayedEvaluations {
            guard let r = byKey["\(e.step)/\(e.split)"], r.predictionsHash != e.predictionsHash else { continue }
            evaluationMismatches.append(EvaluationMismatch(step: e.step, split: e.split, recordedAccuracy: r.accuracy, replayedAccuracy: e.accuracy))
        }
    }
}
