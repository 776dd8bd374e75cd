import Foundation
import XCTest
import Engine
import Presentation
import Recorder
@testable import Replayer

/// `evaluate` and `models compare` in process: the issue's "done means" on small models (digits
/// CNNs, a CIFAR-layout bottleneck ResNet on 8x8 synthetic images).
final class ModelComparisonTests: RecordingTestCase {
    /// A digits CNN with BatchNorm under `semantics`, trained `steps` steps.
    static func cnn(_ semantics: String, steps: Int = 45, extra: String = "") -> String {
        #"""
        {"name": "cnn-\#(semantics)", "seed": 16, "semantics": "\#(semantics)",
         "data": {"dataset": "digits", "batchSize": 32},
         "model": {"layers": [
           {"type": "conv2d", "filters": 8, "kernel": 3, "padding": 1}, {"type": "batchnorm"}, {"type": "relu"},
           {"type": "maxpool", "size": 2},
           {"type": "conv2d", "filters": 16, "kernel": 3, "padding": 1}, {"type": "batchnorm"}, {"type": "relu"},
           {"type": "globalavgpool"}, {"type": "dense", "units": 10}]},
         "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9},
         "training": {"epochs": 1, "maxSteps": \#(steps)}\#(extra)}
        """#
    }

    /// A CIFAR-layout ResNet-11 with bottleneck blocks (one per stage) on 8x8 synthetic images.
    static func resnet(variant: String) -> String {
        #"""
        {"name": "resnet-\#(variant)", "seed": 3,
         "data": {"dataset": "synthetic", "shape": [3, 8, 8], "classes": 4, "trainSize": 64, "testSize": 48, "batchSize": 16},
         "model": {"architecture": {"name": "resnet", "depth": 11, "block": "bottleneck", "width": 0.25, "classes": 4, "variant": "\#(variant)"}},
         "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9},
         "training": {"epochs": 1, "maxSteps": 3}}
        """#
    }

    /// Writes `json` as `name`.json, trains it and exports the weights to `name`.safetensors.
    func trained(_ json: String, _ name: String) throws -> (config: TrainConfig, path: String, weights: String, outcome: TrainingOutcome) {
        let path = dir.appendingPathComponent("\(name).json").path
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        let weights = dir.appendingPathComponent("\(name).safetensors").path
        let config = try TrainConfig.load(path: path)
        let outcome = try TrainingSession(training: config, options: TrainingOptions(export: weights)).run()
        return (config, path, weights, outcome)
    }

    func load(_ json: String, _ name: String, weights: String) throws -> TrainedModel {
        let path = dir.appendingPathComponent("\(name).json").path
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        return try TrainedModel(config: TrainConfig.load(path: path), configPath: path, weights: weights)
    }

    static let fast = ModelComparisonOptions(latency: LatencyOptions(batchSize: 16, warmup: 1, timed: 12), localisation: LocalisationOptions(batchSize: 8))

    // MARK: done means 4

    /// The weights a run exported score, without training, to the accuracy, loss and predictions
    /// hash of the run's last evaluation (the one its record holds).
    func testEvaluateReproducesTheLastEvaluationOfTheRun() throws {
        for (json, name) in [(Self.cnn("pytorch"), "torch"), (Self.cnn("keras", extra: #", "determinism": {"threads": 2}"#), "keras2")] {
            let run = try trained(json, name)
            let model = try TrainedModel(config: run.config, configPath: run.path, weights: run.weights)
            let report = try EvaluationSession.run(model, latency: LatencyOptions(warmup: 0, timed: 3))
            let last = try XCTUnwrap(run.outcome.final)
            XCTAssertEqual(report.evaluation.predictionsHash, last.predictionsHash, name)
            XCTAssertEqual(report.evaluation.correct, last.correct, name)
            XCTAssertEqual(report.evaluation.perClassCorrect, last.perClassCorrect, name)
            XCTAssertEqual(report.evaluation.loss, last.loss, name)
            // The confusion matrix holds the same counts.
            XCTAssertEqual(report.confusion.map { $0.reduce(0, +) }, last.perClassTotal)
            XCTAssertEqual(report.confusion.indices.map { report.confusion[$0][$0] }, last.perClassCorrect)
            XCTAssertEqual(report.latency.summary.count, 3)
            XCTAssertEqual(report.latency.batchSize, 32)  // data.batchSize
            XCTAssertEqual(report.latency.threads, run.config.determinism.threads)
        }
    }

    func testModelsWithoutWeightsAreRefused() throws {
        let path = dir.appendingPathComponent("a.json").path
        try Data(Self.cnn("pytorch").utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try TrainedModel(config: TrainConfig.load(path: path), configPath: path, weights: nil)) {
            XCTAssertEqual($0 as? TrainedModelError, .noWeights(config: path))
        }
        XCTAssertThrowsError(try EvaluationSession.run(try load(Self.cnn("pytorch"), "b", weights: trained(Self.cnn("pytorch", steps: 1), "w").weights),
                                                       latency: LatencyOptions(timed: 1))) {
            XCTAssertEqual($0 as? LatencyOptionsError, .timed(1))
        }
    }

    /// Weights of a bias-free ResNet (torchvision's convention) loaded into one whose
    /// convolutions have biases (Keras's): the error names the first missing tensor, counts the
    /// missing ones and the file's, and lists eight names, not the model's every parameter.
    func testWeightsOfAnotherVariantNameWhatIsMissing() throws {
        let run = try trained(Self.resnet(variant: "v1.5"), "v15")
        let withBias = Self.resnet(variant: "v1.5").replacingOccurrences(of: #""variant": "v1.5""#, with: #""variant": "v1.5", "convBias": true"#)
        XCTAssertThrowsError(try load(withBias, "bias", weights: run.weights)) {
            let message = "\($0)"
            XCTAssertTrue(message.contains("no tensor \"0.bias\""), message)
            XCTAssertNotNil(message.range(of: #"; \d+ of the model's \d+ tensors are missing \(0\.bias, .* and \d+ more\), the file holds \d+"#, options: .regularExpression), message)
            XCTAssertLessThan(message.count, 600, message)
        }
    }

    // MARK: done means 3

    /// The same config and weights loaded twice: no architecture difference, no disagreement,
    /// bit-identical outputs at every layer, and a latency measured in 30 paired rounds. Whether
    /// the ratio's interval contains 1 depends on the machine's load (the suite must not time
    /// anything), so only the estimate's consistency is asserted; guideline 08 shows the figures.
    func testTwoIdenticalModelsAgreeEverywhere() throws {
        let run = try trained(Self.cnn("pytorch"), "a")
        let a = try load(Self.cnn("pytorch"), "a", weights: run.weights), b = try load(Self.cnn("pytorch"), "b", weights: run.weights)
        var options = Self.fast
        options.latency = LatencyOptions(batchSize: 32, warmup: 2, timed: 30, level: 0.999)
        let r = try ModelComparison.run(a, b, options: options)
        XCTAssertTrue(r.architecture.identical)
        XCTAssertEqual(r.architecture.differences, [])
        XCTAssertTrue(r.architecture.weightsInterchangeable)
        XCTAssertEqual(r.behaviour.disagreements, 0)
        XCTAssertEqual(r.behaviour.mcNemar.pValue, 1)
        XCTAssertTrue(r.behaviour.inputsIdentical)
        XCTAssertEqual(r.localisation.layers.count, 9)
        XCTAssertTrue(r.localisation.identicalEverywhere)
        XCTAssertNil(r.localisation.firstDivergent)
        XCTAssertEqual(r.latency.a.seconds.count, 30)
        XCTAssertEqual(r.latency.b.seconds.count, 30)
        XCTAssertTrue(r.latency.ratio.ratio.isFinite && r.latency.ratio.ratio > 0, "\(r.latency.ratio)")
        XCTAssertTrue(r.latency.ratio.interval.contains(r.latency.ratio.ratio), "\(r.latency.ratio)")
        XCTAssertTrue(r.latency.medianRatioInterval.contains(r.latency.medianRatio), "\(r.latency.medianRatioInterval)")
        XCTAssertTrue(r.equivalent)
        let json = try JSONSerialization.jsonObject(with: Data(r.json.utf8)) as! [String: Any]
        XCTAssertTrue(json["firstDivergentLayer"] is NSNull)
        XCTAssertEqual(((json["architecture"] as! [String: Any])["differences"] as! [Any]).count, 0)
        XCTAssertEqual(json["disagreement"] as? Double, 0)
        XCTAssertTrue(r.humanText.contains("every paired layer gives bit-identical outputs (9 of 9)"), r.humanText)
    }

    /// The same weights computed with the reference GEMM and pairwise sums: bits differ, yet every
    /// layer stays within A's rounding noise (the tolerance measures it rather than guessing it).
    func testAnotherSummationOrderStaysWithinTolerance() throws {
        let run = try trained(Self.cnn("pytorch"), "a")
        let a = try load(Self.cnn("pytorch"), "a", weights: run.weights)
        let b = try load(Self.cnn("pytorch", extra: #", "determinism": {"gemm": "reference", "reduction": "pairwise"}"#), "b", weights: run.weights)
        let r = try ModelComparison.run(a, b, options: Self.fast)
        XCTAssertTrue(r.architecture.identical)
        XCTAssertFalse(r.localisation.identicalEverywhere)
        XCTAssertNil(r.localisation.firstDivergent, r.humanText)
        XCTAssertTrue(r.localisation.layers.allSatisfy { ($0.maxAbsDifference ?? .infinity) <= $0.tolerance })
    }

    // MARK: done means 2

    /// ResNet v1.5 weights loaded into a v1 model: every parameter loads, the architecture names
    /// the moved stride, and the outputs part at the first 1x1 convolution that now strides.
    func testResNetV1AgainstV15WithIdenticalWeights() throws {
        let run = try trained(Self.resnet(variant: "v1.5"), "v15")
        let a = try load(Self.resnet(variant: "v1.5"), "v15", weights: run.weights), b = try load(Self.resnet(variant: "v1"), "v1", weights: run.weights)
        let r = try ModelComparison.run(a, b, options: Self.fast)
        let arch = r.architecture
        XCTAssertTrue(arch.weightsInterchangeable)
        XCTAssertEqual(arch.parametersA, arch.parametersB)
        // Stages 2 and 3 downsample (blocks 5 and 7); stage 1's block 3 does not.
        XCTAssertEqual(arch.strideMoves.map(\.blockA), ["5", "7"])
        let move = arch.strideMoves[0]
        XCTAssertEqual(move.layerA, "5.body.3")
        XCTAssertEqual(move.layerB, "5.body.0")
        XCTAssertEqual(move.kernelA, [3, 3])
        XCTAssertEqual(move.kernelB, [1, 1])
        XCTAssertEqual(move.strideA, [2, 2])
        XCTAssertTrue(move.keepsParameterShapes)
        let stride = arch.differences.filter { $0.kind == .attribute(.stride) }
        XCTAssertEqual(stride.map { $0.layerA! }, ["5.body.0", "5.body.3", "7.body.0", "7.body.3"])
        XCTAssertTrue(stride.allSatisfy(\.keepsParameterShapes))
        XCTAssertEqual(stride[0].valueA, .ints([1, 1]))
        XCTAssertEqual(stride[0].valueB, .ints([2, 2]))
        let first = try XCTUnwrap(r.localisation.firstDivergent)
        XCTAssertEqual(first.layerA, "5.body.0")
        XCTAssertFalse(first.sameShape)
        XCTAssertEqual(first.shapeA, [8, 8, 8])
        XCTAssertEqual(first.shapeB, [8, 4, 4])
        // Everything before it is bit-identical (same weights, same layers).
        let before = r.localisation.layers.prefix { $0.layerA != "5.body.0" }
        XCTAssertGreaterThan(before.count, 10)
        XCTAssertTrue(before.allSatisfy(\.identical))
        XCTAssertTrue(r.humanText.contains("stride moved: block 5: stride 2 on 5.body.3 (3x3 conv) in A, stride 2 on 5.body.0 (1x1 conv) in B; every parameter shape is equal"), r.humanText)
        XCTAssertTrue(r.humanText.contains("first divergent layer: 5.body.0 (conv2d): output shape [8, 8, 8] in A, [8, 4, 4] in B"), r.humanText)
        XCTAssertFalse(r.equivalent)
    }

    // MARK: done means 1

    /// The same CNN trained under PyTorch and under Keras semantics: the BatchNorm layers differ in
    /// momentum, epsilon and the kept variance (same parameter shapes), the models disagree, and
    /// the paired test and the latency ratio are reported.
    func testTorchAndKerasSemanticsTrainedModels() throws {
        let ta = try trained(Self.cnn("pytorch"), "torch"), tb = try trained(Self.cnn("keras"), "keras")
        let a = try TrainedModel(config: ta.config, configPath: ta.path, weights: ta.weights)
        let b = try TrainedModel(config: tb.config, configPath: tb.path, weights: tb.weights)
        let r = try ModelComparison.run(a, b, options: Self.fast)
        let bn = r.architecture.differences.filter { $0.layerA == "1" }
        XCTAssertEqual(bn.map(\.kind), [.attribute(.momentum), .attribute(.epsilon), .attribute(.runningVariance)])
        XCTAssertEqual(bn.map(\.valueA), [.number(0.1), .number(1e-5), .choice("unbiased")])
        XCTAssertEqual(bn.map(\.valueB), [.number(0.01), .number(1e-3), .choice("biased")])
        XCTAssertTrue(r.architecture.weightsInterchangeable)
        let h = r.behaviour
        XCTAssertEqual(h.a, ta.outcome.final!.withStep(-1, epoch: -1, split: "test"))
        XCTAssertEqual(h.b.predictionsHash, tb.outcome.final!.predictionsHash)
        XCTAssertEqual(h.accuracyDifference, h.b.accuracy - h.a.accuracy)
        XCTAssertEqual(h.paired.total, 360)
        XCTAssertEqual(h.paired.both + h.paired.onlyA, h.a.correct)
        XCTAssertEqual(h.paired.both + h.paired.onlyB, h.b.correct)
        XCTAssertGreaterThan(h.disagreements, 0)
        XCTAssertGreaterThanOrEqual(h.disagreements, h.paired.onlyA + h.paired.onlyB)
        XCTAssertEqual(h.mcNemar, try Statistics.mcNemar(h.paired))
        XCTAssertEqual(h.perClass.map(\.disagreements).reduce(0, +), h.disagreements)
        XCTAssertEqual(h.mostDisagreeing.first?.disagreementRate, h.perClass.map(\.disagreementRate).max())
        XCTAssertTrue(r.latency.ratio.ratio.isFinite && r.latency.ratio.ratio > 0)
        XCTAssertEqual(r.latency.a.threads, 1)
        XCTAssertEqual(r.latency.a.seconds.count, 12)
        XCTAssertEqual(r.localisation.firstDivergent?.layerA, "0")  // different initialisation and training: the first conv already differs
        let json = try JSONSerialization.jsonObject(with: Data(r.json.utf8)) as! [String: Any]
        // (Foundation's JSON reader may round the last digit: compare to 1e-12.)
        XCTAssertEqual((json["a"] as! [String: Any])["accuracy"] as! Double, h.a.accuracy, accuracy: 1e-12)
        XCTAssertEqual((json["b"] as! [String: Any])["accuracy"] as! Double, h.b.accuracy, accuracy: 1e-12)
        XCTAssertEqual(json["mcnemarPValue"] as! Double, h.mcNemar.pValue, accuracy: 1e-12)
        XCTAssertEqual((json["latency"] as! [String: Any])["ratio"] as! Double, r.latency.ratio.ratio, accuracy: 1e-12)
        XCTAssertEqual(((json["firstDivergentLayer"] as! [String: Any])["layerA"]) as? String, "0")
        XCTAssertEqual(((json["architecture"] as! [String: Any])["differences"] as! [[String: Any]]).count, 6)
    }

    /// The order-statistic interval of a median: for 30 values, [x_(10), x_(21)] with coverage
    /// 1 - 2 P(Bin(30, 1/2) <= 9) = 0.9572 (scipy: `1 - 2 * binom.cdf(9, 30, 0.5)`); for 5 values
    /// no 95% interval exists and [min, max] covers 1 - 2/32.
    func testMedianIntervalFromOrderStatistics() {
        let xs = (1...30).map(Double.init).shuffled()
        let i = Latency.medianInterval(xs, level: 0.95)
        XCTAssertEqual(i.low, 10)
        XCTAssertEqual(i.high, 21)
        XCTAssertEqual(i.level, 0.957226, accuracy: 1e-6)
        let small = Latency.medianInterval([3, 1, 2, 5, 4], level: 0.95)
        XCTAssertEqual([small.low, small.high, small.level], [1, 5, 0.9375])
    }

    // MARK: alignment and bad input

    /// A layer inserted in B is named as such, the layers after it pair by kind although their
    /// names shift, and the renamed parameters mean B's weights no longer load into A.
    func testAlignmentNamesAnInsertedLayerAndTheRenamedOnes() throws {
        func model(_ layers: String) throws -> Model {
            guard case .array(let specs) = try JSON.parse(Array(layers.utf8), source: "t") else { throw InputError("not a list") }
            return try Model(layers: specs, inputShape: [1, 8, 8])
        }
        let a = try model(#"[{"type": "flatten"}, {"type": "dense", "units": 32}, {"type": "relu"}, {"type": "dense", "units": 10}]"#)
        let b = try model(#"[{"type": "flatten"}, {"type": "dense", "units": 32}, {"type": "tanh"}, {"type": "dropout", "rate": 0.5}, {"type": "dense", "units": 10}]"#)
        let c = ArchitectureComparison.compare(a, b)
        XCTAssertEqual(c.rows.map { [$0.a?.name ?? "-", $0.b?.name ?? "-"] }, [["0", "0"], ["1", "1"], ["2", "2"], ["-", "3"], ["3", "4"]])
        XCTAssertEqual(c.differences.map(\.kind), [.attribute(.activation), .onlyInB, .name])
        XCTAssertEqual(c.differences[0].valueB, .choice("tanh"))
        XCTAssertTrue(c.differences[1].keepsParameterShapes)  // dropout has no parameters
        XCTAssertFalse(c.weightsInterchangeable)
        XCTAssertEqual(c.parametersA, c.parametersB)
    }

    func testModelsScoredOnDifferentSamplesAreRefused() throws {
        let a = try trained(Self.cnn("pytorch", steps: 1), "a"), b = try trained(Self.resnet(variant: "v1.5"), "b")
        let ma = try TrainedModel(config: a.config, configPath: a.path, weights: a.weights)
        let mb = try TrainedModel(config: b.config, configPath: b.path, weights: b.weights)
        XCTAssertThrowsError(try ModelComparison.run(ma, mb, options: Self.fast)) {
            XCTAssertEqual($0 as? ModelComparisonError, .differentSamples(split: .test, detail: "360 samples in A, 48 in B"))
        }
    }
}

extension Evaluation {
    func withStep(_ step: Int, epoch: Int, split: String) -> Evaluation {
        var e = self
        e.step = step; e.epoch = epoch; e.split = split
        return e
    }
}
