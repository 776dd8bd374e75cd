import Recorder

/// Max pooling whose padding holds zeros, as Keras applications build it: `ZeroPadding2D(p)` and
/// then `MaxPooling2D(k, s)` with "valid" padding (keras/src/applications/resnet.py `pool1_pad`,
/// densenet.py). torch's `MaxPool2d(padding=p)` (and `MaxPool2D` here) pads with -inf instead,
/// so padding is never selected.
///
///   y = maxpool_valid(pad0(x)),   pad0(x) = x surrounded by top/bottom/left/right zeros
///   dx = crop(maxpool_valid'(dy))   (a window whose first maximum is a padding zero routes its
///                                    gradient to the padding, where it is dropped)
///
/// After a ReLU (every value >= 0) the outputs equal torch's; before one, a window of negative
/// values outputs 0 here and its maximum there. JSON: `{"type": "maxpool", ..., "padValue": "zero"}`.
public final class ZeroPaddedMaxPool: Layer {
    public let name: String
    /// The window over the unpadded input, padding included (as `MaxPool2D`'s geometry).
    public let geometry: Window2D
    /// Max pooling without padding over the zero-padded input.
    let inner: MaxPool2D
    public var outputShape: [Int] { [geometry.channels, geometry.outH, geometry.outW] }

    public init(name: String, geometry g: Window2D) {
        self.name = name
        geometry = g
        inner = MaxPool2D(name: name, geometry: Window2D(channels: g.channels, inH: g.inH + g.top + g.bottom, inW: g.inW + g.left + g.right,
                                                         kh: g.kh, kw: g.kw, sh: g.sh, sw: g.sw))
    }

    public var spec: JSON {
        .object(["type": .string("maxpool"), "size": geometry.kernelJSON, "stride": geometry.strideJSON,
                 "padding": geometry.paddingJSON, "padValue": .string("zero")])
    }

    public func forward(_ x: Tensor, _ ctx: Context) -> Tensor {
        let g = geometry, planes = x.batch * g.channels
        let ph = g.inH + g.top + g.bottom, pw = g.inW + g.left + g.right
        var padded = Tensor(zeros: [x.batch, g.channels, ph, pw])
        padded.data.withUnsafeMutableBufferPointer { dst in
            x.data.withUnsafeBufferPointer { src in
                for pl in 0..<planes {
                    for h in 0..<g.inH {
                        let to: Int = (pl * ph + h + g.top) * pw + g.left
                        let from: Int = (pl * g.inH + h) * g.inW
                        (dst.baseAddress! + to).update(from: src.baseAddress! + from, count: g.inW)
                    }
                }
            }
        }
        return inner.forward(padded, ctx)
    }

    public func backward(_ dy: Tensor, _ ctx: Context) -> Tensor {
        let g = geometry, planes = dy.batch * g.channels
        let ph = g.inH + g.top + g.bottom, pw = g.inW + g.left + g.right
        let dPadded = inner.backward(dy, ctx)
        return Tensor.uninitialized([dy.batch, g.channels, g.inH, g.inW]) { dx in
            dPadded.data.withUnsafeBufferPointer { src in
                for pl in 0..<planes {
                    for h in 0..<g.inH {
                        let to: Int = (pl * g.inH + h) * g.inW
                        let from: Int = (pl * ph + h + g.top) * pw + g.left
                        (dx + to).update(from: src.baseAddress! + from, count: g.inW)
                    }
                }
            }
        }
    }
}
