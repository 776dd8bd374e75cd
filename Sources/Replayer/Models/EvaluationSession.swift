import Engine
import Recorder

/// `cwrepro evaluate`: a trained model scored on a split, with no training: accuracy, per-class
/// accuracy, loss, the predictions hash (XXH3-64 of the predicted labels as little-endian Int32,
/// the hash a record's evaluations hold), the confusion matrix, and inference latency.
public struct EvaluationReport: Equatable, Sendable {
    public var name: String
    public var config: String
    public var weights: String
    /// Evaluation (step and epoch -1: no training step).
    public var evaluation: Evaluation
    /// `confusion[t][p]`: samples of true class t predicted as p.
    public var confusion: [[Int]]
    public var latency: LatencyMeasurement
    /// Trainable parameters.
    public var parameters: Int
    public var semantics: Semantics.Profile
}

public enum EvaluationSession {
    /// Scores `model` on `split` and times `latency.timed` forward passes.
    public static func run(_ model: TrainedModel, split: EvaluationSplit = .test, latency: LatencyOptions = LatencyOptions()) throws -> EvaluationReport {
        try latency.check()
        let (evaluation, predictions) = model.predict(split)
        let set = model.dataset(split)
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: set.classes), count: set.classes)
        for (p, t) in zip(predictions, set.labels) { confusion[Int(t)][Int(p)] += 1 }
        return EvaluationReport(name: model.name, config: model.configPath, weights: model.weightsPath, evaluation: evaluation,
                                confusion: confusion, latency: try Latency.measure(model, split: split, options: latency),
                                parameters: model.model.params.trainableCount, semantics: model.semantics.profile)
    }
}
