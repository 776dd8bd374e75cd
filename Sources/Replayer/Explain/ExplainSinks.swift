import Recorder

/// Keeps every event of a run in memory, by step: the reference that explain's variants are
/// compared against (a record without the file).
final class TraceSink: RecordSink {
    private(set) var steps: [Int: [RecordedEvent]] = [:]
    func wantsPayload(step: Int) -> Bool { false }
    func event(_ e: RecordedEvent) {}
    func endStep(_ summary: StepSummary, events: [RecordedEvent]) throws { steps[summary.step] = events }
    func evaluation(_ e: Evaluation) throws {}
    var shouldStop: Bool { false }
}

/// Sends every event to a record file as well as to a `TraceSink` (`explain --record`).
final class TeeSink: RecordSink {
    let trace: TraceSink, writer: RecordWriter
    init(_ trace: TraceSink, _ writer: RecordWriter) { self.trace = trace; self.writer = writer }
    func wantsPayload(step: Int) -> Bool { writer.wantsPayload(step: step) }
    func event(_ e: RecordedEvent) { trace.event(e); writer.event(e) }
    func endStep(_ summary: StepSummary, events: [RecordedEvent]) throws {
        try trace.endStep(summary, events: events)
        try writer.endStep(summary, events: events)
    }
    func evaluation(_ e: Evaluation) throws { try trace.evaluation(e); try writer.evaluation(e) }
    var shouldStop: Bool { false }
}

/// Compares a run's events with a `TraceSink`'s as they arrive, like `ReplaySink` but without a
/// record file and without stopping: explain needs the first divergence and the run's final
/// loss and accuracy from one training run. Bits or nothing. Events are matched by name and role
/// within a step (the n-th occurrence with the n-th), not by position: a knob that removes a draw
/// (`init.bias` zeros) must not make every later tensor of the step look different.
final class CompareSink: RecordSink {
    let reference: [Int: [RecordedEvent]]
    /// The first divergent computed tensor, and the first divergent draw or data order.
    private(set) var first = FirstDivergences()
    private var step = Int.min
    private var index: [String: [RecordedEvent]] = [:]
    private var seen: [String: Int] = [:]

    init(reference: [Int: [RecordedEvent]]) { self.reference = reference }

    func wantsPayload(step: Int) -> Bool { false }
    var shouldStop: Bool { false }
    func evaluation(_ e: Evaluation) throws {}

    static func key(_ e: RecordedEvent) -> String { "\(e.role.rawValue)\u{0}\(e.name)" }

    func event(_ e: RecordedEvent) {
        if e.step != step {
            step = e.step
            index = Dictionary(grouping: reference[e.step] ?? [], by: Self.key)
            seen = [:]
        }
        let k = Self.key(e), n = seen[k, default: 0]
        seen[k] = n + 1
        let candidates = index[k] ?? []
        first.note(Divergence.between(expected: n < candidates.count ? candidates[n] : nil, actual: e))
    }

    func endStep(_ summary: StepSummary, events: [RecordedEvent]) throws {
        // Reference events of this step that the run did not produce, in the reference's order.
        let produced = Dictionary(grouping: events, by: Self.key).mapValues(\.count)
        var used: [String: Int] = [:]
        for x in reference[summary.step] ?? [] {
            let k = Self.key(x), n = used[k, default: 0]
            used[k] = n + 1
            if n >= produced[k, default: 0] { first.note(.missing(x)) }
        }
    }

    /// Marks the end of the run: reference steps the run never reached are a divergence.
    func finish(steps: Int) {
        guard first.tensor == nil, let exp = reference[steps]?.first else { return }
        first.note(.missing(exp))
    }
}
