import Recorder

/// Architecture presets: `"model": {"architecture": {"name": ..., ...}}` expands to the layer
/// JSON list of `model.layers`, which is what the resolved config stores. Every preset takes
/// `classes` (10) and `width` (1.0, multiplies every channel count, rounded, at least 1) so small
/// versions train on a CPU, and the zoo conventions of `ZooConventions` (`zoo`, `convBias`,
/// `batchnorm`, `dropout`, and per preset `variant`, `poolPadding`, `classifier`, `hidden`).
/// Unknown keys are refused with their JSON path. The layer list mirrors the equivalent PyTorch
/// nn.Sequential module by module (the head is globalavgpool + flatten, as AdaptiveAvgPool2d(1) +
/// Flatten; flatten of [C] changes nothing), so parameter names, and hence state dicts, are
/// interchangeable with torch (ResNetTorchTests). Without `zoo` and the keys it sets, the
/// expansion is the one of the presets before zoos (records made then replay unchanged).
///
/// - `vgg` (CIFAR VGG, as torchvision vgg* / kuangliu's CIFAR VGG): `depth` 11 | 13 | 16 | 19 (11);
///   stacks of conv3x3 (padding 1, bias per `convBias`, default true) - batchnorm (unless
///   `batchnorm: false`) - relu with a 2x2 maxpool after each stage (64, 128, 256, 512, 512
///   channels), then flatten and the classifier: `linear` (default) = `dropout` (0: none) and
///   dense(classes); `mlp` = [dense(hidden * width) - relu - `dropout`] x 2 - dense(classes)
///   (torchvision and Keras; without torchvision's AdaptiveAvgPool2d((7, 7)), which on 32x32 input
///   would repeat each 1x1 feature 49 times). Needs 32x32 input (five halvings to 1x1).
/// - `resnet` (He et al. 2015), `layout` "cifar" (section 4.2; default) or "imagenet" (table 1):
///   cifar: `depth` (20), `block` "basic" (depth 6n+2) | "bottleneck" (9n+2, 1x1-3x3-1x1 with
///   expansion 4); stem conv3x3(16)-bn-relu; three stages of n blocks at 16/32/64 channels.
///   imagenet: `depth` 18 | 34 (basic) | 50 | 101 | 152 (bottleneck); stem conv7x7/2 (padding 3)-
///   bn-relu-maxpool 3/2 (padding 1 of `poolPadding`: "-inf" torch, "zero" Keras); four stages
///   at 64/128/256/512 channels with [2,2,2,2], [3,4,6,3], [3,4,6,3], [3,4,23,3], [3,8,36,3]
///   blocks. Both: stride 2 at the first block of every stage but the first, on the first 1x1
///   (`variant` "v1") or on the 3x3 (`variant` "v1.5", default) of a bottleneck; option-B
///   shortcuts (1x1 conv with the stride + batchnorm) where the shape changes, identity
///   elsewhere; relu after every add; then globalavgpool, flatten, `dropout` (0: none) and
///   dense(classes). Convs have a bias only with `convBias` (default false).
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
        case "vgg": layers = try vgg(o, path: path, classes: classes, ch: ch, conventions: ZooConventions.read(o, preset: .vgg))
        case "resnet": layers = try resnet(o, path: path, classes: classes, ch: ch, conventions: ZooConventions.read(o, preset: .resnet))
        default: layers = try densenet(o, path: path, classes: classes, width: width, conventions: ZooConventions.read(o, preset: .densenet))
        }
        try o.finish()
        return layers
    }

    // MARK: layer JSON

    static func conv(_ filters: Int, _ kernel: Int, stride: Int = 1, padding: Int? = nil, bias: Bool = false) -> JSON {
        .object(["type": .string("conv2d"), "filters": .number(Double(filters)), "kernel": .number(Double(kernel)),
                 "stride": .number(Double(stride)), "padding": .number(Double(padding ?? kernel / 2)), "bias": .bool(bias)])
    }
    static let relu: JSON = .object(["type": .string("relu")])
    static let flatten: JSON = .object(["type": .string("flatten")])
    static let gap: JSON = .object(["type": .string("globalavgpool")])
    static func pool(_ type: String) -> JSON {
        .object(["type": .string(type), "size": .number(2), "stride": .number(2)])
    }
    /// The ImageNet stem's max pooling, 3x3 stride 2 padding 1, its padding -inf or zeros.
    static func stemPool(_ pad: ZooConventions.PadValue) -> JSON {
        var o: [String: JSON] = ["type": .string("maxpool"), "size": .number(3), "stride": .number(2), "padding": .number(1)]
        if pad == .zero { o["padValue"] = .string(pad.rawValue) }
        return .object(o)
    }
    static func dense(_ units: Int) -> JSON { .object(["type": .string("dense"), "units": .number(Double(units))]) }
    static func dropout(_ rate: Double) -> [JSON] { rate > 0 ? [.object(["type": .string("dropout"), "rate": .number(rate)])] : [] }

    // MARK: presets

    static func vgg(_ o: ConfigObject, path: String, classes: Int, ch: (Int) -> Int, conventions c: ZooConventions) throws -> [JSON] {
        let configs: [Int: [Int]] = [   // 0 = maxpool
            11: [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
            13: [64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
            16: [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0],
            19: [64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0],
        ]
        let depth = try o.int("depth", default: 11)
        guard let cfg = configs[depth] else { throw InputError("\(path).depth: \(depth) is not a VGG depth; one of 11, 13, 16, 19") }
        var layers: [JSON] = []
        for v in cfg {
            layers += v == 0 ? [pool("maxpool")] : [conv(ch(v), 3, bias: c.convBias)] + (c.batchNorm ? [c.batchNormLayer] : []) + [relu]
        }
        switch c.classifier {
        case .linear: return layers + [flatten] + dropout(c.dropout) + [dense(classes)]
        case .mlp:
            let hidden = [dense(ch(c.hidden)), relu] + dropout(c.dropout)
            return layers + [flatten] + hidden + hidden + [dense(classes)]
        }
    }

    static func densenet(_ o: ConfigObject, path: String, classes: Int, width: Double, conventions cv: ZooConventions) throws -> [JSON] {
        let depth = try o.int("depth", default: 40, range: 1...10_000)
        guard depth >= 10, (depth - 4) % 6 == 0 else {
            throw InputError("\(path).depth: \(depth) is not a DenseNet-BC depth; use 6n+4 (e.g. 40, 100, 190)")
        }
        let growth = try o.int("growthRate", default: 12, range: 1...4096)
        let compression = try o.double("compression", default: 0.5)
        guard compression > 0, compression <= 1 else { throw InputError("\(path).compression: \(compression) must be in (0, 1]") }
        let r = cv.dropout, bn = cv.batchNormLayer, bias = cv.convBias
        let k = max(1, Int((Double(growth) * width).rounded()))
        let n = (depth - 4) / 6
        var c = 2 * k
        var layers: [JSON] = [conv(c, 3, bias: bias)]
        for b in 0..<3 {
            for _ in 0..<n {
                let body: [JSON] = [bn, relu, conv(4 * k, 1, bias: bias)] + dropout(r) + [bn, relu, conv(k, 3, bias: bias)] + dropout(r)
                layers.append(.object(["type": .string("concat"), "body": .array(body)]))
                c += k
            }
            if b < 2 {
                c = max(1, Int((Double(c) * compression).rounded(.down)))
                layers += [bn, relu, conv(c, 1, bias: bias)] + dropout(r) + [pool("avgpool")]
            }
        }
        return layers + [bn, relu, gap, flatten, dense(classes)]
    }
}
