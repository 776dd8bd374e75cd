import Foundation
import XCTest
import Engine
import Presentation
import Recorder
@testable import Replayer

/// Parallel reductions replay bit for bit; environment differences are named as the cause.
final class HardwareReplayTests: RecordingTestCase {
    static func config(gemm: String, threads: Int = 2) -> String {
        """
        {"name": "par", "seed": 5, "data": {"dataset": "digits", "batchSize": 96},
         "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 48}, {"type": "relu"}, {"type": "dense", "units": 10}]},
         "optimizer": {"type": "sgd", "lr": 0.1, "momentum": 0.9}, "training": {"epochs": 1, "maxSteps": 12},
         "determinism": {"threads": \(threads), "gemm": "\(gemm)", "reduction": "parallel"}}
        """
    }

    func record(_ json: String) throws -> String {
        try recordConfig(json)
    }

    func testParallelRunRecordsEveryReductionOrderAndReplaysBitIdentical() throws {
        let path = try record(Self.config(gemm: "openblas"))
        let step3 = try RecordReader(path: path).events(step: 3).filter { $0.role == .reduction }.map(\.name)
        XCTAssertEqual(step3, ["reduce/loss/step-3", "reduce/3.weight/step-3", "reduce/3.bias/step-3",
                               "reduce/1.weight/step-3", "reduce/1.bias/step-3"])
        let r = try ReplaySession.replay(path: path)
        XCTAssertTrue(r.identical, "\(r)")
        XCTAssertEqual(r.stepsReplayed, 12)
    }

    /// The recorded orders fix the bits whatever the thread count: with the reference GEMM, a run
    /// recorded on 2 threads replays bit-identical on 1 (only the config line says so).
    func testRecordedOrdersMakeThreadCountIrrelevantOnTheReferenceGEMM() throws {
        let path = try record(Self.config(gemm: "reference"))
        let r = try ReplaySession.replay(path: path, changes: changes(["determinism.threads=1"]))
        XCTAssertTrue(r.identical, "\(r)")
        XCTAssertEqual(r.configChanges.map(DivergenceText.change), ["determinism.threads: 2 -> 1"])
    }

    func testBLASCoreDifferenceIsNamedAsTheCause() {
        var e = Evidence(first: FirstDivergences(tensor: Divergence(step: 0, seq: 3, name: "loss", role: .loss, kind: .hash)),
                         configChanges: [], environmentChanges: [Change(key: "blas.core", old: "SkylakeX", new: "Haswell")])
        e.patchingDisabled = true
        // A CPU that runs SkylakeX's kernels (so patching could match them), whatever this one is.
        e.cpu = CPUFeatures(detected: ["avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"], restriction: nil)
        let d = Diagnosis.diagnose(e)
        XCTAssertEqual(d.cause, .environment)
        XCTAssertEqual(DivergenceText.detail(d), "the OpenBLAS core differs (blas.core: SkylakeX -> Haswell): its kernels round differently; without --no-patch cwrepro re-executes with OPENBLAS_CORETYPE=SkylakeX")
        // On the reference GEMM the BLAS core cannot change the bits: not the cause.
        e.openblas = false
        XCTAssertEqual(Diagnosis.diagnose(e).cause, .numerics)
    }

    func testCoreTypeIsRequestedOnlyForOpenBLASRunsOnAnotherCoreAndOnlyOnce() throws {
        let reader = try RecordReader(path: record(Self.config(gemm: "openblas", threads: 1)))
        XCTAssertEqual(reader.environment["blas.core"], BLAS.coreName)
        XCTAssertNil(EnvironmentPatch.coreTypeToRequest(reader), "same core: nothing to patch")
        var env = reader.environment
        env["blas.core"] = BLAS.coreName == "SkylakeX" ? "Haswell" : "SkylakeX"
        XCTAssertEqual(EnvironmentPatch.coreTypeToRequest(recorded: env, openblas: true, environment: [:]), env["blas.core"])
        XCTAssertNil(EnvironmentPatch.coreTypeToRequest(recorded: env, openblas: false, environment: [:]), "reference GEMM: no BLAS patch")
        XCTAssertNil(EnvironmentPatch.coreTypeToRequest(recorded: env, openblas: true, environment: [EnvironmentPatch.markerVariable: "Haswell"]),
                     "already re-executed: no loop")
    }

    func testEnvironmentComparisonIgnoresFactsAnOlderRecordLacksAndTheCoreNameInTheConfig() {
        let old = ["blas.core": "Haswell", "blas.threads": "1", "cpu.flags": "avx2 fma",
                   "blas.config": "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64"]
        var now = ["blas.core": "Haswell", "blas.threads": "1", "cpu.flags": "avx2 fma", "blas.version": "0.3.21", "libc": "glibc 2.36",
                   "blas.config": "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY MAX_THREADS=64"]
        XCTAssertEqual(Change.environment(old, now).map(DivergenceText.change), [])
        now["blas.core"] = "SkylakeX"
        now["blas.threads"] = "2"
        XCTAssertEqual(Change.environment(old, now).map(DivergenceText.change), ["blas.core: Haswell -> SkylakeX", "blas.threads: 1 -> 2"])
        XCTAssertEqual(Change.environment(now, old).map(DivergenceText.change), ["blas.core: SkylakeX -> Haswell", "blas.threads: 2 -> 1",
                                                          "blas.version: 0.3.21 -> (absent)", "libc: glibc 2.36 -> (absent)"])
    }
}
