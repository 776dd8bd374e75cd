import Foundation
import XCTest

/// Hardware and reduction-order nondeterminism through the binary: parallel reductions vary run
/// to run and replay bit for bit; a run recorded on one OpenBLAS core type replays on another
/// (patched by re-executing), or names the core as the cause with --no-patch; the reference GEMM
/// gives the same bits on any thread count and core type; `env` probes all of it.
final class HardwareCLITests: CLITestCase {
    func config(reduction: String = "sequential", gemm: String = "openblas", threads: Int = 2, units: Int = 128, steps: Int = 24,
                batch: Int = 128) -> String {
        """
        {"name": "hw", "seed": 7, "data": {"dataset": "digits", "batchSize": \(batch)},
         "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": \(units)}, {"type": "relu"},
                              {"type": "dense", "units": \(units)}, {"type": "relu"}, {"type": "dense", "units": 10}]},
         "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9}, "training": {"epochs": 10, "maxSteps": \(steps)},
         "determinism": {"threads": \(threads), "gemm": "\(gemm)", "reduction": "\(reduction)"}}
        """
    }

    /// The `final parameters: digest <hex>` line of `train`.
    func digest(_ r: CLI.Result) -> String? {
        r.stdout.split(separator: "\n").first { $0.hasPrefix("final parameters: digest ") }
            .map { String($0.dropFirst("final parameters: digest ".count).prefix(16)) }
    }

    func testParallelReductionVariesRunToRunAndAParallelRecordReplaysBitIdentical() throws {
        // Enough work per chunk (a 512 x 512 weight gradient over 64 samples) that both workers are
        // busy at once: with tiny chunks one worker can finish them all before the other wakes up.
        let cfg = try write("par.json", config(reduction: "parallel", units: 512, steps: 12, batch: 512))
        if ProcessInfo.processInfo.activeProcessorCount < 2 {
            print("skipping the run-to-run part: a single-core machine runs the 2 workers one after the other, so chunks complete in index order")
        } else {
            var digests: [String] = []
            for _ in 0..<3 {
                let r = try CLI.run(["train", cfg])
                XCTAssertEqual(r.status, 0, r.stderr)
                digests.append(try XCTUnwrap(digest(r), r.stdout))
            }
            XCTAssertGreaterThanOrEqual(Set(digests).count, 2, "three parallel runs: \(digests)")
        }
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("par.cwr")]).status, 0)
        let replay = try CLI.run(["replay", path("par.cwr")])
        XCTAssertEqual(replay.status, 0, replay.stdout + replay.stderr)
        XCTAssertTrue(replay.stdout.hasPrefix("bit-identical: 12 steps"), replay.stdout)
    }

    func testSequentialTrainRunsAgreeWithEachOther() throws {
        let cfg = try write("seq.json", config(steps: 8))
        let a = try CLI.run(["train", cfg]), b = try CLI.run(["train", cfg])
        XCTAssertNotNil(digest(a), a.stdout)
        XCTAssertEqual(digest(a), digest(b))
    }

    /// Whether OpenBLAS loads `core` when asked: a misspelled or unsupported core falls back silently.
    /// Whether OpenBLAS loads `core`'s kernels here: false when this CPU cannot run them (cwrepro
    /// refuses with exit 4 before loading OpenBLAS, as on every CPU without AVX-512 for SkylakeX).
    func loads(_ core: String) throws -> Bool {
        let r = try CLI.run(["env", "--no-probe", "--json"], env: ["OPENBLAS_CORETYPE": core])
        if r.status == 4 { return false }
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        return ((obj?["profile"] as? [String: String])?["blas.core"])?.lowercased() == core.lowercased()
    }

    /// Sandybridge (AVX, no FMA) and Haswell (AVX2 with FMA) kernels round differently, and every CPU
    /// cwrepro runs on (AVX2 and FMA: the binary's own requirement) runs both: a pair of core types
    /// for these tests that needs no AVX-512.
    func testRecordOnSandybridgeReplaysOnHaswellPatchedAndNamesTheCoreWithNoPatch() throws {
        guard try loads("Sandybridge"), try loads("Haswell") else { throw XCTSkip("this OpenBLAS build cannot load both Sandybridge and Haswell kernels") }
        let cfg = try write("core.json", config(threads: 1, steps: 6))
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("sb.cwr")], env: ["OPENBLAS_CORETYPE": "Sandybridge"]).status, 0)

        let patched = try CLI.run(["replay", path("sb.cwr")], env: ["OPENBLAS_CORETYPE": "Haswell"])
        XCTAssertEqual(patched.status, 0, patched.stdout + patched.stderr)
        XCTAssertTrue(patched.stdout.hasPrefix("patched: OpenBLAS core Haswell -> Sandybridge (re-executed with OPENBLAS_CORETYPE=Sandybridge)\nbit-identical: 6 steps"), patched.stdout)

        let asIs = try CLI.run(["replay", path("sb.cwr"), "--no-patch"], env: ["OPENBLAS_CORETYPE": "Haswell"])
        XCTAssertEqual(asIs.status, 1, asIs.stdout + asIs.stderr)
        XCTAssertTrue(asIs.stdout.contains("first divergence at step 0"), asIs.stdout)
        XCTAssertTrue(asIs.stdout.contains("cause: environment (the OpenBLAS core differs (blas.core: Sandybridge -> Haswell)"), asIs.stdout)
        XCTAssertTrue(asIs.stdout.contains("without --no-patch cwrepro re-executes with OPENBLAS_CORETYPE=Sandybridge"), asIs.stdout)
    }

    func testMisspelledCoreTypeIsDetected() throws {
        let r = try CLI.run(["env", "--no-probe"], env: ["OPENBLAS_CORETYPE": "Skylakx"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stdout.contains("warning: OPENBLAS_CORETYPE=Skylakx was not honoured: OpenBLAS loaded"), r.stdout)
    }

    func testReferenceGEMMGivesTheSameDigestOnAnyThreadCountAndCoreType() throws {
        var digests: [String: String] = [:]
        // Every core type this CPU runs among a no-FMA, an AVX2 and an AVX-512 family.
        var cores: [String] = []
        for core in ["Sandybridge", "Haswell", "SkylakeX"] where try loads(core) { cores.append(core) }
        XCTAssertGreaterThanOrEqual(cores.count, 2, "Sandybridge and Haswell load on any CPU with AVX2 and FMA")
        for core in cores {
            for threads in [1, 2] {
                let cfg = try write("ref\(threads).json", config(gemm: "reference", threads: threads, units: 96, steps: 6))
                let r = try CLI.run(["train", cfg], env: ["OPENBLAS_CORETYPE": core])
                XCTAssertEqual(r.status, 0, r.stderr)
                digests["\(core)/\(threads)"] = digest(r)
            }
        }
        XCTAssertEqual(Set(digests.values).count, 1, "\(digests)")
    }

    func testEnvProbeReportsWhichSettingsChangeTheBits() throws {
        let r = try CLI.run(["env", "--sizes", "32,96", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let profile = try XCTUnwrap(obj["profile"] as? [String: String])
        for key in ["blas.core", "blas.version", "blas.threads", "cpu.flags", "libc"] { XCTAssertNotNil(profile[key], key) }
        let reference = try XCTUnwrap(obj["reference"] as? [[String: Any]])
        XCTAssertEqual(reference.count, 2 * (obj["threads"] as? [Int] ?? []).count)
        XCTAssertEqual(Set(reference.filter { $0["size"] as? Int == 96 }.compactMap { $0["hash"] as? String }).count, 1)
        let findings = try XCTUnwrap(obj["findings"] as? [String])
        XCTAssertTrue(findings.contains { $0.hasPrefix("reference GEMM: the same bits") }, "\(findings)")
        let cores = try XCTUnwrap(obj["cores"] as? [[String: Any]])
        XCTAssertTrue(cores.contains { $0["requested"] as? String == "Haswell" && $0["loaded"] as? String == "Haswell" } || !profile["cpu.flags", default: ""].contains("avx2"))
    }
}
