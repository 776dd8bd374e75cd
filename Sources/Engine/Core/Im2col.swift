/// im2col / col2im for one sample, and the scratch buffers that hold the column matrix.
///
/// col[(c*kh + i)*kw + j, oh*outW + ow] = x[c, oh*sh - top + i, ow*sw - left + j], 0 in the padding:
/// a [C*kh*kw, outH*outW] row-major matrix, so a convolution is W[O, C*kh*kw] x col.
/// col2im is its transpose: it adds every col entry back onto the input element it came from.
/// With `threads` > 1 the channels are split into contiguous chunks done in parallel: each chunk
/// writes its own rows of col (planes of dx), so the result is bit-identical for any thread count.
public enum Im2col {
    /// Below this many col elements a call stays on one thread (dispatch costs a few microseconds).
    static let parallelThreshold = 1 << 15

    /// Runs body(channel range as a sub-window, first channel) over `threads` contiguous channel chunks.
    @inline(__always)
    static func chunked(_ g: Window2D, threads: Int, _ body: (Window2D, Int) -> Void) {
        Parallel.chunks(g.channels, threads: threads, work: g.patch &* g.outPlane, minWork: parallelThreshold) { r in
            var sub = g
            sub.channels = r.count
            body(sub, r.lowerBound)
        }
    }

    /// im2col of one sample, channels split over `threads`.
    public static func forward(_ x: UnsafePointer<Float>, _ g: Window2D, into col: UnsafeMutablePointer<Float>, ld: Int, threads: Int) {
        chunked(g, threads: threads) { sub, c0 in
            forward(x + c0 &* g.inPlane, sub, into: col + c0 &* g.kh &* g.kw &* ld, ld: ld)
        }
    }

    /// col2im of one sample, channels split over `threads`.
    public static func backward(_ dcol: UnsafeMutablePointer<Float>, _ g: Window2D, ld: Int, into dx: UnsafeMutablePointer<Float>, threads: Int) {
        chunked(g, threads: threads) { sub, c0 in
            backward(dcol + c0 &* g.kh &* g.kw &* ld, sub, ld: ld, into: dx + c0 &* g.inPlane)
        }
    }

    /// The range of output columns ow whose input column ow*s - pad + j falls inside [0, n).
    @inline(__always)
    static func validRange(j: Int, pad: Int, stride s: Int, n: Int, out: Int) -> (Int, Int) {
        // ow*s + j - pad >= 0  <=>  ow >= ceil((pad - j) / s);  ow*s + j - pad < n  <=>  ow <= floor((n - 1 + pad - j) / s)
        let lo = pad - j <= 0 ? 0 : (pad - j + s - 1) / s
        let hiNum = n - 1 + pad - j
        let hi = hiNum < 0 ? 0 : min(out, hiNum / s + 1)
        return (min(lo, hi), hi)
    }

    // Row kernels, 8 lanes at a time (rows are short: a call to memcpy per row costs more than the copy).
    @inline(__always)
    static func copy(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
        var i = 0
        while i &+ 8 <= n {
            UnsafeMutableRawPointer(dst + i).storeBytes(of: UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
            i &+= 8
        }
        while i < n { dst[i] = src[i]; i &+= 1 }
    }

    @inline(__always)
    static func add(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
        var i = 0
        while i &+ 8 <= n {
            let d = UnsafeMutableRawPointer(dst + i)
            let v = d.loadUnaligned(as: SIMD8<Float>.self) + UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<Float>.self)
            d.storeBytes(of: v, as: SIMD8<Float>.self)
            i &+= 8
        }
        while i < n { dst[i] += src[i]; i &+= 1 }
    }

    @inline(__always)
    static func zero(_ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i &+ 8 <= n { UnsafeMutableRawPointer(dst + i).storeBytes(of: SIMD8<Float>(), as: SIMD8<Float>.self); i &+= 8 }
        while i < n { dst[i] = 0; i &+= 1 }
    }

    /// Writes the column matrix of the sample at `x` ([C, H, W]) into `col`, whose rows are `ld`
    /// floats apart (ld = outH*outW for one sample; a multiple of it when samples sit side by side).
    public static func forward(_ x: UnsafePointer<Float>, _ g: Window2D, into col: UnsafeMutablePointer<Float>, ld: Int) {
        if g.isShiftable { forwardShifted(x, g, into: col, ld: ld) } else { forwardGeneral(x, g, into: col, ld: ld) }
    }

    static func forwardGeneral(_ x: UnsafePointer<Float>, _ g: Window2D, into col: UnsafeMutablePointer<Float>, ld: Int) {
        let outH = g.outH, outW = g.outW, inW = g.inW, inH = g.inH
        let sh = g.sh, sw = g.sw
        var row = col
        for c in 0..<g.channels {
            let plane = x + c &* g.inPlane
            for i in 0..<g.kh {
                for j in 0..<g.kw {
                    let (lo, hi) = validRange(j: j, pad: g.left, stride: sw, n: inW, out: outW)
                    var dst = row
                    for oh in 0..<outH {
                        let ih = oh &* sh &- g.top &+ i
                        if ih < 0 || ih >= inH {
                            zero(dst, outW)
                        } else {
                            // Input element of output column ow (lo <= ow < hi): src[(ow - lo) * sw].
                            let src = plane + (ih &* inW &+ lo &* sw &+ j &- g.left)
                            zero(dst, lo)
                            if sw == 1 {
                                copy(dst + lo, src, hi &- lo)
                            } else {
                                var ow = lo
                                while ow < hi { dst[ow] = src[(ow &- lo) &* sw]; ow &+= 1 }
                            }
                            zero(dst + hi, outW &- hi)
                        }
                        dst += outW
                    }
                    row += ld
                }
            }
        }
    }

    /// dx[C, H, W] += col2im(dcol): every entry of `dcol` (rows `ld` floats apart) is added onto the
    /// input element that the matching col entry was read from (padding entries are dropped), in
    /// (c, i, j, oh, ow) order. `dx` must be initialised.
    public static func backward(_ dcol: UnsafeMutablePointer<Float>, _ g: Window2D, ld: Int, into dx: UnsafeMutablePointer<Float>) {
        if g.isShiftable { backwardShifted(dcol, g, ld: ld, into: dx) } else { backwardGeneral(dcol, g, ld: ld, into: dx) }
    }

    static func backwardGeneral(_ dcol: UnsafePointer<Float>, _ g: Window2D, ld: Int, into dx: UnsafeMutablePointer<Float>) {
        let outH = g.outH, outW = g.outW, inW = g.inW, inH = g.inH
        let sh = g.sh, sw = g.sw
        var row = dcol
        for c in 0..<g.channels {
            let plane = dx + c &* g.inPlane
            for i in 0..<g.kh {
                for j in 0..<g.kw {
                    let (lo, hi) = validRange(j: j, pad: g.left, stride: sw, n: inW, out: outW)
                    var src = row
                    for oh in 0..<outH {
                        let ih = oh &* sh &- g.top &+ i
                        if ih >= 0 && ih < inH {
                            let d = plane + (ih &* inW &+ lo &* sw &+ j &- g.left)
                            if sw == 1 {
                                add(d, src + lo, hi &- lo)
                            } else {
                                var ow = lo
                                while ow < hi { d[(ow &- lo) &* sw] += src[ow]; ow &+= 1 }
                            }
                        }
                        src += outW
                    }
                    row += ld
                }
            }
        }
    }
}

extension Window2D {
    /// Stride 1 and outW == inW (e.g. 3x3 "same"): col row (c, i, j) is the input plane shifted by the
    /// constant offset (i - top)*W + (j - left), so its valid rows are ONE contiguous copy, after
    /// which the columns that wrapped around a row edge are set to zero.
    var isShiftable: Bool { sh == 1 && sw == 1 && outW == inW }
}

extension Im2col {
    /// The valid output rows [lo, hi) of kernel row i: 0 <= oh - top + i < inH.
    @inline(__always)
    static func validRows(i: Int, _ g: Window2D) -> (Int, Int) {
        let lo = max(0, g.top - i), hi = min(g.outH, g.inH + g.top - i)
        return (min(lo, hi), hi)
    }

    /// Zeroes the wrapped columns of a shifted row inside its copied range: columns [0, lo) of rows
    /// rows.lowerBound+1 ..< rows.upperBound and [hi, w) of rows rows.lowerBound ..< rows.upperBound-1.
    /// Column by column (strided stores): row by row, the compiler turns each run of one or two
    /// floats into a call to memset, a few million calls per ResNet-20 step.
    @inline(__always)
    static func zeroWrapped(_ row: UnsafeMutablePointer<Float>, w: Int, rows: Range<Int>, lo: Int, hi: Int) {
        var k = 0
        while k < lo {
            var r = rows.lowerBound &+ 1
            while r < rows.upperBound { row[r &* w &+ k] = 0; r &+= 1 }
            k &+= 1
        }
        k = hi
        while k < w {
            var r = rows.lowerBound
            while r < rows.upperBound &- 1 { row[r &* w &+ k] = 0; r &+= 1 }
            k &+= 1
        }
    }

    static func forwardShifted(_ x: UnsafePointer<Float>, _ g: Window2D, into col: UnsafeMutablePointer<Float>, ld: Int) {
        let w = g.outW
        var row = col
        for c in 0..<g.channels {
            let plane = x + c &* g.inPlane
            for i in 0..<g.kh {
                let (rlo, rhi) = validRows(i: i, g)
                for j in 0..<g.kw {
                    let (lo, hi) = validRange(j: j, pad: g.left, stride: 1, n: w, out: w)
                    zero(row, rlo &* w)
                    if rlo < rhi {
                        // Flat output index q reads plane[q + shift]; copy q in [rlo*w + lo, (rhi-1)*w + hi).
                        let shift = (i &- g.top) &* w &+ (j &- g.left)
                        let q0 = rlo &* w &+ lo, q1 = (rhi &- 1) &* w &+ hi
                        zero(row + rlo &* w, lo)
                        if q1 > q0 { copy(row + q0, plane + (q0 &+ shift), q1 &- q0) }
                        zero(row + q1, w &- hi)
                        zeroWrapped(row, w: w, rows: rlo..<rhi, lo: lo, hi: hi)
                    }
                    zero(row + rhi &* w, (g.outH &- rhi) &* w)
                    row += ld
                }
            }
        }
    }

    /// col2im for shiftable geometry: the wrapped entries of `dcol` are zeroed (dcol is scratch),
    /// then each valid block is added with one contiguous shifted add. Every dx element receives
    /// the same terms in the same (c, i, j) order as the general path, plus zeros.
    static func backwardShifted(_ dcol: UnsafeMutablePointer<Float>, _ g: Window2D, ld: Int, into dx: UnsafeMutablePointer<Float>) {
        let w = g.outW
        var row = dcol
        for c in 0..<g.channels {
            let plane = dx + c &* g.inPlane
            for i in 0..<g.kh {
                let (rlo, rhi) = validRows(i: i, g)
                for j in 0..<g.kw {
                    let (lo, hi) = validRange(j: j, pad: g.left, stride: 1, n: w, out: w)
                    if rlo < rhi {
                        let shift = (i &- g.top) &* w &+ (j &- g.left)
                        let q0 = rlo &* w &+ lo, q1 = (rhi &- 1) &* w &+ hi
                        zeroWrapped(row, w: w, rows: rlo..<rhi, lo: lo, hi: hi)
                        if q1 > q0 { add(plane + (q0 &+ shift), row + q0, q1 &- q0) }
                    }
                    row += ld
                }
            }
        }
    }
}

/// Growable Float32 buffers owned by one layer and reused across steps (no allocation per step
/// once the largest batch has been seen): slot 0 for the calling thread, one more slot per extra
/// worker of a parallel section. Contents are undefined between uses.
public final class Scratch {
    private var slots: [(pointer: UnsafeMutablePointer<Float>, capacity: Int)] = []

    public init() {}
    deinit { for s in slots { s.pointer.deallocate() } }

    /// At least `count` floats (slot 0).
    public func buffer(_ count: Int) -> UnsafeMutablePointer<Float> { buffers(count, slots: 1)[0] }

    /// `slots` distinct buffers of at least `count` floats each, one per worker. Call it before the
    /// workers start (it may reallocate); the workers only use the pointers.
    public func buffers(_ count: Int, slots n: Int) -> [UnsafeMutablePointer<Float>] {
        while slots.count < n { slots.append((.allocate(capacity: 1), 0)) }
        for i in 0..<n where count > slots[i].capacity {
            slots[i].pointer.deallocate()
            slots[i] = (.allocate(capacity: count), count)
        }
        return slots[0..<n].map(\.pointer)
    }
}

extension Tensor {
    /// A tensor whose contents the caller overwrites completely (saves the zero fill).
    static func uninitialized(_ shape: [Int], _ fill: (UnsafeMutablePointer<Float>) -> Void) -> Tensor {
        let n = shape.reduce(1, *)
        let data = [Float](unsafeUninitializedCapacity: n) { buf, count in
            fill(buf.baseAddress!)
            count = n
        }
        return Tensor(shape: shape, data: data)
    }
}
