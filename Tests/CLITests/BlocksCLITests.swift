import Foundation
import XCTest

/// `show --layers`, the convolutional examples and their errors, through the binary.
final class BlocksCLITests: CLITestCase {
    func example(_ name: String) -> String { CLI.repoRoot.appendingPathComponent("examples/\(name)").path }

    func testShowLayersPrintsTheExpandedPresetWithShapesAndParameterCounts() throws {
        // One step of the ResNet example is enough for the record to know its input shape.
        let rec = try CLI.run(["record", example("resnet-synthetic.json"), "-o", path("run.cwr"), "--set", "training.maxSteps=1",
                               "--set", "data.trainSize=64", "--set", "data.testSize=16"])
        XCTAssertEqual(rec.status, 0, rec.stderr)
        let show = try CLI.run(["show", path("run.cwr"), "--layers"])
        XCTAssertEqual(show.status, 0, show.stderr)
        let lines = show.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first?.split(separator: " ", omittingEmptySubsequences: true), ["layer", "type", "output", "shape", "parameters"])
        // ResNet-8 at width 0.5: stem 8 channels, stages 8/16/32; a block, its children indented.
        func row(_ name: String) -> [String]? {
            lines.first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(name + " ") }.map {
                $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            }
        }
        XCTAssertEqual(row("input"), ["input", "[3,", "32,", "32]"])
        XCTAssertEqual(row("0"), ["0", "conv2d", "[8,", "32,", "32]", "216"])
        XCTAssertEqual(row("5"), ["5", "residual", "[16,", "16,", "16]", "3,680"])
        XCTAssertEqual(row("5.shortcut.0"), ["5.shortcut.0", "conv2d", "[16,", "16,", "16]", "128"])
        XCTAssertTrue(lines.contains { $0.hasPrefix("  5.body.1 ") }, show.stdout)
        XCTAssertEqual(lines.last, "total: 19,954 trainable parameters (+ 336 in buffers: BatchNorm running statistics)")

        let json = try CLI.run(["show", path("run.cwr"), "--layers", "--json"])
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(rows.count, lines.count - 3)
        XCTAssertEqual(rows.first { $0["name"] as? String == "3.body.1" }?["buffers"] as? Int, 16)
    }

    func testCIFAR10ExampleParsesAndNamesTheMissingFiles() throws {
        let r = try CLI.run(["train", example("cifar10-resnet20.json"), "--set", "data.source.directory=\(path("nowhere"))"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("\(path("nowhere")): no data_batch_<n>.bin files; download the CIFAR-10 binary version"), r.stderr)
    }

    func testAugmentOnFlatDataIsAnInputError() throws {
        let cfg = try write("flat.json", """
            {"data": {"dataset": "digits", "augment": {"horizontalFlip": true, "randomCrop": {}}},
             "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]}}
            """)
        let r = try CLI.run(["train", cfg])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("data.augment.randomCrop.padding: missing"), r.stderr)
    }
}
