import Recorder

/// Training-batch augmentation (`data.augment`), applied by the trainer to every training batch
/// (never to evaluation), before `batch.x` is recorded. Per sample, in this order (torchvision's
/// usual RandomCrop then RandomHorizontalFlip):
/// - `"randomCrop": {"padding": p}`: pad each side by p, then crop back to H x W at offset
///   (top, left), each uniform in 0...2p: top = floor(u * (2p + 1)) with u drawn at site
///   `augment/crop/step-<n>` (2 per sample: top, then left, as torchvision draws i then j). The
///   padding is the value a raw 0 pixel has after `data.normalize` ((0 - mean_c) / std_c, 0 without
///   normalisation), so it matches torchvision's RandomCrop(padding=p) before Normalize.
/// - `"horizontalFlip": true`: mirror the columns when u < 0.5, u drawn at `augment/flip/step-<n>`
///   (1 per sample), as RandomHorizontalFlip(p=0.5).
/// Samples are [C, H, W] (or [H, W], one channel).
public struct Augment: Equatable {
    public let cropPadding: Int?
    public let horizontalFlip: Bool
    let channels: Int, height: Int, width: Int
    /// Per-channel padding value.
    let fill: [Float]

    /// Nil when the config has no `data.augment`. Errors name the JSON path.
    public init?(_ data: TrainConfig.DataConfig, sampleShape: [Int]) throws {
        guard let json = data.augment else { return nil }
        let o = try ConfigObject(json, path: "data.augment")
        if let c = try o.object("randomCrop") {
            cropPadding = try c.int("padding", range: 0...4096) ?? { throw InputError("data.augment.randomCrop.padding: missing; e.g. {\"padding\": 4}") }()
            try c.finish()
        } else { cropPadding = nil }
        horizontalFlip = try o.bool("horizontalFlip", default: false)
        try o.finish()
        guard sampleShape.count == 3 || sampleShape.count == 2 else {
            throw InputError("data.augment: crops and flips need image samples [channels, height, width], the data has \(sampleShape)")
        }
        (channels, height, width) = sampleShape.count == 3 ? (sampleShape[0], sampleShape[1], sampleShape[2]) : (1, sampleShape[0], sampleShape[1])
        var fill = [Float](repeating: 0, count: channels)
        if let n = data.normalize, case .array(let m)? = n["mean"], case .array(let s)? = n["std"], m.count == channels, s.count == channels {
            for c in 0..<channels {
                if case .number(let mean) = m[c], case .number(let std) = s[c] { fill[c] = (0 - Float(mean)) / Float(std) }
            }
        }
        self.fill = fill
    }

    /// Augments a training batch in place; draws through `recorder` at the sites of `step`.
    public func apply(_ x: inout Tensor, step: Int, recorder: Recorder) {
        let n = x.batch, plane = height * width, size = channels * plane
        precondition(x.sampleSize == size)
        if let p = cropPadding, p > 0 {
            let u = recorder.uniform(site: "augment/crop/step-\(step)", count: 2 * n)
            let span = 2 * p + 1
            let src = x.data
            x.data.withUnsafeMutableBufferPointer { dst in
                src.withUnsafeBufferPointer { s in
                    for i in 0..<n {
                        let dy = min(span - 1, Int(u[2 * i] * Float(span))) - p, dx = min(span - 1, Int(u[2 * i + 1] * Float(span))) - p
                        for c in 0..<channels {
                            let base = i &* size &+ c &* plane
                            for y in 0..<height {
                                let sy = y &+ dy
                                for xx in 0..<width {
                                    let sx = xx &+ dx
                                    dst[base &+ y &* width &+ xx] = sy >= 0 && sy < height && sx >= 0 && sx < width
                                        ? s[base &+ sy &* width &+ sx] : fill[c]
                                }
                            }
                        }
                    }
                }
            }
        }
        if horizontalFlip {
            let u = recorder.uniform(site: "augment/flip/step-\(step)", count: n)
            x.data.withUnsafeMutableBufferPointer { d in
                for i in 0..<n where u[i] < 0.5 {
                    for row in 0..<(channels * height) {
                        let r = i &* size &+ row &* width
                        var a = r, b = r &+ width &- 1
                        while a < b { d.swapAt(a, b); a &+= 1; b &-= 1 }
                    }
                }
            }
        }
    }
}
