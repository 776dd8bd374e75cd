import Foundation
import XCTest
import Engine
import Presentation
import Recorder
@testable import Replayer

/// `explain` in process on small digits MLPs (random init and shuffling through the recorder).
final class ExplainTests: XCTestCase {
    static func config(_ semantics: String = "pytorch", optimizer: String, extra: String = "", seed: Int = 7) throws -> TrainConfig {
        let text = """
            {"name": "e", "seed": \(seed), "semantics": "\(semantics)", \(extra)
             "data": {"dataset": "digits", "batchSize": 32},
             "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 16}, {"type": "relu"}, {"type": "dense", "units": 10}]},
             "optimizer": \(optimizer), "training": {"epochs": 1, "maxSteps": 30}}
            """
        return try TrainConfig.parse(JSON.parse(Array(text.utf8), source: "test"), baseDirectory: "/")
    }

    func options() -> Explain.Options {
        var o = Explain.Options()
        o.parallel = 1
        return o
    }

    /// Identical configs: no divergence, no differences, an empty minimal set, nothing unexplained.
    func testIdenticalConfigsReportNoDivergence() throws {
        let a = try Self.config(optimizer: #"{"type": "adam", "lr": 0.01}"#)
        let r = try Explain.run(a: a, b: a, options: options())
        XCTAssertNil(r.firstDivergence)
        XCTAssertTrue(r.knobs.isEmpty)
        XCTAssertEqual(r.minimalSet, [])
        XCTAssertEqual(r.unexplainedShare, 0)
        XCTAssertEqual(r.a.finalLoss, r.b.finalLoss)
        XCTAssertEqual(r.a.testAccuracy, r.b.testAccuracy)
        // Same seed on both sides: "B with its own draws" uses A's seed + 1, so it differs from B.
        XCTAssertEqual(r.bOwnDraws.seed, 8)
        XCTAssertNotEqual(r.bOwnDraws.finalLoss, r.b.finalLoss)
    }

    /// pytorch vs keras profiles: every knob that differs is listed; the init knobs change the initial
    /// parameters (first divergence at initialisation); knobs the model does not use leave A
    /// bit-identical; the minimal set applied to A reproduces the gap as measured.
    func testProfilesAttributeTheGap() throws {
        let base = try Self.config(optimizer: #"{"type": "adam", "lr": 0.01, "epsilon": 0.1}"#)
        let a = try Explain.withProfile(base, "pytorch"), b = try Explain.withProfile(base, "keras")
        let r = try Explain.run(a: a, b: b, options: options())
        XCTAssertEqual(Set(r.knobs.map(\.knob)), Set(a.semantics.differences(from: b.semantics)))
        XCTAssertTrue(r.knobs.allSatisfy { $0.kind == .knob })
        let byName = Dictionary(uniqueKeysWithValues: r.knobs.map { ($0.knob, $0) })
        XCTAssertEqual(byName["init.kernel"]?.firstDivergentStep, initStep)
        XCTAssertEqual(byName["init.kernel"]?.firstDivergentTensor, "1.weight")
        XCTAssertEqual(byName["init.bias"]?.firstDivergentStep, initStep)
        XCTAssertEqual(byName["adam.epsilonMode"]?.firstDivergentStep, 0)
        for unused in ["batchnorm.momentum", "sgd.momentumMode", "rmsprop.epsilonMode", "adam.epsilon", "schedule.unit"] {
            XCTAssertNil(byName[unused]?.firstDivergentStep, "\(unused) cannot change an Adam MLP without BatchNorm")
            XCTAssertEqual(byName[unused]?.lossDelta, 0)
        }
        XCTAssertEqual(r.firstDivergence?.step, initStep)
        XCTAssertEqual(r.firstDivergence?.causedBy, ["init.kernel"])
        XCTAssertFalse(r.minimalSet.isEmpty)
        XCTAssertTrue(Set(r.minimalSet).isSubset(of: ["init.kernel", "init.bias", "adam.epsilonMode", "optimizer.arithmetic"]))
        XCTAssertLessThanOrEqual(abs(r.unexplainedShare), 1 - r.threshold + 1e-9)

        // The reported share is real: applying the minimal set to A by hand gives the same run.
        var given = a.given
        for name in r.minimalSet { try given.set(path: ["overrides", name], to: b.semantics.values[name]!) }
        let manual = try TrainConfig.parse(given, baseDirectory: "/")
        let o = try Explain.train(manual, seed: a.seed, level: .params, reference: nil)
        let metric = r.gapMetric == .testAccuracy ? o.accuracy - r.a.testAccuracy : Double(o.finalLoss) - r.a.finalLoss
        XCTAssertEqual(metric / r.gap, r.explainedShare, accuracy: 1e-12)
    }

    /// B with A's draws is exactly "A with every difference applied": B's first divergence and
    /// result do not depend on B's own seed.
    func testBRunsWithADraws() throws {
        let a = try Self.config(optimizer: #"{"type": "sgd", "lr": 0.1}"#, seed: 7)
        let b = try Self.config(optimizer: #"{"type": "sgd", "lr": 0.05}"#, seed: 99)
        let r = try Explain.run(a: a, b: b, options: options())
        XCTAssertEqual(r.knobs.map(\.knob), ["optimizer.lr"])
        XCTAssertEqual(r.knobs[0].kind, .config)
        XCTAssertEqual(r.minimalSet, ["optimizer.lr"])
        XCTAssertEqual(r.knobs[0].finalLoss, r.b.finalLoss, "B with A's draws = A with its one difference")
        XCTAssertEqual(r.firstDivergence, .init(step: 0, tensor: "1.weight", role: .param, causedBy: ["optimizer.lr"]))
        XCTAssertEqual(r.b.seed, 7)
        XCTAssertEqual(r.bOwnDraws.seed, 99)
    }

    /// Differences are what changes the run: a default written out on one side is none; the
    /// profiles' default knobs are knobs, not also config values.
    func testItemsAreRealDifferences() throws {
        let a = try Self.config(optimizer: #"{"type": "adam", "lr": 0.01}"#)
        let b = try Self.config(optimizer: #"{"type": "adam", "lr": 0.01, "beta1": 0.9}"#, extra: #""loss": {"type": "crossEntropy"},"#)
        XCTAssertTrue(Explain.items(a, b).isEmpty, "\(Explain.items(a, b).map(\.name))")
        let k = try Self.config("keras", optimizer: #"{"type": "adam", "lr": 0.02}"#)
        let items = Explain.items(a, k)
        XCTAssertEqual(items.filter { $0.kind == .config }.map(\.name), ["optimizer.lr"])
        XCTAssertTrue(items.contains { $0.name == "adam.epsilon" && $0.kind == .knob })
        XCTAssertFalse(items.contains { $0.name == "optimizer.epsilon" }, "the epsilon default is the knob adam.epsilon")
    }

    /// Zeller's ddmin on a synthetic test: finds the 1-minimal subset.
    func testDeltaDebuggingFindsMinimalSet() throws {
        let items = (0..<8).map { Explain.Item(name: "k\($0)", kind: .knob, a: nil, b: nil) }
        var calls = 0
        let minimal = try Explain.ddmin(items) { s in
            calls += 1
            let names = Set(s.map(\.name))
            return names.contains("k2") && names.contains("k5")
        }
        XCTAssertEqual(minimal.map(\.name), ["k2", "k5"])
        XCTAssertLessThan(calls, 40)
        XCTAssertEqual(try Explain.ddmin(items) { _ in true }.map(\.name), [])
    }

    /// The parallel runs give the same report as the sequential ones (runs are independent).
    func testParallelMatchesSequential() throws {
        let base = try Self.config(optimizer: #"{"type": "sgd", "lr": 0.1, "momentum": 0.9}"#)
        let a = try Explain.withProfile(base, "pytorch"), b = try Explain.withProfile(base, "keras")
        var par = options()
        par.parallel = 2
        let x = try Explain.run(a: a, b: b, options: options()), y = try Explain.run(a: a, b: b, options: par)
        XCTAssertEqual(x.knobs.map(\.finalLoss), y.knobs.map(\.finalLoss))
        XCTAssertEqual(x.minimalSet, y.minimalSet)
        XCTAssertEqual(x.firstDivergence, y.firstDivergence)
    }
}
