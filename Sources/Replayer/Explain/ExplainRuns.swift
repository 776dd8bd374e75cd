import Engine
import Foundation
import Recorder

extension Explain {
    /// What one training run ended with.
    struct Outcome: Sendable {
        var configName: String
        var accuracy: Double
        var correct: Int
        var total: Int
        /// Training loss per step.
        var losses: [Float]
        var finalLoss: Float { losses.last ?? .nan }
        /// XXH3-64 of the final evaluation's predicted labels.
        var predictionsHash: UInt64
        var first: Divergence?
        var firstDraw: Divergence?

        /// Two runs with the same final loss bits and the same test predictions.
        var identity: String { "\(finalLoss.bitPattern)-\(predictionsHash)" }
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
        do { r = try trainer.run() } catch { _ = try? writer?.finish(.failed(reason: "\(error)")); throw error }
        try writer?.finish()
        compare?.finish(steps: r.steps)
        guard let e = r.final else { throw InputError("\(config.name): the run has no evaluation (no training step ran)") }
        return Outcome(configName: config.name, accuracy: e.accuracy, correct: e.correct, total: e.total, losses: r.losses,
                       predictionsHash: e.predictionsHash, first: compare?.first.tensor, firstDraw: compare?.first.draw)
    }

    /// `body` over `xs`, `width` at a time, results in order. Each worker takes the next job when
    /// it finishes one (runs differ in length: a hashed run is slower than a plain one). Training
    /// runs are independent (each has its own trainer, recorder and sinks; a `reference` is read
    /// only); runs on one OpenBLAS thread share the process, a run on more holds it alone
    /// (`ProcessConfiguration`).
    static func parallelMap<T, R>(_ xs: [T], width: Int, _ body: (T) throws -> R) throws -> [R] {
        if width <= 1 || xs.count <= 1 { return try xs.map(body) }
        let results = Results<R>(count: xs.count)
        Parallel.perform(min(width, xs.count)) { _ in
            while let i = results.next() { results.set(i, Result { try body(xs[i]) }) }
        }
        return try results.all.map { try $0.get() }
    }

    /// The job counter and the results of `parallelMap`'s workers, each result in its own slot,
    /// under a lock.
    private final class Results<R>: @unchecked Sendable {
        private let lock = NSLock()
        private var slots: [Result<R, Error>?]
        private var taken = 0
        init(count: Int) { slots = Array(repeating: nil, count: count) }
        func next() -> Int? {
            lock.lock(); defer { lock.unlock() }
            guard taken < slots.count else { return nil }
            taken += 1
            return taken - 1
        }
        func set(_ i: Int, _ r: Result<R, Error>) { lock.lock(); slots[i] = r; lock.unlock() }
        var all: [Result<R, Error>] { lock.lock(); defer { lock.unlock() }; return slots.map { $0! } }
    }
}
