import Foundation
import XCTest
@testable import Engine
import Recorder

/// Seeded mutation fuzzing of every parser that reads user files: configs, safetensors, IDX,
/// CIFAR-10, CSV, batch orders, gzip and checkpoints (records: RecorderTests/RecordFuzzTests).
/// Bounded and deterministic by default; see `Fuzzer` for the long-run switches.
final class FuzzTests: XCTestCase {
    static let configs: [String] = [
        """
        {"name": "mlp-digits", "seed": 1234, "semantics": "pytorch",
         "data": {"dataset": "digits", "batchSize": 32, "shuffle": true},
         "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 64}, {"type": "relu"}, {"type": "dense", "units": 10}]},
         "loss": {"type": "crossEntropy"}, "optimizer": {"type": "sgd", "lr": 0.1, "momentum": 0.9},
         "training": {"epochs": 2}, "record": {"level": "grads", "keepTensors": 3}}
        """,
        """
        {"version": 1, "name": "full", "seed": 7, "semantics": "keras", "overrides": {"adam.epsilonMode": "hat", "schedule.unit": "step"},
         "data": {"dataset": "synthetic", "shape": [3, 8, 8], "classes": 4, "trainSize": 64, "testSize": 16, "batchSize": 8, "dropLast": true},
         "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 4, "bias": false}], "init": "init.safetensors"},
         "loss": {"type": "crossEntropy", "labelSmoothing": 0.1},
         "optimizer": {"type": "adam", "lr": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7, "weightDecay": 0.01},
         "schedule": {"type": "step", "stepSize": 5, "gamma": 0.5}, "training": {"epochs": 3, "maxSteps": 10},
         "determinism": {"threads": 2, "gemm": "reference", "reduction": "pairwise"},
         "record": {"level": "activations", "keepTensors": -1, "checkpointEvery": 4}}
        """,
        """
        {"seed": 1, "data": {"source": {"format": "csv", "path": "d.csv", "trainCount": 10, "labelColumn": 0, "shape": [2, 2]},
         "normalize": {"mean": [0.5], "std": [0.25]}, "order": "order.json"},
         "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 3}]}, "optimizer": {"type": "rmsprop", "rho": 0.9}}
        """,
    ]

    func testConfigParser() {
        Fuzzer.run("config", seeds: Self.configs.map { Array($0.utf8) }, text: true, iterations: 8000) { bytes in
            let json = try JSON.parse(bytes, source: "fuzz.json")
            let config = try TrainConfig.parse(json, baseDirectory: "/nonexistent")
            _ = config.resolved.text
        }
    }

    /// The strict parser against Foundation's decoder (the reader it replaced): whatever it accepts,
    /// the decoder reads to the same value (bar numbers the decoder refuses: 1e-400, 0e9);
    /// every path of an accepted document has a line and column; every recorded spelling is a
    /// number at its path.
    func testStrictParserAgreesWithFoundationAndLocatesEveryPath() {
        let seeds = Self.configs + [
            #"{"a": [1, -0.5, 1e3, 2.0, 1E-2, 123456789012345678901234567890], "b": {"c": null, "d": [true, false, {}], "e": []}}"#,
            #"["\u00e9\ud83d\ude00\n\t\"\\\/", "plain", "", "é", {"": 0, "k\u0000": 1}]"#,
            "{\r\n  \"x\": [\r\n 1,\r 2\n]\r\n}",
        ]
        var paths = 0
        Fuzzer.run("strict-json", seeds: seeds.map { Array($0.utf8) }, text: true, iterations: 8000) { bytes in
            let (ours, source) = try ConfigSource.parse(bytes, name: "fuzz.json")
            let text = String(decoding: bytes, as: UTF8.self)
            if let theirs = try? JSONDecoder().decode(JSON.self, from: Data(bytes)) {
                XCTAssertEqual(ours, theirs, text)
            } else {
                // Foundation's decoder refuses some valid numbers with an exponent: those that
                // underflow (1e-400) and a zero with one (0e9, which RFC 8259 and Python accept).
                XCTAssertTrue(text.lowercased().contains("e-") || text.range(of: "(^|[^0-9.])-?0[eE]", options: .regularExpression) != nil,
                              "the decoder refused what the strict parser accepted: \(text)")
            }
            var all: [(String, JSON)] = []
            func walk(_ j: JSON, _ p: String) {
                all.append((p, j))
                switch j {
                case .object(let o): for (k, v) in o { walk(v, JSONPath.member(p, k)) }
                case .array(let a): for (i, v) in a.enumerated() { walk(v, JSONPath.element(p, i)) }
                default: break
                }
            }
            walk(ours, "")
            for (p, _) in all.prefix(12) where source.location(of: p) == nil {
                XCTFail("no location for \(p) in \(text)")
            }
            paths += min(all.count, 12)
            // Keys containing "." or "[" can make two paths render alike: keep the first.
            let values = Dictionary(all, uniquingKeysWith: { a, _ in a })
            for (p, written) in source.spellings {
                guard case .number(let d)? = values[p] else { return XCTFail("spelling \(written) at \(p) is not a number: \(text)") }
                XCTAssertEqual(d, d.rounded(.towardZero), written)
            }
        }
        XCTAssertGreaterThan(paths, 0)
    }

    /// The memory estimate on mutated configs: saturating arithmetic and a dry build of the model,
    /// never a trap, and never an allocation the size of what the config asks for.
    func testMemoryEstimate() {
        let seeds = [
            #"{"seed": 1, "data": {"dataset": "synthetic", "shape": [3, 32, 32], "trainSize": 64, "testSize": 16, "batchSize": 8},"#
            + #" "model": {"layers": [{"type": "conv2d", "filters": 8, "kernel": 3, "padding": "same"}, {"type": "batchnorm"}, {"type": "relu"},"#
            + #" {"type": "maxpool", "size": 2}, {"type": "residual", "body": [{"type": "conv2d", "filters": 8, "kernel": 3, "padding": 1}], "shortcut": []},"#
            + #" {"type": "concat", "body": [{"type": "conv2d", "filters": 4, "kernel": 1}]}, {"type": "dropout", "rate": 0.5},"#
            + #" {"type": "globalavgpool"}, {"type": "dense", "units": 10}]}, "optimizer": {"type": "adam"}, "determinism": {"reduction": "parallel", "threads": 2}}"#,
            #"{"data": {"dataset": "digits", "batchSize": 32}, "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 64}, {"type": "tanh"}, {"type": "dense", "units": 10}]}}"#,
            #"{"data": {"dataset": "digits"}, "model": {"architecture": {"name": "resnet", "depth": 8, "width": 0.25}}}"#,
        ]
        Fuzzer.run("memory-estimate", seeds: seeds.map { Array($0.utf8) }, text: true, iterations: 3000) { bytes in
            let config = try TrainConfig.parse(JSON.parse(bytes, source: "fuzz.json"), baseDirectory: "/nonexistent")
            let m = try MemoryEstimate.estimate(config)
            XCTAssertGreaterThan(m.total, 0)
            _ = m.refusal(limit: MemoryLimit(bytes: 1, origin: "fuzz"))
        }
    }

    /// IDX files read from disk: header first, content never inflated beyond the header's claim.
    func testIDXFilesWithClaims() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cwrepro-fuzz-idx-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("images.idx").path
        let raw = Self.idxImages(count: 3, rows: 4, cols: 5)
        let seeds = [raw, try GzipFile.compress(raw), try GzipFile.compress(Self.idxImages(count: 200, rows: 28, cols: 28))]
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { close(fd) }
        Fuzzer.run("idx-files", seeds: seeds, iterations: 800) { bytes in
            _ = ftruncate(fd, 0)
            _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            let img = try IDX.readImages(path: file)
            XCTAssertEqual(img.pixels.count, img.count * img.rows * img.cols)
        }
    }

    func testSafeTensorsReader() {
        let seeds = [
            SafeTensors.encode([("1.weight", [2, 3], [1, 2, 3, 4, 5, 6]), ("1.bias", [2], [0.5, -0.5])], metadata: ["format": "pt"]),
            SafeTensors.encode([("w", [], [3])]),
            Array(try! Data(contentsOf: Bundle.module.url(forResource: "Fixtures/init", withExtension: "safetensors")!)),
        ]
        Fuzzer.run("safetensors", seeds: seeds, text: true, iterations: 4000) { bytes in
            _ = try SafeTensors.parse(bytes, name: "fuzz.safetensors")
        }
    }

    static func idxImages(count: Int, rows: Int, cols: Int) -> [UInt8] {
        var b: [UInt8] = [0, 0, 8, 3]
        for v in [count, rows, cols] { b += withUnsafeBytes(of: UInt32(v).bigEndian, Array.init) }
        return b + (0..<(count * rows * cols)).map { UInt8($0 % 251) }
    }

    static func idxLabels(_ labels: [UInt8]) -> [UInt8] {
        [0, 0, 8, 1] + withUnsafeBytes(of: UInt32(labels.count).bigEndian, Array.init) + labels
    }

    func testIDXReaders() {
        let images = [Self.idxImages(count: 3, rows: 4, cols: 5), Self.idxImages(count: 1, rows: 28, cols: 28)]
        Fuzzer.run("idx-images", seeds: images, iterations: 20000) { bytes in
            let img = try IDX.parseImages(bytes, name: "fuzz-images.idx")
            _ = try IDX.dataset(images: img, labels: [UInt8](repeating: 1, count: img.count), imagesName: "i", labelsName: "l", scale: 1)
        }
        Fuzzer.run("idx-labels", seeds: [Self.idxLabels([0, 1, 2, 9]), Self.idxLabels([])], iterations: 10000) { bytes in
            _ = try IDX.parseLabels(bytes, name: "fuzz-labels.idx")
        }
        // gzip-wrapped IDX: the inflater on mutated streams.
        let gz: [UInt8] = [0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x63, 0x60, 0xe0, 0x60, 0x64, 0x60, 0x60,
                           0x60, 0x65, 0x64, 0x62, 0x66, 0x61, 0x05, 0x00, 0xa3, 0x33, 0x91, 0x8b, 0x0d, 0x00, 0x00, 0x00]
        XCTAssertEqual(try Gzip.decompress(gz, name: "seed"), Self.idxLabels([1, 2, 3, 4, 5]))
        Fuzzer.run("gzip", seeds: [gz], iterations: 10000) { bytes in
            _ = try IDX.parseLabels(try Gzip.decompress(bytes, name: "fuzz.gz"), name: "fuzz.gz")
        }
    }

    /// Regression input found by the fuzzer: 0x00111213 images of 0x14151617 x 0x18191a1b pixels
    /// overflowed the byte count before the header was checked.
    func testIDXHeaderThatOverflowedTheByteCount() {
        let header: [UInt8] = [0, 0, 8, 3, 0x00, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b]
        XCTAssertThrowsError(try IDX.parseImages(header + [UInt8](repeating: 0, count: 100), name: "crash.idx")) { e in
            XCTAssertTrue("\(e)".contains("images of 336926231x404298267 pixels"), "\(e)")
        }
    }

    func testCIFARReader() {
        let record = [UInt8(3)] + (0..<3072).map { UInt8($0 % 256) }
        Fuzzer.run("cifar10", seeds: [record, record + record], iterations: 4000) { bytes in
            var x = [Float](), y = [Int32]()
            try CIFAR10.parseBatch(bytes, name: "fuzz.bin", scale: 1, into: &x, &y)
            _ = Dataset(images: x, labels: y, sampleShape: [3, 32, 32], classes: 10)
        }
    }

    func testCSVReader() {
        let seeds = ["1,2,3,4,0\n5,6,7,8,1\n0.5,1e3,-2,3,2\n", "a,b,c\n1,2,0\n3,4,1\n"].map { Array($0.utf8) }
        var f = Fuzzer(seed: 99)
        Fuzzer.run("csv", seeds: seeds, text: true, iterations: 10000) { bytes in
            let shape: [Int]? = [nil, [4], [2, 2], [1, 2, 2], [0, 4], [-2, -2]][f.below(6)]
            _ = try CSVData.parse(bytes, name: "fuzz.csv", labelColumn: [-1, 0, 4, 7, -9][f.below(5)], header: f.below(2) == 0,
                                  scale: 1, sampleShape: shape, classes: [nil, 3, 1][f.below(3)])
        }
    }

    func testBatchOrderReader() {
        Fuzzer.run("order", seeds: [Array(#"{"batches": [[0, 1, 2], [3, 4], [5]]}"#.utf8)], text: true, iterations: 10000) { bytes in
            _ = try BatchOrder.parse(bytes, name: "fuzz-order.json", trainCount: 6)
        }
    }

    func testCheckpointDecoder() {
        let c = Checkpoint(step: 4, epoch: 1, names: ["1.weight", "1.bias"], values: [1, 2, 3, .nan],
                           optimizer: OptimizerState(type: "adam", buffers: [[1, 2, 3, 4], [5, 6, 7, 8]], counters: [5]),
                           streams: ["data/shuffle/epoch-1": StreamPosition(seed: 7, site: "data/shuffle/epoch-1", position: 1434),
                                     "9/dropout/2/step-4": StreamPosition(seed: 9, site: "dropout/2/step-4", position: 1 << 40)])
        let blob = c.encode()
        let back = try? Checkpoint.decode(blob, source: "seed")
        XCTAssertEqual(back?.encode(), blob, "encode/decode round-trips bit for bit")
        XCTAssertEqual(back?.streams, c.streams)
        Fuzzer.run("checkpoint", seeds: [blob], iterations: 10000) { bytes in
            _ = try Checkpoint.decode(bytes, source: "fuzz.cwr")
        }
    }
}
