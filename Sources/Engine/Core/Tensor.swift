/// A dense Float32 tensor in row-major (C) order; activations are NCHW, dense weights (out, in),
/// conv weights (O, I, kh, kw), as in PyTorch.
public struct Tensor: Equatable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) does not match \(data.count) elements")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.shape = shape
        self.data = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    /// No elements (what a layer holds when it has nothing saved).
    public static var empty: Tensor { Tensor(shape: [0], data: []) }

    public var count: Int { data.count }
    /// Leading dimension (the batch size for activations).
    public var batch: Int { shape.first ?? 1 }
    /// Elements per sample: product of all but the leading dimension.
    public var sampleSize: Int { shape.dropFirst().reduce(1, *) }

    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, data: data)
    }

    /// self[i] = self[i] + other[i], elementwise (residual sums and their gradients).
    public mutating func add(_ other: Tensor) {
        precondition(other.count == count, "add: \(other.shape) onto \(shape)")
        data.withUnsafeMutableBufferPointer { d in
            other.data.withUnsafeBufferPointer { o in
                var i = 0
                while i < d.count { d[i] = d[i] + o[i]; i &+= 1 }
            }
        }
    }
}
