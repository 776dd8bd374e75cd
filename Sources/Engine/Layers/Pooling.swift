import Recorder

/// Max pooling over each channel plane (torch.nn.MaxPool2d, keras MaxPooling2D). Padding counts
/// as -inf (never selected); windows are clipped to the input. y = the first maximum in row-major
/// scan order (a NaN propagates, as in torch); backward routes dy to that element
/// (dx[argmax] += dy, so overlapping windows add up).
public final class MaxPool2D: Layer {
    public let name: String
    public let geometry: Window2D
    public var outputShape: [Int] { [geometry.channels, geometry.outH, geometry.outW] }
    /// Per output element: the index of the chosen input element within its plane.
    private var argmax: [Int32] = []
    private var inputShape: [Int] = []

    public init(name: String, geometry: Window2D) { self.name = name; self.geometry = geometry }

    public var spec: JSON {
        .object(["type": .string("maxpool"), "size": geometry.kernelJSON, "stride": geometry.strideJSON, "padding": geometry.paddingJSON])
    }


    public func forward(_ x: Tensor, _ ctx: Context) -> Tensor {
        let g = geometry, planes = x.batch * g.channels, op = g.outPlane
        if ctx.training { inputShape = x.shape }
        if argmax.count < planes * op { argmax = [Int32](repeating: 0, count: planes * op) }
        let pairs = g.kh == 2 && g.kw == 2 && g.sw == 2 && g.top == 0 && g.bottom == 0 && g.left == 0 && g.right == 0
        return x.data.withUnsafeBufferPointer { xp in
            argmax.withUnsafeMutableBufferPointer { am in
                let amBase = am.baseAddress!
                return Tensor.uninitialized([x.batch, g.channels, g.outH, g.outW]) { y in
                    Parallel.chunks(planes, threads: ctx.threads, work: x.count) { r in
                        for pl in r {
                            let src = xp.baseAddress! + pl &* g.inPlane
                            let yp = y + pl &* op, ap = amBase + pl &* op
                            if pairs { MaxPool2D.plane2x2(src, g, yp, ap) } else { MaxPool2D.plane(src, g, yp, ap) }
                        }
                    }
                }
            }
        }
    }

    /// One plane, any window: scan the window clipped to the input (padding never wins).
    static func plane(_ src: UnsafePointer<Float>, _ g: Window2D, _ y: UnsafeMutablePointer<Float>, _ am: UnsafeMutablePointer<Int32>) {
        var out = 0
        for oh in 0..<g.outH {
            let h0 = oh &* g.sh &- g.top, hs = max(h0, 0), he = min(h0 &+ g.kh, g.inH)
            for ow in 0..<g.outW {
                let w0 = ow &* g.sw &- g.left, ws = max(w0, 0), we = min(w0 &+ g.kw, g.inW)
                var best = -Float.infinity, at = hs &* g.inW &+ ws
                var h = hs
                while h < he {
                    let row = h &* g.inW
                    var w = ws
                    while w < we {
                        let v = src[row &+ w]
                        if v > best || v.isNaN { best = v; at = row &+ w }
                        w &+= 1
                    }
                    h &+= 1
                }
                y[out] = best; am[out] = Int32(truncatingIfNeeded: at)
                out &+= 1
            }
        }
    }

    /// One plane, unpadded 2x2 windows at column stride 2 (the common CNN pooling), the same scan
    /// order and tie rule as `plane`: per window a, b (row r), d, e (row r + 1); a later element
    /// wins when it is greater or NaN. Eight windows at a time: the even and odd columns of 16
    /// inputs; a row's last eight windows overlap the previous eight when the row is not a
    /// multiple of 8 (they are written twice with the same values).
    static func plane2x2(_ src: UnsafePointer<Float>, _ g: Window2D, _ y: UnsafeMutablePointer<Float>, _ am: UnsafeMutablePointer<Int32>) {
        let w = g.inW, outW = g.outW
        let lanes = SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14)
        @inline(__always) func pick(_ best: inout SIMD8<Float>, _ at: inout SIMD8<Int32>, _ v: SIMD8<Float>, _ i: SIMD8<Int32>) {
            let m = (v .> best) .| (v .!= v)
            best.replace(with: v, where: m)
            at.replace(with: i, where: m)
        }
        @inline(__always) func window8(_ c: Int, _ out: Int) {
            let r0 = UnsafeRawPointer(src + c).loadUnaligned(as: SIMD16<Float>.self)
            let r1 = UnsafeRawPointer(src + (c &+ w)).loadUnaligned(as: SIMD16<Float>.self)
            let i0 = SIMD8<Int32>(repeating: Int32(truncatingIfNeeded: c)) &+ lanes
            var best = r0.evenHalf, at = i0
            pick(&best, &at, r0.oddHalf, i0 &+ 1)
            pick(&best, &at, r1.evenHalf, i0 &+ Int32(truncatingIfNeeded: w))
            pick(&best, &at, r1.oddHalf, i0 &+ Int32(truncatingIfNeeded: w &+ 1))
            UnsafeMutableRawPointer(y + out).storeBytes(of: best, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(am + out).storeBytes(of: at, as: SIMD8<Int32>.self)
        }
        for oh in 0..<g.outH {
            let r0 = oh &* g.sh &* w, o0 = oh &* outW
            var ow = 0
            if outW >= 8 {
                while ow &+ 8 <= outW { window8(r0 &+ 2 &* ow, o0 &+ ow); ow &+= 8 }
                if ow < outW { window8(r0 &+ 2 &* (outW &- 8), o0 &+ outW &- 8); ow = outW }
            }
            while ow < outW {
                let c = r0 &+ 2 &* ow
                var best = src[c], at = c
                let b = src[c &+ 1], d = src[c &+ w], e = src[c &+ w &+ 1]
                if b > best || b.isNaN { best = b; at = c &+ 1 }
                if d > best || d.isNaN { best = d; at = c &+ w }
                if e > best || e.isNaN { best = e; at = c &+ w &+ 1 }
                y[o0 &+ ow] = best; am[o0 &+ ow] = Int32(truncatingIfNeeded: at)
                ow &+= 1
            }
        }
    }

    /// dx = 0, then dx[argmax] += dy over the outputs in order (overlapping windows add up).
    public func backward(_ dy: Tensor, _ ctx: Context) -> Tensor {
        let g = geometry, planes = dy.batch * g.channels, op = g.outPlane, n = inputShape.reduce(1, *)
        return dy.data.withUnsafeBufferPointer { d in
            argmax.withUnsafeBufferPointer { am in
                Tensor.uninitialized(inputShape) { dxBase in
                    Parallel.chunks(planes, threads: ctx.threads, work: n) { r in
                        for pl in r {
                            // Zeroed plane by plane, so the scatter finds it in L1 (a thread's
                            // whole range, zeroed first, was 3 MB for the MNIST CNN's first layer).
                            let plane = dxBase + pl &* g.inPlane
                            plane.update(repeating: 0, count: g.inPlane)
                            var i = pl &* op
                            while i < pl &* op &+ op { plane[Int(am[i])] += d[i]; i &+= 1 }
                        }
                    }
                }
            }
        }
    }
}

/// Average pooling (torch.nn.AvgPool2d, keras AveragePooling2D): y = (sum of the window's input
/// elements, row-major order) / divisor, where divisor = kh*kw when `countIncludePad` (torch's
/// default count_include_pad=True) or the number of non-padding elements (TF/Keras "same").
/// Default: false for padding "same", true otherwise. Backward: dx += dy / divisor over the window.
public final class AvgPool2D: Layer {
    public let name: String
    public let geometry: Window2D
    public let countIncludePad: Bool
    public var outputShape: [Int] { [geometry.channels, geometry.outH, geometry.outW] }
    private var inputShape: [Int] = []

    public init(name: String, geometry: Window2D, countIncludePad: Bool) {
        self.name = name; self.geometry = geometry; self.countIncludePad = countIncludePad
    }

    public var spec: JSON {
        .object(["type": .string("avgpool"), "size": geometry.kernelJSON, "stride": geometry.strideJSON,
                 "padding": geometry.paddingJSON, "countIncludePad": .bool(countIncludePad)])
    }

    /// Calls body(outIndex, hs, he, ws, we, divisor) for every output of one plane.
    @inline(__always)
    private func windows(_ body: (Int, Int, Int, Int, Int, Float) -> Void) {
        let g = geometry
        var out = 0
        for oh in 0..<g.outH {
            let h0 = oh &* g.sh &- g.top, hs = max(h0, 0), he = min(h0 &+ g.kh, g.inH)
            for ow in 0..<g.outW {
                let w0 = ow &* g.sw &- g.left, ws = max(w0, 0), we = min(w0 &+ g.kw, g.inW)
                let divisor = countIncludePad ? Float(g.kh &* g.kw) : Float((he &- hs) &* (we &- ws))
                body(out, hs, he, ws, we, divisor)
                out &+= 1
            }
        }
    }

    public func forward(_ x: Tensor, _ ctx: Context) -> Tensor {
        let g = geometry, planes = x.batch * g.channels, op = g.outPlane
        if ctx.training { inputShape = x.shape }
        return Tensor.uninitialized([x.batch, g.channels, g.outH, g.outW]) { y in
            x.data.withUnsafeBufferPointer { xp in
                Parallel.chunks(planes, threads: ctx.threads, work: x.count) { r in
                    for pl in r {
                        let src = xp.baseAddress! + pl &* g.inPlane, dst = y + pl &* op
                        windows { out, hs, he, ws, we, divisor in
                            var sum: Float = 0
                            for h in hs..<he { for w in ws..<we { sum += src[h &* g.inW &+ w] } }
                            dst[out] = sum / divisor
                        }
                    }
                }
            }
        }
    }

    public func backward(_ dy: Tensor, _ ctx: Context) -> Tensor {
        let g = geometry, planes = dy.batch * g.channels, op = g.outPlane
        var dx = Tensor(zeros: inputShape)
        dx.data.withUnsafeMutableBufferPointer { dxp in
            dy.data.withUnsafeBufferPointer { d in
                let dxBase = dxp.baseAddress!
                Parallel.chunks(planes, threads: ctx.threads, work: dxp.count) { r in
                    for pl in r {
                        let plane = dxBase + pl &* g.inPlane, src = d.baseAddress! + pl &* op
                        windows { out, hs, he, ws, we, divisor in
                            let v = src[out] / divisor
                            for h in hs..<he { for w in ws..<we { plane[h &* g.inW &+ w] += v } }
                        }
                    }
                }
            }
        }
        return dx
    }
}

/// Global average pooling: [N, C, H, W] -> [N, C], y[n, c] = (sum over the plane in the
/// configured reduction order) / (H*W) (keras GlobalAveragePooling2D, torch AdaptiveAvgPool2d(1)
/// + flatten). Backward: dx[n, c, :, :] = dy[n, c] / (H*W).
public final class GlobalAvgPool: Layer {
    public let name: String
    public let inputShape: [Int]
    public var outputShape: [Int] { [inputShape[0]] }

    public init(name: String, inputShape: [Int]) { self.name = name; self.inputShape = inputShape }

    public var spec: JSON { .object(["type": .string("globalavgpool")]) }

    public func forward(_ x: Tensor, _ ctx: Context) -> Tensor {
        let planes = x.batch * inputShape[0], size = inputShape[1] * inputShape[2]
        let div = Float(size)
        return Tensor.uninitialized([x.batch, inputShape[0]]) { y in
            x.data.withUnsafeBufferPointer { xp in
                for pl in 0..<planes { y[pl] = Reduce.sum(xp.baseAddress! + pl &* size, count: size, mode: ctx.reduction) / div }
            }
        }
    }

    public func backward(_ dy: Tensor, _ ctx: Context) -> Tensor {
        let planes = dy.batch * inputShape[0], size = inputShape[1] * inputShape[2]
        let div = Float(size)
        return Tensor.uninitialized([dy.batch] + inputShape) { dx in
            dy.data.withUnsafeBufferPointer { d in
                for pl in 0..<planes { (dx + pl &* size).update(repeating: d[pl] / div, count: size) }
            }
        }
    }
}
