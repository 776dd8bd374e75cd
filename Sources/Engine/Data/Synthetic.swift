/// A learnable synthetic image dataset generated from recorded draws: each class has a
/// prototype (per channel a smooth pattern sin(fx*x + fy*y + phase) with class-dependent
/// frequencies and phase, mapped to [0, 1]); a sample is its class prototype plus uniform noise
/// in [-0.5, 0.5) * 0.6. Labels cycle through the classes and are then shuffled.
/// Sites: `data/synthetic/prototypes`, `data/synthetic/<split>`, `data/synthetic/labels-<split>`.
public enum Synthetic {
    public static func make(shape: [Int], classes: Int, trainSize: Int, testSize: Int,
                            uniform: (_ site: String, _ count: Int) -> [Float]) -> DataSplit {
        let (c, h, w) = shape.count == 3 ? (shape[0], shape[1], shape[2]) : shape.count == 2 ? (1, shape[0], shape[1]) : (1, 1, shape[0])
        let size = c * h * w
        let params = uniform("data/synthetic/prototypes", classes * c * 3)
        var protos = [Float](repeating: 0, count: classes * size)
        for k in 0..<classes {
            for ch in 0..<c {
                let p = params[(k * c + ch) * 3..<(k * c + ch) * 3 + 3].map { $0 }
                let fx = 0.5 + 3 * p[0], fy = 0.5 + 3 * p[1], phase = 6.2831855 * p[2]
                for y in 0..<h {
                    for x in 0..<w {
                        let u = Float(x) / Float(max(w, 1)) * 6.2831855, v = Float(y) / Float(max(h, 1)) * 6.2831855
                        protos[k * size + ch * h * w + y * w + x] = 0.5 + 0.5 * sinApprox(fx * u + fy * v + phase)
                    }
                }
            }
        }
        func split(_ name: String, _ n: Int) -> Dataset {
            var labels = (0..<n).map { Int32($0 % classes) }
            let keys = uniform("data/synthetic/labels-\(name)", n)
            labels = zip(keys, labels).sorted { $0.0 < $1.0 }.map(\.1)
            // The noise becomes the samples in place (one buffer of n x size, not two).
            var x = uniform("data/synthetic/\(name)", n * size)
            x.withUnsafeMutableBufferPointer { xp in
                for i in 0..<n {
                    let base = Int(labels[i]) * size
                    for j in 0..<size { xp[i * size + j] = protos[base + j] + (xp[i * size + j] - 0.5) * 0.6 }
                }
            }
            return Dataset(images: x, labels: labels, sampleShape: shape, classes: classes)
        }
        return DataSplit(train: split("train", trainSize), test: split("test", testSize))
    }

    /// sin through Foundation-free Float math (Bhaskara-free: a 7th-order Taylor after range
    /// reduction), so the data are identical on every platform's libm.
    static func sinApprox(_ t: Float) -> Float {
        let twoPi: Float = 6.2831855
        var x = t - twoPi * (t / twoPi).rounded(.down)   // [0, 2pi)
        if x > .pi { x -= twoPi }                          // (-pi, pi]
        if x > .pi / 2 { x = .pi - x } else if x < -.pi / 2 { x = -.pi - x }
        let x2 = x * x
        return x * (1 - x2 / 6 * (1 - x2 / 20 * (1 - x2 / 42)))
    }
}
