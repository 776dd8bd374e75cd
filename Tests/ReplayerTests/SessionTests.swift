import Foundation
import XCTest
import Engine
import Presentation
import Recorder
@testable import Replayer

/// The application layer in process: sessions return typed values (no subprocess needed), the
/// one `diagnose` names each cause from its evidence, changes and probe findings are typed.
final class SessionTests: RecordingTestCase {
    static let config = """
        {"name": "s", "seed": 3, "data": {"dataset": "digits", "batchSize": 64},
         "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 16}, {"type": "relu"}, {"type": "dense", "units": 10}]},
         "optimizer": {"type": "sgd", "lr": 0.1, "momentum": 0.9}, "training": {"epochs": 1, "maxSteps": 12}}
        """

    func configFile() throws -> String {
        let p = dir.appendingPathComponent("train.json").path
        try Data(Self.config.utf8).write(to: URL(fileURLWithPath: p))
        return p
    }

    /// `record` as a session: the outcome says what was written; the record replays bit-identical;
    /// plain training (`train`) ends with the same parameters, and the export holds them.
    func testRecordAndTrainSessionsAgreeAndTheRecordReplays() throws {
        let path = try configFile()
        let config = try TrainConfig.load(path: path)
        let out = dir.appendingPathComponent("r.cwr").path, weights = dir.appendingPathComponent("w.safetensors").path
        let recorded = try TrainingSession(recording: config, configPath: path, output: out, overwrite: false,
                                           options: TrainingOptions(export: weights)).run()
        XCTAssertEqual(recorded.record, out)
        XCTAssertEqual(recorded.steps, 12)
        XCTAssertEqual(recorded.stepsTrained, 12)
        XCTAssertEqual(recorded.tensors, try RecordReader(path: out).steps().reduce(0) { $0 + $1.tensorCount })
        XCTAssertEqual(recorded.exported, weights)
        XCTAssertTrue(try ReplaySession.replay(path: out).identical)

        let plain = try TrainingSession(training: config).run()
        XCTAssertNil(plain.record)
        XCTAssertEqual(plain.parameterDigest, recorded.parameterDigest, "recording changes no number")
        XCTAssertEqual(plain.finalLoss.bitPattern, recorded.finalLoss.bitPattern)
        let exported = try SafeTensors.parse([UInt8](Data(contentsOf: URL(fileURLWithPath: weights))), name: weights)
        XCTAssertEqual(exported.map(\.name).sorted(), ["1.bias", "1.weight", "3.bias", "3.weight"])

        // An existing output is not replaced without `overwrite`.
        XCTAssertThrowsError(try TrainingSession(recording: config, configPath: path, output: out, overwrite: false).run())
    }

    /// The replay session opens the record first (a config file is not a record: exit 3 material),
    /// and knows before running whether a re-exec is needed.
    func testReplaySessionOpensTheRecordBeforeAnythingElse() throws {
        XCTAssertThrowsError(try ReplaySession(path: configFile())) { XCTAssertTrue($0 is RecordReadError, "\($0)") }
        let session = try ReplaySession(path: recordConfig(Self.config))
        XCTAssertNil(session.coreTypeToRequest, "recorded on this machine's core")
        XCTAssertEqual(try session.stepsRecorded(), 12)
        session.options.changes = [try ConfigAssignment(parsing: "optimizer.momentum=0.5")]
        let r = try session.run()
        XCTAssertEqual(r.configChanges, [Change(key: "optimizer.momentum", old: "0.9", new: "0.5")])
        XCTAssertEqual(r.diagnosis?.reason, .config)
        XCTAssertEqual(r.firstDivergence?.role, .param)
        XCTAssertThrowsError(try ConfigAssignment(parsing: "optimizer")) { XCTAssertEqual($0 as? ConfigAssignment.SyntaxError, .init(text: "optimizer")) }
    }

    /// Verify's errors carry the numbers; the command line adds the option name.
    func testVerifyRefusesMoreStepsThanTheGoldenHas() throws {
        let golden = try recordConfig(Self.config, name: "g.cwr")
        let session = try VerifySession(configPath: configFile(), goldenPath: golden, options: .init(steps: 13, patch: false))
        XCTAssertThrowsError(try session.run()) {
            XCTAssertEqual($0 as? VerifyError, .stepsOutOfRange(requested: 13, available: 12, golden: golden))
        }
    }

    func divergence(_ name: String, _ role: TensorRole, _ kind: Divergence.Kind = .hash) -> Divergence {
        Divergence(step: 0, seq: 1, name: name, role: role, kind: kind, expectedShape: [2], actualShape: [3])
    }

    /// One diagnosis from the evidence, most specific first.
    func testDiagnoseNamesTheMostSpecificCause() {
        let lr = Change(key: "optimizer.lr", old: "0.1", new: "0.05")
        func diagnose(tensor: Divergence? = nil, draw: Divergence? = nil, config: [Change] = [], env: [Change] = [], openblas: Bool = true) -> Diagnosis {
            .diagnose(Evidence(first: FirstDivergences(tensor: tensor, draw: draw), configChanges: config, environmentChanges: env, openblas: openblas))
        }
        let order = diagnose(tensor: divergence("batch.x", .batch), draw: divergence("data/shuffle/epoch-0", .order), config: [lr])
        XCTAssertEqual(order.reason, .dataOrder(site: "data/shuffle/epoch-0"))
        XCTAssertEqual(order.cause, .dataOrder)
        XCTAssertEqual(DivergenceText.detail(order), "the data order at data/shuffle/epoch-0 differs; config changed: optimizer.lr: 0.1 -> 0.05")
        XCTAssertEqual(diagnose(draw: divergence("init/1.weight", .draw)).reason, .randomDraws(site: "init/1.weight"))
        let data = Change(key: "data.train", old: "a", new: "b")
        XCTAssertEqual(diagnose(tensor: divergence("batch.x", .batch), env: [data]).reason, .dataFiles(changes: [data], firstSeenAt: "batch.x"))
        let batch = diagnose(tensor: divergence("batch.x", .batch, .structure))
        XCTAssertEqual(batch.reason, .batch(structure: true, expectedShape: [2], actualShape: [3]))
        XCTAssertEqual(DivergenceText.detail(batch), "the batch differs (shape [2] -> [3])")
        XCTAssertEqual(diagnose(tensor: divergence("1.weight", .param), config: [lr]).reason, .config)
        XCTAssertEqual(diagnose(tensor: divergence("reduce/loss/step-0", .reduction)).cause, .numerics)
        let libc = Change(key: "libc", old: "glibc 2.36", new: "glibc 2.39"), core = Change(key: "blas.core", old: "Zen", new: "Haswell")
        XCTAssertEqual(diagnose(tensor: divergence("loss", .loss), env: [libc]).reason, .environment(changes: [libc], core: nil))
        XCTAssertEqual(DivergenceText.detail(diagnose(tensor: divergence("loss", .loss), env: [core, libc])),
                       "the OpenBLAS core differs (blas.core: Zen -> Haswell): its kernels round differently; also libc: glibc 2.36 -> glibc 2.39")
        // On the reference GEMM, BLAS facts are not a cause.
        XCTAssertEqual(diagnose(tensor: divergence("loss", .loss), env: [core], openblas: false).reason, .arithmetic)
        XCTAssertNil(Diagnosis(reason: .evaluation).cause, "an evaluation that changed on its own has no training cause")
    }

    /// Changes are typed: dotted paths, `[i]` into arrays of objects, absent sides; the
    /// environment comparison ignores facts the record lacks and data it did not load.
    func testChangesBetweenConfigsAndEnvironments() throws {
        let a = try JSON.parse(Array(#"{"optimizer": {"lr": 0.1}, "model": {"layers": [{"units": 4}, {"units": 8}]}, "x": [1, 2]}"#.utf8), source: "a")
        let b = try JSON.parse(Array(#"{"optimizer": {"lr": 0.1, "momentum": 0.9}, "model": {"layers": [{"units": 4}, {"units": 6}]}, "x": [1, 3]}"#.utf8), source: "b")
        XCTAssertEqual(Change.between(a, b), [Change(key: "model.layers[1].units", old: "8", new: "6"),
                                              Change(key: "optimizer.momentum", old: nil, new: "0.9"),
                                              Change(key: "x", old: "[1,2]", new: "[1,3]")])
        XCTAssertEqual(DivergenceText.change(Change(key: "optimizer.momentum", old: nil, new: "0.9")), "optimizer.momentum: (absent) -> 0.9")
        let recorded = ["blas.core": "Zen", "data.train": "x"], current = ["blas.core": "Haswell", "libc": "glibc 2.36"]
        XCTAssertEqual(Change.environment(recorded, current), [Change(key: "blas.core", old: "Zen", new: "Haswell")])
    }

    /// The probe's findings are values: which settings change the bits, against this process's core.
    func testProbeFindings() {
        func r(_ core: String, _ t: Int, _ n: Int, _ h: String) -> BLASProbe.Result {
            BLASProbe.Result(gemm: "openblas", core: core, size: n, threads: t, hash: h, gflops: 10)
        }
        let here = BLAS.coreName, other = here == "Haswell" ? "Zen" : "Haswell"
        let auto = [r(here, 1, 64, "a"), r(here, 2, 64, "a"), r(here, 1, 512, "b"), r(here, 2, 512, "c")]
        let cores = [EnvProbe.CoreProbe(requested: other, loaded: other, results: [r(other, 1, 64, "a"), r(other, 2, 64, "a"),
                                                                                   r(other, 1, 512, "d"), r(other, 2, 512, "d")]),
                     EnvProbe.CoreProbe(requested: "NoSuch", loaded: here, results: auto)]
        let reference = [64, 512].flatMap { n in [1, 2].map { BLASProbe.Result(gemm: "reference", core: "reference", size: n, threads: $0, hash: "r\(n)", gflops: 5) } }
        let f = EnvProbe.findings(auto: auto, cores: cores, reference: reference, threads: [1, 2])
        XCTAssertTrue(f.contains(.unavailable(requested: "NoSuch", loaded: here)))
        XCTAssertTrue(f.contains(.threadsChangeBits(core: here, threads: 2, sizes: [512])))
        XCTAssertTrue(f.contains(.threadsKeepBits(threads: 2, cores: [other])))
        XCTAssertTrue(f.contains(.againstHere(here: here, threads: 1, differ: [.init(core: other, sizes: [512])], same: [])))
        XCTAssertTrue(f.contains(.reference(threads: 2, changedSizes: [])))
        XCTAssertEqual(EnvProbe.Report.text(.threadsChangeBits(core: here, threads: 2, sizes: [512])), "\(here): 1 vs 2 threads change the bits at n=512")
    }
}
