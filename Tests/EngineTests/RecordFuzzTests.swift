import Foundation
import XCTest
@testable import Recorder

/// Seeded mutation fuzzing of the record reader: a small valid record, its bytes mutated, opened
/// and read through every read path. Only RecordReadError may come out (never a trap, never a
/// value silently accepted from a damaged step: that would be a checksum miss, caught by
/// `verify()` reporting `tampered` or `corrupt`).
final class RecordFuzzTests: XCTestCase {
    /// A complete record with every kind of row: artifact, draws, params with NaN and Inf, kept
    /// payloads, checkpoints and an evaluation.
    static func writeSmallRun(_ path: String, steps: Int) throws {
        let header = RecordHeader(configGiven: "{\"seed\":1}", configResolved: "{\"seed\":1}", configPath: "/x/train.json",
                                  semantics: "pytorch", level: .grads, environment: ["blas.core": "Haswell"], cwreproVersion: "test")
        let writer = try RecordWriter(path: path, header: header, keepTensors: 2)
        try writer.addArtifact(name: "init.safetensors", bytes: [1, 2, 3, 4, 5])
        let rec = Recorder(seed: 5, sink: writer)
        _ = rec.uniform(site: "init/w", count: 4)
        rec.record(name: "w", role: .param, shape: [4], floats: [1, 2, 3, 4])
        try rec.endStep(loss: 0, lr: 0, nextStep: 0, nextEpoch: 0)
        for s in 0..<steps {
            rec.record(name: "loss", role: .loss, shape: [], floats: [Float(s)])
            rec.record(name: "w", role: .param, shape: [4], floats: [Float(s), 1, .nan, .infinity])
            try rec.endStep(loss: Float(s) * 0.5, lr: 0.1, nextStep: s + 1, nextEpoch: 0)
            try writer.checkpoint(step: s, bytes: Array("state after step \(s)".utf8))
        }
        try rec.evaluation(Evaluation(step: steps - 1, epoch: 0, split: "test", correct: 3, total: 4, perClassCorrect: [1, 2],
                                      perClassTotal: [2, 2], predictionsHash: 77, loss: 0.25))
        try writer.finish()
    }

    func testRecordReader() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cwrepro-fuzz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let seedPath = dir.appendingPathComponent("seed.cwr").path
        try Self.writeSmallRun(seedPath, steps: 3)
        let seed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: seedPath)))
        let target = dir.appendingPathComponent("fuzz.cwr").path
        var silentlyChanged = 0
        let original = try RecordReader(path: seedPath)
        let originalSteps = try original.steps()
        Fuzzer.run("record", seeds: [seed], iterations: 600) { bytes in
            let fd = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0o644)   // Data.write costs milliseconds here
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
            let r = try RecordReader(path: target)
            _ = r.status; _ = r.environment; _ = r.level
            try r.verify()
            let steps = try r.steps()
            for s in steps { _ = try r.events(step: s.step); _ = try r.payload(step: s.step, seq: 0) }
            _ = try r.evaluations()
            for name in try r.artifactNames() { _ = try r.artifact(name) }
            _ = try r.stepsWithPayload()
            // A record that passed verify() must say what the original said.
            if steps.map(\.digest) != originalSteps.map(\.digest) { silentlyChanged += 1 }
        }
        XCTAssertEqual(silentlyChanged, 0, "a damaged record passed verification with different step digests")
    }
}
