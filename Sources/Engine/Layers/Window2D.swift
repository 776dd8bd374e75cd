import Recorder

/// The geometry of a 2-D sliding window (convolution or pooling) over NCHW input: kernel, stride,
/// explicit padding per side, input and output sizes. Dilation is 1.
///
/// out = floor((in + padBefore + padAfter - k) / stride) + 1 in each dimension. Padding is always
/// stored resolved ([top, bottom, left, right]), so a layer's spec records what "same" meant when
/// the model was built.
public struct Window2D: Equatable, Sendable {
    public var channels: Int, inH: Int, inW: Int
    public var kh: Int, kw: Int
    public var sh: Int, sw: Int
    public var top: Int, bottom: Int, left: Int, right: Int

    public init(channels: Int, inH: Int, inW: Int, kh: Int, kw: Int, sh: Int = 1, sw: Int = 1,
                top: Int = 0, bottom: Int = 0, left: Int = 0, right: Int = 0) {
        self.channels = channels; self.inH = inH; self.inW = inW
        self.kh = kh; self.kw = kw; self.sh = sh; self.sw = sw
        self.top = top; self.bottom = bottom; self.left = left; self.right = right
    }

    public var outH: Int { (inH + top + bottom - kh) / sh + 1 }
    public var outW: Int { (inW + left + right - kw) / sw + 1 }
    public var inPlane: Int { inH * inW }
    public var outPlane: Int { outH * outW }
    /// Rows of the im2col matrix: channels * kh * kw.
    public var patch: Int { channels * kh * kw }
    public var isPointwise: Bool { kh == 1 && kw == 1 && sh == 1 && sw == 1 && top == 0 && bottom == 0 && left == 0 && right == 0 }

    var kernelJSON: JSON { .array([.number(Double(kh)), .number(Double(kw))]) }
    var strideJSON: JSON { .array([.number(Double(sh)), .number(Double(sw))]) }
    var paddingJSON: JSON { .array([top, bottom, left, right].map { .number(Double($0)) }) }
}

extension Window2D {
    /// How "same" padding is split when the total is odd or depends on the stride (`padding.same` knob):
    /// - `symmetric` (PyTorch): total k - 1 per dimension, floor((k-1)/2) before, the rest after
    ///   (torch's `padding="same"`; torch refuses stride > 1, here it is allowed with the same rule).
    /// - `tensorflow`: out = ceil(in / s), total = max((out - 1) s + k - in, 0), floor(total/2)
    ///   before and the extra row/column after (bottom/right), as tf.nn.conv2d and Keras.
    public enum SameMode: String, Sendable, CaseIterable { case symmetric, tensorflow }

    static func samePadding(_ n: Int, k: Int, s: Int, mode: SameMode) -> (Int, Int) {
        let total: Int
        switch mode {
        case .symmetric: total = k - 1
        case .tensorflow:
            let out = (n + s - 1) / s
            total = max((out - 1) * s + k - n, 0)
        }
        return (total / 2, total - total / 2)
    }

    /// Reads `kernelKey` (int or [kh, kw]), `stride` (int or pair; default `defaultStride`, or the
    /// kernel when nil) and `padding` (int | [ph, pw] | [top, bottom, left, right] | "same" | "valid";
    /// default 0) of a layer object whose input has per-sample shape [C, H, W]. Errors name the JSON path.
    static func parse(_ o: ConfigObject, kernelKey: String, defaultStride: Int?, inputShape: [Int],
                      same: SameMode, maxPadding: ((Int) -> Int)? = nil) throws -> (window: Window2D, sameUsed: Bool) {
        let path = o.path
        guard inputShape.count == 3, inputShape.allSatisfy({ $0 >= 1 }) else {
            throw InputError("\(path): expects per-sample input [channels, height, width], got \(inputShape); the data or the layer before gives the wrong shape")
        }
        let (c, h, w) = (inputShape[0], inputShape[1], inputShape[2])
        func pair(_ key: String) throws -> (Int, Int)? {
            guard let v = o.raw(key) else { return nil }
            let p: (Int, Int)
            switch v {
            case .number: let k = try o.int(key)!; p = (k, k)
            case .array(let a) where a.count == 2: let k = try o.ints(key)!; p = (k[0], k[1])
            default: throw InputError("\(path).\(key): expected an integer or [height, width], found \(v.text)")
            }
            guard (1...1 << 20).contains(p.0), (1...1 << 20).contains(p.1) else {
                throw InputError("\(path).\(key): \(v.text) is out of range; each must be 1...\(1 << 20)")
            }
            return p
        }
        guard let (kh, kw) = try pair(kernelKey) else {
            throw InputError("\(path).\(kernelKey): missing; give an integer or [height, width]")
        }
        let (sh, sw) = try pair("stride") ?? (defaultStride.map { ($0, $0) } ?? (kh, kw))
        var pad = [0, 0, 0, 0]
        var sameUsed = false
        switch o.raw("padding") {
        case nil: break
        case .string("valid")?: break
        case .string("same")?:
            sameUsed = true
            let (t, b) = samePadding(h, k: kh, s: sh, mode: same), (l, r) = samePadding(w, k: kw, s: sw, mode: same)
            pad = [t, b, l, r]
        case .number?:
            let p = try o.int("padding")!
            pad = [p, p, p, p]
        case .array(let a)? where a.count == 2 || a.count == 4:
            let p = try o.ints("padding")!
            pad = p.count == 4 ? p : [p[0], p[0], p[1], p[1]]
        case let v?:
            throw InputError("\(path).padding: expected an integer, [top, bottom, left, right], [vertical, horizontal], \"same\" or \"valid\"; found \(v.text)")
        }
        guard pad.allSatisfy({ (0...1 << 20).contains($0) }) else {
            throw InputError("\(path).padding: \(pad) is out of range; each side must be 0...\(1 << 20)")
        }
        if let maxPad = maxPadding {
            let sides = ["top", "bottom", "left", "right"], ks = [kh, kh, kw, kw]
            for i in 0..<4 where pad[i] > maxPad(ks[i]) {
                let (side, p) = (sides[i], pad[i])
                throw InputError("\(path).padding: \(side) padding \(p) is too large for the window \(kh)x\(kw) (at most \(maxPad(ks[i]))); a window would cover padding only")
            }
        }
        let win = Window2D(channels: c, inH: h, inW: w, kh: kh, kw: kw, sh: sh, sw: sw,
                           top: pad[0], bottom: pad[1], left: pad[2], right: pad[3])
        let ph = h + pad[0] + pad[1], pw = w + pad[2] + pad[3]
        if kh > ph || kw > pw {
            let k = kh == kw ? "\(kh)" : "\(kh)x\(kw)"
            throw InputError("\(path).\(kernelKey): \(k) is larger than the padded input \(ph)x\(pw)")
        }
        guard c * win.outPlane <= 1 << 31 else {
            throw InputError("\(path): the output \(c)x\(win.outH)x\(win.outW) per sample is too large")
        }
        return (win, sameUsed)
    }
}
