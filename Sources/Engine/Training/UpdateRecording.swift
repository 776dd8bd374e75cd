import Recorder

/// What an optimizer step leaves for the record, in the record's order: every parameter in layout
/// order (role `param`), then each state buffer per trainable parameter (`1.weight.momentum_buffer`,
/// role `optimizer-state`). The places are reserved before the update; each entry is handed to the
/// recorder's second core as soon as the update has written it (`Optimizer.step(updated:)`), so
/// the first layers are hashed while the update goes on with the last ones.
struct UpdateRecording {
    private let recorder: Recorder
    /// Per entry of the store: its parameter's place, and its state buffers' places (none for an
    /// entry the optimizer does not train).
    private var params: [Recorder.Reserved?] = []
    private var states: [[Recorder.Reserved?]] = []

    init(_ store: ParameterStore, _ optimizer: Optimizer, _ recorder: Recorder) {
        self.recorder = recorder
        guard recorder.wants(.param) else { return }
        params = store.entries.map { e in
            recorder.reserve(name: e.name, role: .param, shape: e.shape, floats: UnsafeBufferPointer(store.values(of: e)))
        }
        states = Array(repeating: [], count: store.entries.count)
        if recorder.wants(.optimizerState) {
            let trained = store.entries.indices.filter { store.entries[$0].trainable }
            for (s, stateName) in optimizer.stateNames.enumerated() {
                let buffer = optimizer.stateBuffer(s)
                for (k, name) in zip(trained, store.trainableNames(suffix: stateName)) {
                    let e = store.entries[k]
                    states[k].append(recorder.reserve(name: name, role: .optimizerState, shape: e.shape,
                                                      floats: buffer.slice(e.offset, e.count)))
                }
            }
        }
        // Entries the optimizer does not write (BatchNorm's running statistics) are final already.
        for k in store.entries.indices where !store.entries[k].trainable { recorder.ready(params[k]) }
    }

    /// The optimizer has written entry `k` (and its state) for the last time in this step.
    func updated(_ k: Int) {
        guard !params.isEmpty else { return }
        recorder.ready(params[k])
        for s in states[k] { recorder.ready(s) }
    }
}
