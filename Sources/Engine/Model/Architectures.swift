import Recorder

/// Architecture presets: `"model": {"architecture": {"name": ..., ...}}` expands to the layer
/// JSON list of `model.layers`, which is what the resolved config stores. Every preset takes
/// `classes` (10) and `width` (1.0, multiplies every channel count, rounded, at least 1) so small
/// versions train on a CPU. Unknown keys are refused with their JSON path. The layer list mirrors
/// the equivalent PyTorch nn.Sequential module by module (the head is globalavgpool + flatten, as
/// AdaptiveAvgPool2d(1) + Flatten; flatten of [C] changes nothing), so parameter names, and hence
/// state dicts, are interchangeable with torch (ResNetTorchTests).
///
/// - `vgg` (CIFAR VGG with BatchNorm, as torchvision vgg*_bn / kuangliu's CIFAR VGG): `depth` 11 | 13 |
///   16 | 19 (11); stacks of conv3x3 (padding 1, bias) - batchnorm - relu with a 2x2 maxpool after
///   each stage (64, 128, 256, 512, 512 channels), then flatten, `dropout` (0: none) and
///   dense(classes). Needs 32x32 input (five halvings to 1x1).
/// - `resnet` (CIFAR ResNet, He et al. 2015 section 4.2): `depth` (20), `block` "basic" (depth 6n+2) |
///   "bottleneck" (depth 9n+2, 1x1-3x3-1x1 with expansion 4); stem conv3x3(16)-bn-relu, three stages
///   of n blocks at 16/32/64 channels (stride 2 at the first block of stages 2 and 3), option-B
///   shortcuts (1x1 conv with the stride + batchnorm) where the shape changes, identity elsewhere;
///   relu after every add; then globalavgpool, flatten, `dropout` (0: none) and dense(classes). Convs have no bias.
/// - `densenet` (DenseNet-BC, Huang et al. 2017): `depth` (40; (depth-4)/6 layers per block),
///   `growthRate` k (12), `compression` (0.5), `dropout` (0; after each conv of a dense layer);
///   stem conv3x3(2k); three dense blocks of concat{bn-relu-conv1x1(4k)-bn-relu-conv3x3(k)};
///   transitions bn-relu-conv1x1(floor(compression*C))-avgpool2; then bn-relu-globalavgpool-flatten-dense(classes).
public enum Architectures {
    public static let names = ["vgg", "resnet", "densenet"]

    public static func expand(_ json: JSON, path: String = "model.architecture") throws -> [JSON] {
        let o = try ConfigObject(json, path: path)
        guard let name = try o.choice("name", names) else {
            throw InputError("\(path).name: missing; one of \(names.joined(separator: ", "))")
        }
        let classes = try o.int("classes", default: 10, range: 2...100_000)
        let width = try o.double("width", default: 1)
        guard width > 0, width <= 64 else { throw InputError("\(path).width: \(width) must be in (0, 64]") }
        func ch(_ c: Int) -> Int { max(1, Int((Double(c) * width).rounded())) }
        let layers: [JSON]
        switch name {
        case "vgg": layers = try vgg(o, path: path, classes: classes, ch: ch)
        case "resnet": layers = try resnet(o, path: path, classes: classes, ch: ch)
        default: layers = try densenet(o, path: path, classes: classes, width: width)
        }
        try o.finish()
        return layers
    }

    // MARK: layer JSON

    static func conv(_ filters: Int, _ kernel: Int, stride: Int = 1, padding: Int? = nil, bias: Bool = false) -> JSON {
        .object(["type": .string("conv2d"), "filters": .number(Double(filters)), "kernel": .number(Double(kernel)),
                 "stride": .number(Double(stride)), "padding": .number(Double(padding ?? kernel / 2)), "bias": .bool(bias)])
    }
    static let bn: JSON = .object(["type": .string("batchnorm")])
    static let relu: JSON = .object(["type": .string("relu")])
    static let flatten: JSON = .object(["type": .string("flatten")])
    static let gap: JSON = .object(["type": .string("globalavgpool")])
    static func pool(_ type: String) -> JSON {
        .object(["type": .string(type), "size": .number(2), "stride": .number(2)])
    }
    static func dense(_ units: Int) -> JSON { .object(["type": .string("dense"), "units": .number(Double(units))]) }
    static func dropout(_ rate: Double) -> [JSON] { rate > 0 ? [.object(["type": .string("dropout"), "rate": .number(rate)])] : [] }

    static func rate(_ o: ConfigObject, path: String) throws -> Double {
        let r = try o.double("dropout", default: 0)
        guard (0..<1).contains(r) else { throw InputError("\(path).dropout: \(r) must be in [0, 1)") }
        return r
    }

    // MARK: presets

    static func vgg(_ o: ConfigObject, path: String, classes: Int, ch: (Int) -> Int) throws -> [JSON] {
        let configs: [Int: [Int]] = [   // 0 = maxpool
            11: [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
            13: [64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
            16: [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0],
            19: [64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0],
        ]
        let depth = try o.int("depth", default: 11)
        guard let cfg = configs[depth] else { throw InputError("\(path).depth: \(depth) is not a VGG depth; one of 11, 13, 16, 19") }
        let r = try rate(o, path: path)
        var layers: [JSON] = []
        for c in cfg {
            layers += c == 0 ? [pool("maxpool")] : [conv(ch(c), 3, bias: true), bn, relu]
        }
        return layers + [flatten] + dropout(r) + [dense(classes)]
    }

    static func resnet(_ o: ConfigObject, path: String, classes: Int, ch: (Int) -> Int) throws -> [JSON] {
        let block = try o.choice("block", ["basic", "bottleneck"], default: "basic")!
        // Bounded (ResNet-1202 is the deepest in the paper): the layer list is built in memory.
        let depth = try o.int("depth", default: 20, range: 1...10_000)
        let per = block == "basic" ? 6 : 9
        guard depth >= per + 2, (depth - 2) % per == 0 else {
            throw InputError("\(path).depth: \(depth) is not a CIFAR ResNet depth for \(block) blocks; use \(per)n+2 (e.g. \(per + 2), \(3 * per + 2), \(9 * per + 2))")
        }
        let r = try rate(o, path: path)
        let n = (depth - 2) / per, expansion = block == "basic" ? 1 : 4
        var layers: [JSON] = [conv(ch(16), 3), bn, relu]
        var inC = ch(16)
        for (stage, planes) in [16, 32, 64].enumerated() {
            for i in 0..<n {
                let stride = stage > 0 && i == 0 ? 2 : 1
                let p = ch(planes), out = p * expansion
                let body: [JSON] = block == "basic"
                    ? [conv(p, 3, stride: stride), bn, relu, conv(p, 3), bn]
                    : [conv(p, 1), bn, relu, conv(p, 3, stride: stride), bn, relu, conv(out, 1), bn]
                let shortcut: [JSON] = stride != 1 || inC != out ? [conv(out, 1, stride: stride, padding: 0), bn] : []
                layers += [.object(["type": .string("residual"), "body": .array(body), "shortcut": .array(shortcut)]), relu]
                inC = out
            }
        }
        return layers + [gap, flatten] + dropout(r) + [dense(classes)]
    }

    static func densenet(_ o: ConfigObject, path: String, classes: Int, width: Double) throws -> [JSON] {
        let depth = try o.int("depth", default: 40, range: 1...10_000)
        guard depth >= 10, (depth - 4) % 6 == 0 else {
            throw InputError("\(path).depth: \(depth) is not a DenseNet-BC depth; use 6n+4 (e.g. 40, 100, 190)")
        }
        let growth = try o.int("growthRate", default: 12, range: 1...4096)
        let compression = try o.double("compression", default: 0.5)
        guard compression > 0, compression <= 1 else { throw InputError("\(path).compression: \(compression) must be in (0, 1]") }
        let r = try rate(o, path: path)
        let k = max(1, Int((Double(growth) * width).rounded()))
        let n = (depth - 4) / 6
        var c = 2 * k
        var layers: [JSON] = [conv(c, 3)]
        for b in 0..<3 {
            for _ in 0..<n {
                let body: [JSON] = [bn, relu, conv(4 * k, 1)] + dropout(r) + [bn, relu, conv(k, 3)] + dropout(r)
                layers.append(.object(["type": .string("concat"), "body": .array(body)]))
                c += k
            }
            if b < 2 {
                c = max(1, Int((Double(c) * compression).rounded(.down)))
                layers += [bn, relu, conv(c, 1)] + dropout(r) + [pool("avgpool")]
            }
        }
        return layers + [bn, relu, gap, flatten, dense(classes)]
    }
}
