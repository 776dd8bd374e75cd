import Engine
import Recorder

/// One class (by true label) as two models score it.
public struct ClassComparison: Equatable, Sendable {
    public var label: Int
    /// Samples of this class.
    public var total: Int
    public var accuracyA: Double
    public var accuracyB: Double
    /// `accuracyB - accuracyA`.
    public var difference: Double { accuracyB - accuracyA }
    /// Samples of this class on which the two models predict different classes.
    public var disagreements: Int
    public var disagreementRate: Double { total == 0 ? 0 : Double(disagreements) / Double(total) }
}

/// A pair of predictions the models disagree on: A says `a`, B says `b`, on `count` samples.
public struct PredictionPair: Equatable, Sendable {
    public var a: Int
    public var b: Int
    public var count: Int
}

/// Two models on the same inputs: accuracies, the paired test, how often and where they disagree.
public struct BehaviourComparison: Equatable, Sendable {
    public var split: EvaluationSplit
    public var a: Evaluation
    public var b: Evaluation
    /// `b.accuracy - a.accuracy`.
    public var accuracyDifference: Double { b.accuracy - a.accuracy }
    /// Per class, by true label.
    public var perClass: [ClassComparison]
    /// Right/wrong of A against right/wrong of B, sample by sample.
    public var paired: PairedCounts
    /// McNemar's test of "A and B are right equally often" on the discordant pairs (exact below 25).
    public var mcNemar: TestResult
    /// Samples whose predicted classes differ (right or wrong), and their fraction.
    public var disagreements: Int
    public var disagreement: Double { a.total == 0 ? 0 : Double(disagreements) / Double(a.total) }
    /// The classes with the most disagreements (rate, then count; those with none left out), at most 5.
    public var mostDisagreeing: [ClassComparison]
    /// The most frequent (A's prediction, B's prediction) pairs among disagreements, at most 5.
    public var topPairs: [PredictionPair]
    /// Both models saw bit-identical inputs (same data and preprocessing); false when their configs
    /// load or normalise the data differently (the labels must still agree sample by sample).
    public var inputsIdentical: Bool
}

/// Why two models cannot be compared on the same inputs.
public enum ModelComparisonError: Error, Equatable, Sendable {
    /// The two configs' splits hold different samples: counts, classes or labels differ.
    case differentSamples(split: EvaluationSplit, detail: String)
}

extension BehaviourComparison {
    static func compare(_ ma: TrainedModel, _ mb: TrainedModel, split: EvaluationSplit) throws -> BehaviourComparison {
        let da = ma.dataset(split), db = mb.dataset(split)
        guard da.count == db.count else {
            throw ModelComparisonError.differentSamples(split: split, detail: "\(da.count) samples in A, \(db.count) in B")
        }
        guard da.classes == db.classes else {
            throw ModelComparisonError.differentSamples(split: split, detail: "\(da.classes) classes in A, \(db.classes) in B")
        }
        if let i = da.labels.indices.first(where: { da.labels[$0] != db.labels[$0] }) {
            throw ModelComparisonError.differentSamples(split: split, detail: "sample \(i) is labelled \(da.labels[i]) in A and \(db.labels[i]) in B")
        }
        let (ea, pa) = ma.predict(split), (eb, pb) = mb.predict(split)
        let labels = da.labels
        let paired = try PairedCounts(zip(pa, labels).map { $0 == $1 }, zip(pb, labels).map { $0 == $1 })
        var disagreeing = [Int](repeating: 0, count: da.classes)
        var pairs: [Int: Int] = [:]  // a * classes + b -> count
        for i in labels.indices where pa[i] != pb[i] {
            disagreeing[Int(labels[i])] += 1
            pairs[Int(pa[i]) * da.classes + Int(pb[i]), default: 0] += 1
        }
        let accA = ea.perClassAccuracy, accB = eb.perClassAccuracy
        let perClass = (0..<da.classes).map {
            ClassComparison(label: $0, total: ea.perClassTotal[$0], accuracyA: accA[$0], accuracyB: accB[$0], disagreements: disagreeing[$0])
        }
        let most = perClass.filter { $0.disagreements > 0 }
            .sorted { ($0.disagreementRate, $0.disagreements, -$0.label) > ($1.disagreementRate, $1.disagreements, -$1.label) }
        let top = pairs.map { PredictionPair(a: $0.key / da.classes, b: $0.key % da.classes, count: $0.value) }
            .sorted { ($0.count, -$0.a, -$0.b) > ($1.count, -$1.a, -$1.b) }
        return BehaviourComparison(split: split, a: ea, b: eb, perClass: perClass, paired: paired, mcNemar: try Statistics.mcNemar(paired),
                                   disagreements: disagreeing.reduce(0, +), mostDisagreeing: Array(most.prefix(5)),
                                   topPairs: Array(top.prefix(5)), inputsIdentical: da.images == db.images)
    }
}
