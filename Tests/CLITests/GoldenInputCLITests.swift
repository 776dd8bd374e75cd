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

    // MARK: tensor lines

    /// The lines of `golden`, and the index of the line of `step` (its 1-based line number is one more).
    func lines(_ golden: String, step: Int) throws -> ([String], Int) {
        let lines = try String(contentsOfFile: golden, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        return (lines, try XCTUnwrap(lines.firstIndex { $0.hasPrefix("\(step) ") }))
    }

    /// A golden's tensor lines must reproduce their step's digest: a duplicated or swapped line is
    /// a damaged file (exit 2) at the step's line, not a tensor "the run did not produce".
    func testEditedTensorLinesAreADamagedGolden() throws {
        let run = try record("golden", CIToolsCLITests.small)
        let golden = path("t.hashes")
        XCTAssertEqual(try CLI.run(["hashes", run, "--tensors", "-o", golden]).status, 0)
        let cfg = path("golden.json")
        let unedited = try CLI.run(["verify", cfg, "--golden", golden])
        XCTAssertEqual(unedited.status, 0, unedited.stdout + unedited.stderr)

        let (text, at) = try lines(golden, step: 2)
        let tensors = text[(at + 1)...].prefix { $0.hasPrefix("  ") }
        let grad = try XCTUnwrap(tensors.firstIndex { $0.contains(" grad ") })
        let param = try XCTUnwrap(tensors.firstIndex { $0.contains(" param ") })
        var duplicated = text, swapped = text
        duplicated.insert(text[grad], at: grad + 1)
        swapped.swapAt(grad, param)
        for (name, edited) in [("duplicated", duplicated), ("swapped", swapped)] {
            let file = try write(name + ".hashes", edited.joined(separator: "\n"))
            let r = try CLI.run(["verify", cfg, "--golden", file])
            XCTAssertEqual(r.status, 2, name + ": " + r.stdout + r.stderr)
            XCTAssertTrue(r.stderr.contains("\(file):\(at + 1): the \(tensors.count + (name == "duplicated" ? 1 : 0)) tensor lines of step 2 do not reproduce its digest"), name + ": " + r.stderr)
            XCTAssertTrue(r.stderr.contains("regenerate it with `cwrepro hashes run.cwr --tensors -o \(file)`"), name + ": " + r.stderr)
            XCTAssertFalse(r.stdout.contains("the golden has it"), r.stdout)
        }
        // The last step's lines are checked too (the file ends after them).
        let (full, last) = try lines(golden, step: 7)
        var dropped = full
        dropped.remove(at: last + 1)
        let cut = try write("dropped.hashes", dropped.joined(separator: "\n"))
        let r = try CLI.run(["verify", cfg, "--golden", cut])
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("\(cut):\(last + 1): "), r.stderr)
    }

    /// Every committed golden still parses: its tensor lines give its digests.
    func testCommittedGoldensReproduceTheirDigests() throws {
        let cfg = try write("small.json", CIToolsCLITests.small)
        let root = CLI.repoRoot
        let goldens = try ["examples", "Tests"].flatMap { top -> [String] in
            let base = root.appendingPathComponent(top)
            let all = FileManager.default.enumerator(atPath: base.path)?.compactMap { $0 as? String } ?? []
            return all.filter { $0.hasSuffix(".hashes") }.map { base.appendingPathComponent($0).path }
        }
        XCTAssertTrue(goldens.contains(exampleGolden), "\(goldens)")
        for golden in goldens {
            // --steps 0: the golden is read and checked; what the small config trains does not matter.
            let r = try CLI.run(["verify", cfg, "--golden", golden, "--steps", "0", "--no-patch"])
            XCTAssertNotEqual(r.status, 2, golden + ": " + r.stderr)
            XCTAssertFalse(r.stderr.contains("do not reproduce"), golden + ": " + r.stderr)
        }
    }

    // MARK: weights

    /// A record given as weights is named as one, with what to give instead; any other file that
    /// is not safetensors is named as such, without the byte count its first bytes would give.
    func testRecordGivenAsWeightsIsNamedAsARecord() throws {
        let run = try record("small", CIToolsCLITests.small)
        let r = try CLI.run(["evaluate", path("small.json"), "--weights", run])
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("\(run) is a cwrepro record (an SQLite database), not a safetensors file"), r.stderr)
        XCTAssertTrue(r.stderr.contains("--export w.safetensors"), r.stderr)
        XCTAssertFalse(r.stderr.contains("exceeds"), r.stderr)

        let text = try write("notes.txt", "these are not weights, only words\n")
        let other = try CLI.run(["evaluate", path("small.json"), "--weights", text])
        XCTAssertEqual(other.status, 2, other.stdout + other.stderr)
        XCTAssertTrue(other.stderr.contains("\(text) is not a safetensors file"), other.stderr)
        XCTAssertFalse(other.stderr.contains("bytes"), other.stderr)
    }

    // MARK: replay

    /// A replay whose steps differ and which is also shorter than its record says both, in text
    /// and Markdown (as --json's lengthDivergence does).
    func testReplayTextNamesTheLengthDifferenceWhenStepsDiffer() throws {
        // Two epochs of 1,437 samples in batches of 32: 90 steps, 88 with dropLast.
        let run = try record("epochs", CIToolsCLITests.small.replacingOccurrences(of: "\"maxSteps\": 8", with: "\"epochs\": 2"))
        let args = ["replay", run, "--set", "data.dropLast=true"]
        let text = try CLI.run(args)
        XCTAssertEqual(text.status, 1, text.stdout + text.stderr)
        XCTAssertTrue(text.stdout.contains("steps differ"), text.stdout)
        XCTAssertTrue(text.stdout.contains("the runs differ in length too: only the record has step 88 (the replay ends after step 87)"), text.stdout)
        let md = try CLI.run(args + ["--md"])
        XCTAssertTrue(md.stdout.contains("| run length | only the record has step 88"), md.stdout)
        let json = try CLI.run(args + ["--json"])
        XCTAssertTrue(json.stdout.contains("\"onlyIn\" : \"record\"") || json.stdout.contains("\"onlyIn\":\"record\""), json.stdout)
    }
}
