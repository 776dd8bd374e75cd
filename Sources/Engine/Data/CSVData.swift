import Foundation
import Recorder

/// Numeric CSV: one sample per line, the label in `labelColumn` (negative counts from the end),
/// every other cell a feature multiplied by `scale`. Samples take `sampleShape` (default
/// [features]); classes default to max label + 1.
public enum CSVData {
    /// The largest size of one dimension of a sample shape (2^20).
    static let maxDimension = 1 << 20

    /// A sample shape has 1 to 3 dimensions of 1...`maxDimension` each.
    static func isValidShape(_ shape: [Int]) -> Bool {
        !shape.isEmpty && shape.count <= 3 && shape.allSatisfy { (1...maxDimension).contains($0) }
    }

    /// The sample shape of a file of `name` with `features` cells besides the label per row:
    /// `given` (a valid shape of exactly that many values) or [features]. The loader and the memory
    /// estimate both take it from here, so no model is built on a shape the data cannot have.
    static func sampleShape(_ given: [Int]?, features: Int, name: String) throws -> [Int] {
        let shape = given ?? [features]
        guard isValidShape(shape) else {
            throw InputError("\(name): sample shape \(shape) must have 1 to 3 dimensions, each 1...\(maxDimension)")
        }
        guard shape.reduce(1, *) == features else {
            throw InputError("\(name): \(features) features per row do not fit the sample shape \(shape)")
        }
        return shape
    }

    public static func load(path: String, labelColumn: Int = -1, header: Bool = false, scale: Float = 1,
                            sampleShape: [Int]? = nil, classes: Int? = nil) throws -> Dataset {
        let bytes = try readFileBytes(path, what: "CSV file")
        return try parse(bytes, name: path, labelColumn: labelColumn, header: header, scale: scale, sampleShape: sampleShape, classes: classes)
    }

    public static func parse(_ bytes: [UInt8], name: String, labelColumn: Int, header: Bool, scale: Float,
                             sampleShape: [Int]?, classes: Int?) throws -> Dataset {
        let text = String(decoding: bytes, as: UTF8.self)
        var lines = text.split(whereSeparator: \.isNewline)
        if header && !lines.isEmpty { lines.removeFirst() }
        guard let first = lines.first else { throw InputError("\(name): no data rows") }
        let width = first.split(separator: ",", omittingEmptySubsequences: false).count
        guard width >= 2 else { throw InputError("\(name): line 1 has \(width) column; need features and a label") }
        let labelIndex = labelColumn < 0 ? width + labelColumn : labelColumn
        guard (0..<width).contains(labelIndex) else {
            throw InputError("\(name): labelColumn \(labelColumn) is outside the \(width) columns")
        }
        let features = width - 1
        let shape = try Self.sampleShape(sampleShape, features: features, name: name)
        var images = [Float]()
        images.reserveCapacity(lines.count * features)
        var labels = [Int32]()
        labels.reserveCapacity(lines.count)
        let offset = header ? 2 : 1
        for (i, line) in lines.enumerated() {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            guard cells.count == width else {
                throw InputError("\(name): line \(i + offset) has \(cells.count) columns, line \(offset) has \(width)")
            }
            for (j, cell) in cells.enumerated() {
                // Trimming through Foundation costs more than parsing; most cells have nothing to trim.
                let s = cell.first?.isWhitespace == true || cell.last?.isWhitespace == true
                    ? Substring(cell.trimmingCharacters(in: .whitespaces)) : cell
                if j == labelIndex {
                    guard let l = Int32(s), l >= 0 else {
                        throw InputError("\(name): line \(i + offset), column \(j + 1): label \"\(s)\" is not a non-negative integer")
                    }
                    labels.append(l)
                } else {
                    guard let v = Float(s), v.isFinite else {
                        throw InputError("\(name): line \(i + offset), column \(j + 1): \"\(s)\" is not a number")
                    }
                    images.append(v * scale)
                }
            }
        }
        let maxLabel = Int(labels.max() ?? 0)
        let k = classes ?? (maxLabel + 1)
        guard maxLabel < k else { throw InputError("\(name): label \(maxLabel) is not below classes = \(k)") }
        return Dataset(images: images, labels: labels, sampleShape: shape, classes: k)
    }
}
