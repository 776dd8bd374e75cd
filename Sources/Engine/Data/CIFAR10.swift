import Foundation
import Recorder

/// CIFAR-10 binary batches: records of 1 label byte + 3072 pixel bytes (1024 red, 1024 green,
/// 1024 blue, each 32x32 row-major). Train = data_batch_1.bin ... data_batch_5.bin (those
/// present), test = test_batch.bin. Samples [3, 32, 32] scaled by `scale` (in Float64, rounded once, as IDX).
public enum CIFAR10 {
    public static let recordSize = 3073

    public static func loadBatches(_ paths: [String], scale: Double) throws -> Dataset {
        // Sizes first (from the files, or their gzip trailers): one allocation for all the records.
        let probes = try paths.map { try FileProbe.open($0, what: "CIFAR-10 batch", headBytes: 2) }
        let records = probes.reduce(0) { $0 + $1.contentSize / recordSize }
        var x = [Float](), y = [Int32]()
        x.reserveCapacity(records * 3072)
        y.reserveCapacity(records)
        for p in probes { try parseBatch(p.read(what: "CIFAR-10 batch"), name: p.path, scale: scale, into: &x, &y) }
        return Dataset(images: x, labels: y, sampleShape: [3, 32, 32], classes: 10)
    }

    /// Appends the records of one batch file's bytes to `x` and `y`.
    public static func parseBatch(_ b: [UInt8], name p: String, scale: Double, into x: inout [Float], _ y: inout [Int32]) throws {
        guard !b.isEmpty, b.count % recordSize == 0 else {
            throw InputError("\(p): \(b.count) bytes is not a whole number of \(recordSize)-byte CIFAR-10 records (truncated?)")
        }
        if x.capacity < x.count + b.count / recordSize * 3072 { x.reserveCapacity(x.count + b.count / recordSize * 3072) }
        for r in stride(from: 0, to: b.count, by: recordSize) {
            guard b[r] <= 9 else { throw InputError("\(p): record \(r / recordSize) has label \(b[r]); CIFAR-10 labels are 0...9") }
            y.append(Int32(b[r]))
            for i in (r + 1)..<(r + recordSize) { x.append(Float(Double(b[i]) * scale)) }
        }
    }

    public static func load(directory: String, scale: Double) throws -> DataSplit {
        let files = try batchFiles(directory: directory)
        return DataSplit(train: try loadBatches(files.train, scale: scale), test: try loadBatches([files.test], scale: scale))
    }

    /// data_batch_1.bin ... data_batch_5.bin (those present) and test_batch.bin of `directory`.
    static func batchFiles(directory: String) throws -> (train: [String], test: String) {
        let fm = FileManager.default
        let train = (1...5).map { "\(directory)/data_batch_\($0).bin" }.filter { fm.fileExists(atPath: $0) }
        guard !train.isEmpty else {
            throw InputError("\(directory): no data_batch_<n>.bin files; download the CIFAR-10 binary version and give its directory")
        }
        return (train, "\(directory)/test_batch.bin")
    }

    /// Writes records in the binary format (for tests and examples).
    public static func write(_ records: [(label: UInt8, pixels: [UInt8])], to path: String) throws {
        var out = [UInt8]()
        for r in records {
            precondition(r.pixels.count == 3072)
            out.append(r.label); out += r.pixels
        }
        try Data(out).write(to: URL(fileURLWithPath: path))
    }
}
