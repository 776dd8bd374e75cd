/// What a recorded tensor is for. Stored as the raw string.
public enum TensorRole: String, Codable, Sendable, CaseIterable {
    case batch, param, grad, activation, optimizerState = "optimizer-state", draw, order, reduction, loss, eval
}

/// How much is hashed at every step. Each level includes the ones before it.
/// - `params`: batch, loss, parameters after each update, draws and data orders.
/// - `grads` (default): also parameter gradients and optimizer state.
/// - `activations`: also every layer's forward output and backward input-gradient.
public enum RecordLevel: String, Codable, Sendable, CaseIterable, Comparable {
    case params, grads, activations

    /// Position in `allCases` (a switch: `wants(_:)` asks for every recorded tensor, and
    /// `allCases.firstIndex` built an array each time).
    var rank: Int {
        switch self {
        case .params: 0
        case .grads: 1
        case .activations: 2
        }
    }
    public static func < (a: Self, b: Self) -> Bool { a.rank < b.rank }

    /// Whether tensors of `role` are hashed at this level.
    public func includes(_ role: TensorRole) -> Bool {
        switch role {
        case .batch, .param, .loss, .draw, .order, .reduction, .eval: true
        case .grad, .optimizerState: self >= .grads
        case .activation: self >= .activations
        }
    }
}

/// The step number of initialisation (parameters drawn or loaded before the first update).
public let initStep = -1

/// "init" for the initialisation step, the number otherwise.
public func stepLabel(_ step: Int) -> String { step == initStep ? "init" : String(step) }

/// 1,234-style integers, for counts in messages and reports (`Text.grouped` in the CLI).
public func groupedDigits(_ n: Int) -> String {
    var out = ""
    for (i, c) in String(n).reversed().enumerated() {
        if i > 0 && i % 3 == 0 && c != "-" { out.append(",") }
        out.append(c)
    }
    return String(out.reversed())
}

/// One hashed tensor, draw or order, in execution order within its step.
public struct RecordedEvent: Equatable, Sendable {
    public var step: Int
    public var seq: Int
    public var name: String
    public var role: TensorRole
    public var dtype: DType
    public var shape: [Int]
    public var hash: UInt64
    /// Non-finite count, min, max, mean and L2 norm (docs/record-format.md, section 2).
    public var stats: TensorStats
    /// The raw little-endian bytes, kept only for steps covered by `record.keepTensors` (and for
    /// reduction orders).
    public var payload: [UInt8]?

    public init(step: Int, seq: Int, name: String, role: TensorRole, dtype: DType, shape: [Int],
                hash: UInt64, stats: TensorStats, payload: [UInt8]? = nil) {
        self.step = step; self.seq = seq; self.name = name; self.role = role; self.dtype = dtype
        self.shape = shape; self.hash = hash; self.stats = stats; self.payload = payload
    }

    /// An event whose statistics beyond the non-finite count are unknown (from a golden file).
    public init(step: Int, seq: Int, name: String, role: TensorRole, dtype: DType, shape: [Int],
                hash: UInt64, nonFinite: Int, payload: [UInt8]? = nil) {
        self.init(step: step, seq: seq, name: name, role: role, dtype: dtype, shape: shape, hash: hash,
                  stats: TensorStats(nonFinite: nonFinite), payload: payload)
    }

    /// Count of NaN and Inf elements (0 for integer tensors).
    public var nonFinite: Int {
        get { stats.nonFinite }
        set { stats.nonFinite = newValue }
    }

    public var shapeText: String { "[" + shape.map(String.init).joined(separator: ",") + "]" }
}

/// The end-of-step facts written with the step's events in one transaction.
public struct StepSummary: Equatable, Sendable {
    public var step: Int
    public var epoch: Int
    public var loss: Float
    public var lr: Float
    public var digest: UInt64
    public var wallSeconds: Double
    public var tensorCount: Int
    public init(step: Int, epoch: Int, loss: Float, lr: Float, digest: UInt64, wallSeconds: Double, tensorCount: Int) {
        self.step = step; self.epoch = epoch; self.loss = loss; self.lr = lr; self.digest = digest
        self.wallSeconds = wallSeconds; self.tensorCount = tensorCount
    }
}

/// An evaluation of the model on a split after `step`.
public struct Evaluation: Equatable, Sendable, Codable {
    public var step: Int
    public var epoch: Int
    public var split: String
    public var correct: Int
    public var total: Int
    public var perClassCorrect: [Int]
    public var perClassTotal: [Int]
    /// XXH3-64 of the predicted labels as little-endian Int32.
    public var predictionsHash: UInt64
    public var loss: Float

    public init(step: Int, epoch: Int, split: String, correct: Int, total: Int, perClassCorrect: [Int],
                perClassTotal: [Int], predictionsHash: UInt64, loss: Float) {
        self.step = step; self.epoch = epoch; self.split = split; self.correct = correct; self.total = total
        self.perClassCorrect = perClassCorrect; self.perClassTotal = perClassTotal
        self.predictionsHash = predictionsHash; self.loss = loss
    }

    public var accuracy: Double { total == 0 ? 0 : Double(correct) / Double(total) }
    public var perClassAccuracy: [Double] {
        zip(perClassCorrect, perClassTotal).map { $1 == 0 ? 0 : Double($0) / Double($1) }
    }
}
