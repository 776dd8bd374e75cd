import Foundation
import XCTest
@testable import Engine
import Recorder

/// The zoo conventions of the architecture presets (ZooConventions.swift, ResNetPreset.swift):
/// parameter counts of the published models, where the stride sits, what each zoo writes into
/// the layers, the zero-padded max pooling, and errors with their JSON paths.
final class ZooPresetTests: XCTestCase {
    func json(_ s: String) throws -> JSON { try JSON.parse(Array(s.utf8), source: "test") }

    func model(_ arch: String, input: [Int] = [3, 32, 32]) throws -> Model {
        try Model(layers: Architectures.expand(json(arch)), inputShape: input)
    }

    /// torchvision's resnet18 and resnet50 have 11,689,512 and 25,557,032 parameters (the counts
    /// its model docs publish); Keras applications' ResNet50 has 25,583,592 trainable and 53,120
    /// non-trainable ones (keras 3.15.1 `ResNet50(weights=None)`, counted here): the difference is
    /// one bias per convolution filter (26,560), since Keras's convs keep `use_bias=True`.
    func testImageNetResNetsHaveThePublishedParameterCounts() throws {
        let r18 = try model(#"{"name": "resnet", "layout": "imagenet", "depth": 18, "classes": 1000, "zoo": "torchvision"}"#, input: [3, 224, 224])
        XCTAssertEqual(r18.params.trainableCount, 11_689_512)
        let torch = try model(#"{"name": "resnet", "layout": "imagenet", "depth": 50, "classes": 1000, "zoo": "torchvision"}"#, input: [3, 224, 224])
        XCTAssertEqual(torch.params.trainableCount, 25_557_032)
        XCTAssertEqual(torch.outputShape, [1000])
        let keras = try model(#"{"name": "resnet", "layout": "imagenet", "depth": 50, "classes": 1000, "zoo": "keras"}"#, input: [3, 224, 224])
        XCTAssertEqual(keras.params.trainableCount, 25_583_592)
        XCTAssertEqual(keras.params.count - keras.params.trainableCount, 53_120)
    }

    /// v1 and v1.5 bottlenecks have the same parameters, name by name and shape by shape; only the
    /// place of the stride differs (the first 1x1 against the 3x3).
    func testResNetV1AndV15DifferOnlyInWhereTheBottleneckStrides() throws {
        let base = #""name": "resnet", "depth": 11, "block": "bottleneck", "width": 0.5"#
        let v15 = try model("{\(base)}"), v1 = try model("{\(base), \"variant\": \"v1\"}")
        XCTAssertEqual(v15.params.entries.map(\.name), v1.params.entries.map(\.name))
        XCTAssertEqual(v15.params.entries.map(\.shape), v1.params.entries.map(\.shape))
        func strides(_ m: Model, _ block: Int) -> [Int] {
            (m.body.layers[block] as! Residual).body.layers.compactMap { ($0 as? Conv2D)?.geometry.sh }
        }
        // Blocks 3, 5, 7: stage 1 (stride 1), then the first (downsampling) block of stages 2 and 3.
        XCTAssertEqual(strides(v15, 5), [1, 2, 1])
        XCTAssertEqual(strides(v1, 5), [2, 1, 1])
        XCTAssertEqual(strides(v15, 3), strides(v1, 3))
        XCTAssertEqual(v15.outputShape, v1.outputShape)
    }

    func testKerasZooWritesItsConventionsIntoTheLayers() throws {
        let layers = try Architectures.expand(json(#"{"name": "resnet", "layout": "imagenet", "depth": 50, "width": 0.125, "zoo": "keras"}"#))
        XCTAssertEqual(layers[0], try json(#"{"type": "conv2d", "filters": 8, "kernel": 7, "stride": 2, "padding": 3, "bias": true}"#))
        XCTAssertEqual(layers[1], try json(#"{"type": "batchnorm", "momentum": 0.01, "epsilon": 1.001e-5}"#))
        XCTAssertEqual(layers[3], try json(#"{"type": "maxpool", "size": 3, "stride": 2, "padding": 1, "padValue": "zero"}"#))
        let m = try Model(layers: layers, inputShape: [3, 32, 32])
        XCTAssertTrue(m.body.layers[3] is ZeroPaddedMaxPool)
        let first = m.body.layers[4] as! Residual
        XCTAssertEqual((first.body.layers[0] as! Conv2D).geometry.sh, 1)  // stage 1 does not downsample
        let down = m.body.layers[10] as! Residual  // first block of stage 2
        XCTAssertEqual(down.body.layers.compactMap { ($0 as? Conv2D)?.geometry.sh }, [2, 1, 1])  // Keras: v1
        XCTAssertEqual((down.body.layers[1] as! BatchNorm).epsilon, 1.001e-5)
        // An option given overrides the zoo's default.
        let mixed = try Architectures.expand(json(#"{"name": "resnet", "layout": "imagenet", "depth": 18, "zoo": "keras", "convBias": false, "batchnorm": {"epsilon": 0.001}}"#))
        XCTAssertEqual(mixed[0]["bias"], .bool(false))
        XCTAssertEqual(mixed[1], try json(#"{"type": "batchnorm", "momentum": 0.01, "epsilon": 0.001}"#))
    }

    /// Without `zoo` the presets expand exactly as before zoos existed (records replay unchanged).
    func testPresetsWithoutZooExpandAsBefore() throws {
        let layers = try Architectures.expand(json(#"{"name": "resnet", "depth": 11, "block": "bottleneck", "width": 0.25}"#))
        XCTAssertEqual(layers[1], try json(#"{"type": "batchnorm"}"#))
        XCTAssertEqual(layers[0]["bias"], .bool(false))
        let vgg = try Architectures.expand(json(#"{"name": "vgg", "dropout": 0.5}"#))
        XCTAssertEqual(vgg.suffix(3).map { $0["type"]! }, ["flatten", "dropout", "dense"].map(JSON.string))
        XCTAssertEqual(vgg[0]["bias"], .bool(true))
    }

    /// VGG as torchvision's vgg16 (no BatchNorm), vgg16_bn and Keras's VGG16: BatchNorm or not, and the
    /// classifier with or without dropout.
    func testVGGWithAndWithoutBatchNormAndTheZoosClassifiers() throws {
        let plain = try Architectures.expand(json(#"{"name": "vgg", "depth": 16, "width": 0.125, "zoo": "torchvision", "batchnorm": false}"#))
        XCTAssertFalse(plain.contains { $0["type"] == .string("batchnorm") })
        XCTAssertEqual(plain.suffix(8).map { $0["type"]! }, ["flatten", "dense", "relu", "dropout", "dense", "relu", "dropout", "dense"].map(JSON.string))
        XCTAssertEqual(plain[plain.count - 7]["units"], .number(512))  // 4096 * 0.125
        let bn = try model(#"{"name": "vgg", "depth": 16, "width": 0.125, "zoo": "torchvision"}"#)
        XCTAssertEqual(bn.body.layers.filter { $0 is BatchNorm }.count, 13)
        let keras = try Architectures.expand(json(#"{"name": "vgg", "depth": 16, "width": 0.125, "zoo": "keras"}"#))
        XCTAssertFalse(keras.contains { $0["type"] == .string("batchnorm") || $0["type"] == .string("dropout") })
        XCTAssertEqual(keras.suffix(6).map { $0["type"]! }, ["flatten", "dense", "relu", "dense", "relu", "dense"].map(JSON.string))
        // Same parameter shapes with and without dropout: weights load across, behaviour in training differs.
        let k = try Model(layers: keras, inputShape: [3, 32, 32]), t = try Model(layers: plain, inputShape: [3, 32, 32])
        XCTAssertEqual(k.params.entries.map(\.shape), t.params.entries.map(\.shape))
    }

    func testZooOptionErrorsNameTheJSONPath() throws {
        for (arch, message) in [
            (#"{"name": "resnet", "variant": "v1"}"#, "model.architecture.variant: applies to bottleneck blocks"),
            (#"{"name": "resnet", "poolPadding": "zero"}"#, "model.architecture.poolPadding: the CIFAR layout has no max pooling"),
            (#"{"name": "resnet", "layout": "imagenet", "depth": 20}"#, "model.architecture.depth: 20 is not an ImageNet ResNet depth; one of 18, 34, 50, 101, 152"),
            (#"{"name": "resnet", "layout": "imagenet", "depth": 50, "block": "basic"}"#, "model.architecture.block: ResNet-50 has bottleneck blocks"),
            (#"{"name": "resnet", "batchnorm": false}"#, "model.architecture.batchnorm: true or false is for vgg"),
            (#"{"name": "resnet", "batchnorm": {"epsilon": 0}}"#, "model.architecture.batchnorm.epsilon: 0.0 must be positive"),
            (#"{"name": "resnet", "batchnorm": {"momentun": 0.1}}"#, "model.architecture.batchnorm.momentun: unknown key"),
            (#"{"name": "vgg", "zoo": "tensorflow"}"#, "model.architecture.zoo: unknown value \"tensorflow\""),
            (#"{"name": "vgg", "classifier": "mlp", "hidden": 0}"#, "model.architecture.hidden: 0 is out of range"),
            (#"{"name": "densenet", "variant": "v1"}"#, "model.architecture.variant: unknown key"),
        ] {
            XCTAssertThrowsError(try Architectures.expand(json(arch)), arch) { XCTAssertTrue("\($0)".contains(message), "\(arch): \($0)") }
        }
    }

    /// Keras's ZeroPadding2D + valid MaxPooling2D: after a ReLU the same outputs as torch's -inf
    /// padding; on negative inputs a window that reaches the padding outputs 0.
    func testZeroPaddedMaxPoolAgainstTorchsPadding() throws {
        let g = Window2D(channels: 1, inH: 3, inW: 3, kh: 3, kw: 3, sh: 2, sw: 2, top: 1, bottom: 1, left: 1, right: 1)
        let params = ParameterStore(), ctx = Context(recorder: .plain(seed: 1), params: params, semantics: Semantics(profile: .keras))
        let zero = ZeroPaddedMaxPool(name: "3", geometry: g), torch = MaxPool2D(name: "3", geometry: g)
        let negative = Tensor(shape: [1, 1, 3, 3], data: [-9, -8, -7, -6, -5, -4, -3, -2, -1])
        XCTAssertEqual(torch.forward(negative, ctx).data, [-5, -4, -2, -1])
        XCTAssertEqual(zero.forward(negative, ctx).data, [0, 0, 0, 0])
        let relu = Tensor(shape: [1, 1, 3, 3], data: [0, 3, 0, 1, 0, 2, 0, 0, 5])
        XCTAssertEqual(zero.forward(relu, ctx).data, torch.forward(relu, ctx).data)
        XCTAssertEqual(zero.spec, try json(#"{"type": "maxpool", "size": [3, 3], "stride": [2, 2], "padding": [1, 1, 1, 1], "padValue": "zero"}"#))
        // The spec builds the same layer again.
        let rebuilt = try LayerFactory.build(zero.spec, name: "3", path: "x", inputShape: [1, 3, 3], params: params, semantics: Semantics(profile: .pytorch))
        XCTAssertTrue(rebuilt is ZeroPaddedMaxPool)
    }

    func testZeroPaddedMaxPoolGradient() {
        let params = ParameterStore()
        let gc = GradCheck(params: params)
        let g = Window2D(channels: 2, inH: 5, inW: 4, kh: 3, kw: 3, sh: 2, sw: 2, top: 1, bottom: 1, left: 1, right: 1)
        // Distinct values 0.05 apart (no ties within the step 0.01), none within 0.05 of the padding's 0:
        // a permutation (37 is prime to 80) of +-0.05, +-0.10, ..., +-2.0.
        let n = 80
        let x = Tensor(shape: [2, 2, 5, 4], data: (0..<n).map { i in
            let k = (i * 37) % n - n / 2
            return Float(k >= 0 ? k + 1 : k) * 0.05
        })
        gc.check(ZeroPaddedMaxPool(name: "3", geometry: g), input: x)
    }
}
