import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

/// `cwrepro evaluate` and `cwrepro models compare` end to end: the record's last evaluation
/// reproduced from exported weights, the JSON contracts, exit codes, the HTML page, bad input.
final class ModelsCLITests: CLITestCase {
    func example(_ name: String) -> String { CLI.repoRoot.appendingPathComponent("examples/\(name)").path }

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    /// Done means 4: `evaluate` on the weights `record --export` wrote gives the accuracy and the
    /// predictions hash the record holds for its last evaluation (an MLP, and a CNN with BatchNorm
    /// whose running statistics travel in the weights file).
    func testEvaluateReproducesTheRecordsLastEvaluation() throws {
        for (config, sets) in [("mlp-digits.json", [String]()), ("zoo/digits-cnn-keras.json", ["--set", "training.maxSteps=30"])] {
            let run = try CLI.run(["record", example(config), "-o", path("run.cwr"), "--force", "--export", path("w.safetensors")] + sets)
            XCTAssertEqual(run.status, 0, run.stderr)
            let show = try json(CLI.run(["show", path("run.cwr"), "--json"]).stdout)
            let last = try XCTUnwrap((show["evaluations"] as? [[String: Any]])?.last)
            let ev = try CLI.run(["evaluate", example(config), "--weights", path("w.safetensors"), "--json", "--timed", "3", "--warmup", "0"])
            XCTAssertEqual(ev.status, 0, ev.stderr)
            let e = try json(ev.stdout)
            XCTAssertEqual(e["predictionsHash"] as? String, last["predictionsHash"] as? String, config)
            XCTAssertEqual(e["correct"] as? Int, last["correct"] as? Int, config)
            XCTAssertEqual(e["total"] as? Int, last["total"] as? Int, config)
            XCTAssertEqual(e["accuracy"] as! Double, Double(e["correct"] as! Int) / Double(e["total"] as! Int), accuracy: 1e-12)
            let latency = try XCTUnwrap(e["latency"] as? [String: Any])
            XCTAssertGreaterThan(latency["medianSeconds"] as! Double, 0)
            XCTAssertEqual((latency["seconds"] as? [Double])?.count, 3)
            XCTAssertEqual((e["confusion"] as? [[Int]])?.count, 10)
            // The text form says the same.
            let text = try CLI.run(["evaluate", example(config), "--weights", path("w.safetensors"), "--timed", "2", "--warmup", "0"]).stdout
            XCTAssertTrue(text.contains("predictions \(last["predictionsHash"] as! String)"), text)
        }
    }

    /// Trains `config` a few steps and exports its weights to `name`.
    func weights(_ config: String, _ name: String, steps: Int = 20) throws -> String {
        let r = try CLI.run(["train", example(config), "--set", "training.maxSteps=\(steps)", "--export", path(name)])
        XCTAssertEqual(r.status, 0, r.stderr)
        return path(name)
    }

    func testModelsCompareJSONMarkdownHTMLAndExitCodes() throws {
        let torch = try weights("zoo/digits-cnn-torch.json", "torch.safetensors")
        let keras = try weights("zoo/digits-cnn-keras.json", "keras.safetensors")
        let a = example("zoo/digits-cnn-torch.json") + ":" + torch
        // Identical: exit 0, no difference, null first divergent layer.
        let same = try CLI.run(["models", "compare", a, a, "--json", "--timed", "4", "--warmup", "1"])
        XCTAssertEqual(same.status, 0, same.stderr)
        let s = try json(same.stdout)
        XCTAssertEqual(((s["architecture"] as? [String: Any])?["differences"] as? [Any])?.count, 0)
        XCTAssertTrue(s["firstDivergentLayer"] is NSNull)
        XCTAssertEqual(s["disagreement"] as? Double, 0)
        XCTAssertEqual(s["mcnemarPValue"] as? Double, 1)
        XCTAssertEqual((s["a"] as? [String: Any])?["accuracy"] as? Double, (s["b"] as? [String: Any])?["accuracy"] as? Double)
        let sameLatency = try XCTUnwrap(s["latency"] as? [String: Any])
        XCTAssertNotNil(sameLatency["ratio"] as? Double)
        // The median of the rounds' ratios lies in its own order-statistic interval.
        let median = try XCTUnwrap(sameLatency["medianRatio"] as? Double)
        let medianInterval = try XCTUnwrap(sameLatency["medianRatioInterval"] as? [String: Double])
        XCTAssertLessThanOrEqual(medianInterval["low"]!, median)
        XCTAssertGreaterThanOrEqual(medianInterval["high"]!, median)
        // Torch against Keras semantics: exit 1, the contract's fields filled in.
        let html = path("report.html")
        let diff = try CLI.run(["models", "compare", a, example("zoo/digits-cnn-keras.json") + ":" + keras, "--json", "--timed", "4", "--html", html])
        XCTAssertEqual(diff.status, 1, diff.stderr)
        let d = try json(diff.stdout)
        let differences = try XCTUnwrap((d["architecture"] as? [String: Any])?["differences"] as? [[String: Any]])
        XCTAssertEqual(differences.first?["attribute"] as? String, "momentum")
        XCTAssertEqual(differences.first?["a"] as? Double, 0.1)
        XCTAssertEqual(differences.first?["b"] as? Double, 0.01)
        XCTAssertGreaterThan(d["disagreement"] as! Double, 0)
        XCTAssertNotNil(d["mcnemarPValue"] as? Double)
        XCTAssertEqual((d["firstDivergentLayer"] as? [String: Any])?["layerA"] as? String, "0")
        // The page is one self-contained file that parses as XML.
        let page = try String(contentsOfFile: html, encoding: .utf8)
        XCTAssertTrue(page.contains("<title>Model comparison: digits-cnn-torch vs digits-cnn-keras</title>"))
        XCTAssertTrue(page.contains("momentum 0.1 -&gt; 0.01"))
        XCTAssertFalse(page.contains("<script"))
        XCTAssertNoThrow(try XMLDocument(xmlString: page, options: []))
        // Markdown for a CI step summary.
        let md = try CLI.run(["models", "compare", a, a, "--md", "--timed", "3"])
        XCTAssertTrue(md.stdout.hasPrefix("### cwrepro models compare: ✅ equivalent"), md.stdout)
    }

    func testBadInputExitsTwoWithTheReason() throws {
        let config = example("zoo/digits-cnn-torch.json")
        let w = try weights("zoo/digits-cnn-torch.json", "w.safetensors", steps: 1)
        // The same CNN on synthetic 8x8 images: weights fit, samples differ.
        let cnn = try String(contentsOfFile: config, encoding: .utf8)
            .replacingOccurrences(of: #""dataset": "digits""#, with: #""dataset": "synthetic", "shape": [1, 8, 8], "trainSize": 64, "testSize": 32"#)
        let synthetic = try write("synthetic.json", cnn)
        for (args, message) in [
            (["models", "compare", config + ":" + w, synthetic + ":" + w], "A and B do not score the same test samples (360 samples in A, 32 in B)"),
            (["evaluate", config], "no trained weights: set model.init in the config, or give them (evaluate --weights w.safetensors"),
            (["evaluate", config, "--weights", path("missing.safetensors")], "missing.safetensors"),
            (["evaluate", config, "--weights", w, "--timed", "1"], "--timed 1: give 2 to 100000"),
            (["evaluate", config, "--weights", w, "--split", "dev"], "--split"),
            (["models", "compare", config, config + ":" + w], "no trained weights"),
            (["models", "compare", config + ":" + w, config + ":" + w, "--json", "--md"], "give at most one of --json and --md"),
            (["models", "compare", config + ":" + w, config + ":" + w, "--html", path("nowhere/r.html")], "nowhere does not exist; create it first"),
            (["models", "compare", config + ":" + w, config + ":" + w, "--html", w], "is an input of this command; it is never overwritten"),
            (["models", "compare", config + ":" + w, example("mlp-digits.json") + ":" + w], "tensor"),
        ] {
            let r = try CLI.run(args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(message), "\(args): \(r.stderr)")
        }
    }
}
