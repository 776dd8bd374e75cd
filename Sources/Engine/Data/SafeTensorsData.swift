import Foundation
import Recorder

/// `"data": {"dataset": "safetensors", "path": "data.safetensors"}`: train and test sets held as
/// arrays in one safetensors file (what `cwrepro.torch.export` / `cwrepro.keras.export` write).
///
/// The file holds exactly four tensors (`__metadata__` is allowed and ignored):
/// - `train.images`, `test.images`: F32 (taken as is) or U8 (multiplied by `scale` in Float64 and
///   rounded once, as IDX pixels are: `scale` 1/255 equals torchvision's `ToTensor()` bit for bit);
///   shape [N, C, H, W], [N, H, W] or [N, F] (samples NCHW, as cwrepro's layers take them); both
///   splits with the same per-sample shape; every F32 value finite.
/// - `train.labels`, `test.labels`: I32, I64 or U8, shape [N] (N of the split's images), every
///   label in 0..<classes.
/// `classes` is the config's `data.classes` when given, else the largest label + 1 (at least 2).
/// The file is not gzip-compressed (the header bounds what is read: 8 + header + the declared
/// data). Errors name the file and the tensor.
public enum SafeTensorsData {
    public static let trainImages = "train.images", trainLabels = "train.labels"
    public static let testImages = "test.images", testLabels = "test.labels"
    public static let tensorNames = [trainImages, trainLabels, testImages, testLabels]
    /// Largest per-sample size (values) accepted.
    public static let maxSampleSize = 1 << 24

    public typealias TensorInfo = SafeTensors.TensorInfo

    /// What the header of a data file declares, checked: the four tensors, their dtypes and
    /// shapes, the byte ranges. Enough to bound memory before reading any data.
    public struct Layout: Equatable, Sendable {
        public var headerBytes: Int
        public var fileBytes: Int
        public var trainCount: Int
        public var testCount: Int
        public var sampleShape: [Int]
        public var tensors: [String: TensorInfo]
        /// Samples as Float32 and labels as Int32, both splits: what the loaded data holds.
        public var heldBytes: Int { (trainCount + testCount) * (sampleShape.reduce(1, *) * 4 + 4) }
        /// The peak of a load: the file's bytes (parsed in place) beside the converted samples.
        public var peakBytes: Int { fileBytes + heldBytes }
    }

    /// The checked layout from the file's header alone (reads 8 + header bytes).
    public static func layout(path: String) throws -> Layout {
        let fd = try openRegular(path, what: "data file (safetensors)")  // names the reason: missing, a directory, a FIFO, unreadable
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        let size = Int((try? handle.seekToEnd()) ?? 0)
        try handle.seek(toOffset: 0)
        let first = [UInt8](handle.readData(ofLength: 16))   // 16: a file of another format is named as one
        let n = try headerLength(first, fileBytes: size, name: path)
        try handle.seek(toOffset: 8)
        let header = [UInt8](handle.readData(ofLength: n))
        guard header.count == n else { throw InputError("\(path): truncated inside its \(n)-byte header") }
        return try layout(header: header, fileBytes: size, name: path)
    }

    /// What to give instead of a cwrepro record as a data file.
    static func recordGivenForData(_ name: String) -> String {
        "a record holds hashes, not the samples: give the safetensors data file itself"
    }

    /// The header length from the first bytes (a gzip stream is named as such).
    static func headerLength(_ first: [UInt8], fileBytes: Int, name: String) throws -> Int {
        if Gzip.isGzip(first) {
            throw InputError("\(name): gzip-compressed; safetensors data files are read uncompressed (gunzip it)")
        }
        return try SafeTensors.headerLength(first, fileBytes: fileBytes, name: name, recordAdvice: recordGivenForData)
    }

    /// Parses and checks a header (the JSON after the 8-byte length).
    static func layout(header: [UInt8], fileBytes: Int, name: String) throws -> Layout {
        let declared = try SafeTensors.tensors(header: header, dataBytes: fileBytes - 8 - header.count, name: name,
                                               dtypes: ["F32", "U8", "I32", "I64"])
        var tensors: [String: TensorInfo] = [:]
        for t in declared {
            guard tensorNames.contains(t.name) else {
                throw InputError("\(name): unexpected tensor \"\(t.name)\"; a data file holds exactly \(tensorNames.joined(separator: ", "))")
            }
            tensors[t.name] = t
        }
        for key in tensorNames where tensors[key] == nil {
            throw InputError("\(name): no tensor \"\(key)\"; a data file holds \(tensorNames.joined(separator: ", "))")
        }
        var shapes: [String: [Int]] = [:]
        for split in ["train", "test"] {
            let images = tensors["\(split).images"]!, labels = tensors["\(split).labels"]!
            guard images.dtype == "F32" || images.dtype == "U8" else {
                throw InputError("\(name): tensor \"\(images.name)\" has dtype \(images.dtype); images are F32 (used as is) or U8 (with data.scale)")
            }
            guard (2...4).contains(images.shape.count), images.shape[0] >= 1, images.shape.dropFirst().allSatisfy({ $0 >= 1 }) else {
                throw InputError("\(name): tensor \"\(images.name)\" has shape \(images.shape); expected [N, C, H, W], [N, H, W] or [N, F] with every dimension at least 1")
            }
            let sample = Array(images.shape.dropFirst())
            guard sample.reduce(1, *) <= maxSampleSize else {
                throw InputError("\(name): tensor \"\(images.name)\": samples of \(sample) exceed \(maxSampleSize) values")
            }
            guard ["I32", "I64", "U8"].contains(labels.dtype) else {
                throw InputError("\(name): tensor \"\(labels.name)\" has dtype \(labels.dtype); labels are I32, I64 or U8")
            }
            guard labels.shape == [images.shape[0]] else {
                throw InputError("\(name): tensor \"\(labels.name)\" has shape \(labels.shape); expected [\(images.shape[0])], one label per sample of \"\(images.name)\"")
            }
            shapes[split] = sample
        }
        guard shapes["train"] == shapes["test"], tensors[trainImages]!.dtype == tensors[testImages]!.dtype else {
            throw InputError("\(name): \"\(trainImages)\" holds \(tensors[trainImages]!.dtype) samples of \(shapes["train"]!), \"\(testImages)\" \(tensors[testImages]!.dtype) samples of \(shapes["test"]!); both splits need the same dtype and sample shape")
        }
        return Layout(headerBytes: header.count, fileBytes: fileBytes, trainCount: tensors[trainImages]!.shape[0],
                      testCount: tensors[testImages]!.shape[0], sampleShape: shapes["train"]!, tensors: tensors)
    }

    /// Loads and checks the train and test sets.
    /// - Parameters:
    ///   - classes: `data.classes`, or nil for the largest label + 1 (at least 2).
    ///   - scale: `data.scale`, required for U8 images and refused for F32 ones.
    public static func load(path: String, classes: Int?, scale: Double?) throws -> DataSplit {
        // Parsed in place: the file's bytes and the converted samples are all a load holds
        // (Layout.fileBytes + Layout.heldBytes at the peak).
        let bytes = try readFileBytesRaw(path, what: "data file (safetensors)")
        return try bytes.withUnsafeBytes { try parse($0, name: path, classes: classes, scale: scale) }
    }

    public static func parse(_ bytes: [UInt8], name: String, classes: Int?, scale: Double?) throws -> DataSplit {
        try bytes.withUnsafeBytes { try parse($0, name: name, classes: classes, scale: scale) }
    }

    static func parse(_ bytes: UnsafeRawBufferPointer, name: String, classes: Int?, scale: Double?) throws -> DataSplit {
        let n = try headerLength(Array(bytes.prefix(16)), fileBytes: bytes.count, name: name)
        let layout = try layout(header: Array(bytes[8..<(8 + n)]), fileBytes: bytes.count, name: name)
        let dataStart = 8 + n
        let u8 = layout.tensors[trainImages]!.dtype == "U8"
        if u8 && scale == nil {
            throw InputError("\(name): the images are U8; give data.scale (e.g. 0.00392156862745098 = 1/255) to turn pixels into floats")
        }
        if !u8, let s = scale {
            throw InputError("data.scale: \(s) applies to U8 images only; \(name) holds F32 images, used as they are")
        }
        var labelsOf: [String: [Int32]] = [:]
        var largest = 0
        for key in [trainLabels, testLabels] {
            let labels = try readLabels(layout.tensors[key]!, bytes, dataStart, name: name)
            largest = max(largest, Int(labels.max() ?? 0))
            labelsOf[key] = labels
        }
        let k = classes ?? max(2, largest + 1)
        for key in [trainLabels, testLabels] {
            if let i = labelsOf[key]!.firstIndex(where: { Int($0) >= k }) {
                throw InputError("\(name): \(key)[\(i)] = \(labelsOf[key]![i]) is not a class in 0..<\(k)\(classes == nil ? "" : " (data.classes)")")
            }
        }
        func dataset(_ images: String, _ labels: String) throws -> Dataset {
            let x = try readImages(layout.tensors[images]!, bytes, dataStart, scale: scale, name: name)
            return Dataset(images: x, labels: labelsOf[labels]!, sampleShape: layout.sampleShape, classes: k)
        }
        return DataSplit(train: try dataset(trainImages, trainLabels), test: try dataset(testImages, testLabels))
    }

    static func readImages(_ t: TensorInfo, _ raw: UnsafeRawBufferPointer, _ start: Int, scale: Double?, name: String) throws -> [Float] {
        var x = [Float](repeating: 0, count: t.count)
        var bad: Int?
        let p = UnsafeRawBufferPointer(rebasing: raw[(start + t.begin)..<(start + t.end)])
        x.withUnsafeMutableBufferPointer { q in
            if t.dtype == "U8" {
                let s = scale ?? 1
                for i in 0..<q.count { q[i] = Float(Double(p[i]) * s) }
            } else {
                for i in 0..<q.count {
                    let v = Float(bitPattern: p.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self).littleEndian)
                    if !v.isFinite && bad == nil { bad = i }
                    q[i] = v
                }
            }
        }
        if let i = bad {
            let size = t.shape.dropFirst().reduce(1, *)
            throw InputError("\(name): tensor \"\(t.name)\" holds a non-finite value (\(x[i])) in sample \(i / size), element \(i % size); images must be finite")
        }
        return x
    }

    static func readLabels(_ t: TensorInfo, _ raw: UnsafeRawBufferPointer, _ start: Int, name: String) throws -> [Int32] {
        var out = [Int32](repeating: 0, count: t.count)
        var bad: (Int, Int64)?
        let p = UnsafeRawBufferPointer(rebasing: raw[(start + t.begin)..<(start + t.end)])
        for i in 0..<out.count where bad == nil {
            let v: Int64 = switch t.dtype {
            case "U8": Int64(p[i])
            case "I32": Int64(Int32(bitPattern: p.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self).littleEndian))
            default: Int64(bitPattern: p.loadUnaligned(fromByteOffset: i &* 8, as: UInt64.self).littleEndian)
            }
            if v < 0 || v >= 100_000 { bad = (i, v) } else { out[i] = Int32(v) }
        }
        if let (i, v) = bad {
            throw InputError("\(name): \(t.name)[\(i)] = \(v) is not a class label; labels are class indices 0, 1, ... below 100000")
        }
        return out
    }
}
