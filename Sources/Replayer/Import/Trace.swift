import Engine
import Recorder

/// A trace of a real framework run (docs/trace-format.md, version 1): what `cwrepro.torch` and
/// `cwrepro.keras` capture, read and checked line by line by `TraceReader`. Every value here has
/// passed the format's checks (hashes, digests, statistics and prediction hashes recomputed).
public struct Trace: Sendable {
    /// The newest trace format version this build reads.
    public static let version = 1
    public static let formatTag = "cwrepro-trace"
    /// Roles a trace's tensors may have (draws, orders, reductions and evaluations exist only in
    /// cwrepro's own records).
    public static let roles: [TensorRole] = [.batch, .param, .grad, .activation, .optimizerState, .loss]

    /// `{"name": "torch", "version": "2.13.0+cpu"}`.
    public struct Framework: Sendable, Equatable {
        public var name: String
        public var version: String
    }

    /// One parameter or buffer of the model, in state_dict order (`model.parameters`).
    public struct Parameter: Sendable, Equatable {
        public var name: String
        public var shape: [Int]
        public var trainable: Bool
    }

    public struct Model: Sendable {
        /// The framework's model class (`torch.nn.modules.container.Sequential`).
        public var className: String
        /// The model as a train.json `model.layers` list; nil when it has no cwrepro equivalent.
        public var layers: JSON?
        /// Why `layers` is nil.
        public var note: String?
        public var parameters: [Parameter]
    }

    public struct Optimizer: Sendable {
        public var className: String
        /// The train.json `optimizer` object, when cwrepro can express the optimizer.
        public var config: JSON?
        /// Optimizer-state suffixes captured, in order (`exp_avg`, `exp_avg_sq`).
        public var stateNames: [String]
        /// The framework's own settings of the first parameter group (free-form JSON).
        public var hyperparameters: JSON
    }

    public struct Header: Sendable {
        public var name: String
        public var framework: Framework
        public var level: RecordLevel
        /// The seed the script declared (recorded, not applied).
        public var seed: Int?
        /// Tensors carry values at initialisation and steps 0 ..< keepTensors - 1 (-1: all).
        public var keepTensors: Int
        public var model: Model
        public var optimizer: Optimizer?
        /// The run's identity (framework, Python, numpy, CPU, threads, device ...): flat strings.
        public var environment: [String: String]
        /// UTC time the capture started.
        public var created: String
        /// The header line as written (every field).
        public var json: JSON
    }

    /// One step: its tensors (as record events, with their statistics and kept values) and its
    /// step line. Step -1 is initialisation.
    public struct Step: Sendable {
        public var step: Int
        public var epoch: Int
        /// The float32 loss (its bits as written; NaN and Inf included); nil at initialisation.
        public var loss: Float?
        /// The learning rate as the framework held it (Float64); nil at initialisation.
        public var lr: Double?
        public var digest: UInt64
        public var wallSeconds: Double
        public var events: [RecordedEvent]
        /// The line of its step line.
        public var line: Int
    }

    /// An evaluation line: the record's evaluation and the predictions themselves.
    public struct EvaluationLine: Sendable {
        public var evaluation: Evaluation
        public var predictions: [Int32]
        public var line: Int
    }

    /// How the capture ended.
    public enum Status: Sendable, Equatable {
        case complete
        /// Closed by an exception (the end line's `error`).
        case failed(String)
        /// No end line: the capturing process stopped after its last whole step.
        case incomplete
    }

    public var path: String
    public var header: Header
    /// Initialisation (step -1) first, then the training steps in order.
    public var steps: [Step]
    public var evaluations: [EvaluationLine]
    public var status: Status
    /// The end line's `wallSeconds` (nil without an end line).
    public var wallSeconds: Double?
    /// The file was gzip whose stream lacks its end (a killed writer).
    public var truncatedGzip: Bool

    /// Training steps (initialisation excluded).
    public var trainingSteps: ArraySlice<Step> { steps.dropFirst() }
    public var tensorCount: Int { steps.reduce(0) { $0 + $1.events.count } }
}

/// A trace breaks its format (docs/trace-format.md, section 7): the file, the line (0: the file
/// as a whole), the field (JSON path within the line; empty for the line as a whole) and what is
/// wrong. The command line reports it as bad input (exit 2).
public struct TraceError: Error, Equatable, Sendable, CustomStringConvertible {
    public var path: String
    public var line: Int
    public var field: String
    public var message: String
    /// The message names its own place (`file:line:column: ...` from the JSON parser).
    var located = false

    public init(path: String, line: Int, field: String, message: String) {
        self.path = path; self.line = line; self.field = field; self.message = message
    }

    /// A JSON syntax error of line `line` (its message says `path:line:column`).
    init(syntax e: InputError, path: String, line: Int) {
        self.init(path: path, line: line, field: "", message: e.message)
        located = true
    }

    /// `run.trace:12: stats.nonfinite: 3 exceeds the element count 2`, as the Python reader words it.
    public var description: String {
        if located { return message }
        let at = line > 0 ? "\(path):\(line)" : path
        return field.isEmpty ? "\(at): \(message)" : "\(at): \(field): \(message)"
    }
}
