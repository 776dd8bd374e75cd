import XCTest

/// `verify` runs on the golden's OpenBLAS core type, as `replay` does: a golden written under one
/// core type verifies on a machine whose OpenBLAS would pick another; `--no-patch` shows why it must.
final class VerifyPatchCLITests: CLITestCase {
    func testGoldenVerifiesUnderAnotherCoreTypeByReExecuting() throws {
        let example = CLI.repoRoot.appendingPathComponent("examples/mlp-digits.json").path
        let golden = CLI.repoRoot.appendingPathComponent("examples/mlp-digits.hashes").path
        // The committed golden was written under Haswell kernels; Sandybridge kernels (AVX without
        // FMA, runnable on every CPU cwrepro runs on) round differently.
        let patched = try CLI.run(["verify", example, "--golden", golden], env: ["OPENBLAS_CORETYPE": "Sandybridge"])
        XCTAssertEqual(patched.status, 0, patched.stdout + patched.stderr)
        XCTAssertTrue(patched.stderr.contains("patched: OpenBLAS core Sandybridge -> Haswell"), patched.stderr)
        let asIs = try CLI.run(["verify", example, "--golden", golden, "--no-patch"], env: ["OPENBLAS_CORETYPE": "Sandybridge"])
        XCTAssertEqual(asIs.status, 1, asIs.stdout)
        XCTAssertTrue(asIs.stdout.contains("cause: environment (the OpenBLAS core differs (blas.core: Haswell -> Sandybridge)"), asIs.stdout)
    }
}
