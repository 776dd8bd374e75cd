import Foundation
import Recorder

/// The rounding envelope of a comparison between two implementations of the same computation
/// (docs/compare.md has the derivation and the measurements behind the defaults).
///
/// Two correct float32 implementations differ in every tensor they compute, because they sum in
/// different orders and fuse different operations: the difference of an element that is a sum of
/// n terms grows like eps·sqrt(n) relative to the terms (a random walk of rounding errors). Only
/// statistics are in every record, so the envelope applies to them, each measured on the scale
/// where an element's relative error shows:
///
/// - `mean`: |mean_a - mean_b| / rms, rms = max(l2_a, l2_b) / sqrt(count) (a gradient's mean is
///   near zero; its elements are not);
/// - `l2`: |l2_a - l2_b| / max(l2_a, l2_b);
/// - `min`, `max`: |x_a - x_b| / max(|min_a|, |max_a|, |min_b|, |max_b|);
/// - a different non-finite count, shape or dtype, or different bits of an integer tensor (labels),
///   is infinitely far.
///
/// The relative error of a tensor is the largest of these; it is within the envelope when
///
///     error <= k · eps_f32 · sqrt(n)      (computed tensors: loss, gradients, parameters after an
///                                          update, optimizer state, activations)
///     error <= k · eps_f32                (batches and initial parameters: elementwise copies)
///
/// with eps_f32 = 2^-23 and n the number of terms of the longest sum of a training step, taken as
/// the element count of the step's `batch.x` (a convolution's weight gradient sums over
/// batch x height x width, a dense layer's forward pass over the features, the loss over the
/// batch). Default k = 4: measured on the reference cases (a digits MLP with SGD, a BatchNorm
/// CNN with Adam, real torch 2.13 and Keras 3.15 against cwrepro, 50 and 100 steps), the largest
/// error is 0.7 · eps · sqrt(n), so 4 leaves a margin of about 6. `rtol` replaces both bounds.
///
/// The ratio error / envelope is what reports show ("3.2x the envelope").
public struct ToleranceModel: Codable, Equatable, Sendable {
    /// 2^-23, the spacing of float32 numbers at 1.
    public static let epsilon = Double(Float.ulpOfOne)
    public static let defaultK = 4.0
    /// How far beyond the envelope the state (parameters after the step, the loss of the step and
    /// of the next) may be at the first excursion for it to count as the seed of chaotic drift
    /// rather than a difference in the math (`RecordComparison`).
    public static let defaultStateJump = 100.0

    public var k: Double
    /// n: the element count of the first recorded `batch.x` (1 when no batch is recorded).
    public var terms: Int
    /// Replaces the computed bounds when given (`--rtol`).
    public var rtol: Double?
    public var stateJump: Double

    public init(terms: Int, rtol: Double? = nil, k: Double = ToleranceModel.defaultK, stateJump: Double = ToleranceModel.defaultStateJump) {
        self.terms = max(1, terms); self.rtol = rtol; self.k = k; self.stateJump = stateJump
    }

    /// The bound for computed tensors: k · eps · sqrt(n), or `rtol`.
    public var computed: Double { rtol ?? k * Self.epsilon * Double(terms).squareRoot() }
    /// The bound for copies (batches, initial parameters): k · eps, or `rtol`.
    public var copied: Double { rtol ?? k * Self.epsilon }

    /// The envelope of a tensor of `role` at `step`.
    public func envelope(role: TensorRole, step: Int) -> Double {
        role == .batch || step == initStep ? copied : computed
    }
}

/// Which statistic decided a tensor's relative error.
public enum Statistic: String, Codable, Sendable {
    /// The hashes are equal: no error.
    case bits
    case mean, l2, min, max
    /// The non-finite counts differ.
    case nonfinite
    /// Shape or dtype differ.
    case structure
    /// An integer tensor (labels) with other bits.
    case integers
}

/// The relative error of two records' statistics of one tensor (see `ToleranceModel`).
public struct StatisticError: Equatable, Sendable {
    public var statistic: Statistic
    public var error: Double

    /// Nil when a side has no statistics (a schema 1 record).
    public static func between(_ a: RecordedEvent, _ b: RecordedEvent) -> StatisticError? {
        if a.dtype != b.dtype || a.shape != b.shape { return StatisticError(statistic: .structure, error: .infinity) }
        if a.hash == b.hash { return StatisticError(statistic: .bits, error: 0) }
        if a.dtype != .float32 && a.dtype != .float64 { return StatisticError(statistic: .integers, error: .infinity) }
        if a.nonFinite != b.nonFinite { return StatisticError(statistic: .nonfinite, error: .infinity) }
        let count = a.shape.reduce(1, *)
        let sa = a.stats, sb = b.stats
        guard let mna = sa.min, let mxa = sa.max, let ma = sa.mean, let la = sa.l2,
              let mnb = sb.min, let mxb = sb.max, let mb = sb.mean, let lb = sb.l2 else {
            // No finite element on either side (equal counts): the bits differ only in NaN payloads.
            if sa.min == nil && sb.min == nil && a.nonFinite == count { return StatisticError(statistic: .bits, error: 0) }
            return nil
        }
        func rel(_ x: Double, _ y: Double, _ scale: Double) -> Double {
            x == y ? 0 : scale > 0 ? abs(x - y) / scale : .infinity
        }
        let finite = Double(max(1, count - a.nonFinite))
        let l2 = max(la, lb), absMax = max(abs(mna), abs(mxa), abs(mnb), abs(mxb))
        let candidates: [(Statistic, Double)] = [
            (.mean, rel(ma, mb, l2 / finite.squareRoot())), (.l2, rel(la, lb, l2)),
            (.min, rel(mna, mnb, absMax)), (.max, rel(mxa, mxb, absMax)),
        ]
        let worst = candidates.max { $0.1 < $1.1 }!
        return StatisticError(statistic: worst.0, error: worst.1)
    }

    /// The root mean square of a tensor's finite elements (l2 / sqrt(count)); 0 without statistics.
    static func rms(_ e: RecordedEvent) -> Double {
        guard let l2 = e.stats.l2 else { return 0 }
        return l2 / Double(max(1, e.shape.reduce(1, *) - e.nonFinite)).squareRoot()
    }
}
