import Foundation

/// The hashes and statistics of a step's recorded tensors, computed on a second core while the
/// training thread goes on (the gradients while the optimizer runs, each parameter as soon as the
/// optimizer has written it). Each tensor is two units of work, its XXH3 hash and its statistics,
/// which either thread takes in the order they were submitted; `finish` has the calling thread
/// take the units nobody has started, waits for the others and returns every result.
///
/// The results do not depend on which thread computed them: a unit is one whole `TensorHash` or
/// `TensorStats` computation. Nothing here decides an order that reaches a record: the recorder
/// keeps each tensor's place in the step (`Recorder.reserve`).
///
/// The helper thread exists only where the process may run on two or more CPUs; with one, every
/// unit is computed by `finish` on the calling thread. It sleeps on a condition variable when there
/// is no work (it never spins), and ends with the lane.
final class DigestLane: @unchecked Sendable {
    struct Result { var hash: UInt64 = 0; var stats = TensorStats(nonFinite: 0) }

    private struct Tensor {
        let dtype: DType
        let shape: [Int]
        let raw: UnsafeRawBufferPointer
    }

    /// Guards everything below; `wake` is signalled when units arrive, finish, or the lane stops.
    private let wake = NSCondition()
    private var tensors: [Tensor] = []
    private var results: [Result] = []
    /// Units not yet taken: unit u is tensor u / 2, its hash when u is even, its statistics when odd.
    private var nextUnit = 0
    private var unitsDone = 0
    private var stopping = false
    private var helperStarted = false
    /// The helper waits on `wake` (a signal is a system call: only then is it sent).
    private var helperSleeping = false
    /// Whether a helper thread is worth having: more than one CPU available to the process.
    private let useHelper: Bool

    init(helper: Bool = ProcessInfo.processInfo.activeProcessorCount > 1) { useHelper = helper }

    /// Starts hashing `raw` (its bytes must stay unchanged until `finish` returns); returns its index
    /// among the results of `finish`.
    func submit(dtype: DType, shape: [Int], raw: UnsafeRawBufferPointer) -> Int {
        wake.lock()
        tensors.append(Tensor(dtype: dtype, shape: shape, raw: raw))
        results.append(Result())
        let index = tensors.count - 1
        if useHelper && !helperStarted {
            helperStarted = true
            let t = Thread { [self] in helperLoop() }
            t.name = "cwrepro.hash"
            t.start()
        }
        if helperSleeping { wake.signal() }
        wake.unlock()
        return index
    }

    /// Computes the units nobody has taken, waits for those in progress on the helper, and returns
    /// the results of every tensor submitted since the last `finish`, in submission order.
    func finish() -> [Result] {
        wake.lock()
        defer { wake.unlock() }
        if useHelper && 2 * tensors.count - nextUnit >= 4 {
            // Enough left to share with one of libdispatch's workers too: the helper may be
            // starved (SCHED_IDLE) while a BLAS worker spins on the other core.
            wake.unlock()
            DispatchQueue.concurrentPerform(iterations: 2) { _ in
                self.wake.lock()
                while self.nextUnit < 2 * self.tensors.count { self.runUnitLocked() }
                self.wake.unlock()
            }
            wake.lock()
        }
        while unitsDone < 2 * tensors.count {
            if nextUnit < 2 * tensors.count {
                runUnitLocked()
            } else {
                wake.wait()
            }
        }
        let out = results
        tensors.removeAll(keepingCapacity: true)
        results.removeAll(keepingCapacity: true)
        nextUnit = 0
        unitsDone = 0
        return out
    }

    /// Ends the helper thread (it holds the lane until then).
    func stop() {
        wake.lock()
        stopping = true
        wake.broadcast()
        wake.unlock()
    }

    private func helperLoop() {
        // The helper only takes time no other thread wants: a training thread, a BLAS worker
        // waiting for its next product, the record writer all come first. Starved, it leaves its
        // units to `finish`, which the training thread runs itself.
        var param = sched_param()
        sched_setscheduler(0, 5 /* SCHED_IDLE: glibc hides the name behind _GNU_SOURCE */, &param)
        wake.lock()
        while !stopping {
            if nextUnit < 2 * tensors.count {
                runUnitLocked()
            } else if !pollForWork() {
                helperSleeping = true
                wake.wait()
                helperSleeping = false
            }
        }
        wake.unlock()
    }

    /// Waking a sleeping thread takes 15-65 us on the VMs measured, the time it takes to hash 1 MB,
    /// and the next tensors usually follow within a fraction of a millisecond (the optimizer
    /// writes one parameter after the other): the helper looks for work for up to `pollNanoseconds`
    /// before it sleeps. It runs under SCHED_IDLE, so this only takes time no other thread wants.
    /// Called and returns with the lock held; true when work arrived or the lane is stopping.
    private func pollForWork() -> Bool {
        let start = DispatchTime.now().uptimeNanoseconds
        while DispatchTime.now().uptimeNanoseconds - start < Self.pollNanoseconds {
            wake.unlock()
            for _ in 0..<64 { _ = DispatchTime.now() }
            wake.lock()
            if stopping || nextUnit < 2 * tensors.count { return true }
        }
        return false
    }

    static let pollNanoseconds: UInt64 = 300_000

    /// Takes the next unit, computes it with the lock released, stores it. Called with the lock held.
    private func runUnitLocked() {
        let unit = nextUnit
        nextUnit += 1
        let t = tensors[unit / 2]
        wake.unlock()
        var r = Result()
        if unit % 2 == 0 {
            r.hash = TensorHash.tensor(dtype: t.dtype, shape: t.shape, raw: t.raw)
        } else {
            r.stats = TensorStats(dtype: t.dtype, raw: t.raw)
        }
        wake.lock()
        if unit % 2 == 0 { results[unit / 2].hash = r.hash } else { results[unit / 2].stats = r.stats }
        unitsDone += 1
        wake.broadcast()
    }
}
