import CCPUFeatures
import CTensorStats
import CXXHash
import Foundation

/// The hashes and statistics of a step's recorded tensors, computed on a second core while the
/// training thread goes on (each layer's gradients as its backward pass ends, each parameter as
/// soon as the optimizer has written it). A tensor is two streams of work, its XXH3 hash and its
/// statistics, each taken 256 KB at a time by whichever thread is free, in submission order;
/// `finish` has the calling thread take what is left, waits for the pieces in progress (at most
/// one per thread) and returns every result.
///
/// The results do not depend on which thread computed which piece: a stream's pieces run one
/// after the other, through XXH3's streaming state (the value of the one-shot hash) and the
/// statistics' lane accumulators (`cw_sums_f32_update`, pieces of a multiple of 16 elements).
/// Nothing here decides an order that reaches a record: the recorder keeps each tensor's place
/// in the step (`Recorder.reserve`).
///
/// The helper thread is kept off the CPU the training thread is on (the scheduler would otherwise
/// put a woken helper beside it, and leave the other CPU to a BLAS worker that spins waiting for its
/// next product). When the training threads take every CPU the recorder turns the helper off
/// (`helper`) and `finish` computes every piece on the training thread. Sharing `finish` with the
/// helper cost more than it saved there: the helper's reads leave the step's tensors in the other
/// core's cache, and the next step's writes to them (zeroing the gradients, the optimizer) wait
/// for those lines. The MLP 784-512-512-10 at two threads on two cores recorded at +32% to +38% a
/// step with the helper in `finish`, +15% to +16% without. With one CPU every piece is computed
/// by `finish`.
final class DigestLane: @unchecked Sendable {
    struct Result { var hash: UInt64 = 0; var stats = TensorStats(nonFinite: 0) }

    /// Bytes per piece: 6-7 us of hashing or statistics on Zen 4, so a thread that waits for a
    /// piece in progress elsewhere waits little, even behind a slow CPU.
    static let pieceBytes = 256 << 10

    private struct Tensor {
        let dtype: DType
        let shape: [Int]
        let raw: UnsafeRawBufferPointer
    }

    /// One of a tensor's two computations and how far it has got.
    private final class Stream {
        let tensor: Int
        let isHash: Bool
        var offset = 0
        var busy = false
        var done = false
        var xxh: OpaquePointer?
        var sums = cw_sums_f32_state()
        init(tensor: Int, isHash: Bool) { self.tensor = tensor; self.isHash = isHash }
    }

    /// Guards everything below; `wake` is signalled when work arrives, a piece ends, or the lane stops.
    private let wake = NSCondition()
    private var tensors: [Tensor] = []
    private var results: [Result] = []
    private var streams: [Stream] = []
    /// Streams before this index are done (the search for work starts here).
    private var firstOpen = 0
    private var streamsDone = 0
    private var stopping = false
    private var helperStarted = false
    private var helperThread: pthread_t?
    /// The CPU the helper was last kept off (the training thread's), -1 before the first time.
    private var helperKeptOff: Int32 = -1
    /// `finish` is running: the helper takes what is left of the step with the training thread.
    private var finishing = false
    /// Steps (finishes) left during which the helper gets no work, after it stalled a `finish`.
    private var benched = 0
    static let stallNanoseconds: UInt64 = 1_000_000
    static let benchFinishes = 100

    /// Whether pieces go to the helper as they are submitted. Called with the lock held.
    private var helperWanted: Bool { useHelper && cpus > 1 && benched == 0 }
    /// The helper waits on `wake` (a signal is a system call: only then is it sent).
    private var helperSleeping = false
    private let cpus = ProcessInfo.processInfo.activeProcessorCount
    private var useHelper: Bool

    init(helper: Bool = true) { useHelper = helper }

    /// Whether work goes to a helper thread as it arrives: worth it when a CPU is free (training on
    /// fewer threads than the process has CPUs), never with one CPU.
    var helper: Bool {
        get { wake.lock(); defer { wake.unlock() }; return useHelper && cpus > 1 }
        set { wake.lock(); useHelper = newValue; wake.unlock() }
    }

    /// Starts hashing `raw` (its bytes must stay unchanged until `finish` returns); returns its index
    /// among the results of `finish`.
    func submit(dtype: DType, shape: [Int], raw: UnsafeRawBufferPointer) -> Int {
        wake.lock()
        defer { wake.unlock() }
        let index = tensors.count
        tensors.append(Tensor(dtype: dtype, shape: shape, raw: raw))
        results.append(Result())
        streams.append(Stream(tensor: index, isHash: true))
        streams.append(Stream(tensor: index, isHash: false))
        guard helperWanted else { return index }
        callHelper()
        return index
    }

    /// Starts the helper or wakes it, kept off the calling thread's CPU. Called with the lock held.
    private func callHelper() {
        if !helperStarted {
            helperStarted = true
            let t = Thread { [self] in helperLoop() }
            t.name = "cwrepro.hash"
            t.start()
        }
        let cpu = cw_current_cpu()
        if cpu >= 0 && cpu != helperKeptOff, let helperThread {
            _ = cw_keep_thread_off_cpu(helperThread, cpu)
            helperKeptOff = cpu
        }
        if helperSleeping { wake.signal() }
    }

    /// Computes the pieces nobody has taken, waits for those in progress elsewhere, and returns the
    /// results of every tensor submitted since the last `finish`, in submission order.
    func finish() -> [Result] {
        wake.lock()
        defer { wake.unlock() }
        if helperWanted && pendingBytes() >= 2 * Self.pieceBytes {
            finishing = true
            callHelper()
        }
        var waited: UInt64 = 0
        while streamsDone < streams.count {
            if runPieceLocked() { continue }
            let t0 = DispatchTime.now().uptimeNanoseconds
            wake.wait()
            waited += DispatchTime.now().uptimeNanoseconds - t0
        }
        finishing = false
        // A piece takes microseconds: waiting a millisecond for the helper's means its CPU is not
        // running it (another tenant's, on a shared machine). The step's work stays on this thread
        // for the next `benchFinishes` steps, then the helper is tried again.
        if waited > Self.stallNanoseconds { benched = Self.benchFinishes } else if benched > 0 { benched -= 1 }
        let out = results
        tensors.removeAll(keepingCapacity: true)
        results.removeAll(keepingCapacity: true)
        streams.removeAll(keepingCapacity: true)
        firstOpen = 0
        streamsDone = 0
        return out
    }

    /// Ends the helper thread (it holds the lane until then).
    func stop() {
        wake.lock()
        stopping = true
        wake.broadcast()
        wake.unlock()
    }

    private func pendingBytes() -> Int {
        streams[firstOpen...].reduce(0) { $0 + ($1.done ? 0 : tensors[$1.tensor].raw.count - $1.offset) }
    }

    private func helperLoop() {
        wake.lock()
        helperThread = pthread_self()
        while !stopping {
            if (helperWanted || finishing) && runPieceLocked() { continue }
            // Poll only within a step (between tensors): after `finish` the next work is a
            // forward and backward pass away.
            if !helperWanted || streams.isEmpty || !pollForWork() {
                helperSleeping = true
                wake.wait()
                helperSleeping = false
            }
        }
        wake.unlock()
    }

    /// Waking a sleeping thread takes 15-65 us on the VMs measured (the time it takes to hash 1 MB),
    /// and the next tensors usually follow within a fraction of a millisecond (the optimizer writes
    /// one parameter after the other): with background work on, that is with a CPU to spare, the
    /// helper looks for work for up to `pollNanoseconds` before it sleeps. Called and returns with
    /// the lock held; true when work arrived or the lane is stopping.
    private func pollForWork() -> Bool {
        let start = DispatchTime.now().uptimeNanoseconds
        while DispatchTime.now().uptimeNanoseconds - start < Self.pollNanoseconds {
            wake.unlock()
            for _ in 0..<64 { _ = DispatchTime.now() }
            wake.lock()
            if stopping || openStream() != nil { return true }
        }
        return false
    }

    static let pollNanoseconds: UInt64 = 50_000

    /// The first stream with work that no thread is doing. Called with the lock held.
    private func openStream() -> Stream? {
        while firstOpen < streams.count && streams[firstOpen].done { firstOpen += 1 }
        return streams[firstOpen...].first { !$0.busy && !$0.done }
    }

    /// Takes the next piece of work, computes it with the lock released and records its progress;
    /// false when there is none to take. Called and returns with the lock held.
    private func runPieceLocked() -> Bool {
        guard let s = openStream() else { return false }
        s.busy = true
        let t = tensors[s.tensor]
        wake.unlock()
        let finished = Self.advance(s, t)
        wake.lock()
        s.busy = false
        if let finished {
            if s.isHash { results[s.tensor].hash = finished.hash } else { results[s.tensor].stats = finished.stats }
            s.done = true
            streamsDone += 1
        }
        wake.broadcast()
        return true
    }

    /// Computes the stream's next piece; the result once it has covered the whole tensor. A tensor
    /// of one piece (or not float32, for the statistics) is done in one call.
    private static func advance(_ s: Stream, _ t: Tensor) -> Result? {
        let n = t.raw.count
        if n <= pieceBytes || (!s.isHash && t.dtype != .float32) {
            var r = Result()
            if s.isHash { r.hash = TensorHash.tensor(dtype: t.dtype, shape: t.shape, raw: t.raw) } else { r.stats = TensorStats(dtype: t.dtype, raw: t.raw) }
            return r
        }
        let end = min(n, s.offset + pieceBytes)
        let piece = UnsafeRawBufferPointer(rebasing: t.raw[s.offset..<end])
        if s.isHash {
            if s.offset == 0 {
                s.xxh = XXH3_createState()
                _ = XXH3_64bits_reset_withSeed(s.xxh, TensorHash.header(dtype: t.dtype, shape: t.shape))
            }
            _ = XXH3_64bits_update_dispatch(s.xxh, piece.baseAddress, piece.count)
        } else {
            if s.offset == 0 { cw_sums_f32_begin(&s.sums) }
            cw_sums_f32_update(&s.sums, piece.baseAddress, piece.count / 4)
        }
        s.offset = end
        guard end == n else { return nil }
        var r = Result()
        if s.isHash {
            r.hash = XXH3_64bits_digest(s.xxh)
            _ = XXH3_freeState(s.xxh)
            s.xxh = nil
        } else {
            var sums = cw_tensor_sums()
            cw_sums_f32_end(&s.sums, &sums)
            r.stats = TensorStats(sums: sums)
        }
        return r
    }
}
