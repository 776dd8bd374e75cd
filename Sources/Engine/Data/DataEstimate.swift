import CZlib
import Foundation
import Recorder

/// What loading a config's data will take, from the config and the files' headers alone
/// (nothing is loaded): sample counts and shape, the bytes held for the run (samples as
/// Float32, labels as Int32) and the peak while loading (file bytes, inflated content, parse
/// buffers and the converted samples side by side, as the loaders hold them).
public struct DataEstimate: Equatable, Sendable {
    public var trainCount: Int
    public var testCount: Int
    public var sampleShape: [Int]
    public var held: Int
    public var peak: Int
    /// What the data is, for messages: "60000 train + 10000 test samples of [1, 28, 28] (idx)".
    public var what: String
}

extension DataSource {
    /// The estimate for `config`'s data. Header errors are the loaders' own (a bad magic number,
    /// absurd dimensions), so a file is judged the same way before and during loading.
    public static func estimate(_ config: TrainConfig) throws -> DataEstimate {
        try (config.source?.reading { try estimateBound(config) }) ?? estimateBound(config)
    }

    static func estimateBound(_ config: TrainConfig) throws -> DataEstimate {
        switch config.data.dataset {
        case "digits":
            // 1797 samples of [1, 8, 8]; parsing the embedded CSV holds about 1 MiB besides.
            return estimate(train: Digits.trainCount, test: Digits.totalCount - Digits.trainCount, shape: [1, 8, 8],
                            transient: 1 << 20, what: "the embedded digits")
        case "synthetic":
            let s = try synthetic(config)
            let size = s.shape.reduce(1, *)
            // Per split: its samples (the noise turned into samples in place), label keys and sort
            // pairs; the class prototypes for the whole generation.
            let sorting = Bytes.product(max(s.train, s.test), 4 + 4 + 16)
            return estimate(train: s.train, test: s.test, shape: s.shape,
                            transient: Bytes.sum(Bytes.product(s.classes, size, 4), sorting), what: "synthetic data")
        case "safetensors":
            // The header declares every tensor: the file is read whole and parsed in place, the
            // samples converted beside it.
            let d = try safetensors(config)
            let l = try SafeTensorsData.layout(path: d.path)
            return DataEstimate(trainCount: l.trainCount, testCount: l.testCount, sampleShape: l.sampleShape, held: l.heldBytes,
                                peak: l.peakBytes, what: "\(l.trainCount) train + \(l.testCount) test samples of \(l.sampleShape) (\(d.path))")
        default:
            guard let json = config.data.source else { throw InputError("data: give \"dataset\" or \"source\"") }
            return try estimateSource(json, config: config)
        }
    }

    /// Held bytes for train + test samples of `shape`; peak = held + `transient`.
    static func estimate(train: Int, test: Int, shape: [Int], transient: Int, what: String) -> DataEstimate {
        let held = heldBytes(samples: Bytes.sum(train, test), shape: shape)
        return DataEstimate(trainCount: train, testCount: test, sampleShape: shape, held: held, peak: Bytes.sum(held, transient),
                            what: "\(train) train + \(test) test samples of \(shape) (\(what))")
    }

    static func heldBytes(samples: Int, shape: [Int]) -> Int {
        Bytes.sum(Bytes.product(samples, Bytes.product(shape), 4), Bytes.product(samples, 4))
    }

    static func estimateSource(_ json: JSON, config: TrainConfig) throws -> DataEstimate {
        let o = try ConfigObject(json, path: "data.source")
        guard let format = try o.choice("format", ["idx", "cifar10", "csv"]) else { throw o.error("format", "missing; one of idx, cifar10, csv") }
        let files = SourceFiles(o: o, config: config)
        switch format {
        case "idx":
            if o.has("images") {
                let f = try idxFile(files.required("images"))
                let labels = try idxLabelFile(files.required("labels"))
                let n = min(f.count, labels.count)
                let train = try o.int("trainCount").map { min(max($0, 0), n) } ?? n
                // Content and file bytes, then the pixels and all samples as Float32 side by side.
                let held = heldBytes(samples: n, shape: f.shape)
                let peak = Bytes.sum(max(Bytes.sum(f.fileBytes, f.pixels), Bytes.sum(f.pixels, held)), labels.peak)
                return DataEstimate(trainCount: train, testCount: n - train, sampleShape: f.shape, held: held, peak: peak,
                                    what: "\(train) train + \(n - train) test samples of \(f.shape) (\(f.path))")
            }
            let (tr, trl) = (try idxFile(files.required("trainImages")), try idxLabelFile(files.required("trainLabels")))
            let (te, tel) = (try idxFile(files.required("testImages")), try idxLabelFile(files.required("testLabels")))
            let trainHeld = heldBytes(samples: tr.count, shape: tr.shape), testHeld = heldBytes(samples: te.count, shape: te.shape)
            let trainPeak = Bytes.sum(max(Bytes.sum(tr.fileBytes, tr.pixels), Bytes.sum(tr.pixels, trainHeld)), trl.peak)
            let testPeak = Bytes.sum(trainHeld, max(Bytes.sum(te.fileBytes, te.pixels), Bytes.sum(te.pixels, testHeld)), tel.peak)
            return DataEstimate(trainCount: tr.count, testCount: te.count, sampleShape: tr.shape, held: Bytes.sum(trainHeld, testHeld),
                                peak: max(trainPeak, testPeak), what: "\(tr.count) train + \(te.count) test samples of \(tr.shape) (\(tr.path))")
        case "cifar10":
            let dir = try files.required("directory")
            let batches = try CIFAR10.batchFiles(directory: dir)
            let trainProbes = try batches.train.map { try FileProbe.open($0, what: "CIFAR-10 batch", headBytes: 2) }
            let testProbes = [try FileProbe.open(batches.test, what: "CIFAR-10 batch", headBytes: 2)]
            let records = { (ps: [FileProbe]) in ps.reduce(0) { Bytes.sum($0, $1.contentSize / CIFAR10.recordSize) } }
            let (nTrain, nTest) = (records(trainProbes), records(testProbes))
            // One batch file's bytes (and its compressed form) beside the samples.
            let largest = (trainProbes + testProbes).map { Bytes.sum($0.contentSize, $0.gzip ? $0.fileSize : 0) }.max() ?? 0
            return estimate(train: nTrain, test: nTest, shape: [3, 32, 32], transient: largest, what: dir)
        default:
            let c = try csvOptions(o)
            if o.has("path") {
                let f = try csvFile(files.required("path"), header: c.header)
                let shape = try CSVData.sampleShape(c.shape, features: max(f.width - 1, 1), name: f.path)
                let held = heldBytes(samples: f.rows, shape: shape)
                let train = try o.int("trainCount").map { min(max($0, 0), f.rows) } ?? f.rows
                // Parsing (bytes, text, lines) and then the split copies beside the whole set.
                return DataEstimate(trainCount: train, testCount: f.rows - train, sampleShape: shape, held: held,
                                    peak: max(Bytes.sum(f.parsing, held), Bytes.product(held, 2)),
                                    what: "\(train) train + \(f.rows - train) test samples of \(shape) (\(f.path))")
            }
            let tr = try csvFile(files.required("train"), header: c.header), te = try csvFile(files.required("test"), header: c.header)
            let shape = try CSVData.sampleShape(c.shape, features: max(tr.width - 1, 1), name: tr.path)
            let trainHeld = heldBytes(samples: tr.rows, shape: shape), testHeld = heldBytes(samples: te.rows, shape: shape)
            return DataEstimate(trainCount: tr.rows, testCount: te.rows, sampleShape: shape, held: Bytes.sum(trainHeld, testHeld),
                                peak: max(Bytes.sum(tr.parsing, trainHeld), Bytes.sum(trainHeld, te.parsing, testHeld)),
                                what: "\(tr.rows) train + \(te.rows) test samples of \(shape) (\(tr.path))")
        }
    }

    /// An IDX image file's declared samples, from its header.
    static func idxFile(_ path: String) throws -> (path: String, count: Int, shape: [Int], pixels: Int, fileBytes: Int) {
        let p = try FileProbe.open(path, what: "IDX image file", headBytes: 16)
        let h = try IDX.imageHeader(p.head, name: path, size: p.contentSize)
        return (path, h.count, [1, h.rows, h.cols], h.bytes, p.gzip ? p.fileSize : 0)
    }

    static func idxLabelFile(_ path: String) throws -> (count: Int, peak: Int) {
        let p = try FileProbe.open(path, what: "IDX label file", headBytes: 8)
        let n = try IDX.labelHeader(p.head, name: path, size: p.contentSize)
        return (n, Bytes.sum(p.gzip ? p.fileSize : 0, Bytes.product(n, 5)))
    }

    /// A CSV file's rows (line breaks counted in one streaming pass, inflating a gzip file chunk by
    /// chunk without keeping it) and columns (of its first line); `parsing` is what `CSVData.parse`
    /// holds besides the samples: the bytes, their text and the line slices.
    static func csvFile(_ path: String, header: Bool) throws -> (path: String, rows: Int, width: Int, parsing: Int) {
        let what = "CSV file"
        let p = try FileProbe.open(path, what: what, headBytes: 2)
        var lf = 0, cr = 0, width = 1, firstLine = true, last: UInt8 = 0x0A, total = 0
        try streamContent(p, what: what) { chunk in
            for c in chunk {
                if c == 0x0A { lf += 1; firstLine = false } else if c == 0x0D { cr += 1; firstLine = false } else if firstLine && c == 0x2C { width += 1 }
            }
            if let l = chunk.last { last = l }
            total += chunk.count
        }
        var rows = max(lf, cr) + (last == 0x0A || last == 0x0D || total == 0 ? 0 : 1)
        if header { rows = max(0, rows - 1) }
        let parsing = Bytes.sum(Bytes.product(total, 2), p.gzip ? p.fileSize : 0, Bytes.product(rows, MemoryLayout<Substring>.stride))
        return (path, rows, width, parsing)
    }

    /// Calls `body` with the content of `p` in chunks (inflated when gzip; never more than the
    /// gzip trailer claims), holding one chunk at a time.
    static func streamContent(_ p: FileProbe, what: String, _ body: (UnsafeBufferPointer<UInt8>) -> Void) throws {
        let fd = try openRegular(p.path, what: what)
        defer { close(fd) }
        var input = [UInt8](repeating: 0, count: 1 << 20)
        var offset = 0
        guard p.gzip else {
            while true {
                let n = try readFully(fd, into: &input, at: offset, path: p.path, what: what)
                if n == 0 { return }
                input.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[0..<n])) }
                offset += n
            }
        }
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw InputError("\(p.path): cannot initialise zlib")
        }
        defer { inflateEnd(&stream) }
        var out = [UInt8](repeating: 0, count: 1 << 20)
        var produced = 0, status: Int32 = Z_OK
        while status == Z_OK {
            let n = try readFully(fd, into: &input, at: offset, path: p.path, what: what)
            offset += n
            if n == 0 { break }
            try input.withUnsafeMutableBufferPointer { inp in
                stream.next_in = inp.baseAddress
                stream.avail_in = uInt(n)
                repeat {
                    try out.withUnsafeMutableBufferPointer { o in
                        stream.next_out = o.baseAddress
                        stream.avail_out = uInt(o.count)
                        status = inflate(&stream, Z_NO_FLUSH)
                        let k = o.count - Int(stream.avail_out)
                        produced += k
                        if produced > p.contentSize {
                            throw InputError("\(p.path): the gzip data inflates beyond the \(p.contentSize) bytes its gzip trailer claims; refusing (a damaged or hostile file)")
                        }
                        body(UnsafeBufferPointer(rebasing: o[0..<k]))
                    }
                } while status == Z_OK && (stream.avail_in > 0 || stream.avail_out == 0)
            }
        }
        guard status == Z_STREAM_END else {
            throw InputError("\(p.path): corrupt or truncated gzip data (zlib status \(status == Z_OK ? Z_BUF_ERROR : status)); re-download or re-create the file")
        }
    }
}
