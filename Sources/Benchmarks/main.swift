// Release-build benchmarks for the README: `make bench` (or `swift run -c release Benchmarks`);
// `Benchmarks step <config>` times single training steps (StepBench.swift, `make bench-torch`);
// `Benchmarks determinism <config>` compares the determinism settings (DeterminismBench.swift);
// `Benchmarks json <file>...` times the strict JSON parser against Foundation's (JSONBench.swift).
// Each figure is the median of several repetitions.
import Engine
import Foundation
import Recorder
import Replayer

func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[s.count / 2] }

func time(_ reps: Int, _ body: () throws -> Void) rethrows -> Double {
    var ts: [Double] = []
    for _ in 0..<reps {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        ts.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    return median(ts)
}

if CommandLine.arguments.dropFirst().first == "determinism" {
    do { try DeterminismBench.run(Array(CommandLine.arguments.dropFirst(2))) } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8)); exit(2)
    }
    exit(0)
}

if CommandLine.arguments.dropFirst().first == "json" {
    do { try JSONBench.run(Array(CommandLine.arguments.dropFirst(2))) } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8)); exit(2)
    }
    exit(0)
}

if CommandLine.arguments.dropFirst().first == "step" {
    do { try StepBench.run(Array(CommandLine.arguments.dropFirst(2))) } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8)); exit(2)
    }
    exit(0)
}

/// `Benchmarks [config] [epochs]`: hashing throughput, plain training, recording at each level and
/// replay (the README's "Recording, replay and hashing" figures).
func recordingBenchmark() throws {
    let args = CommandLine.arguments
    let configPath = args.count > 1 ? args[1] : "examples/mlp-digits.json"
    let epochs = args.count > 2 ? Int(args[2]) ?? 10 : 10
    let reps = 5
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("cwrepro-bench-\(getpid())")
    try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: tmp) }

    var config = try TrainConfig.load(path: configPath)
    config.training.epochs = epochs
    config.record.keepTensors = 0
    print("benchmark: \(configPath), \(epochs) epochs, median of \(reps); BLAS core \(BLAS.coreName)")

    // Hashing throughput.
    let mb = 64
    var buf = [Float](repeating: 0, count: mb << 18)
    for i in buf.indices { buf[i] = Float(i % 1000) }
    let hashSeconds = time(reps) { _ = buf.withUnsafeBytes { TensorHash.bytes($0) } }
    print(String(format: "hash      XXH3-64 (dispatch) over %d MiB: %.1f GB/s", mb, Double(mb << 20) / hashSeconds / 1e9))

    // Plain training.
    var steps = 0
    let trainSeconds = try time(reps) {
        let t = try Trainer(config: config, recorder: .plain(seed: config.seed))
        steps = try t.run().steps
    }
    print(String(format: "train     %d steps in %.3f s: %.0f steps/s", steps, trainSeconds, Double(steps) / trainSeconds))

    // Recording at each level.
    var recordSeconds: [RecordLevel: Double] = [:]
    for level in RecordLevel.allCases {
        var c = config
        c.record.level = level
        var i = 0
        recordSeconds[level] = try time(reps) {
            i += 1
            let path = tmp.appendingPathComponent("\(level)-\(i).cwr").path
            let rec = Recorder(seed: c.seed, level: level)
            let t = try Trainer(config: c, recorder: rec)
            let w = try RecordWriter(path: path, header: RecordHeader(configGiven: c.given.text, configResolved: c.resolved.text,
                                                                      configPath: configPath, semantics: c.semantics.profile.rawValue, level: level,
                                                                      environment: [:], cwreproVersion: "bench"), keepTensors: 0)
            rec.sink = w
            _ = try t.run()
            try w.finish()
        }
        let tensors = try RecordReader(path: tmp.appendingPathComponent("\(level)-1.cwr").path).steps().reduce(0) { $0 + $1.tensorCount }
        print(String(format: "record    %-11@ %.3f s: %+.1f%% vs train (%d tensors)", level.rawValue as NSString, recordSeconds[level]!,
                     (recordSeconds[level]! / trainSeconds - 1) * 100, tensors))
    }

    // Replay of a grads-level record.
    let replayPath = tmp.appendingPathComponent("grads-1.cwr").path
    var identical = false
    let replaySeconds = try time(reps) { identical = try ReplaySession.replay(path: replayPath).identical }
    print(String(format: "replay    grads       %.3f s: %.2fx the record time (%@)", replaySeconds, replaySeconds / recordSeconds[.grads]!,
                 identical ? "bit-identical" : "DIVERGED"))
}

do { try recordingBenchmark() } catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8)); exit(2)
}
