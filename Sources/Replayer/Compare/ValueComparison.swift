import Recorder

/// The value half of `RecordComparison`: every shared step's tensors against the envelope, the
/// noise-dominated tensors, the first excursion and whether it seeds chaotic drift.
struct ValueComparison {
    let tolerance: ToleranceModel
    var steps: [StepComparison] = []
    /// Per step, its tensor comparisons (A's order).
    var tensors: [[TensorComparison]] = []
    /// Excluded tensors by key (name NUL role), in the order found.
    var noise: [String: NoiseDominated] = [:]
    var noiseOrder: [String] = []
    var onlyA: [String: NameCount] = [:], onlyB: [String: NameCount] = [:]
    var onlyAOrder: [String] = [], onlyBOrder: [String] = []

    init(tolerance: ToleranceModel) { self.tolerance = tolerance }

    static func key(_ name: String, _ role: TensorRole) -> String { name + "\u{0}" + role.rawValue }

    /// Compares one step (`a` is A's step row, `b` B's).
    mutating func add(step a: StepRow, _ b: StepRow, _ ea: [RecordedEvent], _ eb: [RecordedEvent]) {
        let byKey = Dictionary(eb.map { (Self.key($0.name, $0.role), $0) }, uniquingKeysWith: { x, _ in x })
        let keysA = Set(ea.map { Self.key($0.name, $0.role) })
        var pairs: [(RecordedEvent, RecordedEvent)] = []
        for e in ea {
            if let f = byKey[Self.key(e.name, e.role)] { pairs.append((e, f)) } else { Self.count(e, into: &onlyA, order: &onlyAOrder) }
        }
        for f in eb where !keysA.contains(Self.key(f.name, f.role)) { Self.count(f, into: &onlyB, order: &onlyBOrder) }

        var rows: [TensorComparison] = pairs.map { e, f in
            let err = StatisticError.between(e, f) ?? StatisticError(statistic: .bits, error: 0)
            let env = tolerance.envelope(role: e.role, step: e.step)
            let ratio = err.error == 0 ? 0 : err.error / env
            return TensorComparison(step: e.step, seq: e.seq, name: e.name, role: e.role, elements: e.shape.reduce(1, *),
                                    statistic: err.statistic, relativeError: err.error, envelope: env, ratio: ratio, noiseDominated: false)
        }
        markNoise(step: a.step, pairs: pairs, rows: rows, names: Set(ea.map(\.name)).intersection(eb.map(\.name)))
        for i in rows.indices where noise[Self.key(rows[i].name, rows[i].role)].map({ $0.fromStep <= a.step }) == true {
            rows[i].noiseDominated = true
        }

        let counted = rows.filter { !$0.noiseDominated }
        let worst = counted.max { $0.ratio < $1.ratio }
        let training = a.step != initStep
        let lossRelative: Double? = training ? Self.relative(a.loss, b.loss) : nil
        steps.append(StepComparison(
            step: a.step, lossA: training ? a.loss : nil, lossB: training ? b.loss : nil,
            lossULPs: training && a.loss.sign == b.loss.sign && a.loss.isFinite && b.loss.isFinite ? ValueDiff.ulpDistance(a.loss, b.loss) : nil,
            lossRelative: lossRelative, digestsEqual: a.digest == b.digest, compared: rows.count,
            identical: rows.filter { $0.statistic == .bits }.count, outside: counted.filter(\.outside).count,
            worstRatio: worst?.ratio ?? 0, worst: worst.flatMap { $0.ratio > 0 ? $0 : nil },
            parameterRatio: counted.filter { $0.role == .param }.map(\.ratio).max() ?? 0,
            stateRatio: counted.filter { $0.role == .param || $0.role == .optimizerState }.map(\.ratio).max() ?? 0,
            lossRatio: (lossRelative ?? 0) == 0 ? 0 : lossRelative! / tolerance.computed))
        tensors.append(rows)
    }

    static func relative(_ a: Float, _ b: Float) -> Double {
        if a.bitPattern == b.bitPattern { return 0 }
        let d = abs(Double(a) - Double(b)), scale = max(abs(Double(a)), abs(Double(b)))
        return d.isNaN ? .infinity : scale > 0 ? d / scale : .infinity
    }

    static func count(_ e: RecordedEvent, into counts: inout [String: NameCount], order: inout [String]) {
        let k = key(e.name, e.role)
        if counts[k] == nil { order.append(k); counts[k] = NameCount(name: e.name, role: e.role, steps: 0) }
        counts[k]!.steps += 1
    }

    /// Finds gradients that are rounding noise in both records at this step and excludes them and
    /// what follows from them (see `NoiseDominated`). A gradient is noise-dominated when it lies
    /// outside the envelope and, in each record, its RMS is at most the envelope times the RMS of
    /// the largest gradient of its layer (the parameters sharing its name up to the last dot; of
    /// the whole step when it is its layer's largest): a true gradient of zero computed from terms
    /// that cancel (a bias directly before BatchNorm) is left with their rounding error only.
    mutating func markNoise(step: Int, pairs: [(RecordedEvent, RecordedEvent)], rows: [TensorComparison], names: Set<String>) {
        let grads = pairs.enumerated().filter { $0.element.0.role == .grad }
        guard !grads.isEmpty else { return }
        func layer(_ name: String) -> String { name.split(separator: ".").dropLast().joined(separator: ".") }
        let rmsA = grads.map { StatisticError.rms($0.element.0) }, rmsB = grads.map { StatisticError.rms($0.element.1) }
        let stepMaxA = rmsA.max() ?? 0, stepMaxB = rmsB.max() ?? 0
        for (j, g) in grads.enumerated() {
            let (e, _) = g.element
            guard rows[g.offset].outside, noise[Self.key(e.name, .grad)] == nil else { continue }
            let siblings = grads.indices.filter { layer(grads[$0].element.0.name) == layer(e.name) && $0 != j }
            let layerMaxA = siblings.map { rmsA[$0] }.max() ?? 0, layerMaxB = siblings.map { rmsB[$0] }.max() ?? 0
            let floorA = tolerance.computed * (layerMaxA > rmsA[j] ? layerMaxA : stepMaxA)
            let floorB = tolerance.computed * (layerMaxB > rmsB[j] ? layerMaxB : stepMaxB)
            guard rmsA[j] <= floorA, rmsB[j] <= floorB else { continue }
            add(NoiseDominated(name: e.name, role: .grad, reason: .gradientAtRoundingFloor, fromStep: step, source: e.name,
                               rmsA: rmsA[j], rmsB: rmsB[j], floor: max(floorA, floorB)))
            // The parameter and its optimizer state follow the noise from this step on (an
            // adaptive optimizer scales it to steps of size lr).
            add(NoiseDominated(name: e.name, role: .param, reason: .updatedFromNoise, fromStep: step, source: e.name))
            for p in pairs where p.0.role == .optimizerState && p.0.name.hasPrefix(e.name + ".") {
                add(NoiseDominated(name: p.0.name, role: .optimizerState, reason: .updatedFromNoise, fromStep: step, source: e.name))
            }
            // A bias directly before BatchNorm: the next layer's running mean absorbs it.
            let parts = e.name.split(separator: ".").map(String.init)
            if parts.count >= 2, let i = Int(parts[parts.count - 2]) {
                let next = (parts.dropLast(2) + [String(i + 1), "running_mean"]).joined(separator: ".")
                if names.contains(next) {
                    add(NoiseDominated(name: next, role: .param, reason: .runningMeanAbsorbsNoise, fromStep: step, source: e.name))
                }
            }
        }
    }

    mutating func add(_ n: NoiseDominated) {
        let k = Self.key(n.name, n.role)
        guard noise[k] == nil else { return }
        noise[k] = n
        noiseOrder.append(k)
    }

    /// The report's value fields, and the classification of the excursions (tensors outside the
    /// envelope), step by step until one decides:
    /// - an excursion whose step moves the state by more than `stateJump` envelopes (the
    ///   parameters or optimizer state after the step, the loss of the step or of the next), or that cannot be
    ///   rounding at all (initial values, batches, a different shape or non-finite count) is a
    ///   difference in the math: the first divergence;
    /// - the first step whose parameters leave the envelope starts chaotic drift, seeded by the
    ///   first excursion of the unbroken run of steps with excursions that leads to it;
    /// - excursions that leave the parameters within the envelope are transient: rounding
    ///   amplified at a threshold (a ReLU or max-pool input within rounding of its switch) whose
    ///   effect did not last.
    func finish(into r: inout CompareReport) {
        r.steps = steps
        r.noiseDominated = noiseOrder.map { noise[$0]! }
        r.onlyInA = onlyAOrder.map { onlyA[$0]! }
        r.onlyInB = onlyBOrder.map { onlyB[$0]! }
        r.series = series()
        var runStart: Int?
        for (i, rows) in tensors.enumerated() {
            guard let seed = rows.first(where: \.outside) else { runStart = nil; continue }
            if r.firstExcursion == nil { r.firstExcursion = seed }
            if runStart == nil { runStart = i }
            let s = steps[i]
            let nextLoss = i + 1 < steps.count ? steps[i + 1].lossRatio : 0
            let state = max(s.stateRatio, s.lossRatio, nextLoss)
            let rounding = seed.step != initStep && seed.role != .batch && seed.ratio.isFinite && state <= tolerance.stateJump
            guard rounding else {
                r.divergence = seed
                return
            }
            guard s.parameterRatio > 1 else {
                r.transientExcursions.append(seed)
                continue
            }
            let first = tensors[runStart!].first(where: \.outside)!
            r.transientExcursions.removeAll { $0.step >= first.step }
            let after = steps[runStart!...]
            r.drift = Drift(step: first.step, seed: first, parametersLeave: s.step, parameterRatio: s.parameterRatio,
                            lossRatio: max(s.lossRatio, nextLoss), lastStep: steps.last!.step, finalParameterRatio: steps.last!.parameterRatio,
                            lossLeavesEnvelope: after.first { $0.lossRatio > 1 }?.step,
                            worstLossRelative: after.compactMap(\.lossRelative).max() ?? 0)
            return
        }
    }

    /// Each tensor's ratio at every step, in A's order of first appearance.
    func series() -> [TensorSeries] {
        var index: [String: Int] = [:]
        var out: [TensorSeries] = []
        for (i, rows) in tensors.enumerated() {
            for t in rows {
                let k = Self.key(t.name, t.role)
                if index[k] == nil {
                    index[k] = out.count
                    out.append(TensorSeries(name: t.name, role: t.role, ratios: Array(repeating: nil, count: tensors.count),
                                            noiseDominated: noise[k] != nil))
                }
                out[index[k]!].ratios[i] = t.ratio
            }
        }
        return out
    }
}
