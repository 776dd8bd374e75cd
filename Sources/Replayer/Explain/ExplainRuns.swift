import Engine
import Foundation
import Recorder

extension Explain {
    /// What one training run ended with.
    struct Outcome: Sendable {
        var accuracy: Double
        var correct: Int
        var total: Int
        var finalLoss: Float
        var first: Divergence?
        var firstDraw: Divergence?
    }

    /// Trains `config` with `seed`, comparing against `reference` when given, else keeping its
    /// events in `trace` (and writing them to the record `recordPath`) when given.
    static func train(_ config: TrainConfig, seed: UInt64, level: RecordLevel, reference: [Int: [RecordedEvent]]?,
                      trace: TraceSink? = nil, recordPath: String? = nil) throws -> Outcome {
        var config = config
        config.seed = seed
        config.record.level = level
        let compare = reference.map { CompareSink(reference: $0) }
        let sink: RecordSink? = compare ?? trace
        let recorder: Recorder = if let sink { Recorder(seed: seed, level: level, sink: sink) } else { .plain(seed: seed) }
        let trainer = try Trainer(config: config, recorder: recorder)
        var writer: RecordWriter?
        if let recordPath, let trace {
            // The record's config is the one that ran: A's seed and the comparison's hash level.
            var given = config.given
            try given.set(path: ["seed"], to: .number(Double(seed)))
            try given.set(path: ["record", "level"], to: .string(level.rawValue))
            let ran = try TrainConfig.parse(given, baseDirectory: config.baseDirectory)
            let header = RecordHeader(
                configGiven: ran.given.text, configResolved: ran.resolved.text,
                configPath: URL(fileURLWithPath: config.baseDirectory).appendingPathComponent("explain-a.json").path,
                semantics: config.semantics.profile.rawValue, level: level,
                environment: EnvironmentPatch.currentEnvironment(config), cwreproVersion: EnvironmentProfile.cwreproVersion)
            let w = try RecordWriter(path: recordPath, header: header, keepTensors: 0, overwrite: true)
            for a in trainer.artifacts { try w.addArtifact(name: a.name, bytes: a.bytes) }
            recorder.sink = TeeSink(trace, w)
            writer = w
        }
        let r: RunResult
        do { r = try trainer.run() } catch { try? writer?.finish(.failed(reason: "\(error)")); throw error }
        try writer?.finish()
        compare?.finish(steps: r.steps)
        guard let e = r.final else { throw InputError("\(config.name): the run has no evaluation (no training step ran)") }
        return Outcome(accuracy: e.accuracy, correct: e.correct, total: e.total, finalLoss: r.finalLoss,
                       first: compare?.first.tensor, firstDraw: compare?.first.draw)
    }

    /// `body` over `xs`, `width` at a time, results in order. Training runs are independent (each
    /// has its own trainer, recorder and sinks; `reference` is read only); runs on one OpenBLAS
    /// thread share the process, a run on more holds it alone (`ProcessConfiguration`).
    static func parallelMap<T, R>(_ xs: [T], width: Int, _ body: (T) throws -> R) throws -> [R] {
        if width <= 1 { return try xs.map(body) }
        let results = Results<R>(count: xs.count)
        Parallel.perform(min(width, xs.count)) { worker in
            var i = worker
            while i < xs.count {
                results.set(i, Result { try body(xs[i]) })
                i += width
            }
        }
        return try results.all.map { try $0.get() }
    }

    /// Results written by the workers of `parallelMap`, each to its own slot, under a lock.
    private final class Results<R>: @unchecked Sendable {
        private let lock = NSLock()
        private var slots: [Result<R, Error>?]
        init(count: Int) { slots = Array(repeating: nil, count: count) }
        func set(_ i: Int, _ r: Result<R, Error>) { lock.lock(); slots[i] = r; lock.unlock() }
        var all: [Result<R, Error>] { lock.lock(); defer { lock.unlock() }; return slots.map { $0! } }
    }
}
