import Foundation

/// Mean softmax cross-entropy from logits, with label smoothing e (torch's F.cross_entropy):
///   logp = x - max(x) - log(sum exp(x - max(x)))
///   target_k = (1 - e) [k = y] + e / C
///   loss = (1/N) sum_i sum_k -target_ik logp_ik   (the sum over i in `reduction`'s order)
///   dL/dx_ik = (softmax_ik - target_ik) / N
public enum CrossEntropy {
    public static func forwardBackward(logits: Tensor, labels: [Int32], smoothing: Float, reduction: BatchReduction,
                                       wantGrad: Bool = true) -> (loss: Float, grad: Tensor, perSample: [Float]) {
        let n = logits.batch, c = logits.sampleSize
        var grad = Tensor(zeros: logits.shape)
        var losses = [Float](repeating: 0, count: n)
        logits.data.withUnsafeBufferPointer { x in
            grad.data.withUnsafeMutableBufferPointer { g in
                for i in 0..<n {
                    let row = x.baseAddress! + i * c
                    var m = -Float.infinity
                    for k in 0..<c { m = max(m, row[k]) }
                    var s: Float = 0
                    for k in 0..<c { s += Foundation.exp(row[k] - m) }
                    let lse = Foundation.log(s)
                    let y = Int(labels[i])
                    var l = -(row[y] - m - lse)
                    if smoothing > 0 {
                        var sumNeg: Float = 0
                        for k in 0..<c { sumNeg += -(row[k] - m - lse) }
                        l = (1 - smoothing) * l + smoothing * (sumNeg / Float(c))
                    }
                    losses[i] = l
                    if wantGrad {
                        let gi = g.baseAddress! + i * c
                        let invN = 1 / Float(n)
                        for k in 0..<c {
                            let p = Foundation.exp(row[k] - m - lse)
                            let t = (k == y ? 1 - smoothing : 0) + smoothing / Float(c)
                            gi[k] = (p - t) * invN
                        }
                    }
                }
            }
        }
        let total = losses.withUnsafeBufferPointer { reduction.sum($0.baseAddress!, count: n) }
        return (total / Float(n), grad, losses)
    }
}
