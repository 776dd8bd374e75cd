import CCPUFeatures
import CTensorStats
import CXXHash
import Foundation

/// The hashes and statistics of a step's recorded tensors, computed on a second core while the
/// training thread goes on (each layer's gradients as its backward pass ends, each parameter as
/// soon as the optimizer has written it). A tensor has two computations, its XXH3 hash and its
/// statistics, taken 256 KB at a time by whichever thread is free, in submission order; `finish`
/// has the calling thread take what is left, waits for the pieces in progress (at most one per
/// thread) and returns every result.
///
/// A thread working alone takes both computations of a piece at once, 16 KB after 16 KB, so the
/// statistics read what the hash has just brought into L1: the tensor is read from memory (or
/// from the training core's cache) once, not twice. When `finish` has both threads at work, they
/// take the two computations of a piece apart, so that the last tensor of a step is shared.
///
/// The results do not depend on which thread computed which piece: each computation runs its
/// pieces one after the other, through XXH3's streaming state (the value of the one-shot hash)
/// and the statistics' lane accumulators (`cw_sums_f32_update`, pieces of a multiple of 16
/// elements). Nothing here decides an order that reaches a record: the recorder keeps each
/// tensor's place in the step (`Recorder.reserve`).
///
/// The helper thread is kept off the CPU the training thread is on (the scheduler would otherwise
/// put a woken helper beside it, and leave the other CPU to a BLAS worker that spins waiting for its
/// next product). When the training threads take every CPU the recorder turns the helper off
/// (`helper`). Sharing `finish` with the helper cost more than it saved there: the helper's reads
/// leave the step's tensors in the other core's cache, and the next step's writes to them (zeroing
/// the gradients, the optimizer) wait for those lines (the MLP 784-512-512-10 at two threads on two
/// cores recorded at +32% to +38% a step with the helper in `finish`, +15% to +16% without). With
/// the helper off, or with one CPU, `submit` computes each tensor at once on the calling thread,
/// while its bytes are still in that core's cache: computed at `finish`, a layer's gradients had
/// been pushed out to L3 by the rest of the backward pass (the same MLP at two threads, side by
/// side with the machine in its slow state: +15% against +26% to +28%; in its fast state, +23% to
/// +26% either way).
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

    /// A tensor's two computations and how far each has got.
    private final class Work {
        let tensor: Tensor
        var hashOffset = 0, statsOffset = 0
        var hashBusy = false, statsBusy = false
        var hashDone = false, statsDone = false
        var xxh: OpaquePointer?
        var sums = cw_sums_f32_state()
        var result = Result()
        init(_ tensor: Tensor) { self.tensor = tensor }
        var done: Bool { hashDone && statsDone }
        var pendingBytes: Int {
            (hashDone ? 0 : tensor.raw.count - hashOffset) + (statsDone ? 0 : tensor.raw.count - statsOffset)
        }
    }

    /// What one piece computes: both computations (a thread alone), or one of them.
    private enum Part { case both, hash, stats }

    /// Guards everything below; `wake` is signalled when work arrives for a sleeping helper, a
    /// piece ends while `finish` sleeps, or the lane stops.
    private let wake = NSCondition()
    /// Bumped (under the lock) whenever `wake` could be signalled: a thread that expects news within
    /// microseconds spins on it without the lock instead of sleeping, and the other thread makes
    /// no system call to tell it (`cw_spin_signal`).
    private let news = cw_spin_signal_new()!
    /// Threads asleep on `wake` in `finish` (a piece's end signals only then).
    private var finishSleeping = 0
    private var works: [Work] = []
    /// Works before this index are done (the search for work starts here).
    private var firstOpen = 0
    private var worksDone = 0
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

    deinit { cw_spin_signal_free(news) }

    /// Whether work goes to a helper thread as it arrives: worth it when a CPU is free (training on
    /// fewer threads than the process has CPUs), never with one CPU.
    var helper: Bool {
        get { wake.lock(); defer { wake.unlock() }; return useHelper && cpus > 1 }
        set { wake.lock(); useHelper = newValue; wake.unlock() }
    }

    /// Starts hashing `raw` (its bytes must stay unchanged until `finish` returns); returns its index
    /// among the results of `finish`. Without the helper the tensor is computed now, while its
    /// bytes are still in this core's cache (at `finish`, after the rest of the backward pass, a
    /// layer's gradients are in L3).
    func submit(dtype: DType, shape: [Int], raw: UnsafeRawBufferPointer) -> Int {
        wake.lock()
        let index = works.count
        let w = Work(Tensor(dtype: dtype, shape: shape, raw: raw))
        works.append(w)
        guard helperWanted else {
            computeNow(w)
            wake.unlock()
            return index
        }
        cw_spin_signal_bump(news)
        let sleeping = callHelper()
        wake.unlock()
        // After unlocking: a helper woken while the lock is held wakes only to wait for it.
        if sleeping { wake.signal() }
        return index
    }

    /// Computes `w` on the calling thread, piece after piece. Called and returns with the lock held.
    private func computeNow(_ w: Work) {
        while let part = openPart(w) { runPiece(w, part) }
    }

    /// Starts the helper, kept off the calling thread's CPU; whether it sleeps (the caller signals
    /// `wake` once it has unlocked). Called with the lock held.
    private func callHelper() -> Bool {
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
        return helperSleeping
    }

    /// Computes the pieces nobody has taken, waits for those in progress elsewhere, and returns the
    /// results of every tensor submitted since the last `finish`, in submission order.
    func finish() -> [Result] {
        wake.lock()
        defer { wake.unlock() }
        if helperWanted && pendingBytes() >= 2 * Self.pieceBytes {
            finishing = true
            cw_spin_signal_bump(news)
            if callHelper() { wake.signal() }
        }
        var waited: UInt64 = 0
        while worksDone < works.count {
            if runPieceLocked() { continue }
            // The pieces left are in progress on the helper (microseconds each): spin for their end.
            let t0 = DispatchTime.now().uptimeNanoseconds
            let seen = cw_spin_signal_value(news)
            wake.unlock()
            _ = cw_spin_signal_wait(news, seen, Self.spinNanoseconds)
            wake.lock()
            if cw_spin_signal_value(news) == seen {
                finishSleeping += 1
                wake.wait()
                finishSleeping -= 1
            }
            waited += DispatchTime.now().uptimeNanoseconds - t0
        }
        finishing = false
        // A piece takes microseconds: waiting a millisecond for the helper's means its CPU is not
        // running it (another tenant's, on a shared machine). The step's work stays on this thread
        // for the next `benchFinishes` steps, then the helper is tried again.
        if waited > Self.stallNanoseconds { benched = Self.benchFinishes } else if benched > 0 { benched -= 1 }
        let out = works.map(\.result)
        works.removeAll(keepingCapacity: true)
        firstOpen = 0
        worksDone = 0
        return out
    }

    /// Ends the helper thread (it holds the lane until then).
    func stop() {
        wake.lock()
        stopping = true
        cw_spin_signal_bump(news)
        wake.broadcast()
        wake.unlock()
    }

    private func pendingBytes() -> Int {
        works[firstOpen...].reduce(0) { $0 + $1.pendingBytes }
    }

    private func helperLoop() {
        wake.lock()
        helperThread = pthread_self()
        while !stopping {
            if (helperWanted || finishing) && runPieceLocked() { continue }
            // Poll only within a step (between tensors): after `finish` the next work is a
            // forward and backward pass away.
            if !helperWanted || works.isEmpty || !pollForWork() {
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
    /// helper spins for up to `spinNanoseconds` before it sleeps. Not longer: a spinning helper
    /// holds the spare CPU, and the scheduler then puts the record writer's thread beside the
    /// training thread (a helper spinning 20 ms, across the gap between two steps' tensors,
    /// recorded the MNIST CNN at one thread at +5% to +7% a step against +3% to +4%, in 5
    /// side-by-side pairs); nor does it nap on a timer through the gap (the MLP 784-512-512-10 at one
    /// thread then recorded at +48% a step against +12% with the helper off). Called and returns
    /// with the lock held; true when something may have arrived.
    private func pollForWork() -> Bool {
        let seen = cw_spin_signal_value(news)
        wake.unlock()
        _ = cw_spin_signal_wait(news, seen, Self.spinNanoseconds)
        wake.lock()
        return cw_spin_signal_value(news) != seen
    }

    /// How long the helper spins for the next tensor, and `finish` for a piece in progress on the
    /// helper, before they sleep.
    static let spinNanoseconds: UInt64 = 50_000

    /// The first piece of work no thread is doing: both computations of the next piece of a tensor
    /// when they stand at the same offset and this thread works alone (no `finish` in progress),
    /// else the one that lags (the hash on a tie). Called with the lock held.
    private func openWork() -> (Work, Part)? {
        while firstOpen < works.count && works[firstOpen].done { firstOpen += 1 }
        for w in works[firstOpen...] { if let part = openPart(w) { return (w, part) } }
        return nil
    }

    /// The part of `w`'s next piece that no thread is doing (`openWork`), nil when none is.
    private func openPart(_ w: Work) -> Part? {
        let hashFree = !w.hashDone && !w.hashBusy, statsFree = !w.statsDone && !w.statsBusy
        if hashFree && statsFree {
            if !finishing && w.hashOffset == w.statsOffset { return .both }
            return w.statsOffset < w.hashOffset ? .stats : .hash
        }
        if hashFree { return .hash }
        if statsFree { return .stats }
        return nil
    }

    /// Takes the next piece of work and runs it (`runPiece`); false when there is none to take.
    /// Called and returns with the lock held.
    private func runPieceLocked() -> Bool {
        guard let (w, part) = openWork() else { return false }
        runPiece(w, part)
        return true
    }

    /// Computes `part` of `w`'s next piece with the lock released and records its progress. Called
    /// and returns with the lock held.
    private func runPiece(_ w: Work, _ part: Part) {
        let hash = part != .stats, stats = part != .hash
        if hash { w.hashBusy = true }
        if stats { w.statsBusy = true }
        let from = hash ? w.hashOffset : w.statsOffset
        wake.unlock()
        let piece = Self.compute(w, from: from, hash: hash, stats: stats)
        wake.lock()
        if hash {
            w.hashBusy = false
            w.hashOffset = piece.end
            if let h = piece.hash { w.result.hash = h; w.hashDone = true }
        }
        if stats {
            w.statsBusy = false
            w.statsOffset = piece.end
            if let st = piece.stats { w.result.stats = st; w.statsDone = true }
        }
        if w.done { worksDone += 1 }
        cw_spin_signal_bump(news)
        if finishSleeping > 0 { wake.broadcast() }
    }

    /// Bytes the hash and the statistics take in turn within a piece of both (half of Zen 4's
    /// 32 KB L1 data cache).
    static let blockBytes = 16 << 10

    /// What a piece computed: where it ended, and each computation's result once it has covered
    /// the whole tensor.
    private struct Piece { var end: Int; var hash: UInt64?; var stats: TensorStats? }

    /// Computes the hash, the statistics or both over the piece of the work's tensor that starts
    /// at `from`. A tensor of one piece (or not float32, for the statistics) is computed whole.
    /// The calling thread owns the computations it takes (their `busy` flags), so their streaming
    /// states are its own until it returns.
    private static func compute(_ w: Work, from: Int, hash: Bool, stats: Bool) -> Piece {
        let t = w.tensor, n = t.raw.count
        if n <= pieceBytes || (stats && !hash && t.dtype != .float32) {
            return Piece(end: n, hash: hash ? TensorHash.tensor(dtype: t.dtype, shape: t.shape, raw: t.raw) : nil,
                         stats: stats ? TensorStats(dtype: t.dtype, raw: t.raw) : nil)
        }
        var piece = Piece(end: min(n, from + pieceBytes))
        var inPieces = stats
        if stats && t.dtype != .float32 {
            piece.stats = TensorStats(dtype: t.dtype, raw: t.raw)
            inPieces = false
        }
        if hash && from == 0 {
            w.xxh = XXH3_createState()
            _ = XXH3_64bits_reset_withSeed(w.xxh, TensorHash.header(dtype: t.dtype, shape: t.shape))
        }
        if inPieces && from == 0 { cw_sums_f32_begin(&w.sums) }
        let base = t.raw.baseAddress!
        var at = from
        let block = hash && inPieces ? blockBytes : pieceBytes
        while at < piece.end {
            let next = min(piece.end, at + block)
            if hash { _ = XXH3_64bits_update_dispatch(w.xxh, base + at, next - at) }
            if inPieces { cw_sums_f32_update(&w.sums, base + at, (next - at) / 4) }
            at = next
        }
        guard piece.end == n else { return piece }
        if hash {
            piece.hash = XXH3_64bits_digest(w.xxh)
            _ = XXH3_freeState(w.xxh)
            w.xxh = nil
        }
        if inPieces {
            var sums = cw_tensor_sums()
            cw_sums_f32_end(&w.sums, &sums)
            piece.stats = TensorStats(sums: sums)
        }
        return piece
    }
}
