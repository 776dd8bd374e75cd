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
        try (config.source?.reading { try loadBound(config, recorder: recorder) }) ?? loadBound(config, recorder: recorder)
    }

    static func loadBound(_ config: TrainConfig, recorder: Recorder) throws -> DataSplit {
        var split: DataSplit
        switch config.data.dataset {
        case "digits":
            split = try Digits.load()
        case "synthetic":
            let s = try synthetic(config)
            split = Synthetic.make(shape: s.shape, classes: s.classes, trainSize: s.train, testSize: s.test) { site, n in
                recorder.uniform(site: site, count: n)
            }
        case "safetensors":
            let d = try safetensors(config)
            split = try SafeTensorsData.load(path: d.path, classes: d.classes, scale: d.scale)
        default:
            guard let source = config.data.source else { throw InputError("data: give \"dataset\" or \"source\"") }
            split = try loadSource(source, config: config)
        }
        if let norm = config.data.normalize { try normalize(&split, norm) }
        return split
    }

    /// `data.shape`, `classes`, `trainSize`, `testSize` of a synthetic dataset, checked.
    static func synthetic(_ config: TrainConfig) throws -> (shape: [Int], classes: Int, train: Int, test: Int) {
        let o = try ConfigObject(config.data.synthetic ?? .object([:]), path: "data")
        let shape = try o.ints("shape") ?? [3, 32, 32]
        guard !shape.isEmpty, shape.count <= 3, shape.allSatisfy({ (1...4096).contains($0) }), shape.reduce(1, *) <= 1 << 24 else {
            throw o.error("shape", "\(shape) is not a valid sample shape (1 to 3 dims, each 1...4096)")
        }
        let classes = try o.int("classes", default: 10, range: 2...1000)
        let train = try o.int("trainSize", default: 2048, range: 1...1_000_000)
        let test = try o.int("testSize", default: 512, range: 1...1_000_000)
        guard shape.reduce(1, *) * (train + test) <= 1 << 31 else { throw InputError("data: synthetic dataset too large (over 2^31 values)") }
        return (shape, classes, train, test)
    }

    /// `"dataset": "safetensors"` with its file resolved (`TrainConfig.resolvePath`, so a
    /// `DataLocation` applies) and checked to exist, as `SourceFiles` checks a source's files.
    static func safetensors(_ config: TrainConfig) throws -> TrainConfig.DataConfig.SafeTensorsDataset {
        guard var d = config.data.safetensors else { throw ConfigObject.error(ConfigSource.current, "data.path", "missing") }
        let resolved = config.resolvePath(d.path)
        if !FileManager.default.fileExists(atPath: resolved) {
            let relative = d.path.hasPrefix("/") ? "" : "; relative paths resolve against the config's directory, \(config.baseDirectory)"
            let moved = config.dataLocation.isIdentity ? "; if the data moved, give its new location (a data directory)" : ""
            throw ConfigObject.error(ConfigSource.current, "data.path", "\(resolved) not found\(relative)\(moved)")
        }
        d.path = resolved
        return d
    }

    /// The files a `data.source` names, resolved (`TrainConfig.resolvePath`, so a `DataLocation`
    /// applies), each checked to exist; a missing one names its key.
    struct SourceFiles {
        let o: ConfigObject
        let config: TrainConfig
        func path(_ key: String) throws -> String? {
            guard let p = try o.string(key) else { return nil }
            let resolved = config.resolvePath(p)
            // A CIFAR-10 directory is checked by its loader, which names the files it needs.
            if key != "directory" && !FileManager.default.fileExists(atPath: resolved) {
                let relative = p.hasPrefix("/") ? "" : "; relative paths resolve against the config's directory, \(config.baseDirectory)"
                let error = o.error(key, "\(resolved) not found\(relative)")
                // Not relocated yet: the data may have moved (the command line says how to point to it).
                throw config.dataLocation.isIdentity ? DataFileMissing(error: error) : error
            }
            return resolved
        }
        func required(_ key: String) throws -> String {
            guard let p = try path(key) else { throw o.error(key, "missing") }
            return p
        }
    }

    static func loadSource(_ json: JSON, config: TrainConfig) throws -> DataSplit {
        let o = try ConfigObject(json, path: "data.source")
        let format = try o.choice("format", ["idx", "cifar10", "csv"])
        guard let format else { throw o.error("format", "missing; one of idx, cifar10, csv") }
        let files = SourceFiles(o: o, config: config)
        let split: DataSplit
        switch format {
        case "idx":
            let scale = try o.double("scale", default: 1.0 / 255)
            if o.has("images") {
                split = try IDX.loadSplit(images: try files.required("images"), labels: try files.required("labels"), scale: scale,
                                          trainCount: try o.int("trainCount"), countPath: "data.source.trainCount")
            } else {
                split = DataSplit(train: try IDX.load(images: try files.required("trainImages"), labels: try files.required("trainLabels"), scale: scale),
                                  test: try IDX.load(images: try files.required("testImages"), labels: try files.required("testLabels"), scale: scale))
            }
        case "cifar10":
            split = try CIFAR10.load(directory: try files.required("directory"), scale: try o.double("scale", default: 1.0 / 255))
        default:
            let c = try csvOptions(o)
            func csv(_ p: String) throws -> Dataset {
                try CSVData.load(path: p, labelColumn: c.labelColumn, header: c.header, scale: c.scale, sampleShape: c.shape, classes: c.classes)
            }
            if o.has("path") {
                let all = try csv(try files.required("path"))
                let n = try trainCount(try o.int("trainCount"), total: all.count, path: "data.source.trainCount")
                split = DataSplit(train: all.slice(0..<n), test: all.slice(n..<all.count))
            } else {
                split = DataSplit(train: try csv(try files.required("train")), test: try csv(try files.required("test")))
            }
        }
        try o.finish()
        return split
    }

    /// The CSV source's options. `shape`, when given, has 1 to 3 dimensions of 1...2^20 each
    /// (checked here, before the memory estimate builds a model on it).
    static func csvOptions(_ o: ConfigObject) throws -> (labelColumn: Int, header: Bool, scale: Float, shape: [Int]?, classes: Int?) {
        let shape = try o.ints("shape")
        if let shape, !CSVData.isValidShape(shape) {
            throw o.error("shape", "\(shape) must have 1 to 3 dimensions, each 1...\(CSVData.maxDimension)")
        }
        return (try o.int("labelColumn", default: -1), try o.bool("header", default: false), Float(try o.double("scale", default: 1)),
                shape, try o.int("classes", range: 2...100_000))
    }

    /// `trainCount` of a file split into train and test: 1 ... total - 1.
    static func trainCount(_ trainCount: Int?, total: Int, path: String) throws -> Int {
        guard let n = trainCount else { throw InputError("\(path): missing; say how many of the samples are for training") }
        guard n >= 1, n < total else { throw InputError("\(path): \(n) must be between 1 and \(total - 1) (the file has \(total) samples)") }
        return n
    }

    static func normalize(_ split: inout DataSplit, _ json: JSON) throws {
        let o = try ConfigObject(json, path: "data.normalize")
        guard case .array(let meanJ)? = o.raw("mean"), case .array(let stdJ)? = o.raw("std") else {
            throw o.error(nil, "give \"mean\" and \"std\" arrays, one value per channel")
        }
        try o.finish()
        let channels = split.train.sampleShape.count == 3 ? split.train.sampleShape[0] : 1
        let mean = meanJ.compactMap { if case .number(let d) = $0 { Float(d) } else { nil } }
        let std = stdJ.compactMap { if case .number(let d) = $0 { Float(d) } else { nil } }
        guard mean.count == channels, std.count == channels, std.allSatisfy({ $0 > 0 }) else {
            throw o.error(nil, "need \(channels) numeric mean and \(channels) positive std values (one per channel)")
        }
        // In place (a copy of the set would double its memory for a moment).
        func apply(_ set: inout Dataset) {
            let size = set.sampleSize, count = set.count, plane = size / channels
            set.images.withUnsafeMutableBufferPointer { p in
                for s in 0..<count {
                    for c in 0..<channels {
                        let base = s * size + c * plane
                        for i in base..<(base + plane) { p[i] = (p[i] - mean[c]) / std[c] }
                    }
                }
            }
        }
        apply(&split.train)
        apply(&split.test)
    }
}

/// A data file a config names is missing where the config (or the record) says it is, and no
/// `DataLocation` relocates it: the data may have moved. Its `error` names the key and the path.
public struct DataFileMissing: Error, CustomStringConvertible, Equatable {
    public let error: InputError
    public var description: String { error.message }
}
