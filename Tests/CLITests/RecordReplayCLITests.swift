import Foundation
import XCTest

/// The README's commands, end to end through the binary.
final class RecordReplayCLITests: CLITestCase {
    var example: String { CLI.repoRoot.appendingPathComponent("examples/mlp-digits.json").path }

    func testRecordReplayShowAndTrain() throws {
        let rec = try CLI.run(["record", example, "-o", path("run.cwr")])
        XCTAssertEqual(rec.status, 0, rec.stderr)
        XCTAssertTrue(rec.stdout.contains("recorded mlp-digits: 90 steps"), rec.stdout)

        let replay = try CLI.run(["replay", path("run.cwr")])
        XCTAssertEqual(replay.status, 0, replay.stdout + replay.stderr)
        XCTAssertTrue(replay.stdout.hasPrefix("bit-identical: 90 steps"), replay.stdout)

        let diverged = try CLI.run(["replay", path("run.cwr"), "--until-diverge", "--set", "optimizer.lr=0.05"])
        XCTAssertEqual(diverged.status, 1)
        XCTAssertTrue(diverged.stdout.contains("first divergence at step 0, tensor 1.weight (param, after update)"), diverged.stdout)
        XCTAssertTrue(diverged.stdout.contains("cause: config changed (optimizer.lr: 0.1 -> 0.05)"), diverged.stdout)
        XCTAssertTrue(diverged.stdout.contains("expected hash"), diverged.stdout)

        let show = try CLI.run(["show", path("run.cwr")])
        XCTAssertEqual(show.status, 0)
        XCTAssertTrue(show.stdout.contains("mlp-digits: 90 steps"), show.stdout)
        let json = try CLI.run(["show", path("run.cwr"), "--json"])
        let obj = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        XCTAssertEqual((obj?["steps"] as? [Any])?.count, 91)
        XCTAssertEqual(obj?["status"] as? String, "complete")

        let train = try CLI.run(["train", example, "--export", path("w.safetensors")])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("w.safetensors")))
        // Same numbers as the record: the final evaluation line matches.
        let recAcc = rec.stdout.split(separator: "\n").first { $0.contains("accuracy") }.map { String($0.split(separator: ";").last!) }
        XCTAssertTrue(train.stdout.contains(recAcc?.trimmingCharacters(in: .whitespaces) ?? "?"), train.stdout + " vs " + rec.stdout)
    }

    /// `--level` is stored as part of the config, so the replay sees no config change and the
    /// counts agree between record and replay.
    /// A `--set` that shortens or lengthens the run: every shared step is bit-identical, and the
    /// replay still diverges (exit 1) from the first step only one of them has, naming the change.
    func testAReplayOfAnotherLengthDivergesWhereOnlyOneRunHasTheStep() throws {
        XCTAssertEqual(try CLI.run(["record", example, "-o", path("run.cwr")]).status, 0)
        for (set, line, cause) in [
            ("training.maxSteps=10", "first divergence at step 10: only the record has step 10 (the replay ends after step 9)",
             "cause: config changed (training.maxSteps: (absent) -> 10)"),
            ("training.epochs=3", "first divergence at step 90: the replay would go on to step 90, which the record does not have (the record ends after step 89)",
             "cause: config changed (training.epochs: 2 -> 3)"),
        ] {
            let r = try CLI.run(["replay", path("run.cwr"), "--set", set])
            XCTAssertEqual(r.status, 1, set + ": " + r.stdout + r.stderr)
            XCTAssertTrue(r.stdout.contains(line), r.stdout)
            XCTAssertTrue(r.stdout.contains(cause), r.stdout)
            XCTAssertTrue(r.stdout.contains("bit-identical; the runs differ in length from step"), r.stdout)
        }
        let json = try CLI.run(["replay", path("run.cwr"), "--set", "training.epochs=1", "--json"])
        XCTAssertEqual(json.status, 1)
        let j = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(j["outcome"] as? String, "diverged")
        let length = try XCTUnwrap(j["lengthDivergence"] as? [String: Any])
        XCTAssertEqual(length["step"] as? Int, 45)
        XCTAssertEqual(length["onlyIn"] as? String, "record")
        XCTAssertEqual(j["stepsReplayed"] as? Int, 45)
    }

    /// A knob that removes a draw or a data order: the events after it are matched by name, so
    /// the report names the tensor that really differs and the missing draw as the evidence (it
    /// once compared by position and named the next, unchanged tensor and another draw).
    func testADrawOnlyTheRecordHasIsTheEvidenceAndTheNextTensorIsNotBlamed() throws {
        let cfg = try write("aug.json", #"{"seed": 1, "data": {"dataset": "digits", "batchSize": 32, "augment": {"randomCrop": {"padding": 1}, "horizontalFlip": true}}, "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 16}, {"type": "dropout", "rate": 0.2}, {"type": "dense", "units": 10}]}, "optimizer": {"type": "sgd", "lr": 0.1}, "training": {"maxSteps": 5}}"#)
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("aug.cwr")]).status, 0)
        for (set, lines) in [
            ("overrides.init.bias=zeros", ["first divergence at initialization, tensor 1.bias (param, initial value)",
                                           "evidence: draw init/1.bias at initialization is in the record (54257f0fb494ccc3), not in the replay",
                                           "cause: random draw (the random draws at site init/1.bias differ"]),
            ("data.augment.horizontalFlip=false", ["first divergence at step 0, tensor batch.x (batch)",
                                                   "evidence: draw augment/flip/step-0 at step 0 is in the record",
                                                   "cause: random draw (the random draws at site augment/flip/step-0 differ"]),
            ("data.shuffle=false", ["first divergence at step 0, tensor batch.x (batch)", "evidence: order data/shuffle/epoch-0 at step 0 is in the record",
                                    "cause: data order (the data order at data/shuffle/epoch-0 differs"]),
        ] {
            let r = try CLI.run(["replay", path("aug.cwr"), "--until-diverge", "--set", set])
            XCTAssertEqual(r.status, 1, set + ": " + r.stdout + r.stderr)
            for line in lines { XCTAssertTrue(r.stdout.contains(line), "\(set): expected \"\(line)\" in\n\(r.stdout)") }
        }
    }

    /// A change that moves only a draw (the synthetic test split's size): the draw is the headline,
    /// and the step count includes the initialization it differs at.
    func testADivergenceOfADrawAloneHasAHeadline() throws {
        let cfg = try write("syn.json", #"{"seed": 1, "data": {"dataset": "synthetic", "shape": [1, 4, 4], "classes": 3, "trainSize": 32, "testSize": 16, "batchSize": 8}, "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 3}]}, "training": {"maxSteps": 4}}"#)
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("syn.cwr")]).status, 0)
        for flags in [["--until-diverge"], []] {
            let r = try CLI.run(["replay", path("syn.cwr"), "--set", "data.testSize=40"] + flags)
            XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
            XCTAssertTrue(r.stdout.hasPrefix("first divergence at initialization, draw "), r.stdout)
            XCTAssertTrue(r.stdout.contains("(no recorded tensor differs)"), r.stdout)
            XCTAssertFalse(r.stdout.contains("of 0 steps differ"), r.stdout)
        }
    }

    func testLevelFlagIsPartOfTheStoredConfig() throws {
        let rec = try CLI.run(["record", example, "-o", path("act.cwr"), "--level", "activations"])
        XCTAssertEqual(rec.status, 0, rec.stderr)
        let replay = try CLI.run(["replay", path("act.cwr"), "--json"])
        XCTAssertEqual(replay.status, 0, replay.stdout)
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(replay.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((obj["configChanges"] as? [String]) ?? ["?"], [])
        let compared = try XCTUnwrap(obj["tensorsCompared"] as? Int)
        XCTAssertTrue(rec.stdout.contains("90 steps, \(compared.formatted(.number.grouping(.automatic).locale(Locale(identifier: "en_US")))) tensors"),
                      "\(rec.stdout) vs \(compared)")
    }

    func testReplayMarkdownReport() throws {
        XCTAssertEqual(try CLI.run(["record", example, "-o", path("run.cwr")]).status, 0)
        let same = try CLI.run(["replay", path("run.cwr"), "--md"])
        XCTAssertEqual(same.status, 0)
        XCTAssertTrue(same.stdout.hasPrefix("### cwrepro replay: **bit-identical**"), same.stdout)
        let diverged = try CLI.run(["replay", path("run.cwr"), "--md", "--until-diverge", "--set", "optimizer.lr=0.05"])
        XCTAssertEqual(diverged.status, 1)
        XCTAssertTrue(diverged.stdout.contains("| first divergent tensor | `1.weight` (param, after update) at step 0 |"), diverged.stdout)
        XCTAssertTrue(diverged.stdout.contains("| cause | config changed: optimizer.lr: 0.1 -> 0.05 |"), diverged.stdout)
        XCTAssertEqual(try CLI.run(["replay", path("run.cwr"), "--md", "--json"]).status, 2)
    }

    func testTwoProcessesRecordIdenticalDigests() throws {
        XCTAssertEqual(try CLI.run(["record", example, "-o", path("a.cwr")]).status, 0)
        XCTAssertEqual(try CLI.run(["record", example, "-o", path("b.cwr")]).status, 0)
        let a = try CLI.run(["show", path("a.cwr"), "--json"]).stdout
        let b = try CLI.run(["show", path("b.cwr"), "--json"]).stdout
        func digests(_ s: String) throws -> [String] {
            let o = try JSONSerialization.jsonObject(with: Data(s.utf8)) as! [String: Any]
            return (o["steps"] as! [[String: Any]]).map { $0["digest"] as! String }
        }
        XCTAssertEqual(try digests(a), try digests(b))
        XCTAssertEqual(try digests(a).count, 91)
    }

    /// A recording killed mid-run leaves a readable record marked incomplete, whose committed
    /// steps replay bit-identical: exit 5 (not a whole run), 0 with --allow-incomplete.
    func testKilledRecordingIsReadableAndReplays() throws {
        let cfg = try write("long.json", """
            {"name": "long", "seed": 3, "data": {"dataset": "digits", "batchSize": 8},
             "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 256}, {"type": "relu"}, {"type": "dense", "units": 10}]},
             "optimizer": {"type": "sgd", "lr": 0.05}, "training": {"epochs": 200}}
            """)
        let p = try CLI.start(["record", cfg, "-o", path("killed.cwr")])
        // Wait until some steps are committed, then kill without warning.
        let deadline = Date().addingTimeInterval(60)
        var steps = 0
        while Date() < deadline {
            Thread.sleep(forTimeInterval: 0.3)
            let show = try CLI.run(["show", path("killed.cwr"), "--json"])
            if show.status == 0, let o = try? JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any] {
                steps = (o["steps"] as? [Any])?.count ?? 0
                if steps > 20 { break }
            }
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertGreaterThan(steps, 20)
        let show = try CLI.run(["show", path("killed.cwr")])
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(show.stdout.contains("(running;"), show.stdout)
        let replay = try CLI.run(["replay", path("killed.cwr")])
        XCTAssertEqual(replay.status, 5, replay.stdout + replay.stderr)
        XCTAssertTrue(replay.stderr.contains("was killed before it finished"), replay.stderr)
        XCTAssertTrue(replay.stdout.hasPrefix("incomplete: "), replay.stdout)
        let allowed = try CLI.run(["replay", path("killed.cwr"), "--allow-incomplete"])
        XCTAssertEqual(allowed.status, 0, allowed.stdout + allowed.stderr)
        XCTAssertTrue(allowed.stdout.contains("bit-identical"), allowed.stdout)
    }
}
