import Foundation
import Recorder

/// Resolves `data` of a config to train and test sets:
/// - `"dataset": "digits"`: the embedded UCI digits (1797 8x8 images / 16; train = first 1437, test = last 360).
/// - `"dataset": "synthetic"`: `shape` (default [3,32,32]), `classes` (10), `trainSize` (2048), `testSize` (512),
///   generated from recorder draws (sites `data/synthetic/...`).
/// - `"dataset": "safetensors"`: `path` (train/test images and labels, see `SafeTensorsData`), `classes`, `scale`.
/// - `"source": {"format": "idx", ...}`: `trainImages`/`trainLabels`/`testImages`/`testLabels`, or
///   `images`/`labels` split at `trainCount` (first trainCount train, the rest test); `scale` (1/255).
/// - `"source": {"format": "cifar10", "directory": ...}`: binary batches; `scale` (1/255).
/// - `"source": {"format": "csv", "train": ..., "test": ...}` or `"path"` split at `trainCount`;
///   `labelColumn` (-1), `header` (false), `scale` (1), `shape`, `classes`.
/// Then `normalize` {"mean": [per channel], "std": [per channel]}: x = (x - mean_c) / std_c.
public enum DataSource {
    public static func load(_ config: TrainConfig, recorder: Recorder) throws -> DataSplit {
        var split: DataSplit
        switch config.data.dataset {
        case "digits":
            split = try Digits.load()
        case "synthetic":
            let o = try ConfigObject(config.data.synthetic ?? .object([:]), path: "data")
            let shape = try o.ints("shape") ?? [3, 32, 32]
            guard !shape.isEmpty, shape.count <= 3, shape.allSatisfy({ (1...4096).contains($0) }), shape.reduce(1, *) <= 1 << 24 else {
                throw InputError("data.shape: \(shape) is not a valid sample shape (1 to 3 dims, each 1...4096)")
            }
            let classes = try o.int("classes", default: 10, range: 2...1000)
            let train = try o.int("trainSize", default: 2048, range: 1...1_000_000)
            let test = try o.int("testSize", default: 512, range: 1...1_000_000)
            guard shape.reduce(1, *) * (train + test) <= 1 << 31 else { throw InputError("data: synthetic dataset too large (over 2^31 values)") }
            split = Synthetic.make(shape: shape, classes: classes, trainSize: train, testSize: test) { site, n in
                recorder.uniform(site: site, count: n)
            }
        case "safetensors":
            guard let d = config.data.safetensors else { throw InputError("data.path: missing") }
            split = try SafeTensorsData.load(path: config.resolvePath(d.path), classes: d.classes, scale: d.scale)
        default:
            guard let source = config.data.source else { throw InputError("data: give \"dataset\" or \"source\"") }
            split = try loadSource(source, config: config)
        }
        if let norm = config.data.normalize { try normalize(&split, norm) }
        return split
    }

    static func loadSource(_ json: JSON, config: TrainConfig) throws -> DataSplit {
        let o = try ConfigObject(json, path: "data.source")
        let format = try o.choice("format", ["idx", "cifar10", "csv"])
        guard let format else { throw InputError("data.source.format: missing; one of idx, cifar10, csv") }
        func path(_ key: String) throws -> String? { try o.string(key).map(config.resolvePath) }
        func required(_ key: String) throws -> String {
            guard let p = try path(key) else { throw InputError("data.source.\(key): missing") }
            return p
        }
        let split: DataSplit
        switch format {
        case "idx":
            let scale = try o.double("scale", default: 1.0 / 255)
            if o.has("images") {
                let all = try IDX.load(images: try required("images"), labels: try required("labels"), scale: scale)
                split = try splitAt(all, try o.int("trainCount"), path: "data.source.trainCount")
            } else {
                split = DataSplit(train: try IDX.load(images: try required("trainImages"), labels: try required("trainLabels"), scale: scale),
                                  test: try IDX.load(images: try required("testImages"), labels: try required("testLabels"), scale: scale))
            }
        case "cifar10":
            split = try CIFAR10.load(directory: try required("directory"), scale: try o.double("scale", default: 1.0 / 255))
        default:
            let labelColumn = try o.int("labelColumn", default: -1)
            let header = try o.bool("header", default: false)
            let scale = Float(try o.double("scale", default: 1))
            let shape = try o.ints("shape")
            let classes = try o.int("classes", range: 2...100_000)
            func csv(_ p: String) throws -> Dataset {
                try CSVData.load(path: p, labelColumn: labelColumn, header: header, scale: scale, sampleShape: shape, classes: classes)
            }
            if o.has("path") {
                split = try splitAt(try csv(try required("path")), try o.int("trainCount"), path: "data.source.trainCount")
            } else {
                split = DataSplit(train: try csv(try required("train")), test: try csv(try required("test")))
            }
        }
        try o.finish()
        return split
    }

    static func splitAt(_ all: Dataset, _ trainCount: Int?, path: String) throws -> DataSplit {
        guard let n = trainCount else { throw InputError("\(path): missing; say how many of the samples are for training") }
        guard n >= 1, n < all.count else { throw InputError("\(path): \(n) must be between 1 and \(all.count - 1) (the file has \(all.count) samples)") }
        return DataSplit(train: all.slice(0..<n), test: all.slice(n..<all.count))
    }

    static func normalize(_ split: inout DataSplit, _ json: JSON) throws {
        let o = try ConfigObject(json, path: "data.normalize")
        guard case .array(let meanJ)? = o.raw("mean"), case .array(let stdJ)? = o.raw("std") else {
            throw InputError("data.normalize: give \"mean\" and \"std\" arrays, one value per channel")
        }
        try o.finish()
        let channels = split.train.sampleShape.count == 3 ? split.train.sampleShape[0] : 1
        let mean = meanJ.compactMap { if case .number(let d) = $0 { Float(d) } else { nil } }
        let std = stdJ.compactMap { if case .number(let d) = $0 { Float(d) } else { nil } }
        guard mean.count == channels, std.count == channels, std.allSatisfy({ $0 > 0 }) else {
            throw InputError("data.normalize: need \(channels) numeric mean and \(channels) positive std values (one per channel)")
        }
        for d in [\DataSplit.train, \DataSplit.test] as [WritableKeyPath<DataSplit, Dataset>] {
            var set = split[keyPath: d]
            let size = set.sampleSize, count = set.count, plane = size / channels
            set.images.withUnsafeMutableBufferPointer { p in
                for s in 0..<count {
                    for c in 0..<channels {
                        let base = s * size + c * plane
                        for i in base..<(base + plane) { p[i] = (p[i] - mean[c]) / std[c] }
                    }
                }
            }
            split[keyPath: d] = set
        }
    }
}
