/// im2col / col2im for one sample, and the scratch buffers that hold the column matrix.
///
/// col[(c*kh + i)*kw + j, oh*outW + ow] = x[c, oh*sh - top + i, ow*sw - left + j], 0 in the padding:
/// a [C*kh*kw, outH*outW] row-major matrix, so a convolution is W[O, C*kh*kw] x col.
/// col2im is its transpose: it adds every col entry back onto the input element it came from.
public enum Im2col {
    /// The range of output columns ow whose input column ow*s - pad + j falls inside [0, n).
    @inline(__always)
    static func validRange(j: Int, pad: Int, stride s: Int, n: Int, out: Int) -> (Int, Int) {
        // ow*s + j - pad >= 0  <=>  ow >= ceil((pad - j) / s);  ow*s + j - pad < n  <=>  ow <= floor((n - 1 + pad - j) / s)
        let lo = pad - j <= 0 ? 0 : (pad - j + s - 1) / s
        let hiNum = n - 1 + pad - j
        let hi = hiNum < 0 ? 0 : min(out, hiNum / s + 1)
        return (min(lo, hi), hi)
    }

    /// Writes the column matrix of the sample at `x` ([C, H, W]) into `col`.
    public static func forward(_ x: UnsafePointer<Float>, _ g: Window2D, into col: UnsafeMutablePointer<Float>) {
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
                            dst.update(repeating: 0, count: outW)
                        } else {
                            if lo > 0 { dst.update(repeating: 0, count: lo) }
                            let src = plane + (ih &* inW &+ lo &* sw &+ j &- g.left)
                            if sw == 1 {
                                (dst + lo).update(from: src, count: hi &- lo)
                            } else {
                                var ow = lo, s = src
                                while ow < hi { dst[ow] = s.pointee; s += sw; ow &+= 1 }
                            }
                            if hi < outW { (dst + hi).update(repeating: 0, count: outW &- hi) }
                        }
                        dst += outW
                    }
                    row += g.outPlane
                }
            }
        }
    }

    /// dx[C, H, W] += col2im(dcol): every entry of `dcol` is added onto the input element that the
    /// matching col entry was read from (padding entries are dropped). `dx` must be initialised.
    public static func backward(_ dcol: UnsafePointer<Float>, _ g: Window2D, into dx: UnsafeMutablePointer<Float>) {
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
                                var ow = lo
                                while ow < hi { d[ow &- lo] += src[ow]; ow &+= 1 }
                            } else {
                                var ow = lo, p = d
                                while ow < hi { p.pointee += src[ow]; p += sw; ow &+= 1 }
                            }
                        }
                        src += outW
                    }
                    row += g.outPlane
                }
            }
        }
    }
}

/// A growable Float32 buffer owned by one layer and reused across steps (no allocation per step
/// once the largest batch has been seen). Contents are undefined between uses.
public final class Scratch {
    private(set) var pointer: UnsafeMutablePointer<Float>
    private(set) var capacity = 0

    public init() { pointer = .allocate(capacity: 1) }
    deinit { pointer.deallocate() }

    /// At least `count` floats.
    public func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            pointer.deallocate()
            pointer = .allocate(capacity: count)
            capacity = count
        }
        return pointer
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
