import CTensorStats

/// Summary statistics of one recorded tensor (docs/record-format.md, section 2), stored in every
/// tensor row and covered by the step checksum, so that records of different implementations can
/// be compared by value, not only by hash.
///
/// - `nonFinite`: count of NaN and ±Inf elements (0 for integer tensors).
/// - Over the finite elements only, in Float64: `min`, `max`, `mean` = Σx / n_finite,
///   `l2` = sqrt(Σx²). All four are nil when no element is finite (an empty tensor too).
/// - A zero `min` or `max` is +0.0 (±0 compare equal; the sign of a zero extreme is not kept).
///
/// Summation order: element i goes into accumulator i mod 16, the 16 accumulators are combined
/// pairwise (Sources/CTensorStats): the same bits on every CPU for a given tensor. Another
/// implementation (numpy's pairwise sums) agrees to rounding; `min`, `max` and `nonFinite` exactly.
public struct TensorStats: Equatable, Sendable {
    public var nonFinite: Int
    public var min: Double?
    public var max: Double?
    public var mean: Double?
    public var l2: Double?

    public init(nonFinite: Int, min: Double?, max: Double?, mean: Double?, l2: Double?) {
        self.nonFinite = nonFinite; self.min = min; self.max = max; self.mean = mean; self.l2 = l2
    }

    /// Only the non-finite count is known (events read from a golden file or a v1 record).
    public init(nonFinite: Int) { self.init(nonFinite: nonFinite, min: nil, max: nil, mean: nil, l2: nil) }

    /// The statistics of `count` elements of `dtype` at `raw` (little-endian, any alignment).
    public init(dtype: DType, raw: UnsafeRawBufferPointer) {
        let count = raw.count / dtype.size
        var s = cw_tensor_sums()
        if let base = raw.baseAddress, count > 0 {
            switch dtype {
            case .float32: cw_sums_f32(base, count, &s)
            case .float64: cw_sums_f64(base, count, &s)
            case .int32: cw_sums_i32(base, count, &s)
            case .uint32: cw_sums_u32(base, count, &s)
            case .int64: cw_sums_i64(base, count, &s)
            case .uint8: cw_sums_u8(base, count, &s)
            }
        }
        self.init(sums: s)
    }

    public init(floats: UnsafeBufferPointer<Float>) { self.init(dtype: .float32, raw: UnsafeRawBufferPointer(floats)) }

    init(sums s: cw_tensor_sums) {
        nonFinite = Int(s.nonfinite)
        guard s.finite > 0 else { return }
        // `+ 0` turns -0.0 into +0.0 (round to nearest): a zero extreme is stored as +0.
        min = s.min + 0
        max = s.max + 0
        // Float64 overflow (only possible for float64 or int64 tensors near their limits) gives
        // ±Inf; a sum that overflowed both ways is undefined and stored as nil.
        let mean = s.sum / Double(s.finite), l2 = s.sumsq.squareRoot()
        self.mean = mean.isNaN ? nil : mean
        self.l2 = l2.isNaN ? nil : l2
    }
}
