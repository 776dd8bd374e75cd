import Engine
import Foundation
import Recorder

/// How inference latency is measured: forward passes in evaluation mode over one fixed batch
/// (the first `batchSize` samples of the split), `warmup` untimed passes first (caches, OpenBLAS's
/// buffers, the allocator), then `timed` passes each timed alone on the monotonic clock.
public struct LatencyOptions: Equatable, Sendable {
    /// Samples per forward pass (nil: the config's `data.batchSize`).
    public var batchSize: Int?
    public var warmup: Int
    public var timed: Int
    /// Threads of every layer and of OpenBLAS (nil: the config's `determinism.threads`; for a
    /// comparison, A's, and both models run on it).
    public var threads: Int?
    /// Confidence level of the latency ratio's interval.
    public var level: Double

    public init(batchSize: Int? = nil, warmup: Int = 3, timed: Int = 30, threads: Int? = nil, level: Double = 0.95) {
        self.batchSize = batchSize; self.warmup = warmup; self.timed = timed; self.threads = threads; self.level = level
    }
}

/// Invalid measurement settings (the command line words them with its options).
public enum LatencyOptionsError: Error, Equatable, Sendable {
    case batchSize(Int), warmup(Int), timed(Int), threads(Int), level(Double)
}

extension LatencyOptions {
    /// Untimed passes allowed: 0...10,000.
    public static let warmupRange = 0...10_000
    /// Timed passes allowed: 2 (a spread needs two) ... 100,000 (each pass keeps its time).
    public static let timedRange = 2...100_000

    /// Throws unless batch size >= 1, warm-up in `warmupRange`, timed passes in `timedRange`,
    /// 1...256 threads and a level in (0, 1).
    public func check() throws {
        if let b = batchSize, b < 1 { throw LatencyOptionsError.batchSize(b) }
        if !Self.warmupRange.contains(warmup) { throw LatencyOptionsError.warmup(warmup) }
        if !Self.timedRange.contains(timed) { throw LatencyOptionsError.timed(timed) }
        if let t = threads, !(1...256).contains(t) { throw LatencyOptionsError.threads(t) }
        if !(level > 0 && level < 1) { throw LatencyOptionsError.level(level) }
    }
}

/// Latencies of one model: seconds per forward pass of `batchSize` samples.
public struct LatencyMeasurement: Equatable, Sendable {
    public var batchSize: Int
    public var threads: Int
    public var warmup: Int
    /// Each timed pass, in the order measured.
    public var seconds: [Double]
    /// Median, p95, quartiles, min, max, standard deviation of `seconds`.
    public var summary: SampleSummary

    public var medianSeconds: Double { summary.median }
    /// Median seconds per sample (median / batch size).
    public var medianPerSample: Double { summary.median / Double(batchSize) }
    /// Interquartile range relative to the median, (q75 - q25) / median: the spread.
    public var relativeSpread: Double { summary.median > 0 ? (summary.q75 - summary.q25) / summary.median : 0 }
}

/// Two models' latencies measured in one run, interleaved, on the same threads, with the ratio
/// B / A of each pair and its interval.
public struct LatencyComparison: Equatable, Sendable {
    public var a: LatencyMeasurement
    public var b: LatencyMeasurement
    /// Geometric mean of b_i / a_i with its t interval on the log ratios (`Statistics.pairedRatio`).
    public var ratio: RatioEstimate
    /// The median of the rounds' ratios b_i / a_i with its distribution-free interval: robust to
    /// the passes a busy machine preempts, which widen the t interval.
    public var medianRatio: Double
    public var medianRatioInterval: Interval
}

extension Latency {
    /// The distribution-free confidence interval of a median from order statistics: with the
    /// sorted values x_(1) <= ... <= x_(n) and B ~ Binomial(n, 1/2), the interval is
    /// [x_(l), x_(n+1-l)] for the largest l >= 1 with P(B <= l - 1) <= (1 - level) / 2; its
    /// coverage is at least `level` for any continuous distribution (Conover, Practical
    /// Nonparametric Statistics, 3rd ed., section 3.2). `level` reports the exact coverage
    /// 1 - 2 P(B <= l - 1); below 6 values no l qualifies at 95% and [min, max] is returned with
    /// its own, lower coverage. Needs n >= 1.
    static func medianInterval(_ xs: [Double], level: Double) -> Interval {
        let sorted = xs.sorted(), n = sorted.count
        let b = Binomial(trials: n, p: 0.5)
        var l = 1
        while l < n / 2 + 1, b.cdf(l) <= (1 - level) / 2 { l += 1 }
        return Interval(low: sorted[l - 1], high: sorted[n - l], level: 1 - 2 * b.cdf(l - 1))
    }
}

/// Times forward passes.
enum Latency {
    /// A forward pass of `model` on `x` with `ctx`, in seconds (monotonic clock).
    static func time(_ model: Model, _ x: Tensor, _ ctx: Context) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        let y = model.forward(x, ctx)
        let end = DispatchTime.now().uptimeNanoseconds
        withExtendedLifetime(y) {}
        return Double(end - start) / 1e9
    }

    static func batchSize(_ m: TrainedModel, _ options: LatencyOptions, split: EvaluationSplit) -> Int {
        min(options.batchSize ?? m.config.data.batchSize, m.dataset(split).count)
    }

    /// One model: `warmup` passes, then `timed` timed ones, under OpenBLAS on `threads`.
    static func measure(_ m: TrainedModel, split: EvaluationSplit, options: LatencyOptions) throws -> LatencyMeasurement {
        let threads = options.threads ?? m.config.determinism.threads
        let n = batchSize(m, options, split: split)
        let x = m.batch(split, count: n).x, ctx = m.context(threads: threads)
        let seconds = ProcessConfiguration.withOpenBLAS(threads: threads) { () -> [Double] in
            for _ in 0..<options.warmup { _ = time(m.model, x, ctx) }
            return (0..<options.timed).map { _ in time(m.model, x, ctx) }
        }
        return LatencyMeasurement(batchSize: n, threads: threads, warmup: options.warmup, seconds: seconds,
                                  summary: try Statistics.summary(seconds))
    }

    /// Both models in one run on the same threads and batch size (the smaller split's when they
    /// differ). After `warmup` passes of each, round i times one pass of each model, A first in
    /// even rounds and B first in odd ones, and every timed pass directly follows an untimed pass
    /// of the same model: it runs on caches that model warmed, as a model serving requests does
    /// (timed right after the other model, a pass measured that model's cache misses: up to 5x
    /// slower for a ResNet-29 here, which made pass-by-pass alternation useless). The ratio pairs
    /// the passes of one round: drift of the machine cancels within a round.
    static func compare(_ a: TrainedModel, _ b: TrainedModel, split: EvaluationSplit, options: LatencyOptions) throws -> LatencyComparison {
        let threads = options.threads ?? a.config.determinism.threads
        let n = min(batchSize(a, options, split: split), batchSize(b, options, split: split))
        let xa = a.batch(split, count: n).x, xb = b.batch(split, count: n).x
        let ca = a.context(threads: threads), cb = b.context(threads: threads)
        let (ta, tb) = ProcessConfiguration.withOpenBLAS(threads: threads) { () -> ([Double], [Double]) in
            for _ in 0..<options.warmup { _ = time(a.model, xa, ca); _ = time(b.model, xb, cb) }
            var ta: [Double] = [], tb: [Double] = []
            func warmA() { _ = time(a.model, xa, ca); ta.append(time(a.model, xa, ca)) }
            func warmB() { _ = time(b.model, xb, cb); tb.append(time(b.model, xb, cb)) }
            for i in 0..<options.timed {
                if i % 2 == 0 { warmA(); warmB() } else { warmB(); warmA() }
            }
            return (ta, tb)
        }
        func measurement(_ s: [Double]) throws -> LatencyMeasurement {
            LatencyMeasurement(batchSize: n, threads: threads, warmup: options.warmup, seconds: s, summary: try Statistics.summary(s))
        }
        let ratios = zip(ta, tb).map { $1 / $0 }
        return LatencyComparison(a: try measurement(ta), b: try measurement(tb), ratio: try Statistics.pairedRatio(ta, tb, level: options.level),
                                 medianRatio: try Statistics.median(ratios), medianRatioInterval: medianInterval(ratios, level: options.level))
    }
}
