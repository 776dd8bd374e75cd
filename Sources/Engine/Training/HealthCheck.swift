import Recorder

/// Training stopped at a non-finite loss, gradient or parameter (exit code 1 on the command
/// line; `--allow-nonfinite` trains on). Names the step and the first tensor, in execution
/// order, holding a NaN or an infinity.
public struct NonFiniteError: Error, CustomStringConvertible, Equatable {
    public var step: Int
    public var loss: Float
    /// The first non-finite tensor in execution order: name, role, bad and total element counts.
    public var tensor: String
    public var role: TensorRole
    public var bad: Int
    public var count: Int

    public var description: String {
        let what = loss.isFinite ? "loss is \(loss) but not every \(role == .param ? "parameter" : "gradient") is finite" : "loss is \(loss.isNaN ? "NaN" : "\(loss)")"
        return "step \(step): \(what); first non-finite tensor in execution order: \(tensor) (\(role.rawValue)), \(bad) of \(count) elements"
    }
}

/// NaN and Inf count of `n` floats at `p` (Recorder's vectorised count, ~12 G elements/s).
@inline(__always)
func nonFiniteCount(_ p: UnsafePointer<Float>, _ n: Int) -> Int { Recorder.nonFiniteCount(UnsafeBufferPointer(start: p, count: n)) }

extension Trainer {
    /// After a step's update: nil when the loss, every gradient and every parameter are finite,
    /// else the report. With hashing on, the recorder's per-tensor counts give the first bad tensor
    /// in execution order (activations included at that level); otherwise the loss, gradients
    /// (layout order) and parameters are scanned directly, in that order.
    func healthCheck(step: Int, loss: Float) -> NonFiniteError? {
        let p = model.params
        let gradsBad = nonFiniteCount(p.grads, p.count), paramsBad = nonFiniteCount(p.values, p.count)
        guard !loss.isFinite || gradsBad > 0 || paramsBad > 0 else { return nil }
        if recorder.hashing, let e = recorder.currentEvents.first(where: { $0.nonFinite > 0 }) {
            return NonFiniteError(step: step, loss: loss, tensor: e.name, role: e.role, bad: e.nonFinite,
                                  count: e.shape.reduce(1, *))
        }
        if !loss.isFinite { return NonFiniteError(step: step, loss: loss, tensor: "loss", role: .loss, bad: 1, count: 1) }
        for (role, base) in [(TensorRole.grad, p.grads), (.param, p.values)] {
            for e in p.entries where role == .param || e.trainable {
                let bad = nonFiniteCount(base + e.offset, e.count)
                if bad > 0 { return NonFiniteError(step: step, loss: loss, tensor: e.name, role: role, bad: bad, count: e.count) }
            }
        }
        return nil
    }
}
