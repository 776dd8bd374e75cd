import Recorder

/// Samples held as one contiguous Float32 buffer (`count x sampleShape`, NCHW per sample)
/// with Int32 labels in 0..<classes.
public struct Dataset: Equatable, Sendable {
    public var images: [Float]
    public var labels: [Int32]
    public var sampleShape: [Int]
    public var classes: Int

    public init(images: [Float], labels: [Int32], sampleShape: [Int], classes: Int) {
        precondition(images.count == labels.count * sampleShape.reduce(1, *))
        self.images = images
        self.labels = labels
        self.sampleShape = sampleShape
        self.classes = classes
    }

    public var count: Int { labels.count }
    public var sampleSize: Int { sampleShape.reduce(1, *) }

    /// The batch of the given sample indices, in that order: images [n] + sampleShape, labels [n].
    public func batch(_ indices: [Int]) -> (x: Tensor, y: [Int32]) {
        let s = sampleSize
        var x = [Float](repeating: 0, count: indices.count * s)
        var y = [Int32](repeating: 0, count: indices.count)
        images.withUnsafeBufferPointer { src in
            x.withUnsafeMutableBufferPointer { dst in
                for (row, i) in indices.enumerated() {
                    dst.baseAddress!.advanced(by: row &* s).update(from: src.baseAddress!.advanced(by: i &* s), count: s)
                }
            }
        }
        for (row, i) in indices.enumerated() { y[row] = labels[i] }
        return (Tensor(shape: [indices.count] + sampleShape, data: x), y)
    }

    /// Samples `range` as a new dataset (used to split one file into train and test).
    public func slice(_ range: Range<Int>) -> Dataset {
        let s = sampleSize
        return Dataset(images: Array(images[(range.lowerBound * s)..<(range.upperBound * s)]),
                       labels: Array(labels[range]), sampleShape: sampleShape, classes: classes)
    }
}

extension Dataset {
    /// "1437 x [1, 8, 8]: <XXH3 of the images>/<XXH3 of the labels>": what a record keeps of the data it
    /// trained on (after loading and normalisation, before augmentation), so a replay can tell that
    /// a data file changed before it reports the first divergent batch.
    public var fingerprint: String {
        let x = images.withUnsafeBytes { TensorHash.tensor(dtype: .float32, shape: [count] + sampleShape, raw: $0) }
        let y = labels.withUnsafeBytes { TensorHash.tensor(dtype: .int32, shape: [count], raw: $0) }
        return "\(count) x \(sampleShape): \(hex64(x))/\(hex64(y))"
    }
}

/// The train and test sets of a run.
public struct DataSplit: Equatable, Sendable {
    public var train: Dataset
    public var test: Dataset
    public init(train: Dataset, test: Dataset) { self.train = train; self.test = test }
    /// Environment facts `data.train` and `data.test` (see `Dataset.fingerprint`).
    public var fingerprint: [String: String] { ["data.train": train.fingerprint, "data.test": test.fingerprint] }
}
