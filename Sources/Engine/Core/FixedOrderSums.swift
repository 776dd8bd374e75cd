/// Many fixed-order sums computed side by side (BatchNorm's per-channel statistics and gradient
/// sums). Each sum is one sequential chain of additions in index order from +0, exactly as the
/// one-at-a-time loop `acc = 0; for v in values { acc += v }` computes it: nothing is reordered or
/// split. What changes is only that four chains run interleaved (a chain's additions wait on each
/// other; four independent ones fill the adder's pipeline), and that groups of channels are split
/// over threads (each chain stays on one thread). So the bits are those of the sequential loops.
public enum FixedOrderSums {
    /// Channels per interleaved group.
    static let group = 4

    /// out[c] = sum over samples s and positions i, in (s, i) order, of Double(v), v = x[s, c, i]
    /// (`mean` nil) or v = (x[s, c, i] - mean[c]) * (x[s, c, i] - mean[c]) formed in Float32: a Float64
    /// chain per channel of an [n, channels, plane] tensor (torch's BatchNorm2d statistics).
    public static func channels(_ x: UnsafePointer<Float>, samples n: Int, channels: Int, plane: Int, mean: UnsafePointer<Float>?,
                                into out: UnsafeMutablePointer<Double>, threads: Int) {
        let groups = (channels + group - 1) / group, stride = channels &* plane
        Parallel.chunks(groups, threads: threads, work: n &* stride, minWork: Elementwise.parallelThreshold) { r in
            for g in r {
                let c0 = g &* group, k = min(group, channels &- c0)
                if k == group {
                    if let mean {
                        squares4(x + c0 &* plane, samples: n, stride: stride, plane: plane, mean: mean + c0, into: out + c0)
                    } else {
                        sums4(x + c0 &* plane, samples: n, stride: stride, plane: plane, into: out + c0)
                    }
                } else {
                    for c in c0..<(c0 &+ k) {
                        var acc = 0.0
                        let mu = mean?[c] ?? 0
                        for s in 0..<n {
                            let p = x + (s &* stride &+ c &* plane)
                            var i = 0
                            if mean == nil {
                                while i < plane { acc += Double(p[i]); i &+= 1 }
                            } else {
                                while i < plane { let d = p[i] - mu; acc += Double(d * d); i &+= 1 }
                            }
                        }
                        out[c] = acc
                    }
                }
            }
        }
    }

    @inline(__always)
    static func sums4(_ x: UnsafePointer<Float>, samples n: Int, stride: Int, plane: Int, into out: UnsafeMutablePointer<Double>) {
        var a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0
        var p0 = x
        for _ in 0..<n {
            let p1 = p0 + plane, p2 = p1 + plane, p3 = p2 + plane
            var i = 0
            while i < plane {
                a0 += Double(p0[i]); a1 += Double(p1[i]); a2 += Double(p2[i]); a3 += Double(p3[i])
                i &+= 1
            }
            p0 += stride
        }
        out[0] = a0; out[1] = a1; out[2] = a2; out[3] = a3
    }

    @inline(__always)
    static func squares4(_ x: UnsafePointer<Float>, samples n: Int, stride: Int, plane: Int, mean: UnsafePointer<Float>,
                         into out: UnsafeMutablePointer<Double>) {
        var a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0
        let m0 = mean[0], m1 = mean[1], m2 = mean[2], m3 = mean[3]
        var p0 = x
        for _ in 0..<n {
            let p1 = p0 + plane, p2 = p1 + plane, p3 = p2 + plane
            var i = 0
            while i < plane {
                let d0 = p0[i] - m0, d1 = p1[i] - m1, d2 = p2[i] - m2, d3 = p3[i] - m3
                a0 += Double(d0 * d0); a1 += Double(d1 * d1); a2 += Double(d2 * d2); a3 += Double(d3 * d3)
                i &+= 1
            }
            p0 += stride
        }
        out[0] = a0; out[1] = a1; out[2] = a2; out[3] = a3
    }

    /// out[j] = Double(sum over rows i, in order, of v), v = m[i, j] or (m[i, j] - mean[j])^2 in
    /// Float32: a Float32 chain per column of a [rows, columns] matrix (torch's BatchNorm1d
    /// statistics), eight columns per vector (lanes are columns; each lane adds in row order).
    public static func columns(_ m: UnsafePointer<Float>, rows: Int, columns: Int, mean: UnsafePointer<Float>?,
                               into out: UnsafeMutablePointer<Double>) {
        var j = 0
        while j &+ 8 <= columns {
            var acc = SIMD8<Float>()
            let mu = mean.map { UnsafeRawPointer($0 + j).loadUnaligned(as: SIMD8<Float>.self) } ?? SIMD8<Float>()
            for i in 0..<rows {
                let v = UnsafeRawPointer(m + (i &* columns &+ j)).loadUnaligned(as: SIMD8<Float>.self)
                if mean == nil { acc += v } else { let d = v - mu; acc += d * d }
            }
            for l in 0..<8 { out[j &+ l] = Double(acc[l]) }
            j &+= 8
        }
        while j < columns {
            var acc: Float = 0
            let mu = mean?[j] ?? 0
            for i in 0..<rows {
                let v = m[i &* columns &+ j]
                if mean == nil { acc += v } else { acc += (v - mu) * (v - mu) }
            }
            out[j] = Double(acc)
            j &+= 1
        }
    }

    /// BatchNorm's backward sums over an [n, channels, plane] batch: for each channel c and sample s
    /// in order, S = the Float32 chain of dy[s, c, i] over i and D = the Float32 chain of
    /// q_i = (x[s, c, i] - mean[c]) * dy[s, c, i]; then sums[c] += Double(S), dots[c] += Double(D)
    /// (torch's plane sums accumulated in Float64). `sums` and `dots` must be initialised. Four
    /// channels' eight chains run interleaved; channel groups are split over threads.
    public static func gradientPlanes(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, mean: UnsafePointer<Float>, samples n: Int,
                                      channels: Int, plane: Int, sums: UnsafeMutablePointer<Double>, dots: UnsafeMutablePointer<Double>,
                                      threads: Int) {
        let groups = (channels + group - 1) / group, stride = channels &* plane
        Parallel.chunks(groups, threads: threads, work: n &* stride, minWork: Elementwise.parallelThreshold) { r in
            for g in r {
                let c0 = g &* group, k = min(group, channels &- c0)
                if k == group {
                    gradient4(dy: dy + c0 &* plane, x: x + c0 &* plane, mean: mean + c0, samples: n, stride: stride, plane: plane,
                              sums: sums + c0, dots: dots + c0)
                } else {
                    for c in c0..<(c0 &+ k) {
                        let mu = mean[c]
                        for s in 0..<n {
                            let o = s &* stride &+ c &* plane
                            var sd: Float = 0, sq: Float = 0
                            var i = 0
                            while i < plane { sd += dy[o &+ i]; sq += (x[o &+ i] - mu) * dy[o &+ i]; i &+= 1 }
                            sums[c] += Double(sd)
                            dots[c] += Double(sq)
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    static func gradient4(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, mean: UnsafePointer<Float>, samples n: Int, stride: Int,
                          plane: Int, sums: UnsafeMutablePointer<Double>, dots: UnsafeMutablePointer<Double>) {
        let m0 = mean[0], m1 = mean[1], m2 = mean[2], m3 = mean[3]
        var s0 = sums[0], s1 = sums[1], s2 = sums[2], s3 = sums[3]
        var t0 = dots[0], t1 = dots[1], t2 = dots[2], t3 = dots[3]
        for s in 0..<n {
            let o = s &* stride
            let d0 = dy + o, d1 = d0 + plane, d2 = d1 + plane, d3 = d2 + plane
            let x0 = x + o, x1 = x0 + plane, x2 = x1 + plane, x3 = x2 + plane
            var a0: Float = 0, a1: Float = 0, a2: Float = 0, a3: Float = 0
            var b0: Float = 0, b1: Float = 0, b2: Float = 0, b3: Float = 0
            var i = 0
            while i < plane {
                let g0 = d0[i], g1 = d1[i], g2 = d2[i], g3 = d3[i]
                a0 += g0; a1 += g1; a2 += g2; a3 += g3
                b0 += (x0[i] - m0) * g0; b1 += (x1[i] - m1) * g1; b2 += (x2[i] - m2) * g2; b3 += (x3[i] - m3) * g3
                i &+= 1
            }
            s0 += Double(a0); s1 += Double(a1); s2 += Double(a2); s3 += Double(a3)
            t0 += Double(b0); t1 += Double(b1); t2 += Double(b2); t3 += Double(b3)
        }
        sums[0] = s0; sums[1] = s1; sums[2] = s2; sums[3] = s3
        dots[0] = t0; dots[1] = t1; dots[2] = t2; dots[3] = t3
    }
}
