/// One optimizer state buffer (momentum, `exp_avg`, ...) in the parameter layout, at one address
/// for the optimizer's life. The recorder hashes a buffer on its second core after the optimizer
/// has written it (`Recorder.reserve`), which needs memory that an update cannot move: an Array's
/// copy-on-write storage could be replaced by the next write while a copy of it is alive.
public final class StateBuffer {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    /// `count` zeros.
    init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(1, count))
        pointer.initialize(repeating: 0, count: max(1, count))
    }

    deinit { pointer.deallocate() }

    /// The values, copied (checkpoints, tests).
    public var values: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// Elements `offset ..< offset + count` (one parameter's part), read-only.
    public func slice(_ offset: Int, _ count: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: pointer + offset, count: count)
    }

    /// Overwrites every element with `values` (a restored checkpoint), whose count must match.
    func assign(_ values: [Float]) {
        precondition(values.count == count, "optimizer state: \(values.count) values for a buffer of \(count)")
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
    }
}
