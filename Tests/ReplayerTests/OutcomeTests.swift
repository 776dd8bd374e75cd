import Foundation
import XCTest
import Engine
import Presentation
import Recorder
@testable import Replayer

/// Typed outcomes of the application layer: what a replay or verification does not cover, the
/// verdict it gives, what resume refuses, the seal check, and diagnoses that know which BLAS facts
/// matter and which core this CPU can run.
final class OutcomeTests: RecordingTestCase {
    static let config = SessionTests.config

    func testOutcomeOfEveryCase() {
        let killed = Incompleteness.unfinished(stillRunning: false)
        XCTAssertNil(Incompleteness.of(status: .complete, writerActive: false, trainingStepsCompared: 5))
        XCTAssertEqual(Incompleteness.of(status: .complete, writerActive: false, trainingStepsCompared: 0), .noTrainingSteps)
        XCTAssertEqual(Incompleteness.of(status: .running, writerActive: false, trainingStepsCompared: 0), .noTrainingSteps, "nothing compared comes first")
        XCTAssertEqual(Incompleteness.of(status: .running, writerActive: false, trainingStepsCompared: 3), killed)
        XCTAssertEqual(Incompleteness.of(status: .running, writerActive: true, trainingStepsCompared: 3), .unfinished(stillRunning: true))
        XCTAssertEqual(Incompleteness.of(status: .failed(reason: "NaN"), writerActive: false, trainingStepsCompared: 3), .failedRun(reason: "NaN"))

        XCTAssertEqual(CheckOutcome.of(differs: false, gap: nil, acceptIncomplete: false), .identical)
        XCTAssertEqual(CheckOutcome.of(differs: true, gap: killed, acceptIncomplete: true), .diverged, "a difference is a difference")
        XCTAssertEqual(CheckOutcome.of(differs: false, gap: killed, acceptIncomplete: false), .incomplete(killed))
        XCTAssertEqual(CheckOutcome.of(differs: false, gap: killed, acceptIncomplete: true), .acceptedIncomplete(killed))
        XCTAssertEqual(CheckOutcome.of(differs: false, gap: .noTrainingSteps, acceptIncomplete: true), .incomplete(.noTrainingSteps),
                       "comparing nothing is never accepted")
        XCTAssertEqual([CheckOutcome.identical, .acceptedIncomplete(killed), .diverged, .incomplete(killed)].map(\.passed), [true, true, false, false])
    }

    /// A record that stops right after initialisation: complete, sealed, and nothing to compare.
    func testARecordWithoutTrainingStepsIsNothingToCompare() throws {
        final class StopAfterInit: RecordSink {
            let writer: RecordWriter
            init(_ w: RecordWriter) { writer = w }
            func wantsPayload(step: Int) -> Bool { false }
            func event(_ e: RecordedEvent) {}
            func endStep(_ summary: StepSummary, events: [RecordedEvent]) throws { try writer.endStep(summary, events: events) }
            func evaluation(_ e: Evaluation) throws { try writer.evaluation(e) }
            var shouldStop: Bool { true }
        }
        let cfgPath = dir.appendingPathComponent("train.json").path
        try Data(Self.config.utf8).write(to: URL(fileURLWithPath: cfgPath))
        let config = try TrainConfig.load(path: cfgPath)
        let rec = Recorder(seed: config.seed, level: config.record.level)
        let trainer = try Trainer(config: config, recorder: rec)
        let path = dir.appendingPathComponent("init-only.cwr").path
        let writer = try RecordWriter(path: path, header: RecordHeader(
            configGiven: config.given.text, configResolved: config.resolved.text, configPath: cfgPath,
            semantics: config.semantics.profile.rawValue, level: config.record.level,
            environment: EnvironmentPatch.currentEnvironment(config, data: trainer.data), cwreproVersion: "test"))
        rec.sink = StopAfterInit(writer)
        _ = try trainer.run()
        try writer.finish()
        XCTAssertEqual(try RecordReader(path: path).steps().map(\.step), [initStep])

        for allow in [false, true] {
            let r = try ReplaySession.replay(path: path, allowIncomplete: allow)
            XCTAssertTrue(r.identical)
            XCTAssertEqual(r.outcome, .incomplete(.noTrainingSteps), "allowIncomplete \(allow)")
            XCTAssertTrue(r.humanText.hasPrefix("nothing to compare: the record holds no training step (a finished run)"), r.humanText)
        }
    }

    func testAWholeRecordIsIdenticalAndItsGoldenKeepsNoStatusLine() throws {
        let path = try recordConfig(Self.config)
        let r = try ReplaySession.replay(path: path)
        XCTAssertEqual(r.outcome, .identical)
        XCTAssertNil(r.incompleteness)
        let golden = try StepHashes.from(RecordReader(path: path), tensors: false)
        XCTAssertFalse(golden.text.contains("\nstatus "), "goldens of complete runs keep their bytes")
        var failed = golden
        failed.status = .failed(reason: "step 2: loss is NaN;\nsecond line")
        let text = failed.text
        XCTAssertTrue(text.contains("\nstatus failed step 2: loss is NaN; second line\ntensors no\n"), text)
        XCTAssertEqual(try StepHashes.parse(text, source: "g").status, .failed(reason: "step 2: loss is NaN; second line"))
        failed.status = .running
        XCTAssertEqual(try StepHashes.parse(failed.text, source: "g").status, .running)
        XCTAssertThrowsError(try StepHashes.parse(text.replacingOccurrences(of: "status failed", with: "status done"), source: "g")) {
            XCTAssertTrue("\($0)".contains("status done"), "\($0)")
        }
    }

    /// BLAS facts cannot change the bits of a run on the reference GEMM: verify (and diff) no
    /// longer blame the OpenBLAS core for such a run (they used to diagnose as if on OpenBLAS).
    func testAReferenceGEMMRunIsNotBlamedOnTheOpenBLASCore() throws {
        let reference = Self.config.replacingOccurrences(of: "\"training\":", with: "\"determinism\": {\"gemm\": \"reference\"}, \"training\":")
        let path = try recordConfig(reference)
        let cfgPath = dir.appendingPathComponent("train.json").path
        var golden = try StepHashes.from(RecordReader(path: path), tensors: false)
        golden.environment["blas.core"] = "SkylakeX"
        golden.entries[3].digest ^= 1
        let r = try VerifySession(config: TrainConfig.load(path: cfgPath), configPath: cfgPath, golden: golden, goldenPath: "g",
                                  options: .init(patch: false)).run()
        XCTAssertEqual(r.outcome, .diverged)
        XCTAssertEqual(r.environmentChanges.of("blas.core")?.old, "SkylakeX")
        XCTAssertEqual(r.diagnosis?.reason, .arithmetic, "\(String(describing: r.diagnosis))")
    }

    /// `--no-patch` on a record whose core this CPU cannot run: the diagnosis says patching is
    /// impossible here (it used to advise replaying without --no-patch, which exits 4).
    func testTheDiagnosisSaysWhenTheRecordedCoreCannotRunHere() throws {
        let avx2 = CPUFeatures(detected: ["sse2", "sse3", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma"], restriction: nil)
        let core = Change(key: "blas.core", old: "SkylakeX", new: "Haswell")
        let d = Diagnosis.diagnose(Evidence(first: FirstDivergences(), configChanges: [], environmentChanges: [core],
                                            patchingDisabled: true, cpu: avx2))
        XCTAssertEqual(d.recordedCoreMissing?.first, "avx512f")
        let text = DivergenceText.detail(d)
        XCTAssertFalse(text.contains("without --no-patch"), text)
        XCTAssertTrue(text.contains("this CPU cannot run the recorded SkylakeX kernels (it lacks avx512f, "), text)
        XCTAssertTrue(text.contains("cannot be patched here"), text)
        let patchable = Diagnosis.diagnose(Evidence(first: FirstDivergences(), configChanges: [], environmentChanges: [core],
                                                    patchingDisabled: true, cpu: CPUFeatures(detected: avx2.flags.union(["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]), restriction: nil)))
        XCTAssertNil(patchable.recordedCoreMissing)
        XCTAssertTrue(DivergenceText.detail(patchable).contains("without --no-patch cwrepro re-executes with OPENBLAS_CORETYPE=SkylakeX"))
    }

    /// What resume refuses, from the differences alone.
    func testResumeJudgesEachDifference() throws {
        let config = try TrainConfig.parse(JSON.parse(Array(Self.config.utf8), source: "t.json"), baseDirectory: "/base")
        func judge(_ changes: [Change], openblas: Bool = true) -> (ResumeRefusal?, [Change]) {
            let v = ResumeSession.judge(changes, openblas: openblas, path: "r.cwr", config: config)
            return (v.refusal, v.harmless)
        }
        let flags = Change(key: "cpu.flags", old: "avx avx2 avx512f fma", new: "avx avx2 fma")
        let core = Change(key: "blas.core", old: "SkylakeX", new: "Haswell")
        let version = Change(key: "blas.version", old: "0.3.21", new: "0.3.26")
        let libc = Change(key: "libc", old: "glibc 2.36", new: "glibc 2.39")
        let data = Change(key: "data.train", old: "32 x [1, 4, 4]: a/b", new: "32 x [1, 4, 4]: c/d")
        XCTAssertNil(judge([flags]).0, "the same kernels on another CPU")
        XCTAssertEqual(judge([flags]).1, [flags])
        XCTAssertEqual(judge([core, flags]).0, .coreNotLoaded(record: "r.cwr", recorded: "SkylakeX", loaded: "Haswell"))
        XCTAssertEqual(judge([version, libc]).0, .environmentChanged(record: "r.cwr", changes: [version, libc]))
        XCTAssertEqual(judge([core, version], openblas: false).0, nil, "BLAS facts do not matter on the reference GEMM")
        XCTAssertEqual(judge([version, data]).0, .dataChanged(record: "r.cwr", changes: [data], files: []), "digits: no file")
    }

    func testDataFilesFeedingEachSet() throws {
        let config = try TrainConfig.parse(JSON.parse(Array("""
            {"data": {"source": {"format": "idx", "trainImages": "a/ti.idx", "trainLabels": "a/tl.idx", "testImages": "a/si.idx", "testLabels": "a/sl.idx"}},
             "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]}}
            """.utf8), source: "t.json"), baseDirectory: "/base")
        XCTAssertEqual(DataFile.feeding(["data.test"], config), [DataFile(key: "data.source.testImages", path: "/base/a/si.idx"),
                                                                DataFile(key: "data.source.testLabels", path: "/base/a/sl.idx")])
        XCTAssertEqual(DataFile.feeding(["data.train", "data.test"], config).count, 4)
    }

    /// A record unfinished on a "machine" whose libc differs: resume refuses before touching it.
    func testResumeRefusesAnEnvironmentItCannotPatch() throws {
        let cfgPath = dir.appendingPathComponent("train.json").path
        try Data(Self.config.replacingOccurrences(of: "\"maxSteps\": 12", with: "\"maxSteps\": 12}, \"record\": {\"checkpointEvery\": 4").utf8)
            .write(to: URL(fileURLWithPath: cfgPath))
        let config = try TrainConfig.load(path: cfgPath)
        let rec = Recorder(seed: config.seed, level: config.record.level)
        let trainer = try Trainer(config: config, recorder: rec)
        var env = EnvironmentPatch.currentEnvironment(config, data: trainer.data)
        env["libc"] = "glibc 1.0"
        let path = dir.appendingPathComponent("other-libc.cwr").path
        do {
            let writer = try RecordWriter(path: path, header: RecordHeader(
                configGiven: config.given.text, configResolved: config.resolved.text, configPath: cfgPath,
                semantics: config.semantics.profile.rawValue, level: config.record.level, environment: env, cwreproVersion: "test"))
            rec.sink = writer
            trainer.checkpointHandler = { try writer.checkpoint(step: $0, bytes: $1) }
            _ = try trainer.run()
            try writer.flush()   // committed, never finished: like a killed run
            rec.sink = NullSink()
            trainer.checkpointHandler = nil   // the writer (and its lock) is released
        }
        let before = try RecordReader(path: path).steps().count
        XCTAssertThrowsError(try ResumeSession(path: path)) { e in
            guard case .environmentChanged(_, let changes)? = e as? ResumeRefusal else { return XCTFail("\(e)") }
            XCTAssertEqual(changes.map(\.key), ["libc"])
            XCTAssertTrue((e as! ResumeRefusal).message.contains("libc: glibc 1.0 -> "), (e as! ResumeRefusal).message)
        }
        XCTAssertEqual(try RecordReader(path: path).steps().count, before, "nothing discarded")
        XCTAssertEqual(try RecordReader(path: path).status, .running)
    }

    func testSealCheck() throws {
        let path = try recordConfig(Self.config)
        let s = try SealCheck.check(path: path)
        let digest = try XCTUnwrap(s.digest)
        XCTAssertEqual(digest, try RecordReader(path: path).sealDigest())
        XCTAssertNil(s.matches)
        XCTAssertEqual(try SealCheck.check(path: path, expected: "  " + digest.dropFirst(7).uppercased() + "\n").matches, true)
        XCTAssertEqual(try SealCheck.check(path: path, expected: "sha256:" + String(repeating: "0", count: 64)).matches, false)
        for bad in ["sha256:", "sha1:" + String(repeating: "0", count: 40), String(repeating: "g", count: 64)] {
            XCTAssertThrowsError(try SealCheck.check(path: path, expected: bad)) { XCTAssertTrue($0 is InputError, "\($0)") }
        }
    }
}
