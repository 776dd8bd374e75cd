import Recorder

/// MNIST's IDX format (gzip or raw): images with magic 0x00000803 (count, rows, cols, then
/// uint8 pixels), labels with magic 0x00000801 (count, then uint8 labels). Big-endian header.
/// Limits: rows and cols at most 4096 each; the declared sizes must fit the file. The header is
/// read first (`FileProbe`): the content is never inflated beyond what it declares.
public enum IDX {
    public static let maxSide = 4096

    static func be32(_ b: [UInt8], _ at: Int) -> Int {
        Int(b[at]) << 24 | Int(b[at + 1]) << 16 | Int(b[at + 2]) << 8 | Int(b[at + 3])
    }

    /// What an image file's 16-byte header declares; `bytes` is the whole content it implies.
    public struct ImageHeader: Equatable, Sendable {
        public let count: Int, rows: Int, cols: Int
        /// 16 + count * rows * cols (at most 2^32 * 2^24 + 16: no overflow).
        public var bytes: Int { 16 + count * rows * cols }
    }

    /// Checks the magic number and dimensions in the first 16 bytes of an image file.
    public static func imageHeader(_ b: [UInt8], name path: String, size: Int? = nil) throws -> ImageHeader {
        guard b.count >= 16 else { throw InputError("\(path): \(size ?? b.count) bytes is too short for an IDX image file (16-byte header)") }
        let magic = be32(b, 0)
        guard magic == 0x803 else {
            throw InputError("\(path): magic number 0x\(String(magic, radix: 16, uppercase: true)) is not an IDX image file (expected 0x00000803)")
        }
        let n = be32(b, 4), rows = be32(b, 8), cols = be32(b, 12)
        guard (1...maxSide).contains(rows), (1...maxSide).contains(cols) else {
            throw InputError("\(path): images of \(rows)x\(cols) pixels; expected 1...\(maxSide) rows and columns")
        }
        return ImageHeader(count: n, rows: rows, cols: cols)
    }

    /// The count a label file's 8-byte header declares.
    public static func labelHeader(_ b: [UInt8], name path: String, size: Int? = nil) throws -> Int {
        guard b.count >= 8 else { throw InputError("\(path): \(size ?? b.count) bytes is too short for an IDX label file (8-byte header)") }
        let magic = be32(b, 0)
        guard magic == 0x801 else {
            throw InputError("\(path): magic number 0x\(String(magic, radix: 16, uppercase: true)) is not an IDX label file (expected 0x00000801)")
        }
        return be32(b, 4)
    }

    public static func readImages(path: String) throws -> (count: Int, rows: Int, cols: Int, pixels: [UInt8]) {
        let what = "IDX image file"
        let probe = try FileProbe.open(path, what: what, headBytes: 16)
        let h = try imageHeader(probe.head, name: path, size: probe.contentSize)
        var b = try probe.read(what: what, limit: h.bytes, claimedBy: "its IDX header (\(h.count) images of \(h.rows)x\(h.cols))")
        try checkImages(b.count, h, name: path)
        // In place: the pixels without a second copy of them.
        b.removeSubrange(h.bytes...)
        b.removeSubrange(0..<16)
        return (h.count, h.rows, h.cols, b)
    }

    static func checkImages(_ size: Int, _ h: ImageHeader, name path: String) throws {
        guard size >= h.bytes else {
            throw InputError("\(path): truncated: \(h.count) images of \(h.rows)x\(h.cols) need \(h.bytes - 16) bytes, the file has \(size - 16)")
        }
    }

    public static func parseImages(_ b: [UInt8], name path: String) throws -> (count: Int, rows: Int, cols: Int, pixels: [UInt8]) {
        let h = try imageHeader(Array(b.prefix(16)), name: path, size: b.count)
        try checkImages(b.count, h, name: path)
        return (h.count, h.rows, h.cols, Array(b[16..<h.bytes]))
    }

    public static func readLabels(path: String) throws -> [UInt8] {
        let what = "IDX label file"
        let probe = try FileProbe.open(path, what: what, headBytes: 8)
        let n = try labelHeader(probe.head, name: path, size: probe.contentSize)
        return try parseLabels(probe.read(what: what, limit: 8 + n, claimedBy: "its IDX header (\(n) labels)"), name: path)
    }

    public static func parseLabels(_ b: [UInt8], name path: String) throws -> [UInt8] {
        let n = try labelHeader(Array(b.prefix(8)), name: path, size: b.count)
        guard b.count - 8 >= n else { throw InputError("\(path): truncated: \(n) labels declared, \(b.count - 8) present") }
        return Array(b[8..<(8 + n)])
    }

    /// Images scaled by `scale` (default 1/255), shape [1, rows, cols]; 10 classes or max label + 1.
    /// The product is taken in Float64 and rounded once, so `scale` 1/255 gives exactly torchvision's
    /// `ToTensor()` (uint8 / 255 in float32) for every pixel value; a Float32 multiply differs in 126 of 256.
    public static func load(images: String, labels: String, scale: Double) throws -> Dataset {
        try dataset(images: readImages(path: images), labels: readLabels(path: labels), imagesName: images, labelsName: labels, scale: scale)
    }

    /// One images/labels pair split at `trainCount` (first train, the rest test), each converted
    /// straight from the pixels (no intermediate copy of the whole set).
    static func loadSplit(images: String, labels: String, scale: Double, trainCount: Int?, countPath: String) throws -> DataSplit {
        let img = try readImages(path: images), lab = try readLabels(path: labels)
        try check(img, lab, imagesName: images, labelsName: labels)
        let n = try DataSource.trainCount(trainCount, total: img.count, path: countPath)
        let classes = max(10, Int(lab.max() ?? 0) + 1)
        func part(_ r: Range<Int>) -> Dataset {
            Dataset(images: floats(img.pixels, samples: r, size: img.rows * img.cols, scale: scale), labels: lab[r].map { Int32($0) },
                    sampleShape: [1, img.rows, img.cols], classes: classes)
        }
        return DataSplit(train: part(0..<n), test: part(n..<img.count))
    }

    static func check(_ img: (count: Int, rows: Int, cols: Int, pixels: [UInt8]), _ lab: [UInt8], imagesName images: String, labelsName labels: String) throws {
        guard img.count == lab.count else {
            throw InputError("\(images) has \(img.count) images but \(labels) has \(lab.count) labels")
        }
        guard img.count > 0 else { throw InputError("\(images): no images") }
    }

    /// Float(Double(pixel) * scale) for the pixels of samples `r`.
    static func floats(_ pixels: [UInt8], samples r: Range<Int>, size: Int, scale: Double) -> [Float] {
        let base = r.lowerBound * size
        return [Float](unsafeUninitializedCapacity: r.count * size) { q, n in
            pixels.withUnsafeBufferPointer { p in for i in 0..<(r.count * size) { q[i] = Float(Double(p[base + i]) * scale) } }
            n = r.count * size
        }
    }

    public static func dataset(images img: (count: Int, rows: Int, cols: Int, pixels: [UInt8]), labels lab: [UInt8],
                               imagesName images: String, labelsName labels: String, scale: Double) throws -> Dataset {
        try check(img, lab, imagesName: images, labelsName: labels)
        return Dataset(images: floats(img.pixels, samples: 0..<img.count, size: img.rows * img.cols, scale: scale),
                       labels: lab.map { Int32($0) }, sampleShape: [1, img.rows, img.cols],
                       classes: max(10, Int(lab.max() ?? 0) + 1))
    }
}
