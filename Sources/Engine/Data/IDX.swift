import Recorder

/// MNIST's IDX format (gzip or raw): images with magic 0x00000803 (count, rows, cols, then
/// uint8 pixels), labels with magic 0x00000801 (count, then uint8 labels). Big-endian header.
/// Limits: rows and cols at most 4096 each; the declared sizes must fit the file.
public enum IDX {
    public static let maxSide = 4096

    static func be32(_ b: [UInt8], _ at: Int) -> Int {
        Int(b[at]) << 24 | Int(b[at + 1]) << 16 | Int(b[at + 2]) << 8 | Int(b[at + 3])
    }

    public static func readImages(path: String) throws -> (count: Int, rows: Int, cols: Int, pixels: [UInt8]) {
        try parseImages(readFileBytes(path, what: "IDX image file"), name: path)
    }

    public static func parseImages(_ b: [UInt8], name path: String) throws -> (count: Int, rows: Int, cols: Int, pixels: [UInt8]) {
        guard b.count >= 16 else { throw InputError("\(path): \(b.count) bytes is too short for an IDX image file (16-byte header)") }
        let magic = be32(b, 0)
        guard magic == 0x803 else {
            throw InputError("\(path): magic number 0x\(String(magic, radix: 16, uppercase: true)) is not an IDX image file (expected 0x00000803)")
        }
        let n = be32(b, 4), rows = be32(b, 8), cols = be32(b, 12)
        guard (1...maxSide).contains(rows), (1...maxSide).contains(cols) else {
            throw InputError("\(path): images of \(rows)x\(cols) pixels; expected 1...\(maxSide) rows and columns")
        }
        // n < 2^32 and rows * cols <= 2^24: the product cannot overflow Int.
        let need = n * rows * cols
        guard b.count - 16 >= need else {
            throw InputError("\(path): truncated: \(n) images of \(rows)x\(cols) need \(need) bytes, the file has \(b.count - 16)")
        }
        return (n, rows, cols, Array(b[16..<(16 + need)]))
    }

    public static func readLabels(path: String) throws -> [UInt8] {
        try parseLabels(readFileBytes(path, what: "IDX label file"), name: path)
    }

    public static func parseLabels(_ b: [UInt8], name path: String) throws -> [UInt8] {
        guard b.count >= 8 else { throw InputError("\(path): \(b.count) bytes is too short for an IDX label file (8-byte header)") }
        let magic = be32(b, 0)
        guard magic == 0x801 else {
            throw InputError("\(path): magic number 0x\(String(magic, radix: 16, uppercase: true)) is not an IDX label file (expected 0x00000801)")
        }
        let n = be32(b, 4)
        guard b.count - 8 >= n else { throw InputError("\(path): truncated: \(n) labels declared, \(b.count - 8) present") }
        return Array(b[8..<(8 + n)])
    }

    /// Images scaled by `scale` (default 1/255), shape [1, rows, cols]; 10 classes or max label + 1.
    /// The product is taken in Float64 and rounded once, so `scale` 1/255 gives exactly torchvision's
    /// `ToTensor()` (uint8 / 255 in float32) for every pixel value; a Float32 multiply differs in 126 of 256.
    public static func load(images: String, labels: String, scale: Double) throws -> Dataset {
        try dataset(images: readImages(path: images), labels: readLabels(path: labels), imagesName: images, labelsName: labels, scale: scale)
    }

    public static func dataset(images img: (count: Int, rows: Int, cols: Int, pixels: [UInt8]), labels lab: [UInt8],
                               imagesName images: String, labelsName labels: String, scale: Double) throws -> Dataset {
        guard img.count == lab.count else {
            throw InputError("\(images) has \(img.count) images but \(labels) has \(lab.count) labels")
        }
        guard img.count > 0 else { throw InputError("\(images): no images") }
        var x = [Float](repeating: 0, count: img.pixels.count)
        img.pixels.withUnsafeBufferPointer { p in x.withUnsafeMutableBufferPointer { q in for i in p.indices { q[i] = Float(Double(p[i]) * scale) } } }
        return Dataset(images: x, labels: lab.map { Int32($0) }, sampleShape: [1, img.rows, img.cols],
                       classes: max(10, Int(lab.max() ?? 0) + 1))
    }
}
