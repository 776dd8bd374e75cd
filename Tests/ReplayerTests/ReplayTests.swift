import Foundation
import XCTest
import Engine
import Presentation
import Recorder
@testable import Replayer

/// Record then replay, in process: bit-identical replays, and the first divergent step, tensor
/// and cause after one change.
final class ReplayTests: RecordingTestCase {
    static let config = """
        {"name": "t", "seed": 1234, "data": {"dataset": "digits", "batchSize": 64},
         "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 16}, {"type": "relu"}, {"type": "dense", "units": 10}]},
         "optimizer": {"type": "sgd", "lr": 0.1, "momentum": 0.9}, "training": {"epochs": 2, "maxSteps": 30},
         "record": {"keepTensors": 2}}
        """

    /// Records `json` (a config text) to `name` and returns the record path.
    func record(_ json: String = ReplayTests.config, name: String = "run.cwr") throws -> String {
        try recordConfig(json, name: name)
    }

    func testSameConfigTwiceGivesIdenticalDigestsAndReplaysBitIdentical() throws {
        let a = try RecordReader(path: record(name: "a.cwr")).steps()
        let b = try RecordReader(path: record(name: "b.cwr")).steps()
        XCTAssertEqual(a.count, 31)
        XCTAssertEqual(a.map(\.digest), b.map(\.digest))
        let report = try ReplaySession.replay(path: dir.appendingPathComponent("a.cwr").path)
        XCTAssertTrue(report.identical, "\(report)")
        XCTAssertEqual(report.stepsReplayed, 30)
        XCTAssertGreaterThan(report.tensorsCompared, 30 * 10)
        XCTAssertNil(report.cause)
    }

    func testSeedChangeDivergesAtInitializationOnTheFirstParameter() throws {
        let r = try ReplaySession.replay(path: record(), changes: changes(["seed=99"]), untilDiverge: true)
        XCTAssertEqual(r.firstDivergence?.step, initStep)
        XCTAssertEqual(r.firstDivergence?.name, "1.weight")
        XCTAssertEqual(r.firstDivergence?.role.rawValue, "param")
        XCTAssertEqual(r.firstDivergentDraw?.name, "init/1.weight")
        XCTAssertEqual(r.cause, .randomDraw)
        XCTAssertTrue(r.stoppedAtFirstDivergence)
        XCTAssertEqual(r.divergentSteps, [initStep])
    }

    func testLearningRateChangeDivergesAtStepZeroOnTheFirstUpdatedParameter() throws {
        let r = try ReplaySession.replay(path: record(), changes: changes(["optimizer.lr=0.05"]), untilDiverge: true)
        XCTAssertEqual(r.firstDivergence?.step, 0)
        XCTAssertEqual(r.firstDivergence?.name, "1.weight")
        XCTAssertEqual(r.firstDivergence?.role.rawValue, "param")
        XCTAssertNil(r.firstDivergentDraw)
        XCTAssertEqual(r.cause, .configChanged)
        XCTAssertEqual(r.configChanges.map(DivergenceText.change), ["optimizer.lr: 0.1 -> 0.05"])
        // keepTensors 2 kept step 0's values: the report measures the difference.
        let v = try XCTUnwrap(r.firstDivergence?.values)
        XCTAssertEqual(v.count, 16 * 64)
        XCTAssertGreaterThan(v.differing, 0)
        XCTAssertGreaterThan(v.maxAbsDiff, 0)
        XCTAssertGreaterThan(v.maxULP, 0)
    }

    func testBatchSizeAndDataOrderChangesDivergeAtStepZeroOnTheBatch() throws {
        let path = try record()
        for set in ["data.batchSize=32", "data.shuffle=false"] {
            let r = try ReplaySession.replay(path: path, changes: changes([set]), untilDiverge: true)
            XCTAssertEqual(r.firstDivergence?.step, 0, set)
            XCTAssertEqual(r.firstDivergence?.name, "batch.x", set)
            XCTAssertEqual(r.cause, .dataOrder, set)
        }
    }

    func testFullReplaySummarisesEveryDivergentStep() throws {
        let r = try ReplaySession.replay(path: record(), changes: changes(["optimizer.lr=0.05"]))
        XCTAssertFalse(r.stoppedAtFirstDivergence)
        XCTAssertEqual(r.divergentSteps, Array(0..<30))
        XCTAssertFalse(r.evaluationMismatches.isEmpty || r.evaluationMismatches.count > 1)
    }

    func testUnknownSetKeyIsAnInputError() throws {
        XCTAssertThrowsError(try ReplaySession.replay(path: record(), changes: changes(["optimizer.lrr=0.05"]))) { e in
            XCTAssertTrue("\(e)".contains("optimizer.lrr"), "\(e)")
            XCTAssertTrue("\(e)".contains("did you mean \"lr\""), "\(e)")
        }
    }

    /// Each record level hashes what DESIGN.md says it does, in execution order.
    func testRecordLevelsHashWhatTheyPromise() throws {
        var names: [RecordLevel: [String]] = [:]
        for level in RecordLevel.allCases {
            let json = Self.config.replacingOccurrences(of: #""record": {"keepTensors": 2}"#, with: #""record": {"level": "\#(level.rawValue)"}"#)
            let path = try record(json, name: "\(level).cwr")
            let step0 = try RecordReader(path: path).events(step: 0)
            names[level] = step0.map { "\($0.name):\($0.role.rawValue)" }
            XCTAssertTrue(try ReplaySession.replay(path: path).identical, "\(level) replays bit-identical")
        }
        XCTAssertEqual(names[.params], ["data/shuffle/epoch-0:order", "batch.x:batch", "batch.y:batch", "loss:loss",
                                        "1.weight:param", "1.bias:param", "3.weight:param", "3.bias:param"])
        XCTAssertEqual(names[.grads], ["data/shuffle/epoch-0:order", "batch.x:batch", "batch.y:batch", "loss:loss",
                                       "1.weight:grad", "1.bias:grad", "3.weight:grad", "3.bias:grad",
                                       "1.weight:param", "1.bias:param", "3.weight:param", "3.bias:param",
                                       "1.weight.momentum_buffer:optimizer-state", "1.bias.momentum_buffer:optimizer-state",
                                       "3.weight.momentum_buffer:optimizer-state", "3.bias.momentum_buffer:optimizer-state"])
        let acts = try XCTUnwrap(names[.activations])
        XCTAssertEqual(Array(acts.prefix(8)), ["data/shuffle/epoch-0:order", "batch.x:batch", "batch.y:batch",
                                               "0.output:activation", "1.output:activation", "2.output:activation",
                                               "3.output:activation", "loss:loss"])
        XCTAssertEqual(Array(acts[8..<12]), ["3.grad_input:activation", "2.grad_input:activation",
                                             "1.grad_input:activation", "0.grad_input:activation"])
        XCTAssertEqual(Array(acts.dropFirst(12)), Array(names[.grads]!.dropFirst(4)))
    }
}
