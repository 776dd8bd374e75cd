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
/// loss and accuracy from one training run. Bits or nothing. Events are matched within a step as
/// replay and verify match them (`EventAlignment`: by name and role, in order), so a knob that
/// removes a draw (`init.bias` zeros) does not make every later tensor of the step look different.
final class CompareSink: RecordSink {
    let reference: [Int: [RecordedEvent]]
    /// The first divergent computed tensor, and the first divergent draw or data order.
    private(set) var first = FirstDivergences()
    /// The step in progress and its alignment with the reference's events.
    private var alignment: (step: Int, events: EventAlignment)?

    init(reference: [Int: [RecordedEvent]]) { self.reference = reference }

    func wantsPayload(step: Int) -> Bool { false }
    var shouldStop: Bool { false }
    func evaluation(_ e: Evaluation) throws {}

    func event(_ e: RecordedEvent) {
        if alignment?.step != e.step { alignment = (e.step, EventAlignment(reference[e.step] ?? [])) }
        for d in alignment!.events.match(e).divergences { first.note(d) }
    }

    func endStep(_ summary: StepSummary, events: [RecordedEvent]) throws {
        // Reference events of this step that the run did not produce, in the reference's order.
        guard let expected = reference[summary.step] else { return }
        if let alignment, alignment.step == summary.step {
            for d in alignment.events.remaining() { first.note(d) }
        } else {
            for x in expected { first.note(.missing(x)) }
        }
    }

    /// Marks the end of the run: reference steps the run never reached are a divergence.
    func finish(steps: Int) {
        guard first.tensor == nil, let exp = reference[steps]?.first else { return }
        first.note(.missing(exp))
    }
}
