import Foundation
import XCTest
import Engine
import Recorder
@testable import Replayer

/// `Fidelity.check`: an exported config against the trace of the real run (testdata/traces:
/// real torch 2.13 and Keras 3.15 runs from the reference cases' inits and orders).
final class FidelityTests: XCTestCase {
    static let root = ExplainFixtures.repoRoot

    /// The case's config on cwrepro's reference GEMM: its bits are the same on every CPU, so what
    /// these tests assert holds on any machine. (On OpenBLAS's AVX2 kernels, Haswell or Zen, the
    /// Keras CNN's loss drifts beyond 1e-5 of the real run from step 95 of 100: the rounding of
    /// another kernel, grown by 95 steps of Adam; on its AVX-512 kernels it stays within 2.6e-7.)
    func config(_ kase: String, _ profile: String) throws -> TrainConfig {
        try TrainConfig.File(path: Self.root.appendingPathComponent("testdata/reference/\(kase)/config-\(profile).json").path)
            .config(applying: [ConfigAssignment(parsing: "determinism.gemm=reference")])
    }

    func trace(_ name: String) -> String { Self.root.appendingPathComponent("testdata/traces/\(name).trace.gz").path }

    /// The digits MLP's pytorch config reproduces the real torch run: every step within 1e-5,
    /// the same 276/360 predictions.
    func testConfigReproducesItsTorchRun() throws {
        let r = try Fidelity.check(config: config("mlp-digits-sgd", "pytorch"), trace: trace("mlp-digits-sgd.torch"))
        XCTAssertTrue(r.reproduces, "\(r)")
        XCTAssertEqual(r.traceSteps, 50)
        XCTAssertEqual(r.configSteps, 50)
        XCTAssertNil(r.firstStepBeyondTolerance)
        XCTAssertLessThanOrEqual(try XCTUnwrap(r.maxRelativeLossDifference), 1e-5)
        XCTAssertEqual(r.predictionsIdentical, true)
        XCTAssertEqual(r.configCorrect, 276)
        XCTAssertEqual(r.traceCorrect, 276)
        XCTAssertEqual(r.framework, "torch 2.13.0+cpu")
    }

    /// The BatchNorm CNN: each profile reproduces its own framework's run (243/360 torch, 66/360
    /// Keras), and the torch config checked against the Keras run is `diverged` from step 0
    /// with other predictions.
    func testCNNProfilesAgainstTheirFrameworks() throws {
        let torch = try Fidelity.check(config: config("cnn-digits-bn-adam", "pytorch"), trace: trace("cnn-digits-bn-adam.torch"))
        XCTAssertEqual(torch.verdict, .withinTolerance, "\(torch)")
        XCTAssertEqual(torch.configCorrect, 243)
        let keras = try Fidelity.check(config: config("cnn-digits-bn-adam", "keras"), trace: trace("cnn-digits-bn-adam.keras"))
        XCTAssertEqual(keras.verdict, .withinTolerance, "\(keras)")
        XCTAssertEqual(keras.configCorrect, 66)
        let crossed = try Fidelity.check(config: config("cnn-digits-bn-adam", "pytorch"), trace: trace("cnn-digits-bn-adam.keras"))
        XCTAssertEqual(crossed.verdict, .diverged)
        XCTAssertEqual(crossed.predictionsIdentical, false)
        XCTAssertEqual(crossed.traceCorrect, 66)
        XCTAssertNotNil(crossed.firstStepBeyondTolerance)
    }

    /// The comparison itself on made-up losses: bit-identical, within tolerance, a step beyond
    /// it, a different step count, other predictions, a non-finite loss.
    func testVerdicts() throws {
        func outcome(_ losses: [Float], predictions: UInt64 = 7) -> Explain.Outcome {
            Explain.Outcome(configName: "c", accuracy: 0.5, correct: 1, total: 2, losses: losses, predictionsHash: predictions)
        }
        let t = TraceSummary(name: "t", framework: "torch 2", losses: [2, 1, 0.5], evaluation: (1, 2, 7))
        XCTAssertEqual(Fidelity.compare(run: outcome([2, 1, 0.5]), trace: t, tracePath: "t", rtol: 1e-5).verdict, .identical)
        let near = Fidelity.compare(run: outcome([2, 1.000001, 0.5]), trace: t, tracePath: "t", rtol: 1e-5)
        XCTAssertEqual(near.verdict, .withinTolerance)
        XCTAssertEqual(near.identicalLosses, 2)
        XCTAssertEqual(near.maxRelativeLossDifferenceStep, 1)
        let far = Fidelity.compare(run: outcome([2, 1, 0.6]), trace: t, tracePath: "t", rtol: 1e-5)
        XCTAssertEqual(far.verdict, .diverged)
        XCTAssertEqual(far.firstStepBeyondTolerance, 2)
        XCTAssertEqual(far.maxRelativeLossDifference ?? 0, 0.2, accuracy: 1e-6)
        XCTAssertEqual(Fidelity.compare(run: outcome([2, 1]), trace: t, tracePath: "t", rtol: 1e-5).verdict, .diverged)
        XCTAssertEqual(Fidelity.compare(run: outcome([2, 1, 0.5], predictions: 8), trace: t, tracePath: "t", rtol: 1e-5).verdict, .diverged)
        let nan = Fidelity.compare(run: outcome([2, .nan, 0.5]), trace: t, tracePath: "t", rtol: 1e-5)
        XCTAssertEqual(nan.firstStepBeyondTolerance, 1)
        XCTAssertEqual(nan.maxRelativeLossDifference, .infinity)
    }

    /// Bad traces are errors naming the file, the line and the field.
    func testBadTracesNameFileLineAndField() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fidelity-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let header = #"{"type":"header","format":"cwrepro-trace","version":1,"name":"r","framework":{"name":"torch","version":"2"}}"#
        let cases: [(String, String)] = [
            ("", "empty file"),
            (#"{"type":"step","step":-1}"# + "\n", ":1: type: the first line must be the header"),
            (#"{"type":"header","format":"other"}"# + "\n", ":1: format:"),
            (header.replacingOccurrences(of: #""version":1"#, with: #""version":2"#) + "\n", ":1: version: 2 was written by a newer cwrepro"),
            (header + "\n" + #"{"type":"step","step":0}"# + "\n", ":2: step: expected -1"),
            (header + "\n" + #"{"type":"step","step":-1}"# + "\n" + #"{"type":"step","step":0,"lossBits":"zz"}"# + "\n", ":3: lossBits:"),
            (header + "\n" + #"{"type":"bogus"}"# + "\n", ":2: type: unknown line type"),
            (header + "\n{not json\n", ":2: not valid JSON"),
            (header, "the last line has no newline"),
        ]
        for (i, (text, expected)) in cases.enumerated() {
            let p = dir.appendingPathComponent("t\(i).trace").path
            try Data(text.utf8).write(to: URL(fileURLWithPath: p))
            XCTAssertThrowsError(try TraceSummary.read(p), "case \(i)") { e in
                let m = (e as? InputError)?.message ?? "\(e)"
                XCTAssertTrue(m.hasPrefix(p) && m.contains(expected), "case \(i): \(m)")
            }
        }
        XCTAssertThrowsError(try TraceSummary.read(dir.appendingPathComponent("missing.trace").path)) { e in
            XCTAssertTrue(((e as? InputError)?.message ?? "").contains("cannot read the trace"), "\(e)")
        }
    }
}
