import Engine
import Foundation
import Recorder

/// `Benchmarks step <config.json> [--batch N] [--threads N] [--reduction MODE] [--gemm MODE] [--steps N] [--warmup N] [--model out.json]`:
/// the wall time of one training step (median over blocks of 5 steps: forward, loss, backward, optimizer update, end of
/// step) of the config's model, without a record (plain) and recording at level `grads` into a
/// .cwr file. Prints one JSON line. `--model` writes the resolved layers, input shape and
/// optimizer settings, from which scripts/bench_torch.py builds the same model in PyTorch.
enum StepBench {
    struct Options {
        var config = "", batch: Int?, threads = 2, reduction: ReductionMode?, gemm: GEMMMode?, steps = 20, warmup = 3, modelOut: String?
    }

    static func parse(_ args: [String]) throws -> Options {
        var o = Options()
        var i = 0
        func value() throws -> String {
            i += 1
            guard i < args.count else { throw InputError("\(args[i - 1]): missing value") }
            return args[i]
        }
        func int() throws -> Int {
            let v = try value()
            guard let n = Int(v), n >= 1 else { throw InputError("\(args[i - 1]): expected a positive integer, found \(v)") }
            return n
        }
        while i < args.count {
            switch args[i] {
            case "--batch": o.batch = try int()
            case "--threads": o.threads = try int()
            case "--reduction":
                let v = try value()
                guard let m = ReductionMode(rawValue: v) else {
                    throw InputError("--reduction: \(v) is not a reduction mode; one of \(ReductionMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                o.reduction = m
            case "--gemm":
                let v = try value()
                guard let m = GEMMMode(rawValue: v) else {
                    throw InputError("--gemm: \(v) is not a GEMM; one of \(GEMMMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                o.gemm = m
            case "--steps": o.steps = try int()
            case "--warmup": o.warmup = try int()
            case "--model": o.modelOut = try value()
            case let a where !a.hasPrefix("-") && o.config.isEmpty: o.config = a
            default: throw InputError("step: unknown argument \(args[i]); usage: Benchmarks step <config.json> [--batch N] [--threads N] [--reduction MODE] [--gemm MODE] [--steps N] [--warmup N] [--model out.json]")
            }
            i += 1
        }
        guard !o.config.isEmpty else { throw InputError("step: give a config file") }
        return o
    }

    /// Process CPU time in ms (all threads): less disturbed than wall time when other work shares the cores.
    static func cpuMs() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) * 1e3 + Double(ts.tv_nsec) / 1e6
    }

    /// Median wall and CPU milliseconds per step of each trainer over `steps` timed steps after
    /// `warmup` untimed ones. The trainers take turns block by block (`block` consecutive steps
    /// each), so a change in machine load affects all of them alike (the record overhead is a
    /// difference of two such medians). A recording trainer's block ends when its writer has
    /// committed the block's rows (`flushes[k]`): the writer works on another thread, and timed
    /// step by step its commits landed in the plain trainer's next step (at 2 threads recording
    /// then looked 3-6% cheaper than training).
    static func timeSteps(_ trainers: [Trainer], flushes: [(() throws -> Void)?], batch: Int, warmup: Int, steps: Int,
                          block: Int = 5) throws -> [(wall: Double, cpu: Double)] {
        var wall = [[Double]](repeating: [], count: trainers.count), cpu = wall
        var next = [Int](repeating: 0, count: trainers.count)
        func run(_ k: Int, _ count: Int) throws {
            let t = trainers[k], n = t.data.train.count
            for _ in 0..<count {
                let s = next[k]
                let indices = (0..<batch).map { (s * batch + $0) % n }
                let loss = t.withProcessConfigured { t.trainStep(indices, step: s, lr: t.config.optimizer.lr) }
                _ = try t.recorder.endStep(loss: loss, lr: t.config.optimizer.lr, nextStep: s + 1, nextEpoch: 0)
                next[k] += 1
            }
            try flushes[k]?()
        }
        for k in trainers.indices { try run(k, warmup) }
        var timed = 0
        while timed < steps {
            let count = min(block, steps - timed)
            for k in trainers.indices {
                let t0 = DispatchTime.now().uptimeNanoseconds, c0 = cpuMs()
                try run(k, count)
                wall[k].append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6 / Double(count))
                cpu[k].append((cpuMs() - c0) / Double(count))
            }
            timed += count
        }
        return zip(wall, cpu).map { (median($0), median($1)) }
    }

    static func run(_ args: [String]) throws {
        let o = try parse(args)
        var config = try TrainConfig.load(path: o.config)
        if let b = o.batch { config.data.batchSize = b }
        config.determinism.threads = o.threads
        if let r = o.reduction { config.determinism.reduction = r }
        if let g = o.gemm { config.determinism.gemm = g }
        let batch = config.data.batchSize

        let plain = try Trainer(config: config, recorder: .plain(seed: config.seed))
        plain.model.initialize(plain.ctx)

        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cwrepro-step-\(getpid()).cwr").path
        defer { for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + s) } }
        let rec = Recorder(seed: config.seed, level: .grads)
        let recorded = try Trainer(config: config, recorder: rec)
        let writer = try RecordWriter(path: path, header: RecordHeader(configGiven: config.given.text, configResolved: config.resolved.text,
                                                                       configPath: o.config, semantics: config.semantics.profile.rawValue, level: .grads,
                                                                       environment: [:], cwreproVersion: "bench"), keepTensors: 0, overwrite: true)
        rec.sink = writer
        recorded.model.initialize(recorded.ctx)
        recorded.model.recordParams(rec)
        _ = try rec.endStep(loss: 0, lr: 0, nextStep: 0, nextEpoch: 0)
        let times = try timeSteps([plain, recorded], flushes: [nil, writer.flush], batch: batch, warmup: o.warmup, steps: o.steps)
        let (plainMs, recordMs) = (times[0], times[1])
        try writer.finish()

        if let out = o.modelOut {
            let model: JSON = .object([
                "name": .string(config.name), "inputShape": .array(plain.data.train.sampleShape.map { .number(Double($0)) }),
                "classes": .number(Double(plain.data.train.classes)), "layers": .array(plain.model.layerSpecs),
                "optimizer": .object(["lr": .number(Double(config.optimizer.lr)), "momentum": .number(Double(config.optimizer.momentum))]),
                "parameters": .number(Double(plain.model.params.trainableCount)),
            ])
            try Data(model.text.utf8).write(to: URL(fileURLWithPath: out))
        }
        let result: JSON = .object([
            "name": .string(config.name), "batch": .number(Double(batch)), "threads": .number(Double(o.threads)),
            "reduction": .string(config.determinism.reduction.rawValue), "gemm": .string(config.determinism.gemm.rawValue),
            "steps": .number(Double(o.steps)), "core": .string(BLAS.coreName),
            "plainMs": .number((plainMs.wall * 1000).rounded() / 1000), "recordGradsMs": .number((recordMs.wall * 1000).rounded() / 1000),
            "plainCpuMs": .number((plainMs.cpu * 1000).rounded() / 1000), "recordGradsCpuMs": .number((recordMs.cpu * 1000).rounded() / 1000),
        ])
        print(result.text)
    }
}
