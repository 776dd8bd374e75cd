import Foundation

/// Where a recorder's hashes go: a record file, a comparison against one, or nowhere.
public protocol RecordSink: AnyObject {
    /// Whether the sink wants the raw bytes of tensors at `step` (for `record.keepTensors`).
    func wantsPayload(step: Int) -> Bool
    /// One event, as it happens. Replay sinks compare it against the record here.
    func event(_ e: RecordedEvent)
    /// The step is over; `events` are all of its events in order.
    func endStep(_ summary: StepSummary, events: [RecordedEvent]) throws
    func evaluation(_ e: Evaluation) throws
    /// True once the sink wants training to stop (replay with --until-diverge).
    var shouldStop: Bool { get }
    /// When training stops at the sink's request: whether to evaluate the weights first (verify
    /// stopping at a golden's last step, where the golden holds an evaluation). Default false.
    var evaluatesBeforeStopping: Bool { get }
    /// The recorded combination order of the reduction event at (`step`, `seq`) named `site`, when
    /// the sink replays a record that holds one; nil otherwise (the observed order is used).
    func recordedReductionOrder(step: Int, seq: Int, site: String) -> [Int]?
}

extension RecordSink {
    public func recordedReductionOrder(step: Int, seq: Int, site: String) -> [Int]? { nil }
    public var evaluatesBeforeStopping: Bool { false }
}

/// A sink that keeps nothing: plain training.
public final class NullSink: RecordSink {
    public init() {}
    public func wantsPayload(step: Int) -> Bool { false }
    public func event(_ e: RecordedEvent) {}
    public func endStep(_ summary: StepSummary, events: [RecordedEvent]) throws {}
    public func evaluation(_ e: Evaluation) throws {}
    public var shouldStop: Bool { false }
}

/// A random stream's place: its key (seed, site) and the index of its next 32-bit word.
public struct StreamPosition: Codable, Equatable, Sendable {
    public var seed: UInt64
    public var site: String
    public var position: UInt64
    public init(seed: UInt64, site: String, position: UInt64) { self.seed = seed; self.site = site; self.position = position }
}

/// The one door through which the engine gets randomness and data order, and through which
/// every tensor is hashed. Every request names its site (its purpose), e.g. `init/1.weight`,
/// `dropout/4/step-17`, `data/shuffle/epoch-0`; each site has its own Philox stream keyed by
/// (seed, site), so draws do not depend on the order in which sites are used.
public final class Recorder {
    public let seed: UInt64
    public let level: RecordLevel
    /// Where hashes go. Attach the real sink before the first `endStep` (a record file is created
    /// only once the config and data have been checked).
    public var sink: RecordSink { didSet { keepPayload = sink.wantsPayload(step: step) } }
    /// False for plain training: tensors are not hashed at all (draws still are: they are cheap).
    public let hashing: Bool

    public private(set) var step: Int = initStep
    public private(set) var epoch: Int = 0
    private var events: [RecordedEvent] = []
    private var streams: [String: RandomStream] = [:]
    private var stepStart = DispatchTime.now().uptimeNanoseconds
    private var keepPayload = false
    /// The step digest's input bytes, rebuilt in place at every `endStep` (no per-step allocation).
    private var digestBuffer: [UInt8] = []
    /// Tensors hashed on the second core (`reserve`, `ready`, `recordLater`, `prehash`): the events
    /// at these places in `events` are placeholders until `settle` fills them in.
    private let lane = DigestLane()
    /// Reserved places whose bytes are not final yet, and the lane's index of those that are.
    private var waiting: [Int: UnsafeRawBufferPointer] = [:]
    private var onLane: [(slot: Int, job: Int)] = []
    /// Bytes handed to the lane by `prehash` before their place in the step is known, by address.
    private var prehashed: [UnsafeRawPointer: (count: Int, shape: [Int], job: Int)] = [:]
    /// Events of this step already given to the sink: they reach it in order, so an event recorded
    /// after a place still hashing waits for `settle`.
    private var delivered = 0

    public init(seed: UInt64, level: RecordLevel = .grads, sink: RecordSink = NullSink(), hashing: Bool = true) {
        self.seed = seed
        self.level = level
        self.sink = sink
        self.hashing = hashing
        keepPayload = sink.wantsPayload(step: initStep)
    }

    deinit { lane.stop() }

    /// Whether tensors handed over by `recordLater`, `ready` and `prehash` are hashed on a helper
    /// thread while training goes on (true by default), or all on the training thread at the end
    /// of the step. The trainer turns it off when its threads already take every CPU: a helper
    /// would then take time from them (a BLAS worker waiting for its next product yields the CPU,
    /// and a helper that got it keeps it up to a scheduler tick), and its reads leave the tensors
    /// in another core's cache for the next step's writes (`DigestLane`).
    public var hashInBackground: Bool {
        get { lane.helper }
        set { lane.helper = newValue }
    }

    /// A recorder for plain training: same draws, no hashing, no record.
    public static func plain(seed: UInt64) -> Recorder { Recorder(seed: seed, hashing: false) }

    public var shouldStop: Bool { sink.shouldStop }
    /// `RecordSink.evaluatesBeforeStopping`.
    public var evaluatesBeforeStopping: Bool { sink.evaluatesBeforeStopping }
    public var tensorCount: Int { events.count }
    /// Events hashed in every step ended so far (initialisation included).
    public private(set) var eventsEnded = 0
    /// The events of the step in progress, in execution order (for health checks before `endStep`);
    /// waits for the tensors still hashing (`settle`).
    public var currentEvents: [RecordedEvent] { settle(); return events }

    // MARK: resuming

    /// Where every stream drawn from so far stands (keyed as the recorder keys them): the random
    /// part of a checkpoint.
    public var streamPositions: [String: StreamPosition] {
        streams.mapValues { StreamPosition(seed: $0.seed, site: $0.site, position: $0.position) }
    }

    /// Continues a run from a checkpoint: the next step is `step` in `epoch`, each stream stands
    /// at its saved position, and anything recorded since construction (e.g. synthetic data
    /// regenerated while rebuilding the run) is discarded, not recorded again.
    public func resume(step: Int, epoch: Int, streams positions: [String: StreamPosition]) {
        streams = positions.mapValues { RandomStream(seed: $0.seed, site: $0.site, position: $0.position) }
        _ = lane.finish()
        prehashed.removeAll()
        waiting.removeAll()
        onLane.removeAll()
        events.removeAll()
        delivered = 0
        self.step = step
        self.epoch = epoch
        keepPayload = sink.wantsPayload(step: step)
        stepStart = DispatchTime.now().uptimeNanoseconds
    }

    /// The permutation `permutation(site:count:seed:)` produced at the site's first use, derived
    /// again from the start of its stream without drawing or recording anything (a resumed run
    /// re-derives the current epoch's order; the order event was recorded in the epoch's first step).
    public func rederivePermutation(site: String, count: Int, seed: UInt64? = nil) -> [Int] {
        var s = RandomStream(seed: seed ?? self.seed, site: site)
        return s.permutation(count)
    }

    // MARK: randomness

    private func stream(_ site: String) -> RandomStream {
        streams[site] ?? RandomStream(seed: seed, site: site)
    }

    /// `count` floats uniform in [low, high): low + (high - low) * u, u = word >> 8 * 2^-24.
    public func uniform(site: String, count: Int, low: Float = 0, high: Float = 1) -> [Float] {
        var s = stream(site)
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { s.uniform(into: $0) }
        if low != 0 || high != 1 {
            let w = high - low
            for i in out.indices { out[i] = low + w * out[i] }
        }
        streams[site] = s
        record(name: site, role: .draw, shape: [count], floats: out)
        return out
    }

    /// `count` standard normal floats (Box-Muller), scaled by `std` and shifted by `mean`.
    public func normal(site: String, count: Int, mean: Float = 0, std: Float = 1) -> [Float] {
        var s = stream(site)
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { s.normal(into: $0) }
        if mean != 0 || std != 1 { for i in out.indices { out[i] = mean + std * out[i] } }
        streams[site] = s
        record(name: site, role: .draw, shape: [count], floats: out)
        return out
    }

    /// A permutation of 0..<count (data order), recorded with role `order`.
    public func permutation(site: String, count: Int) -> [Int] {
        var s = stream(site)
        let p = s.permutation(count)
        streams[site] = s
        recordOrder(site: site, p)
        return p
    }

    /// A permutation drawn from the stream keyed by (`seed`, site) instead of the run seed: lets the
    /// data order vary (`data.shuffleSeed`) while initialisation and other draws stay fixed.
    public func permutation(site: String, count: Int, seed: UInt64) -> [Int] {
        guard seed != self.seed else { return permutation(site: site, count: count) }
        let key = "\(seed)/\(site)"
        var s = streams[key] ?? RandomStream(seed: seed, site: site)
        let p = s.permutation(count)
        streams[key] = s
        recordOrder(site: site, p)
        return p
    }

    /// Records an externally given order (e.g. `data.order` from a file) under `site`.
    public func recordOrder(site: String, _ order: [Int]) {
        let ints = order.map { Int32(truncatingIfNeeded: $0) }
        ints.withUnsafeBytes { record(name: site, role: .order, dtype: .int32, shape: [ints.count], raw: $0) }
    }

    // MARK: tensors

    /// Whether tensors of this role are hashed at the configured level (callers skip work otherwise).
    @inline(__always)
    public func wants(_ role: TensorRole) -> Bool { hashing && level.includes(role) }

    public func record(name: String, role: TensorRole, shape: [Int], floats: UnsafeBufferPointer<Float>) {
        guard wants(role) else { return }
        record(name: name, role: role, dtype: .float32, shape: shape, raw: UnsafeRawBufferPointer(floats))
    }

    /// Count of NaN and Inf values: elements whose exponent bits are all ones. Branch-free on the
    /// bit patterns so the loop vectorises (a `!isFinite` filter loop runs ~10x slower). Plain
    /// training's health check uses it; recorded tensors get it with their statistics.
    public static func nonFiniteCount(_ floats: UnsafeBufferPointer<Float>) -> Int {
        guard let base = floats.baseAddress, floats.count > 0 else { return 0 }
        return base.withMemoryRebound(to: UInt32.self, capacity: floats.count) { bits in
            var n: UInt32 = 0
            var i = 0
            while i < floats.count {
                n &+= (bits[i] & 0x7F80_0000) == 0x7F80_0000 ? 1 : 0
                i &+= 1
            }
            return Int(n)
        }
    }

    public func record(name: String, role: TensorRole, shape: [Int], floats: [Float]) {
        floats.withUnsafeBufferPointer { record(name: name, role: role, shape: shape, floats: $0) }
    }

    public func record(name: String, role: TensorRole, shape: [Int], ints: [Int32]) {
        guard wants(role) else { return }
        ints.withUnsafeBytes { record(name: name, role: role, dtype: .int32, shape: shape, raw: $0) }
    }

    /// Hashes the tensor (`TensorHash.tensor`) and computes its statistics (`TensorStats`, one
    /// vectorised pass that also counts non-finite elements).
    /// - Parameter keep: keep the raw bytes whatever `record.keepTensors` says (reduction orders).
    public func record(name: String, role: TensorRole, dtype: DType, shape: [Int], raw: UnsafeRawBufferPointer, keep: Bool = false) {
        guard wants(role) else { return }
        let e = RecordedEvent(step: step, seq: events.count, name: name, role: role, dtype: dtype, shape: shape,
                              hash: TensorHash.tensor(dtype: dtype, shape: shape, raw: raw), stats: TensorStats(dtype: dtype, raw: raw),
                              payload: keepPayload || keep ? Array(raw.bindMemory(to: UInt8.self)) : nil)
        events.append(e)
        deliver()
    }

    // MARK: hashing on the second core

    /// Tensors smaller than this (one piece of the lane's work, 6-7 us of hashing) are hashed at
    /// once by `ready`: waking the second core's thread costs more. A model whose tensors are all
    /// smaller (the digits MLP, ResNet-20) records as it did without the lane.
    static let laneBytes = DigestLane.pieceBytes

    /// A place in the step's events, reserved for a tensor whose bytes are not final yet.
    public struct Reserved { fileprivate let slot: Int }

    /// Reserves the next place in the step's events for a float32 tensor that will be final later
    /// in the step (a parameter the optimizer has yet to write); nil when the role is not recorded.
    /// `ready` must follow before the step ends, and `floats` must stay valid until then.
    public func reserve(name: String, role: TensorRole, shape: [Int], floats: UnsafeBufferPointer<Float>) -> Reserved? {
        guard wants(role) else { return nil }
        let slot = events.count
        events.append(RecordedEvent(step: step, seq: slot, name: name, role: role, dtype: .float32, shape: shape,
                                    hash: 0, stats: TensorStats(nonFinite: 0)))
        waiting[slot] = UnsafeRawBufferPointer(floats)
        return Reserved(slot: slot)
    }

    /// The reserved tensor's bytes are final, and stay unchanged until the step ends (`endStep`) or
    /// `currentEvents` is read: its hash and statistics are computed on the second core from now.
    /// (With `record.keepTensors` at this step it is hashed here, and its bytes copied.)
    public func ready(_ r: Reserved?) {
        guard let r, let raw = waiting.removeValue(forKey: r.slot) else { return }
        let e = events[r.slot]
        if keepPayload || raw.count < Self.laneBytes {
            events[r.slot].hash = TensorHash.tensor(dtype: e.dtype, shape: e.shape, raw: raw)
            events[r.slot].stats = TensorStats(dtype: e.dtype, raw: raw)
            if keepPayload { events[r.slot].payload = Array(raw.bindMemory(to: UInt8.self)) }
            deliver()
            return
        }
        if let base = raw.baseAddress, let p = prehashed.removeValue(forKey: base), p.count == raw.count, p.shape == e.shape {
            onLane.append((r.slot, p.job))
            return
        }
        onLane.append((r.slot, lane.submit(dtype: e.dtype, shape: e.shape, raw: raw)))
    }

    /// `reserve` and `ready` at once: a tensor that is final now and stays unchanged until the step
    /// ends (the gradients after the backward pass), hashed on the second core.
    public func recordLater(name: String, role: TensorRole, shape: [Int], floats: UnsafeBufferPointer<Float>) {
        ready(reserve(name: name, role: role, shape: shape, floats: floats))
    }

    /// Starts hashing a float32 tensor that is final now but recorded later in the step, before its
    /// place among the step's events is known (a layer's gradients, at the end of its backward pass,
    /// recorded once the whole pass is over). `recordLater` or `ready` of the same bytes (address,
    /// count and shape) then takes this result. The bytes must stay unchanged until the step ends.
    public func prehash(shape: [Int], floats: UnsafeBufferPointer<Float>) {
        guard hashing, !keepPayload, let base = floats.baseAddress, floats.count * 4 >= Self.laneBytes else { return }
        let raw = UnsafeRawBufferPointer(floats)
        prehashed[UnsafeRawPointer(base)] = (raw.count, shape, lane.submit(dtype: .float32, shape: shape, raw: raw))
    }

    /// Fills in every tensor hashed on the second core (the calling thread takes its share of what
    /// is left) and gives the sink the events it has not had, in order.
    private func settle() {
        precondition(waiting.isEmpty, "recorder: \(waiting.count) reserved tensor(s) of step \(step) never made ready, "
                     + "first \(events[waiting.keys.min()!].name): a bug in the caller of reserve")
        if !onLane.isEmpty {
            let results = lane.finish()
            for (slot, job) in onLane {
                events[slot].hash = results[job].hash
                events[slot].stats = results[job].stats
            }
            onLane.removeAll(keepingCapacity: true)
        } else if !prehashed.isEmpty {
            _ = lane.finish()
        }
        prehashed.removeAll(keepingCapacity: true)
        deliver()
    }

    /// Gives the sink the events it has not had, unless a place is still waiting for its hash (then
    /// `settle` gives them all, in order).
    private func deliver() {
        guard waiting.isEmpty && onLane.isEmpty else { return }
        while delivered < events.count {
            sink.event(events[delivered])
            delivered += 1
        }
    }

    // MARK: reductions

    /// The order in which the `observed.count` partial results of a reduction are combined, e.g.
    /// site `reduce/1.weight/step-3`. `observed` is the order the partials actually completed in
    /// (threads finish in a nondeterministic order). Recording: the observed order is used and
    /// recorded (role `reduction`, int32 values kept in the record). Replaying a record that holds
    /// this site: the recorded order is returned instead, so a parallel run replays bit for bit.
    /// Plain training: the observed order, nothing recorded.
    public func reductionOrder(site: String, observed: [Int]) -> [Int] {
        guard wants(.reduction) else { return observed }
        var order = observed
        if let recorded = sink.recordedReductionOrder(step: step, seq: events.count, site: site),
           recorded.count == observed.count, recorded.sorted() == Array(0..<observed.count) {
            order = recorded
        }
        let ints = order.map { Int32(truncatingIfNeeded: $0) }
        ints.withUnsafeBytes { record(name: site, role: .reduction, dtype: .int32, shape: [ints.count], raw: $0, keep: true) }
        return order
    }

    // MARK: steps

    /// Ends the current step (initialisation first, then each training step) and starts `next`.
    /// The sink writes the step's events and summary in one transaction.
    @discardableResult
    public func endStep(loss: Float, lr: Float, nextStep: Int, nextEpoch: Int) throws -> StepSummary {
        settle()
        let now = DispatchTime.now().uptimeNanoseconds
        digestBuffer.removeAll(keepingCapacity: true)
        for e in events { TensorHash.appendDigestEntry(name: e.name, role: e.role.rawValue, hash: e.hash, to: &digestBuffer) }
        let digest = digestBuffer.withUnsafeBytes { TensorHash.bytes($0) }
        let summary = StepSummary(step: step, epoch: epoch, loss: loss, lr: lr, digest: digest,
                                  wallSeconds: Double(now - stepStart) / 1e9, tensorCount: events.count)
        if hashing { try sink.endStep(summary, events: events) }
        eventsEnded += events.count
        events.removeAll(keepingCapacity: true)
        delivered = 0
        forgetScopedStreams(endedStep: step, endedEpoch: nextEpoch != epoch ? epoch : nil)
        step = nextStep
        epoch = nextEpoch
        keepPayload = sink.wantsPayload(step: step)
        stepStart = now
        return summary
    }

    /// Sites scoped to one step or epoch by their name (`dropout/4/step-17`, `augment/crop/step-3`,
    /// `data/shuffle/epoch-0`) are never drawn from again once that step or epoch is over, so their
    /// positions are dropped: the stream table (and each checkpoint) stays the size of one step's
    /// sites instead of growing with the run.
    private func forgetScopedStreams(endedStep: Int, endedEpoch: Int?) {
        guard !streams.isEmpty else { return }
        let stepSuffix = "/step-\(endedStep)", epochSuffix = endedEpoch.map { "/epoch-\($0)" }
        for (key, s) in streams where s.site.hasSuffix(stepSuffix) || epochSuffix.map({ s.site.hasSuffix($0) }) == true {
            streams.removeValue(forKey: key)
        }
    }

    public func evaluation(_ e: Evaluation) throws {
        if hashing { try sink.evaluation(e) }
    }
}
