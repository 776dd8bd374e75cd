import Foundation
import XCTest

/// On a CPU that cannot run what is asked (the binary, OPENBLAS_CORETYPE, a record's kernels),
/// every command answers with a message and exit 4, never a signal. Two ways to get such a CPU on
/// one machine: `CWREPRO_CPU_FLAGS` (cwrepro's own view restricted), and qemu-user emulating an
/// AVX2-only CPU (a real one: OpenBLAS and the kernels see it too), when qemu-x86_64 is installed.
final class CPUPortabilityCLITests: CLITestCase {
    static let avx2Flags = "sse2 sse3 ssse3 sse4_1 sse4_2 avx avx2 fma f16c"
    let small = """
        {"name": "cpu", "seed": 3, "data": {"dataset": "digits", "batchSize": 32},
         "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 16}, {"type": "relu"}, {"type": "dense", "units": 10}]},
         "optimizer": {"type": "sgd", "lr": 0.1}, "training": {"maxSteps": 3}, "determinism": {"threads": 1}}
        """

    /// The kernel-selecting CPU flags of this machine, as `env` reports them (from CPUID).
    func cpuFlags(env: [String: String] = [:]) throws -> Set<String> {
        let r = try CLI.run(["env", "--no-probe", "--json"], env: env)
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let flags = (obj?["profile"] as? [String: String])?["cpu.flags"] ?? ""
        return Set(flags.split(separator: " ").map(String.init))
    }

    func testWithoutAVX2AndFMATheBinaryRefusesEveryCommand() throws {
        let r = try CLI.run(["show", "nothing.cwr"], env: ["CWREPRO_CPU_FLAGS": "sse2 sse3 avx"])
        XCTAssertEqual(r.status, 4, r.stderr)
        XCTAssertEqual(r.stderr, "error: cwrepro is built for x86-64 CPUs with AVX2 and FMA (Intel Haswell, AMD Zen or later); this CPU lacks avx2, fma (as restricted by CWREPRO_CPU_FLAGS)\n")
    }

    func testUserCoreTypeTheCPUCannotRunIsRefusedByComputingCommandsOnly() throws {
        let cfg = try write("cpu.json", small)
        let env = ["CWREPRO_CPU_FLAGS": Self.avx2Flags, "OPENBLAS_CORETYPE": "SkylakeX"]
        let rec = try CLI.run(["record", cfg, "-o", path("a.cwr")], env: env)
        XCTAssertEqual(rec.status, 4, rec.stdout + rec.stderr)
        XCTAssertTrue(rec.stderr.hasPrefix("error: OPENBLAS_CORETYPE=SkylakeX selects OpenBLAS kernels this CPU cannot run (this CPU lacks avx512f"), rec.stderr)
        XCTAssertTrue(rec.stderr.contains("Unset OPENBLAS_CORETYPE, or set it to one of: "), rec.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("a.cwr")), "nothing written")
        for args in [["train", cfg], ["verify", cfg, "--golden", path("none.hashes")], ["env", "--sizes", "8"]] {
            XCTAssertEqual(try CLI.run(args, env: env).status, 4, args.joined(separator: " "))
        }
        // A reading command runs no kernel: it warns and goes on.
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("b.cwr")]).status, 0)
        let show = try CLI.run(["show", path("b.cwr")], env: env)
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(show.stderr.hasPrefix("warning: OPENBLAS_CORETYPE=SkylakeX selects OpenBLAS kernels this CPU cannot run"), show.stderr)
    }

    func testRestrictedCPUUsesTheKernelsOpenBLASWouldPickThere() throws {
        let flags = try cpuFlags(env: ["CWREPRO_CPU_FLAGS": Self.avx2Flags])
        XCTAssertFalse(flags.contains("avx512f"))
        let r = try CLI.run(["env", "--no-probe", "--json"], env: ["CWREPRO_CPU_FLAGS": Self.avx2Flags])
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let core = (obj?["profile"] as? [String: String])?["blas.core"]
        XCTAssertTrue(["Haswell", "Zen"].contains(core ?? ""), "\(core ?? "nil")")
    }

    /// A record (and a golden) made with AVX-512 kernels, replayed, verified on an AVX2-only CPU.
    func testRecordOfKernelsThisCPUCannotRunIsRefusedWithExit4AndNoPatchReportsTheCore() throws {
        guard try cpuFlags().contains("avx512f") else {
            throw XCTSkip("this CPU has no AVX-512, so it cannot make a SkylakeX record; OpenBLASCoreTests covers the decision with injected CPUs")
        }
        let cfg = try write("cpu.json", small)
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("sk.cwr")], env: ["OPENBLAS_CORETYPE": "SkylakeX"]).status, 0)
        XCTAssertEqual(try CLI.run(["hashes", path("sk.cwr"), "-o", path("sk.hashes")]).status, 0)
        let avx2 = ["CWREPRO_CPU_FLAGS": Self.avx2Flags]
        let replay = try CLI.run(["replay", path("sk.cwr")], env: avx2)
        XCTAssertEqual(replay.status, 4, replay.stdout + replay.stderr)
        XCTAssertTrue(replay.stderr.contains("was made with OpenBLAS's SkylakeX kernels, which this CPU cannot run (this CPU lacks avx512f"), replay.stderr)
        XCTAssertTrue(replay.stderr.contains("hint: --no-patch replays on this CPU's own kernels"), replay.stderr)
        let asIs = try CLI.run(["replay", path("sk.cwr"), "--no-patch"], env: avx2)
        XCTAssertEqual(asIs.status, 1, asIs.stdout + asIs.stderr)
        XCTAssertTrue(asIs.stdout.contains("cause: environment (the OpenBLAS core differs (blas.core: SkylakeX -> "), asIs.stdout)
        // It cannot be patched here, so no advice to drop --no-patch (that would exit 4).
        XCTAssertFalse(asIs.stdout.contains("without --no-patch"), asIs.stdout)
        XCTAssertTrue(asIs.stdout.contains("this CPU cannot run the recorded SkylakeX kernels (it lacks avx512f"), asIs.stdout)
        XCTAssertTrue(asIs.stdout.contains("so the difference cannot be patched here"), asIs.stdout)
        let verify = try CLI.run(["verify", cfg, "--golden", path("sk.hashes")], env: avx2)
        XCTAssertEqual(verify.status, 4, verify.stdout + verify.stderr)
        XCTAssertTrue(verify.stderr.contains("the golden \(path("sk.hashes")) was made with OpenBLAS's SkylakeX kernels"), verify.stderr)
    }

    /// The same on a real AVX2-only CPU: qemu-user emulating a Haswell (CPUID without AVX-512).
    /// Before the check, OPENBLAS_CORETYPE=SkylakeX died there with SIGILL (exit 132).
    func testOnAnEmulatedAVX2OnlyCPUNothingDiesWithSIGILL() throws {
        guard let qemu = ["/usr/bin/qemu-x86_64", "/usr/local/bin/qemu-x86_64"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("qemu-x86_64 is not installed (apt-get install qemu-user): the emulated AVX2-only CPU is not available")
        }
        let cfg = try write("cpu.json", small)
        func emulated(_ args: [String], env: [String: String] = [:]) throws -> CLI.Result {
            try CLI.run(["-cpu", "Haswell", CLI.binary.path] + args, env: env, executable: URL(fileURLWithPath: qemu))
        }
        let flags = try emulated(["env", "--no-probe", "--json"])
        XCTAssertFalse(flags.stdout.contains("avx512f"), "the emulated CPU reports no AVX-512: \(flags.stdout)")
        let bad = try emulated(["train", cfg], env: ["OPENBLAS_CORETYPE": "SkylakeX"])
        XCTAssertEqual(bad.status, 4, bad.stdout + bad.stderr)
        XCTAssertTrue(bad.stderr.contains("OPENBLAS_CORETYPE=SkylakeX selects OpenBLAS kernels this CPU cannot run"), bad.stderr)
        let good = try emulated(["train", cfg])
        XCTAssertEqual(good.status, 0, good.stderr)
        if try cpuFlags().contains("avx512f") {
            XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("sk.cwr")], env: ["OPENBLAS_CORETYPE": "SkylakeX"]).status, 0)
            let replay = try emulated(["replay", path("sk.cwr")])
            XCTAssertEqual(replay.status, 4, replay.stdout + replay.stderr)
        }
    }

    /// `determinism.gemm: reference` gives the same bits on another CPU: here the host and an
    /// emulated AVX2-only CPU, with every op whose code could dispatch on the CPU (convolution,
    /// BatchNorm, tanh and sigmoid through libm, softmax's exp and log, Adam's sqrt).
    func testReferenceGEMMGivesTheSameBitsOnAnEmulatedAVX2OnlyCPU() throws {
        guard let qemu = ["/usr/bin/qemu-x86_64", "/usr/local/bin/qemu-x86_64"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("qemu-x86_64 is not installed (apt-get install qemu-user): the emulated AVX2-only CPU is not available")
        }
        let cfg = try write("xcpu.json", """
            {"name": "xcpu", "seed": 5, "data": {"dataset": "digits", "batchSize": 32},
             "model": {"layers": [{"type": "conv2d", "filters": 4, "kernel": 3, "padding": "same"}, {"type": "batchnorm"}, {"type": "tanh"},
                                  {"type": "flatten"}, {"type": "dense", "units": 16}, {"type": "sigmoid"}, {"type": "dense", "units": 10}]},
             "optimizer": {"type": "adam", "lr": 0.01}, "training": {"maxSteps": 4}, "determinism": {"threads": 1, "gemm": "reference"}}
            """)
        func digest(_ r: CLI.Result) -> String? {
            r.stdout.split(separator: "\n").first { $0.hasPrefix("final parameters: digest ") }.map(String.init)
        }
        let host = try CLI.run(["train", cfg])
        let emulated = try CLI.run(["-cpu", "Haswell", CLI.binary.path, "train", cfg], executable: URL(fileURLWithPath: qemu))
        XCTAssertEqual(host.status, 0, host.stderr)
        XCTAssertEqual(emulated.status, 0, emulated.stderr)
        XCTAssertNotNil(digest(host))
        XCTAssertEqual(digest(host), digest(emulated))
    }
}
