import Foundation

/// One tick of an axis: a data value and its label.
struct Tick: Equatable {
    var value: Double
    var label: String
}

/// Maps data values along one axis to SVG positions, linearly or on a log10 scale, with ticks at
/// "nice" numbers. The domain is widened to the outer ticks so the data never touch the frame.
struct AxisScale {
    enum Kind { case linear, log }

    let kind: Kind
    /// The data interval shown (after widening to nice numbers).
    private(set) var domain: (low: Double, high: Double)
    /// The positions of `domain.low` and `domain.high` (for a y axis, high is the smaller y).
    let range: (Double, Double)
    private(set) var ticks: [Tick] = []

    /// A scale over `values` (non-finite values ignored; on a log scale, non-positive ones too).
    /// An empty or single-valued set gets a unit-wide domain around its value.
    /// `targetTicks` (default 6) is approximate; `includeZero` widens a linear domain to 0.
    init(kind: Kind, values: [Double], range: (Double, Double), targetTicks: Int = 6, includeZero: Bool = false) {
        self.kind = kind
        self.range = range
        var usable = values.filter { $0.isFinite && (kind == .linear || $0 > 0) }
        if includeZero && kind == .linear { usable.append(0) }
        let lo = usable.min(), hi = usable.max()
        switch kind {
        case .linear:
            var (a, b) = (lo ?? 0, hi ?? 1)
            if a == b { (a, b) = a == 0 ? (-1, 1) : (a - abs(a) * 0.1, b + abs(b) * 0.1) }
            let step = Self.nice((Self.nice(b - a, round: false)) / Double(max(2, targetTicks) - 1), round: true)
            let low = (a / step).rounded(.down) * step, high = (b / step).rounded(.up) * step
            domain = (low, high)
            let count = Int(((high - low) / step).rounded())
            ticks = (0...count).map { i in
                let v = low + Double(i) * step
                return Tick(value: v, label: HTMLText.tick(v, step: step))
            }
        case .log:
            var (a, b) = (lo ?? 1, hi ?? 10)
            if a == b { (a, b) = (a / 10, b * 10) }
            let low = log10(a).rounded(.down), high = max(log10(b).rounded(.up), low + 1)
            domain = (pow(10, low), pow(10, high))
            let decades = Int(high - low)
            let every = max(1, Int((Double(decades) / Double(max(2, targetTicks) - 1)).rounded(.up)))
            var t: [Tick] = []
            for e in stride(from: Int(low), through: Int(high), by: every) {
                t.append(Tick(value: pow(10, Double(e)), label: Self.powerOfTen(e)))
                if decades <= 2 && e < Int(high) {  // few decades: 2 and 5 as well
                    for m in [2.0, 5.0] { t.append(Tick(value: m * pow(10, Double(e)), label: Self.powerOfTen(e, times: Int(m)))) }
                }
            }
            ticks = t
        }
    }

    /// The position of `v`, or nil when it cannot be shown (non-finite, or <= 0 on a log scale).
    func position(_ v: Double) -> Double? {
        guard v.isFinite, kind == .linear || v > 0 else { return nil }
        let t: Double
        switch kind {
        case .linear: t = (v - domain.low) / (domain.high - domain.low)
        case .log: t = (log10(v) - log10(domain.low)) / (log10(domain.high) - log10(domain.low))
        }
        return range.0 + t * (range.1 - range.0)
    }

    /// `position(v)`, clamped to the range ends for values outside the domain.
    func clampedPosition(_ v: Double) -> Double? {
        guard let p = position(v) else { return nil }
        return min(max(p, min(range.0, range.1)), max(range.0, range.1))
    }

    /// Heckbert's nice number ("Nice numbers for graph labels", Graphics Gems, 1990): 1, 2, 5 or
    /// 10 times a power of ten, the nearest (`round`) or the next at least as large.
    static func nice(_ x: Double, round: Bool) -> Double {
        guard x > 0, x.isFinite else { return 1 }
        let exponent = log10(x).rounded(.down), fraction = x / pow(10, exponent)
        let niceFraction: Double
        if round {
            niceFraction = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10
        } else {
            niceFraction = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
        }
        return niceFraction * pow(10, exponent)
    }

    /// "1", "10", "1000", "1e-6", "2e4": short labels of log ticks.
    static func powerOfTen(_ e: Int, times m: Int = 1) -> String {
        if e >= 0 && e <= 4 { return String(m * Int(pow(10, Double(e)))) }
        if e < 0 && e >= -3 { return HTMLText.tick(Double(m) * pow(10, Double(e)), step: pow(10, Double(e))) }
        return "\(m)e\(e)"
    }
}
