import Foundation
import XCTest
import Engine
import Presentation
import Recorder
@testable import Replayer

/// Step-hash goldens, verify, run diffs and variance studies, in process.
final class CIToolsTests: RecordingTestCase {
    /// 1437 / 64 = 23 steps per epoch: the step schedule changes the learning rate at step 23.
    static let config = """
        {"name": "ci", "seed": 42, "data": {"dataset": "digits", "batchSize": 64},
         "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 16}, {"type": "relu"}, {"type": "dense", "units": 10}]},
         "optimizer": {"type": "sgd", "lr": 0.1, "momentum": 0.9}, "schedule": {"stepSize": 1, "gamma": 0.5},
         "training": {"epochs": 2, "maxSteps": 26}}
        """

    func configFile(_ text: String = CIToolsTests.config, _ name: String = "train.json") throws -> String {
        let p = dir.appendingPathComponent(name).path
        try Data(text.utf8).write(to: URL(fileURLWithPath: p))
        return p
    }

    func record(_ text: String = CIToolsTests.config, name: String) throws -> String {
        try recordConfig(text, name: name, configName: name + ".json")
    }

    func golden(tensors: Bool) throws -> String {
        let text = try StepHashes.from(RecordReader(path: record(name: "golden.cwr")), tensors: tensors).text
        let p = dir.appendingPathComponent(tensors ? "t.hashes" : "s.hashes").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: p))
        return p
    }

    func testHashesFileRoundTripsEveryDigestLossAndTensor() throws {
        let reader = try RecordReader(path: record(name: "a.cwr"))
        let g = try StepHashes.from(reader, tensors: true)
        let back = try StepHashes.parse(g.text, source: "x.hashes")
        XCTAssertEqual(back.entries, g.entries.map { e in
            var e = e
            e.tensors = e.tensors?.map { var t = $0; t.stats = TensorStats(nonFinite: 0); return t }   // a golden holds no statistics
            return e
        })
        XCTAssertEqual(back.trainingSteps, 26)
        XCTAssertEqual(back.configHash, g.configHash)
        XCTAssertEqual(back.level, .grads)
        XCTAssertEqual(back.entries.map(\.digest), try reader.steps().map(\.digest))
        XCTAssertEqual(back.entries[3].loss.bitPattern, try reader.steps()[3].loss.bitPattern)
        // Stable: the same record gives the same text (no wall times, no dates).
        XCTAssertEqual(try StepHashes.from(reader, tensors: true).text, g.text)
    }

    func testEditedOrCutHashesFilesAreRefused() throws {
        // The file ends with steps 24, 25 and the evaluation after 25: cutting 3 lines leaves 24 steps.
        let text = try StepHashes.from(RecordReader(path: record(name: "a.cwr")), tensors: false).text
        XCTAssertThrowsError(try StepHashes.parse(text.replacingOccurrences(of: "format cwrepro-hashes 1", with: "format other 1"), source: "g")) {
            XCTAssertTrue("\($0)".contains("not a cwrepro step-hash file"), "\($0)")
        }
        let cut = text.split(separator: "\n").dropLast(3).joined(separator: "\n")
        XCTAssertThrowsError(try StepHashes.parse(cut, source: "g")) {
            XCTAssertTrue("\($0)".contains("declares 26 steps, the table has 24"), "\($0)")
        }
        // Cut within the header: before the steps line, and before the table (a bad input, exit 2,
        // not a golden without steps, which verify reports with exit 5).
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let stepsLine = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("steps ") })
        let tableLine = try XCTUnwrap(lines.firstIndex { $0 == "step loss loss-bits digest" })
        XCTAssertThrowsError(try StepHashes.parse(lines[..<stepsLine].joined(separator: "\n"), source: "g")) {
            XCTAssertEqual("\($0)", "g: no `steps` line; the file is cut or edited (regenerate it with `cwrepro hashes run.cwr -o g`)")
        }
        for end in [tableLine, tableLine + 1] {
            XCTAssertThrowsError(try StepHashes.parse(lines[..<end].joined(separator: "\n"), source: "g")) {
                XCTAssertTrue("\($0)".hasPrefix("g: no step table"), "\($0)")
            }
        }
        XCTAssertThrowsError(try StepHashes.parse(text.replacingOccurrences(of: "steps 26", with: "steps many"), source: "g")) {
            XCTAssertTrue("\($0)".contains("steps many: expected the count of training steps"), "\($0)")
        }
    }

    func testAGoldenWithCRLFLineEndingsReadsAsTheSame() throws {
        let text = try StepHashes.from(RecordReader(path: record(name: "a.cwr")), tensors: true).text
        let crlf = try StepHashes.parse(text.replacingOccurrences(of: "\n", with: "\r\n"), source: "g")
        XCTAssertEqual(crlf.text, try StepHashes.parse(text, source: "g").text)
        XCTAssertEqual(crlf.trainingSteps, 26)
    }

    func testVerifyPassesOnTheSameConfig() throws {
        let r = try Verify.run(config: TrainConfig.load(path: configFile()), configPath: "train.json", goldenPath: golden(tensors: false))
        XCTAssertTrue(r.passed, r.humanText)
        XCTAssertEqual(r.checks.count, 27)
        XCTAssertEqual(r.configHash, r.goldenConfigHash)
        XCTAssertTrue(r.configChanges.isEmpty, "\(r.configChanges)")
    }

    func testVerifyFailsAtTheStepWhereTheKnobFirstMatters() throws {
        // gamma only matters once the schedule decays, at the first step of epoch 1 (step 23).
        let changed = try configFile(Self.config.replacingOccurrences(of: "\"gamma\": 0.5", with: "\"gamma\": 0.25"), "changed.json")
        let r = try Verify.run(config: TrainConfig.load(path: changed), configPath: changed, goldenPath: golden(tensors: true))
        XCTAssertFalse(r.passed)
        XCTAssertEqual(r.firstMismatch?.step, 23)
        XCTAssertEqual(r.checks.count, 25, "stops at the first mismatch: init + steps 0...23")
        XCTAssertEqual(r.checks.filter(\.passed).count, 24)
        XCTAssertEqual(r.firstDivergence?.name, "1.weight")
        XCTAssertEqual(r.firstDivergence?.step, 23)
        XCTAssertEqual(r.firstDivergence?.role.rawValue, "param")
        XCTAssertEqual(r.cause, .configChanged)
        XCTAssertEqual(r.configChanges.map(DivergenceText.change), ["schedule.gamma: 0.5 -> 0.25"])
        XCTAssertNotEqual(r.configHash, r.goldenConfigHash)
    }

    func testDigestOnlyGoldenNamesTheStepButNotTheTensor() throws {
        let changed = try configFile(Self.config.replacingOccurrences(of: "\"lr\": 0.1", with: "\"lr\": 0.05"), "changed.json")
        let r = try Verify.run(config: TrainConfig.load(path: changed), configPath: changed, goldenPath: golden(tensors: false), steps: 5)
        XCTAssertEqual(r.firstMismatch?.step, 0)
        XCTAssertNil(r.firstDivergence)
        XCTAssertFalse(r.tensorHashes)
        XCTAssertTrue(r.humanText.contains("hashes --tensors"), r.humanText)
        XCTAssertEqual(r.junit.cases.count, 2)
        XCTAssertEqual(r.junit.cases.filter { $0.failure != nil }.map(\.name), ["step 0"])
    }

    func testVerifyReportsARunShorterThanTheGolden() throws {
        let shorter = try configFile(Self.config.replacingOccurrences(of: "\"maxSteps\": 26", with: "\"maxSteps\": 20"), "short.json")
        let r = try Verify.run(config: TrainConfig.load(path: shorter), configPath: shorter, goldenPath: golden(tensors: false))
        XCTAssertFalse(r.passed)
        XCTAssertNil(r.firstMismatch)
        XCTAssertEqual(r.shortfall.map(VerifyReport.text), "the run ended after 20 steps; the golden has 26 to check")
    }

    func testDiffOfIdenticalRecordsPassesEveryCriterion() throws {
        let r = try RunDiff.compare(record(name: "a.cwr"), record(name: "b.cwr"))
        XCTAssertTrue(r.identical)
        XCTAssertNil(r.firstDivergentStep)
        XCTAssertEqual(r.criteria.count, 5)
        XCTAssertEqual(r.criteria.map(\.verdict), Array(repeating: .pass, count: 5), "\(r.criteria)")
    }

    func testDiffOfAOneKnobChangeNamesTheKeyStepTensorAndFailsTheCriteria() throws {
        let b = try record(Self.config.replacingOccurrences(of: "\"gamma\": 0.5", with: "\"gamma\": 0.25"), name: "b.cwr")
        let a = try record(name: "a.cwr")
        let r = try RunDiff.compare(a, b)
        XCTAssertEqual(r.configChanges.map(DivergenceText.change), ["schedule.gamma: 0.5 -> 0.25"])
        XCTAssertEqual(r.firstDivergentStep, 23)
        XCTAssertEqual(r.firstDivergence?.name, "1.weight")
        XCTAssertEqual(r.divergentSteps, 3)
        XCTAssertEqual(r.cause, .configChanged)
        let v = Dictionary(uniqueKeysWithValues: r.criteria.map { ($0.name.rawValue, $0.verdict) })
        XCTAssertEqual(v["bit-identical final weights"], .fail)
        XCTAssertEqual(v["identical test predictions"].map { [.pass, .fail].contains($0) }, true)
        XCTAssertNotEqual(v["per-step loss max delta"], .pass)
        XCTAssertFalse(r.identical)
        XCTAssertEqual(try RunDiff.compare(a, b, all: true).configKeys?.filter(\.changed).map(\.key), ["schedule.gamma"])
    }

    func testShuffleSeedVariesTheDataOrderAloneAndSeedTheInitAlone() throws {
        let base = try TrainConfig.load(path: configFile())
        let (order, _) = try Variance.variant(base, vary: .order, index: 1, cores: 2)
        let (seed, label) = try Variance.variant(base, vary: .seed, index: 1, cores: 2)
        XCTAssertEqual(label, "seed=43")
        let a = try record(name: "a.cwr")
        let o = try record(order.given.text, name: "o.cwr")
        let s = try record(seed.given.text, name: "s.cwr")
        let ro = try RunDiff.compare(a, o), rs = try RunDiff.compare(a, s)
        // Data order: the same initial parameters, a different permutation at step 0.
        XCTAssertEqual(ro.firstDivergentStep, 0)
        XCTAssertEqual(ro.firstDivergentDraw?.name, "data/shuffle/epoch-0")
        XCTAssertEqual(ro.cause, .dataOrder)
        // Seed: different initial parameters, the same permutation.
        XCTAssertEqual(rs.firstDivergentStep, initStep)
        XCTAssertEqual(rs.firstDivergentDraw?.name, "init/1.weight")
        let orderA = try RecordReader(path: a).events(step: 0).first { $0.role == .order }
        let orderS = try RecordReader(path: s).events(step: 0).first { $0.role == .order }
        XCTAssertEqual(orderA?.hash, orderS?.hash)
    }

    func testVaryNoneIsBitIdenticalAndSpreadsAreComputed() throws {
        let base = try TrainConfig.load(path: configFile())
        let runs = try (0..<2).map { i in
            let (c, label) = try Variance.variant(base, vary: .none, index: i, cores: 1)
            return try Variance.run(c, index: i, variant: label)
        }
        let r = Variance.summarize(name: "ci", vary: .none, jobs: 1, runs: runs)
        XCTAssertEqual(r.bitIdenticalToFirst, 2)
        XCTAssertEqual(r.distinctOutcomes, 1)
        XCTAssertEqual(r.accuracy.range, 0)
        XCTAssertEqual(r.lossSpreadMax, 0)
        let s = Spread([1, 2, 3, 6])
        XCTAssertEqual(s.mean, 3)
        XCTAssertEqual(s.std, (14.0 / 3).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(s.range, 5)
    }

    func testImplementationVariantsStartWithTheConfigsOwn() throws {
        let base = try TrainConfig.load(path: configFile())
        let combos = try Variance.implementations(base, cores: 2)
        XCTAssertEqual(combos.first?.0, 1)
        XCTAssertEqual(combos.first?.1, .sequential)
        XCTAssertTrue(combos.contains { $0 == (2, .pairwise) })
        XCTAssertEqual(combos.count, Set(combos.map { "\($0.0)/\($0.1)" }).count)
    }

    func testDiffAcrossRecordLevelsComparesTheRolesBothHashed() throws {
        let params = try record(Self.config.replacingOccurrences(of: "\"training\"", with: "\"record\": {\"level\": \"params\"}, \"training\""), name: "p.cwr")
        let r = try RunDiff.compare(params, record(name: "g.cwr"))
        XCTAssertEqual(r.levels.map(\.rawValue), ["params", "grads"])
        XCTAssertEqual(r.configChanges.map(DivergenceText.change), ["record.level: \"params\" -> \"grads\""])
        XCTAssertNil(r.firstDivergentStep, "the params-level tensors of both runs are the same")
        XCTAssertEqual(r.stepsCompared, 27)
        XCTAssertTrue(r.criteria.allSatisfy { $0.verdict == .pass }, "\(r.criteria)")
    }

    func testAnnotationsAndXMLAreEscaped() throws {
        XCTAssertEqual(Text.githubAnnotation(title: "a: b, c", "50% of\nsteps"), "::error title=a%3A b%2C c::50%25 of%0Asteps")
        XCTAssertEqual(Text.xmlEscape("<a & \"b\">\u{1}"), "&lt;a &amp; &quot;b&quot;&gt;\u{FFFD}")
        XCTAssertEqual(Text.markdownTable(["k", "v"], [["a|b", "1"]]), "| k | v |\n|---|---|\n| a\\|b | 1 |")
    }

    func testLossPlotPutsTheExtremesOnTheTopAndBottomRows() throws {
        let plot = LossPlot.render([4, 3, 2, 1], width: 60, height: 4)
        XCTAssertEqual(plot, ["4 |*", "  | *", "  |  *", "1 |   *", "  +----", "   0  3"])
        // A column with no finite loss is marked "!"; a flat curve sits on the bottom row.
        XCTAssertEqual(Array(LossPlot.render([.nan, 1], width: 2, height: 2).prefix(2)), ["1 |!", "1 | *"])
    }

    func testVerifyChecksTheGoldensEvaluationsToo() throws {
        let path = try golden(tensors: false)
        let g = try StepHashes.load(path: path)
        XCTAssertEqual(g.evaluations.map(\.step), [22, 25], "after epoch 0 (23 steps) and after the last step")
        let ok = try Verify.run(config: TrainConfig.load(path: configFile()), configPath: "train.json", goldenPath: path)
        XCTAssertEqual(ok.evaluations.count, 2)
        XCTAssertTrue(ok.passed, ok.humanText)
        // Same weights, a different evaluation: simulated by editing the golden's last predictions hash.
        let last = hex64(g.evaluations[1].predictionsHash)
        let edited = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: last, with: "0123456789abcdef")
        try Data(edited.utf8).write(to: URL(fileURLWithPath: path))
        let r = try Verify.run(config: TrainConfig.load(path: configFile()), configPath: "train.json", goldenPath: path)
        XCTAssertFalse(r.passed)
        XCTAssertNil(r.firstMismatch)
        XCTAssertEqual(r.checks.count, 27)
        XCTAssertEqual(r.firstEvaluationMismatch?.step, 25)
        XCTAssertTrue(r.humanText.contains("FAIL: test predictions after step 25 differ"), r.humanText)
        let detail = r.diagnosis.map(DivergenceText.detail)
        XCTAssertTrue(detail?.contains("the evaluation itself changed") ?? false, "\(detail ?? "-")")
        XCTAssertEqual(r.junit.cases.filter { $0.failure != nil }.map(\.name), ["evaluation after step 25 (test)"])
    }
}
