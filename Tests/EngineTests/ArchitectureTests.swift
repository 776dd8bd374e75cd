import Foundation
import XCTest
@testable import Engine
import Recorder

/// Architecture presets: expansion, parameter counts against the published PyTorch models,
/// config errors, and nested semantics overrides.
final class ArchitectureTests: XCTestCase {
    func json(_ s: String) throws -> JSON { try JSON.parse(Array(s.utf8), source: "test") }

    func model(_ arch: String, input: [Int] = [3, 32, 32]) throws -> Model {
        try Model(layers: Architectures.expand(json(arch)), inputShape: input)
    }

    /// Trainable parameter counts equal those of the same architectures built as torch 2.13
    /// nn.Modules (10 classes): CIFAR ResNet-20/56 with option-B shortcuts (akamaster's option-A
    /// 269,722 and 853,018 plus two 1x1 projections with BatchNorm), ResNet-164 bottleneck,
    /// kuangliu's CIFAR VGG11/16 with BatchNorm, DenseNet-BC-100 with k = 12.
    func testPresetParameterCountsMatchThePublishedModels() throws {
        for (arch, count) in [(#"{"name": "resnet", "depth": 20}"#, 272_474), (#"{"name": "resnet", "depth": 56}"#, 855_770),
                              (#"{"name": "resnet", "depth": 164, "block": "bottleneck"}"#, 1_704_154),
                              (#"{"name": "vgg", "depth": 11}"#, 9_231_114), (#"{"name": "vgg", "depth": 16}"#, 14_728_266),
                              (#"{"name": "densenet", "depth": 100}"#, 769_162)] {
            let m = try model(arch)
            XCTAssertEqual(m.params.trainableCount, count, arch)
            XCTAssertEqual(m.outputShape, [10], arch)
        }
    }

    func testResNetStructureAndNames() throws {
        let layers = try Architectures.expand(json(#"{"name": "resnet", "depth": 8, "width": 0.5, "classes": 7, "dropout": 0.2}"#))
        XCTAssertEqual(layers.map { $0["type"]! }, ["conv2d", "batchnorm", "relu", "residual", "relu", "residual", "relu",
                                                    "residual", "relu", "globalavgpool", "flatten", "dropout", "dense"].map(JSON.string))
        let m = try Model(layers: layers, inputShape: [3, 32, 32])
        XCTAssertEqual(m.outputShape, [7])
        let names = Set(m.params.entries.map(\.name))
        // Stage 1 keeps the shape (identity shortcut); stages 2 and 3 project with a strided 1x1 conv + BN.
        XCTAssertTrue(names.contains("3.body.1.running_mean"))
        XCTAssertFalse(names.contains { $0.hasPrefix("3.shortcut") })
        XCTAssertTrue(names.isSuperset(of: ["5.shortcut.0.weight", "5.shortcut.1.running_var", "7.shortcut.0.weight"]))
        XCTAssertEqual(m.params.entry("0.weight")?.shape, [8, 3, 3, 3])        // width 0.5: 16 -> 8 channels
        XCTAssertEqual(m.params.entry("7.shortcut.0.weight")?.shape, [32, 16, 1, 1])
    }

    func testDenseNetGrowsAndCompressesChannels() throws {
        let m = try model(#"{"name": "densenet", "depth": 10, "growthRate": 4}"#)
        // Stem 2k = 8; block 1 adds one layer of k = 4 -> 12; transition to 6; block 2 -> 10 -> 5; block 3 -> 9.
        let shapes = m.body.layers.map(\.outputShape)
        XCTAssertEqual(shapes[0], [8, 32, 32])
        XCTAssertEqual(shapes[1], [12, 32, 32])
        XCTAssertEqual(shapes[5], [6, 16, 16])
        XCTAssertTrue(shapes.contains([9, 8, 8]))
    }

    func testPresetErrorsNameTheJSONPath() throws {
        for (arch, message) in [
            (#"{"name": "resnet", "depth": 21}"#, "model.architecture.depth: 21 is not a CIFAR ResNet depth for basic blocks"),
            (#"{"name": "resnet", "dept": 20}"#, "model.architecture.dept: unknown key (did you mean \"depth\"?)"),
            (#"{"name": "resnett"}"#, "model.architecture.name: unknown value \"resnett\""),
            (#"{"name": "vgg", "depth": 12}"#, "model.architecture.depth: 12 is not a VGG depth"),
            (#"{"name": "densenet", "growthRate": 12, "compression": 0}"#, "model.architecture.compression"),
        ] {
            XCTAssertThrowsError(try Architectures.expand(json(arch))) { XCTAssertTrue("\($0)".contains(message), "\($0)") }
        }
    }

    func config(_ model: String, overrides: String = "{}") throws -> TrainConfig {
        try TrainConfig.parse(json(#"{"data": {"dataset": "digits"}, "overrides": \#(overrides), "model": \#(model)}"#), baseDirectory: "/")
    }

    func testTrainConfigTakesExactlyOneOfLayersAndArchitectureAndStoresTheExpansion() throws {
        XCTAssertThrowsError(try config(#"{"layers": [{"type": "flatten"}], "architecture": {"name": "vgg"}}"#)) {
            XCTAssertTrue("\($0)".contains("model: give exactly one of \"layers\""), "\($0)")
        }
        XCTAssertThrowsError(try config("{}")) { XCTAssertTrue("\($0)".contains("exactly one"), "\($0)") }
        let c = try config(#"{"architecture": {"name": "resnet", "depth": 8}}"#)
        guard case .array(let stored)? = c.resolved["model"]?["layers"] else { return XCTFail("no layers in the resolved config") }
        XCTAssertEqual(stored, try Architectures.expand(json(#"{"name": "resnet", "depth": 8}"#)))
        XCTAssertNil(c.resolved["model"]?["architecture"])
    }

    func testNestedOverridesFlattenToKnobNames() throws {
        let c = try config(#"{"layers": [{"type": "flatten"}]}"#, overrides: #"{"batchnorm": {"momentum": 0.05, "runningVariance": "biased"}, "adam.epsilonMode": "hat"}"#)
        XCTAssertEqual(c.semantics.knobs.batchNormMomentum, 0.05)
        XCTAssertEqual(c.semantics.knobs.batchNormRunningVariance, .biased)
        XCTAssertEqual(c.semantics.knobs.adamEpsilonMode, .hat)
        // A nested value (what --set produces) replaces the dotted key.
        let both = try config(#"{"layers": [{"type": "flatten"}]}"#, overrides: #"{"batchnorm.momentum": 0.2, "batchnorm": {"momentum": 0.05}}"#)
        XCTAssertEqual(both.semantics.knobs.batchNormMomentum, 0.05)
        XCTAssertThrowsError(try config(#"{"layers": [{"type": "flatten"}]}"#, overrides: #"{"batchnorm": {"momentun": 0.05}}"#)) {
            XCTAssertTrue("\($0)".contains("overrides.batchnorm.momentun: unknown semantics knob (did you mean \"batchnorm.momentum\"?)"), "\($0)")
        }
    }
}

/// The ResNet preset against the same network in torch 2.13 (Fixtures/resnet-torch, made by
/// make_golden.py there): the torch state_dict, num_batches_tracked included, loads by name, and
/// eval-mode logits (running statistics) agree.
final class ResNetTorchTests: XCTestCase {
    func testTorchStateDictLoadsIntoThePresetAndGivesTheSameLogits() throws {
        let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("resnet-torch")
        struct Golden: Decodable { let x: [Float]; let logits: [Float] }
        let g = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: dir.appendingPathComponent("golden.json")))
        let layers = try Architectures.expand(JSON.parse(Array(#"{"name": "resnet", "depth": 8, "width": 0.25}"#.utf8), source: "t"))
        let model = try Model(layers: layers, inputShape: [3, 32, 32])
        let path = dir.appendingPathComponent("model.safetensors").path
        try model.load(SafeTensors.parse(Array(try Data(contentsOf: URL(fileURLWithPath: path))), name: path), source: path)
        let ctx = Context(recorder: .plain(seed: 1), params: model.params, semantics: Semantics(profile: .pytorch))
        ctx.training = false
        let y = model.forward(Tensor(shape: [2, 3, 32, 32], data: g.x), ctx)
        let scale = g.logits.map(abs).max()!
        for (i, (a, b)) in zip(y.data, g.logits).enumerated() {
            XCTAssertEqual(a, b, accuracy: 1e-5 * scale, "logit \(i)")
        }
    }
}
