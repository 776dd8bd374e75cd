import Foundation
import XCTest
@testable import Engine
import Recorder

/// The config model: each section's list of keys covers its fields, the resolved form parses back
/// to itself, and unknown values are errors (never a fallback).
final class ConfigModelTests: XCTestCase {
    static var examples: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples")
    }

    /// Every stored property of a section is set by one of its keys (`unread` is only a start).
    func testEverySectionFieldHasAKey() {
        func fields<S: ConfigSection>(_: S.Type) -> [String] { Mirror(reflecting: S.unread).children.compactMap(\.label) }
        func keys<S: ConfigSection>(_: S.Type) -> [String] { S.keys.map { $0.name == "init" ? "initPath" : $0.name } }
        XCTAssertEqual(Set(fields(TrainConfig.DataConfig.self)), Set(keys(TrainConfig.DataConfig.self)))
        XCTAssertEqual(Set(fields(TrainConfig.ModelConfig.self)), Set(keys(TrainConfig.ModelConfig.self)))
        XCTAssertEqual(Set(fields(TrainConfig.LossConfig.self)), Set(keys(TrainConfig.LossConfig.self)))
        XCTAssertEqual(Set(fields(TrainConfig.OptimizerConfig.self)), Set(keys(TrainConfig.OptimizerConfig.self)))
        XCTAssertEqual(Set(fields(TrainConfig.ScheduleConfig.self)), Set(keys(TrainConfig.ScheduleConfig.self)))
        XCTAssertEqual(Set(fields(TrainConfig.TrainingConfig.self)), Set(keys(TrainConfig.TrainingConfig.self)))
        XCTAssertEqual(Set(fields(TrainConfig.DeterminismConfig.self)), Set(keys(TrainConfig.DeterminismConfig.self)))
        XCTAssertEqual(Set(fields(TrainConfig.RecordConfig.self)), Set(keys(TrainConfig.RecordConfig.self)))
        // Every knob has a row in the table, and every row its own field.
        XCTAssertEqual(Mirror(reflecting: KnobSettings.pytorch).children.count, Knobs.all.count)
        XCTAssertEqual(Set(Knobs.all.map(\.name)).count, Knobs.all.count)
    }

    /// The resolved config of every example, given back as a config (its `knobs` as overrides),
    /// resolves to itself: parsing and resolving describe the same keys and defaults.
    func testResolvedConfigsParseBackToThemselves() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.examples.path).filter { $0.hasSuffix(".json") }.sorted()
        XCTAssertGreaterThan(files.count, 5)
        for f in files {
            let c = try TrainConfig.load(path: Self.examples.appendingPathComponent(f).path)
            guard case .object(var o) = c.resolved else { return XCTFail(f) }
            o["overrides"] = o.removeValue(forKey: "knobs")
            let again = try TrainConfig.parse(.object(o), baseDirectory: c.baseDirectory)
            XCTAssertEqual(again.resolved, c.resolved, f)
            XCTAssertEqual(again.semantics, c.semantics, f)
        }
    }

    func parse(_ text: String) throws -> TrainConfig {
        try TrainConfig.parse(JSON.parse(Array(text.utf8), source: "test"), baseDirectory: "/")
    }

    /// Values outside an enum are errors naming the path and the choices: an unknown optimizer is
    /// not trained as SGD, an unknown GEMM not run on OpenBLAS.
    func testUnknownValuesAreErrors() {
        let base = #"{"data": {"dataset": "digits"}, "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]}"#
        for (extra, message) in [
            (#", "optimizer": {"type": "adamw"}}"#, "optimizer.type: unknown value \"adamw\"; expected one of sgd, adam, rmsprop"),
            (#", "determinism": {"gemm": "mkl"}}"#, "determinism.gemm: unknown value \"mkl\"; expected one of openblas, reference"),
            (#", "determinism": {"reduction": "atomic"}}"#, "determinism.reduction: unknown value \"atomic\"; expected one of sequential, pairwise, parallel"),
            (#", "loss": {"type": "mse"}}"#, "loss.type: unknown value \"mse\"; expected one of crossEntropy"),
            (#", "semantics": "jax"}"#, "semantics: unknown value \"jax\"; expected one of pytorch, keras"),
            (#", "overrides": {"adam.epsilonMode": "outside"}}"#, "overrides.adam.epsilonMode: expected one of corrected, hat, found \"outside\""),
        ] {
            XCTAssertThrowsError(try parse(base + extra)) { XCTAssertTrue("\($0)".hasPrefix(message), "\($0)") }
        }
        XCTAssertEqual(try parse(base + #", "optimizer": {"type": "rmsprop"}}"#).optimizer.type, .rmsprop)
        XCTAssertEqual(try parse(base + #", "determinism": {"gemm": "reference"}}"#).determinism.gemm, .reference)
    }

    /// The knobs the engine reads are the typed fields the overrides set.
    func testOverridesSetTypedKnobs() throws {
        var s = Semantics(profile: .pytorch)
        try s.apply(["adam.epsilonMode": .string("hat"), "padding.same": .string("tensorflow"), "rmsprop.rho": .number(0.5)])
        XCTAssertEqual(s.knobs.adamEpsilonMode, .hat)
        XCTAssertEqual(s.knobs.paddingSame, .tensorflow)
        XCTAssertEqual(s.knobs.rmspropRho, 0.5)
        XCTAssertEqual(s.differences(from: Semantics(profile: .pytorch)), ["padding.same", "adam.epsilonMode", "rmsprop.rho"])
        XCTAssertEqual(Semantics(profile: .keras).knobs, .keras)
    }
}
