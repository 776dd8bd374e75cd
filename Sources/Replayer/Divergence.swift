import Recorder

/// Why a replay diverged, from the evidence at the first divergent event.
public enum Cause: String, Codable, Sendable {
    /// A random draw differs (seed or draw site changed).
    case randomDraw = "random draw"
    /// The data order or the batch differs (order, shuffle, batch size, data).
    case dataOrder = "data order"
    /// Draws and batches agree, the config differs: the changed setting altered the numerics.
    case configChanged = "config changed"
    /// Same config, different machine facts (BLAS core, threads, CPU, build).
    case environment
    /// Same config and environment: nondeterministic arithmetic (reduction order, threads).
    case numerics
}

/// How the values of a divergent tensor differ, when the record kept them (`record.keepTensors`).
public struct ValueDiff: Codable, Equatable, Sendable {
    public var maxAbsDiff: Double
    public var maxULP: UInt64
    public var differing: Int
    public var count: Int

    /// Compares two float32 buffers; nil when they are not float32 of the same size.
    public static func compare(expected: [UInt8], actual: [UInt8]) -> ValueDiff? {
        guard expected.count == actual.count, expected.count % 4 == 0 else { return nil }
        var d = ValueDiff(maxAbsDiff: 0, maxULP: 0, differing: 0, count: expected.count / 4)
        expected.withUnsafeBytes { e in actual.withUnsafeBytes { a in
            let ef = e.bindMemory(to: Float.self), af = a.bindMemory(to: Float.self)
            for i in 0..<ef.count where ef[i].bitPattern != af[i].bitPattern {
                d.differing += 1
                let abs = Double(Swift.abs(ef[i] - af[i]))
                if abs.isNaN || abs > d.maxAbsDiff { d.maxAbsDiff = abs.isNaN ? .infinity : abs }
                d.maxULP = max(d.maxULP, ulpDistance(ef[i], af[i]))
            }
        } }
        return d
    }

    /// Distance in representable float32 values (sign-magnitude mapped to a monotone integer line).
    public static func ulpDistance(_ a: Float, _ b: Float) -> UInt64 {
        func key(_ x: Float) -> Int64 {
            let bits = Int64(x.bitPattern)
            return bits & 0x8000_0000 != 0 ? -(bits & 0x7FFF_FFFF) : bits
        }
        let d = key(a) - key(b)
        return UInt64(d < 0 ? -d : d)
    }
}

/// One event that differs between the record and the replay.
public struct Divergence: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        /// Same tensor, different bits.
        case hash
        /// A different tensor at this position (name, role, dtype or shape differ).
        case structure
        /// The replay produced fewer events than the record.
        case missing
        /// The replay produced more events than the record.
        case extra
    }
    public var step: Int
    public var seq: Int
    public var name: String
    public var role: String
    public var kind: Kind
    public var expectedHash: String?
    public var actualHash: String?
    public var expectedShape: [Int]?
    public var actualShape: [Int]?
    public var expectedName: String?
    public var values: ValueDiff?

    /// "step 0" or "initialization".
    public var stepText: String { step == initStep ? "initialization" : "step \(step)" }
}

/// The outcome of a replay.
public struct ReplayReport: Codable, Sendable {
    public var record: String
    public var recordComplete: Bool
    public var stepsReplayed: Int
    public var stepsRecorded: Int
    public var tensorsCompared: Int
    public var divergentSteps: [Int]
    /// The first divergent tensor in execution order (draws and orders excluded).
    public var firstDivergence: Divergence?
    /// The first divergent event of any kind, when it is a draw or an order (the evidence for the cause).
    public var firstDivergentDraw: Divergence?
    public var cause: Cause?
    public var causeDetail: String?
    public var configChanges: [String]
    public var environmentChanges: [String]
    public var evaluationMismatches: [String]
    public var stoppedAtFirstDivergence: Bool
    /// Environment differences patched before replaying ("OpenBLAS core Haswell -> SkylakeX (...)").
    public var patches: [String] = []
    /// Differences that could not be patched, and requests that were not honoured.
    public var environmentWarnings: [String] = []
    /// `--no-patch`: replayed as-is.
    public var patchingDisabled = false
    /// The run's GEMM was OpenBLAS (BLAS facts can change its bits).
    public var openblas = true

    public var identical: Bool { firstDivergence == nil && firstDivergentDraw == nil && divergentSteps.isEmpty && evaluationMismatches.isEmpty }
}
