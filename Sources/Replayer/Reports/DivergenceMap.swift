import Engine
import Foundation
import Recorder

/// Where and how much two records differ, tensor by tensor and step by step (the heat map of
/// `cwrepro report A.cwr B.cwr`).
///
/// A cell is the **relative error in float32 ulps**: `|a - b| / max(|a|, |b|) / 2^-23`, the
/// difference in units of the float32 rounding step at the values' magnitude (1 = one rounding
/// step; 2^23 = values that differ by their own size; infinite when one side is not finite). It is
/// measured from what the records hold, best first:
/// 1. **values**: both records kept the tensor's values (`record.keepTensors`): the largest
///    relative error over its elements;
/// 2. **statistics**: schema-2 records carry every tensor's statistics (`TensorStats`: min, max,
///    mean, L2 norm in Float64, non-finite count): the largest relative error among the four
///    (infinite when the non-finite counts differ). A summary of the tensor, not of each element: it
///    can understate a difference (a permutation keeps every statistic), so a cell whose hashes
///    differ is never shown as identical;
/// 3. **loss**: the step's loss (a row of its own), always stored as float32 bits;
/// 4. **identical**: equal hashes: 0;
/// 5. otherwise the hashes differ and the records hold nothing to measure by (schema-1 records
///    past their kept steps): the cell has no value (`unmeasured`), and the map says how many
///    such cells there are.
public struct DivergenceMap: Sendable {
    /// How a cell's value was obtained.
    public enum Measure: String, Codable, Sendable, CaseIterable {
        case identical, values, statistics, loss, unmeasured
    }

    /// A row: a tensor (name and role), or the loss.
    public struct Row: Sendable, Equatable {
        public var name: String
        public var role: TensorRole
        public init(name: String, role: TensorRole) { self.name = name; self.role = role }
    }

    public var rows: [Row]
    /// Training steps (columns), increasing; `initStep` (-1) is initialisation.
    public var steps: [Int]
    /// `cells[row][column]`: relative error in ulps; nil where a record has no such tensor at that
    /// step or the difference could not be measured.
    public var cells: [[Double?]]
    /// How many cells each measure gave.
    public var measures: [Measure: Int]
    /// The first divergent tensor's cell (row, column), when the records diverge.
    public var first: (row: Int, column: Int)?
    /// Steps both records hold, and how many of them the map shows (at most `maxSteps`, evenly spaced).
    public var commonSteps: Int

    /// float32's unit roundoff at 1 (2^-23): a relative error of one ulp.
    public static let ulp = Double(Float.ulpOfOne)

    /// The relative error of `b` against `a`, in ulps (0 when equal; infinite when only one is finite).
    public static func relativeError(_ a: Double, _ b: Double) -> Double {
        if a == b || (a.isNaN && b.isNaN) { return 0 }
        guard a.isFinite, b.isFinite else { return .infinity }
        return abs(a - b) / max(abs(a), abs(b)) / ulp
    }

    /// The largest elementwise relative error (ulps) of two float32 buffers; nil when they are not
    /// float32 buffers of the same size.
    public static func relativeError(_ a: [UInt8], _ b: [UInt8]) -> Double? {
        guard a.count == b.count, a.count % 4 == 0 else { return nil }
        var worst = 0.0
        a.withUnsafeBytes { x in b.withUnsafeBytes { y in
            let fx = x.bindMemory(to: Float.self), fy = y.bindMemory(to: Float.self)
            for i in 0..<fx.count where fx[i].bitPattern != fy[i].bitPattern {
                worst = max(worst, relativeError(Double(fx[i]), Double(fy[i])))
            }
        } }
        return worst
    }

    /// The largest relative error (ulps) among two tensors' min, max, mean and L2 norm; infinite
    /// when their non-finite counts differ; nil when a record has no statistics (schema 1).
    public static func relativeError(_ a: TensorStats, _ b: TensorStats) -> Double? {
        if a.nonFinite != b.nonFinite { return .infinity }
        let pairs = [(a.min, b.min), (a.max, b.max), (a.mean, b.mean), (a.l2, b.l2)]
        guard pairs.allSatisfy({ ($0.0 == nil) == ($0.1 == nil) }), pairs.contains(where: { $0.0 != nil }) else {
            return a.l2 == nil && b.l2 == nil && a.nonFinite > 0 ? 0 : nil
        }
        return pairs.compactMap { x, y in x.flatMap { x in y.map { relativeError(x, $0) } } }.max()
    }

    /// The map of two records (A's tensors in execution order; the loss first), over at most
    /// `maxSteps` of their common steps (evenly spaced, the first divergent step always among them).
    public static func make(_ a: RecordReader, _ b: RecordReader, firstDivergence: Divergence?, maxSteps: Int = 400) throws -> DivergenceMap {
        let sa = try a.steps(), sb = try b.steps()
        let lossB = Dictionary(uniqueKeysWithValues: sb.map { ($0.step, $0.loss) })
        let common = sa.map(\.step).filter { lossB[$0] != nil }
        var shown = common
        if common.count > maxSteps {
            shown = (0..<maxSteps).map { common[$0 * (common.count - 1) / max(1, maxSteps - 1)] }
            if let f = firstDivergence?.step, common.contains(f) { shown.append(f) }
            shown = Set(shown).sorted()
        }
        let lossA = Dictionary(uniqueKeysWithValues: sa.map { ($0.step, $0.loss) })
        let keptA = try a.stepsWithPayload(), keptB = try b.stepsWithPayload()
        var rows = [Row(name: "loss", role: .loss)]
        var index: [String: Int] = [:]
        var columns: [[Int: Double?]] = []
        var measures: [Measure: Int] = [:]
        func note(_ m: Measure) { measures[m, default: 0] += 1 }
        for step in shown {
            var column: [Int: Double?] = [:]
            if step >= 0, let la = lossA[step], let lb = lossB[step] {
                column[0] = relativeError(Double(la), Double(lb))
                note(.loss)
            }
            let ea = try a.events(step: step), eb = try b.events(step: step)
            let byKey = Dictionary(eb.map { ("\($0.role.rawValue) \($0.name)", $0) }, uniquingKeysWith: { x, _ in x })
            for e in ea where e.role != .loss {
                let key = "\(e.role.rawValue) \(e.name)"
                let r = index[key] ?? {
                    rows.append(Row(name: e.name, role: e.role))
                    index[key] = rows.count - 1
                    return rows.count - 1
                }()
                guard let other = byKey[key], other.shape == e.shape, other.dtype == e.dtype else { continue }
                if other.hash == e.hash {
                    column[r] = 0
                    note(.identical)
                } else if keptA.contains(step), keptB.contains(step), e.dtype == .float32,
                          let pa = try a.payload(step: step, seq: e.seq), let pb = try b.payload(step: step, seq: other.seq),
                          let v = relativeError(pa, pb) {
                    column[r] = max(v, Double.leastNonzeroMagnitude)  // differing bits are never shown as identical
                    note(.values)
                } else if let v = relativeError(e.stats, other.stats) {
                    column[r] = max(v, Double.leastNonzeroMagnitude)
                    note(.statistics)
                } else {
                    column[r] = .some(nil)
                    note(.unmeasured)
                }
            }
            columns.append(column)
        }
        let cells = rows.indices.map { r in columns.map { $0[r] ?? nil } }
        var first: (Int, Int)?
        if let d = firstDivergence, let c = shown.firstIndex(of: d.step) {
            let key = "\(d.role.rawValue) \(d.name)"
            if let r = d.role == .loss ? 0 : index[key] { first = (r, c) }
        }
        return DivergenceMap(rows: rows, steps: shown, cells: cells, measures: measures, first: first, commonSteps: common.count)
    }
}
