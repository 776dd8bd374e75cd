import Engine
import Foundation
import Recorder

/// `Benchmarks determinism <config.json> [--rounds N]`: the step time of each determinism setting
/// (reduction mode, GEMM, thread count) of the config's model, relative to the default
/// (sequential, openblas, 1 thread). All settings train side by side in one process and take
/// their steps in turn, round after round, so that load from other processes falls on all of
/// them alike; each figure is the minimum (the cost without interference) and the median of the
/// wall time over the rounds. The OpenBLAS core type
/// is fixed per process: run it again under another OPENBLAS_CORETYPE to compare cores.
enum DeterminismBench {
    struct Setting { let label: String; let reduction: ReductionMode; let gemm: GEMMMode; let threads: Int }

    static let settings = [
        Setting(label: "default (sequential, openblas, 1 thread)", reduction: .sequential, gemm: .openblas, threads: 1),
        Setting(label: "threads 2", reduction: .sequential, gemm: .openblas, threads: 2),
        Setting(label: "pairwise", reduction: .pairwise, gemm: .openblas, threads: 1),
        Setting(label: "parallel, 1 thread", reduction: .parallel, gemm: .openblas, threads: 1),
        Setting(label: "parallel, 2 threads", reduction: .parallel, gemm: .openblas, threads: 2),
        Setting(label: "chunked, 1 thread", reduction: .chunked, gemm: .openblas, threads: 1),
        Setting(label: "chunked, 2 threads", reduction: .chunked, gemm: .openblas, threads: 2),
        Setting(label: "reference GEMM, 1 thread", reduction: .sequential, gemm: .reference, threads: 1),
        Setting(label: "reference GEMM, 2 threads", reduction: .sequential, gemm: .reference, threads: 2),
    ]

    static func run(_ args: [String]) throws {
        guard let path = args.first else { throw InputError("determinism: give a config file") }
        let rounds = args.count > 2 && args[1] == "--rounds" ? Int(args[2]) ?? 15 : 15
        let base = try TrainConfig.load(path: path)
        let trainers = try settings.map { s -> Trainer in
            var c = base
            c.determinism.threads = s.threads; c.determinism.gemm = s.gemm; c.determinism.reduction = s.reduction
            let t = try Trainer(config: c, recorder: .plain(seed: c.seed))
            t.model.initialize(t.ctx)
            return t
        }
        let batch = base.data.batchSize, n = trainers[0].data.train.count
        var ms = [[Double]](repeating: [], count: settings.count)
        for round in 0..<(rounds + 2) {
            let indices = (0..<batch).map { (round * batch + $0) % n }
            for (i, t) in trainers.enumerated() {
                // Each setting's OpenBLAS thread count is set around its step (Trainer.run holds it for a
                // whole run), outside the timed part.
                try t.withProcessConfigured {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    let loss = t.trainStep(indices, step: round, lr: base.optimizer.lr)
                    _ = try t.recorder.endStep(loss: loss, lr: base.optimizer.lr, nextStep: round + 1, nextEpoch: 0)
                    if round >= 2 { ms[i].append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6) }
                }
            }
        }
        let baseMin = ms[0].min()!, baseMedian = median(ms[0])
        print("\(base.name), batch \(batch), OpenBLAS core \(BLAS.coreName); ms per step over \(rounds) rounds (ratio to the default)")
        print("  " + "setting".padding(toLength: 42, withPad: " ", startingAt: 0) + "min               median")
        for (i, s) in settings.enumerated() {
            let lo = ms[i].min()!, mid = median(ms[i])
            print("  " + s.label.padding(toLength: 42, withPad: " ", startingAt: 0)
                  + String(format: "%7.2f (%.2fx)   %7.2f (%.2fx)", lo, lo / baseMin, mid, mid / baseMedian))
        }
    }
}
