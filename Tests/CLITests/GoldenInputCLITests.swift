import Foundation
import XCTest

/// Inputs of the CI commands as users hand them over: a golden or config through a pipe when
/// verify re-executes itself, a golden whose tensor lines were edited, a record given where
/// safetensors weights are expected, and a replay whose runs differ both in steps and in length.
final class GoldenInputCLITests: CLITestCase {
    var example: String { CLI.repoRoot.appendingPathComponent("examples/mlp-digits.json").path }
    /// Written under Haswell kernels: verify under any other core type re-executes itself.
    var exampleGolden: String { CLI.repoRoot.appendingPathComponent("examples/mlp-digits.hashes").path }
    /// Sandybridge kernels run on every AVX CPU and are not Haswell's: the re-exec always happens.
    let otherCore = ["OPENBLAS_CORETYPE": "Sandybridge"]

    /// Runs `script` with bash (`$0` the cwrepro binary, `$1`... `arguments`); `env` added, and
    /// TMPDIR set to an empty directory of the test whose contents are checked afterwards.
    func bash(_ script: String, _ arguments: [String], env: [String: String] = [:]) throws -> (CLI.Result, leftovers: [String]) {
        let tmp = dir.appendingPathComponent("tmp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        let r = try CLI.run(["-c", script, CLI.binary.path] + arguments, env: env.merging(["TMPDIR": tmp.path]) { a, _ in a },
                            executable: URL(fileURLWithPath: "/bin/bash"))
        return (r, try FileManager.default.contentsOfDirectory(atPath: tmp.path))
    }

    /// Records `text` as `name`.cwr and returns the record path.
    func record(_ name: String, _ text: String) throws -> String {
        let cfg = try write(name + ".json", text)
        let r = try CLI.run(["record", cfg, "-o", path(name + ".cwr")])
        XCTAssertEqual(r.status, 0, r.stderr)
        return path(name + ".cwr")
    }

    // MARK: pipes through a re-exec

    /// A golden or config read from a pipe reaches the process verify re-executes on the golden's
    /// core type: the pipe is read once, so the bytes are handed over (an unlinked temporary
    /// file), and nothing is left in TMPDIR.
    func testGoldenAndConfigThroughPipesVerifyAfterReExecuting() throws {
        let cases: [(String, String)] = [
            ("golden on standard input", #"cat "$2" | exec "$0" verify "$1" --golden /dev/stdin --steps 3"#),
            ("golden and config by process substitution", #"exec "$0" verify <(cat "$1") --golden <(cat "$2") --steps 3"#),
            // A named FIFO: the re-executed process would wait for a writer forever (timeout: 124).
            ("golden through a named FIFO", #"f="$3/g.fifo"; mkfifo "$f" && { cat "$2" > "$f" & } && exec timeout 120 "$0" verify "$1" --golden "$f" --steps 3"#),
        ]
        for (what, script) in cases {
            let (r, leftovers) = try bash(script, [example, exampleGolden, dir.path], env: otherCore)
            XCTAssertEqual(r.status, 0, "\(what): \(r.stdout)\(r.stderr)")
            XCTAssertTrue(r.stderr.contains("patched: OpenBLAS core Sandybridge -> Haswell"), "\(what): \(r.stderr)")
            XCTAssertTrue(r.stdout.contains("PASS: 4 of 4 steps (init + 3 training steps) identical to the golden"), "\(what): \(r.stdout)")
            XCTAssertEqual(leftovers, [], what)
            try? FileManager.default.removeItem(atPath: path("g.fifo"))
        }
    }
}
