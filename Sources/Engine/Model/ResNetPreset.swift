import Recorder

/// The `resnet` preset (see `Architectures`): CIFAR and ImageNet layouts, basic and bottleneck
/// blocks, the stride of a downsampling bottleneck on its first 1x1 (`v1`) or its 3x3 (`v1.5`).
extension Architectures {
    /// ImageNet ResNets (He et al. 2015, table 1): blocks per stage and the block type.
    static let imagenetDepths: [Int: (blocks: [Int], block: String)] = [
        18: ([2, 2, 2, 2], "basic"), 34: ([3, 4, 6, 3], "basic"), 50: ([3, 4, 6, 3], "bottleneck"),
        101: ([3, 4, 23, 3], "bottleneck"), 152: ([3, 8, 36, 3], "bottleneck"),
    ]

    static func resnet(_ o: ConfigObject, path: String, classes: Int, ch: (Int) -> Int, conventions c: ZooConventions) throws -> [JSON] {
        let layout = try o.choice("layout", ["cifar", "imagenet"], default: "cifar")!
        let given = try o.choice("block", ["basic", "bottleneck"])
        let block: String, stages: [(planes: Int, blocks: Int)], stem: [JSON]
        let bn = c.batchNormLayer
        if layout == "cifar" {
            block = given ?? "basic"
            // Bounded (ResNet-1202 is the deepest in the paper): the layer list is built in memory.
            let depth = try o.int("depth", default: 20, range: 1...10_000)
            let per = block == "basic" ? 6 : 9
            guard depth >= per + 2, (depth - 2) % per == 0 else {
                throw InputError("\(path).depth: \(depth) is not a CIFAR ResNet depth for \(block) blocks; use \(per)n+2 (e.g. \(per + 2), \(3 * per + 2), \(9 * per + 2))")
            }
            let n = (depth - 2) / per
            stages = [16, 32, 64].map { ($0, n) }
            stem = [conv(ch(16), 3, bias: c.convBias), bn, relu]
            if o.has("poolPadding") {
                throw o.error("poolPadding", "the CIFAR layout has no max pooling; poolPadding applies to \"layout\": \"imagenet\"")
            }
        } else {
            let depth = try o.int("depth", default: 50)
            guard let d = imagenetDepths[depth] else {
                throw o.error("depth", "\(depth) is not an ImageNet ResNet depth; one of \(imagenetDepths.keys.sorted().map(String.init).joined(separator: ", "))")
            }
            if let given, given != d.block {
                throw o.error("block", "ResNet-\(depth) has \(d.block) blocks, not \(given); leave \"block\" out or use another depth")
            }
            block = d.block
            stages = zip([64, 128, 256, 512], d.blocks).map { ($0, $1) }
            stem = [conv(ch(64), 7, stride: 2, padding: 3, bias: c.convBias), bn, relu, stemPool(c.poolPadValue)]
        }
        if block == "basic" && o.has("variant") {
            throw o.error("variant", "applies to bottleneck blocks (the stride on their 1x1 or 3x3 convolution); basic blocks stride their first 3x3 in every zoo")
        }
        let expansion = block == "basic" ? 1 : 4
        var layers = stem
        var inC = ch(stages[0].planes)
        for (stage, s) in stages.enumerated() {
            for i in 0..<s.blocks {
                let stride = stage > 0 && i == 0 ? 2 : 1
                let p = ch(s.planes), out = p * expansion
                let body: [JSON]
                if block == "basic" {
                    body = [conv(p, 3, stride: stride, bias: c.convBias), bn, relu, conv(p, 3, bias: c.convBias), bn]
                } else {
                    let (first, middle) = c.variant == .v1 ? (stride, 1) : (1, stride)
                    body = [conv(p, 1, stride: first, bias: c.convBias), bn, relu, conv(p, 3, stride: middle, bias: c.convBias), bn, relu,
                            conv(out, 1, bias: c.convBias), bn]
                }
                let shortcut: [JSON] = stride != 1 || inC != out ? [conv(out, 1, stride: stride, padding: 0, bias: c.convBias), bn] : []
                layers += [.object(["type": .string("residual"), "body": .array(body), "shortcut": .array(shortcut)]), relu]
                inC = out
            }
        }
        return layers + [gap, flatten] + dropout(c.dropout) + [dense(classes)]
    }
}
