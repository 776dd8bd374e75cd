/// Elementwise kernels over Float32 buffers: 8 lanes at a time (AVX2, the engine's target), split
/// over `threads` in contiguous chunks. Each output element depends on its own inputs only, so
/// the results are bit-identical for any lane width and thread count.
public enum Elementwise {
    /// Below this many elements a call stays on one thread (a dispatch costs a few microseconds).
    public static let parallelThreshold = 1 << 16

    typealias V = SIMD8<Float>

    @inline(__always) static func load(_ p: UnsafePointer<Float>, _ i: Int) -> V {
        UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
    }

    @inline(__always) static func store(_ v: V, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
        UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: V.self)
    }

    /// Calls body(range) over `threads` contiguous chunks of 0..<n (multiples of 64 elements).
    @inline(__always)
    public static func split(_ n: Int, threads: Int, _ body: (Range<Int>) -> Void) {
        let t = n < parallelThreshold ? 1 : min(threads, n / 4096)
        if t <= 1 { body(0..<n); return }
        Parallel.perform(t) { k in
            let lo = (n * k / t) & ~63, hi = k == t - 1 ? n : (n * (k + 1) / t) & ~63
            body(lo..<hi)
        }
    }

    /// y = x > 0 ? x : 0, NaN kept (torch.relu): y = (x <= 0) ? +0 : x.
    public static func relu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int, threads: Int) {
        split(n, threads: threads) { r in
            var i = r.lowerBound
            while i &+ 8 <= r.upperBound {
                let v = load(x, i)
                store(v.replacing(with: 0, where: v .<= 0), y, i)
                i &+= 8
            }
            while i < r.upperBound { y[i] = x[i] <= 0 ? 0 : x[i]; i &+= 1 }
        }
    }

    /// dx = y > 0 ? dy : 0 (the ReLU's gradient from its output; NaN outputs pass nothing).
    public static func reluBackward(_ dy: UnsafePointer<Float>, output y: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>,
                                    count n: Int, threads: Int) {
        split(n, threads: threads) { r in
            var i = r.lowerBound
            while i &+ 8 <= r.upperBound {
                let d = load(dy, i)
                store(V(repeating: 0).replacing(with: d, where: load(y, i) .> 0), dx, i)
                i &+= 8
            }
            while i < r.upperBound { dx[i] = y[i] > 0 ? dy[i] : 0; i &+= 1 }
        }
    }

    /// out = a + b.
    public static func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                           count n: Int, threads: Int) {
        split(n, threads: threads) { r in
            var i = r.lowerBound
            while i &+ 8 <= r.upperBound { store(load(a, i) + load(b, i), out, i); i &+= 8 }
            while i < r.upperBound { out[i] = a[i] + b[i]; i &+= 1 }
        }
    }

    /// out = a * b.
    public static func multiply(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                                count n: Int, threads: Int) {
        split(n, threads: threads) { r in
            var i = r.lowerBound
            while i &+ 8 <= r.upperBound { store(load(a, i) * load(b, i), out, i); i &+= 8 }
            while i < r.upperBound { out[i] = a[i] * b[i]; i &+= 1 }
        }
    }

    /// out = src (a copy split over threads).
    public static func copy(_ src: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count n: Int, threads: Int) {
        split(n, threads: threads) { r in (out + r.lowerBound).update(from: src + r.lowerBound, count: r.count) }
    }
}
