import Foundation
import XCTest
import Engine
import Presentation
import Recorder
@testable import Replayer

/// `explain` in process on small digits MLPs (random init and shuffling through the recorder).
final class ExplainTests: XCTestCase {
    static func config(_ semantics: String = "pytorch", optimizer: String, extra: String = "", seed: Int = 7, steps: Int = 30,
                       layers: String = #"{"type": "flatten"}, {"type": "dense", "units": 16}, {"type": "relu"}, {"type": "dense", "units": 10}"#,
                       data: String = "", baseDirectory: String = "/") throws -> TrainConfig {
        let text = """
            {"name": "e", "seed": \(seed), "semantics": "\(semantics)", \(extra)
             "data": {"dataset": "digits", "batchSize": 32\(data)},
             "model": {"layers": [\(layers)]},
             "optimizer": \(optimizer), "training": {"epochs": 1, "maxSteps": \(steps)}}
            """
        return try TrainConfig.parse(JSON.parse(Array(text.utf8), source: "test"), baseDirectory: baseDirectory)
    }

    func options(seeds: Int = 4) -> Explain.Options {
        var o = Explain.Options()
        o.parallel = 1
        o.seeds = seeds
        return o
    }

    /// Identical configs: no differences, a gap of exactly 0 on every seed, not significant, an
    /// empty minimal set; the seeds do vary the runs.
    func testIdenticalConfigsHaveNoGap() throws {
        let a = try Self.config(optimizer: #"{"type": "adam", "lr": 0.01}"#)
        let r = try Explain.run(a: a, b: a, options: options())
        XCTAssertEqual(r.verdict, .noDifferences)
        XCTAssertNil(r.firstDivergence)
        XCTAssertTrue(r.knobs.isEmpty)
        XCTAssertEqual(r.minimalSet, [])
        XCTAssertNil(r.explainedShare)
        XCTAssertEqual(r.a.accuracy, r.b.accuracy)
        XCTAssertEqual(r.gap.mean, 0)
        XCTAssertFalse(r.gap.significant)
        XCTAssertEqual(r.gap.pValue, 1)
        XCTAssertEqual(r.seeds, [7, 8, 9, 10])
        XCTAssertEqual(r.a.distinctRuns, 4, "each seed gives another run")
        XCTAssertEqual(r.a.seedSources.varies, [.initialisation, .dataOrder])
        XCTAssertEqual(r.runs, 1 + 3 + 3 + 1)
    }

    /// A gap far beyond seed noise (a learning rate 100x smaller): significant, its interval
    /// excludes 0, the minimal set is that one difference and reproduces the gap exactly (B on
    /// A's seeds is A with its one difference), nothing unexplained.
    func testSignificantGapIsAttributed() throws {
        let a = try Self.config(optimizer: #"{"type": "adam", "lr": 0.01}"#, seed: 7)
        let b = try Self.config(optimizer: #"{"type": "adam", "lr": 0.0001}"#, seed: 99)
        let r = try Explain.run(a: a, b: b, options: options())
        XCTAssertEqual(r.verdict, .gap)
        XCTAssertTrue(r.gap.significant)
        XCTAssertLessThan(r.gap.interval.high, 0, "\(r.gap.interval)")
        XCTAssertLessThan(r.gap.pValue, 0.05)
        XCTAssertEqual(r.gap.mean, r.b.summary.mean - r.a.summary.mean, accuracy: 1e-12)
        XCTAssertEqual(r.seeds, [7, 8, 9, 10], "B runs on A's seeds, not its own")
        XCTAssertEqual(r.knobs.map(\.knob), ["optimizer.lr"])
        XCTAssertEqual(r.minimalSet, ["optimizer.lr"])
        let effect = try XCTUnwrap(r.knobs[0].accuracyEffect)
        XCTAssertEqual(effect.values, zip(r.b.accuracy, r.a.accuracy).map { $0 - $1 }, "B on A's seeds = A with its one difference")
        XCTAssertEqual(r.knobs[0].gapShare ?? 0, 1, accuracy: 1e-12)
        XCTAssertEqual(r.knobs[0].gapShareStatus, .measured)
        XCTAssertEqual(r.explainedShare ?? 0, 1, accuracy: 1e-12)
        XCTAssertEqual(r.unexplained?.values, [0, 0, 0, 0])
        XCTAssertEqual(r.firstDivergence, .init(step: 0, tensor: "1.weight", role: .param, causedBy: ["optimizer.lr"]))
        XCTAssertEqual(r.runs, 1 + 3 + 3 + 2 + 3, "sides, B and the difference on seed 7, the difference on 3 more seeds")
    }

    /// Two configs whose gap is within seed noise: a rounding-level difference (Keras's
    /// optimizer arithmetic) moves accuracy by at most a sample or two per seed, while the seed
    /// moves it by points. explain says so, computes no share and names no minimal set; the
    /// difference's own effect is still measured on every seed.
    func testGapWithinSeedNoiseAttributesNothing() throws {
        let a = try Self.config(optimizer: #"{"type": "adam", "lr": 0.01}"#)
        let b = try Self.config(optimizer: #"{"type": "adam", "lr": 0.01}"#, extra: #""overrides": {"optimizer.arithmetic": "keras"},"#)
        let r = try Explain.run(a: a, b: b, options: options(seeds: 8))
        XCTAssertEqual(r.knobs.map(\.knob), ["optimizer.arithmetic"])
        XCTAssertEqual(r.verdict, .withinNoise)
        XCTAssertFalse(r.gap.significant)
        XCTAssertTrue(r.gap.interval.contains(0), "\(r.gap.interval)")
        XCTAssertGreaterThanOrEqual(r.gap.pValue, 0.05)
        XCTAssertEqual(r.minimalSet, [])
        XCTAssertNil(r.minimalSetEffect)
        XCTAssertNil(r.explainedShare)
        XCTAssertEqual(r.explainedShareStatus, .gapNotSignificant)
        XCTAssertNil(r.knobs[0].gapShare)
        XCTAssertEqual(r.knobs[0].gapShareStatus, .gapNotSignificant)
        XCTAssertEqual(r.knobs[0].accuracyEffect?.values.count, 8)
        XCTAssertGreaterThan(r.a.summary.standardDeviation, 3 * abs(r.gap.mean), "the seed moves accuracy far more than the difference")
        XCTAssertTrue(r.humanText.contains("within seed noise"), r.humanText)
    }

    /// pytorch vs keras profiles: every knob that differs is listed; the init knobs change the
    /// initial parameters; knobs the model does not use leave A bit-identical (not run again, no
    /// effect); the minimal set's reported effect is what applying it to A by hand gives.
    func testProfilesAttributeTheGap() throws {
        let base = try Self.config(optimizer: #"{"type": "adam", "lr": 0.01, "epsilon": 0.1}"#)
        let a = try Explain.withProfile(base, "pytorch"), b = try Explain.withProfile(base, "keras")
        let r = try Explain.run(a: a, b: b, options: options(seeds: 3))
        XCTAssertEqual(Set(r.knobs.map(\.knob)), Set(a.semantics.differences(from: b.semantics)))
        XCTAssertTrue(r.knobs.allSatisfy { $0.kind == .knob })
        let byName = Dictionary(uniqueKeysWithValues: r.knobs.map { ($0.knob, $0) })
        XCTAssertEqual(byName["init.kernel"]?.firstDivergentStep, initStep)
        XCTAssertEqual(byName["init.kernel"]?.firstDivergentTensor, "1.weight")
        XCTAssertEqual(byName["adam.epsilonMode"]?.firstDivergentStep, 0)
        XCTAssertEqual(byName["adam.epsilonMode"]?.accuracyEffect?.values.count, 3)
        for unused in ["batchnorm.momentum", "sgd.momentumMode", "rmsprop.epsilonMode", "adam.epsilon", "schedule.unit"] {
            XCTAssertNil(byName[unused]?.firstDivergentStep, "\(unused) cannot change an Adam MLP without BatchNorm")
            XCTAssertNil(byName[unused]?.accuracyEffect)
            XCTAssertEqual(byName[unused]?.gapShareStatus, .noEffect)
        }
        XCTAssertEqual(r.firstDivergence?.step, initStep)
        XCTAssertEqual(r.firstDivergence?.causedBy, ["init.kernel"])
        guard r.verdict == .gap else { return XCTAssertEqual(r.minimalSet, []) }
        XCTAssertFalse(r.minimalSet.isEmpty)
        XCTAssertLessThanOrEqual(abs((r.explainedShare ?? 0) - 1), 1 - r.threshold + 1e-9)

        // The reported effect is real: the minimal set applied to A by hand, on every seed.
        var given = a.given
        for name in r.minimalSet { try given.set(path: ["overrides", name], to: b.semantics.values[name]!) }
        let manual = try TrainConfig.parse(given, baseDirectory: "/")
        let effects = try r.seeds.enumerated().map { i, s in
            try Explain.train(manual, seed: s, level: .params, reference: nil).accuracy - r.a.accuracy[i]
        }
        XCTAssertEqual(r.minimalSetEffect?.values, effects)
    }

    /// `seed` drives the initial weights, the batch order and the dropout masks: two seeds give
    /// other draws at every one of those sites, and the same seed the same draws.
    func testSeedDrivesInitOrderAndDropout() throws {
        let layers = #"{"type": "flatten"}, {"type": "dense", "units": 16}, {"type": "relu"}, {"type": "dropout", "rate": 0.5}, {"type": "dense", "units": 10}"#
        let c = try Self.config(optimizer: #"{"type": "sgd", "lr": 0.1}"#, steps: 3, layers: layers)
        XCTAssertEqual(SeedSources(c).varies, [.initialisation, .dataOrder, .dropout])
        XCTAssertEqual(SeedSources(c).pinned, [])
        func draws(_ seed: UInt64) throws -> [String: UInt64] {
            let trace = TraceSink()
            _ = try Explain.train(c, seed: seed, level: .params, reference: nil, trace: trace)
            var out: [String: UInt64] = [:]
            for e in trace.steps.values.joined() where e.role == .draw || e.role == .order { out["\(e.step) \(e.name)"] = e.hash }
            return out
        }
        let one = try draws(1), two = try draws(2), again = try draws(1)
        XCTAssertEqual(one, again)
        XCTAssertEqual(Set(one.keys), Set(two.keys))
        for prefix in ["init/1.weight", "init/1.bias", "init/4.weight", "data/shuffle/epoch-0", "dropout/3/step-0", "dropout/3/step-2"] {
            let keys = one.keys.filter { $0.contains(prefix) }
            XCTAssertFalse(keys.isEmpty, "no draw at \(prefix): \(one.keys.sorted())")
            for k in keys { XCTAssertNotEqual(one[k], two[k], k) }
        }
    }

    /// A config that pins its draws: reported; when neither side lets the seed draw anything,
    /// explain refuses (typed error); `unpinned` hands initialisation and order back to the seed.
    func testPinnedConfigsAreReportedAndUnpinned() throws {
        let dir = ExplainFixtures.repoRoot.appendingPathComponent("testdata/reference/mlp-digits-sgd")
        let a = try TrainConfig.load(path: dir.appendingPathComponent("config-pytorch.json").path)
        let b = try TrainConfig.load(path: dir.appendingPathComponent("config-keras.json").path)
        let sources = SeedSources(a)
        XCTAssertEqual(sources.varies, [])
        XCTAssertEqual(sources.pinned.map(\.key), ["model.init", "data.order"])
        XCTAssertThrowsError(try Explain.run(a: a, b: b, options: options(seeds: 2))) { e in
            guard case ExplainError.seedsVaryNothing(let pa, _)? = e as? ExplainError else { return XCTFail("\(e)") }
            XCTAssertEqual(pa.map(\.source), [.initialisation, .dataOrder])
        }
        let (u, changed) = try Explain.unpinned(a)
        XCTAssertEqual(changed, ["model.init", "data.order"])
        XCTAssertEqual(SeedSources(u).varies, [.initialisation, .dataOrder])
        XCTAssertNil(u.initPath)
        XCTAssertTrue(u.data.shuffle)
        var o = options(seeds: 2)
        o.unpin = true
        let r = try Explain.run(a: a, b: b, options: o)
        XCTAssertEqual(r.a.unpinned, ["model.init", "data.order"])
        XCTAssertEqual(r.a.distinctRuns, 2)
        XCTAssertFalse(r.knobs.contains { $0.knob == "model.init" || $0.knob == "data.order" })
        XCTAssertThrowsError(try Explain.run(a: a, b: b, options: options(seeds: 1))) { e in
            XCTAssertEqual(e as? ExplainError, .tooFewSeeds(1))
        }
    }

    /// Differences are what changes the run: a default written out on one side is none; the
    /// profiles' default knobs are knobs, not also config values; a layer field that differs alike
    /// in two layers of one type is one difference naming both; two files with the same bytes in
    /// different directories are none, with other bytes one (by absolute path).
    func testItemsAreRealDifferences() throws {
        let a = try Self.config(optimizer: #"{"type": "adam", "lr": 0.01}"#)
        let b = try Self.config(optimizer: #"{"type": "adam", "lr": 0.01, "beta1": 0.9}"#, extra: #""loss": {"type": "crossEntropy"},"#)
        XCTAssertTrue(Explain.items(a, b).isEmpty, "\(Explain.items(a, b).map(\.name))")
        let k = try Self.config("keras", optimizer: #"{"type": "adam", "lr": 0.02}"#)
        let items = Explain.items(a, k)
        XCTAssertEqual(items.filter { $0.kind == .config }.map(\.name), ["optimizer.lr"])
        XCTAssertTrue(items.contains { $0.name == "adam.epsilon" && $0.kind == .knob })
        XCTAssertFalse(items.contains { $0.name == "optimizer.epsilon" }, "the epsilon default is the knob adam.epsilon")

        func cnn(_ momentum: Double, _ eps: Double, units: Int = 10) -> String {
            #"{"type": "conv2d", "filters": 4, "kernel": 3, "padding": "same"}, {"type": "batchnorm", "momentum": \#(momentum), "epsilon": \#(eps)}, {"type": "relu"}, "# +
            #"{"type": "conv2d", "filters": 4, "kernel": 3}, {"type": "batchnorm", "momentum": \#(momentum), "epsilon": 1e-5}, {"type": "relu"}, "# +
            #"{"type": "globalavgpool"}, {"type": "dense", "units": \#(units)}"#
        }
        let ca = try Self.config(optimizer: #"{"type": "adam", "lr": 0.01}"#, layers: cnn(0.1, 1e-5))
        let cb = try Self.config(optimizer: #"{"type": "adam", "lr": 0.01}"#, layers: cnn(0.01, 1e-3))
        let layerItems = Explain.items(ca, cb)
        XCTAssertEqual(layerItems.map(\.name), ["model.layers[1,4].momentum", "model.layers[1].epsilon"])
        XCTAssertEqual(layerItems[0].paths, [["model", "layers", "1", "momentum"], ["model", "layers", "4", "momentum"]])
        let applied = try Explain.variant(ca, [layerItems[0]])
        XCTAssertEqual(applied.layers[1]["momentum"], .number(0.01))
        XCTAssertEqual(applied.layers[4]["momentum"], .number(0.01))
        XCTAssertEqual(applied.layers[1]["epsilon"], .number(1e-5))
        // Layer lists of other lengths or types are one value.
        let other = try Self.config(optimizer: #"{"type": "adam", "lr": 0.01}"#, layers: cnn(0.1, 1e-5) + #", {"type": "relu"}"#)
        XCTAssertEqual(Explain.items(ca, other).map(\.name), ["model.layers"])

        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("explain-items-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: tmp) }
        for d in ["x", "y", "z"] { try FileManager.default.createDirectory(at: tmp.appendingPathComponent(d), withIntermediateDirectories: true) }
        let order = (0..<3).map { s in "[" + (0..<32).map { String(($0 * 7 + s) % 1437) }.joined(separator: ",") + "]" }.joined(separator: ",")
        try Data("[\(order)]".utf8).write(to: tmp.appendingPathComponent("x/order.json"))
        try Data("[\(order)]".utf8).write(to: tmp.appendingPathComponent("y/order.json"))
        let reversed = (0..<3).map { s in "[" + (0..<32).map { String(($0 * 5 + s) % 1437) }.joined(separator: ",") + "]" }.joined(separator: ",")
        try Data("[\(reversed)]".utf8).write(to: tmp.appendingPathComponent("z/order.json"))
        func withOrder(_ d: String) throws -> TrainConfig {
            try Self.config(optimizer: #"{"type": "sgd", "lr": 0.1}"#, steps: 3, data: #", "order": "order.json""#,
                            baseDirectory: tmp.appendingPathComponent(d).path)
        }
        XCTAssertEqual(Explain.items(try withOrder("x"), try withOrder("y")).map(\.name), [], "same bytes in two directories")
        let fileItems = Explain.items(try withOrder("x"), try withOrder("z"))
        XCTAssertEqual(fileItems.map(\.name), ["data.order"])
        XCTAssertEqual(fileItems.first?.b, .string(tmp.appendingPathComponent("z/order.json").standardizedFileURL.path))
    }

    /// Shares: effect / gap within [-100%, 200%], clamped beyond with the reason; none when the
    /// gap is not significant.
    func testSharesAreClampedAndOnlyForASignificantGap() throws {
        func gap(_ a: [Double], _ b: [Double]) throws -> ExplainReport.Gap { ExplainReport.Gap(try Statistics.compare(a, b)) }
        let g = try gap([0.70, 0.71, 0.72, 0.70], [0.60, 0.61, 0.59, 0.60])
        XCTAssertTrue(g.significant)
        let (s, status) = ExplainReport.share(-0.05, of: g)
        XCTAssertEqual(s ?? 0, -0.05 / g.mean, accuracy: 1e-12)
        XCTAssertEqual(status, .measured)
        XCTAssertEqual(ExplainReport.share(-0.5, of: g).0, 2)
        XCTAssertEqual(ExplainReport.share(-0.5, of: g).1, .aboveRange)
        XCTAssertEqual(ExplainReport.share(0.3, of: g).0, -1)
        XCTAssertEqual(ExplainReport.share(0.3, of: g).1, .belowRange)
        let noise = try gap([0.70, 0.75, 0.68, 0.72], [0.71, 0.69, 0.74, 0.70])
        XCTAssertFalse(noise.significant)
        XCTAssertNil(ExplainReport.share(-0.03, of: noise).0)
        XCTAssertEqual(ExplainReport.share(-0.03, of: noise).1, .gapNotSignificant)
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
        var par = options(seeds: 3)
        par.parallel = 2
        let x = try Explain.run(a: a, b: b, options: options(seeds: 3)), y = try Explain.run(a: a, b: b, options: par)
        XCTAssertEqual(x.a.finalLoss, y.a.finalLoss)
        XCTAssertEqual(x.b.finalLoss, y.b.finalLoss)
        XCTAssertEqual(x.knobs.map(\.accuracyEffect), y.knobs.map(\.accuracyEffect))
        XCTAssertEqual(x.knobs.map(\.lossEffect), y.knobs.map(\.lossEffect))
        XCTAssertEqual(x.minimalSet, y.minimalSet)
        XCTAssertEqual(x.firstDivergence, y.firstDivergence)
    }
}

/// The repository's root, for the fixtures under testdata/.
enum ExplainFixtures {
    static var repoRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
}
