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

/// Compares a run's events with a `TraceSink`'s as they arrive, like `ReplaySink` but without a
/// record file and without stopping: explain needs the first divergence and the run's final
/// loss and accuracy from one training run. Bits or nothing.
final class CompareSink: RecordSink {
    let reference: [Int: [RecordedEvent]]
    /// The first divergent computed tensor (draws and orders excluded).
    private(set) var firstTensor: Divergence?
    /// The first divergent draw or data order (the evidence that randomness differs).
    private(set) var firstDraw: Divergence?

    init(reference: [Int: [RecordedEvent]]) { self.reference = reference }

    func wantsPayload(step: Int) -> Bool { false }
    var shouldStop: Bool { false }
    func evaluation(_ e: Evaluation) throws {}

    func event(_ e: RecordedEvent) {
        guard firstTensor == nil else { return }
        let expected = reference[e.step].flatMap { e.seq < $0.count ? $0[e.seq] : nil }
        note(Divergence.between(expected: expected, actual: e))
    }

    func endStep(_ summary: StepSummary, events: [RecordedEvent]) throws {
        guard firstTensor == nil, let exp = reference[summary.step], events.count < exp.count else { return }
        note(.missing(exp[events.count]))
    }

    /// Marks the end of the run: reference steps the run never reached are a divergence.
    func finish(steps: Int) {
        guard firstTensor == nil, let last = reference.keys.max(), last >= steps, let exp = reference[steps]?.first else { return }
        note(.missing(exp))
    }

    private func note(_ d: Divergence?) {
        guard let d else { return }
        if d.isDrawOrOrder {
            if firstDraw == nil { firstDraw = d }
        } else if firstTensor == nil {
            firstTensor = d
        }
    }
}
