import Engine
import Recorder

/// One side of a comparison, as the report names it.
public struct ComparedModel: Equatable, Sendable {
    public var name: String
    public var config: String
    public var weights: String
    public var semantics: Semantics.Profile
    public var parameters: Int
}

/// `cwrepro models compare A B`: two trained models that claim to be the same, audited the way
/// Montes et al. audited model zoos, automatically: the architectures aligned with every
/// difference named, their behaviour on the same inputs with a paired test, their latency
/// measured in one run, and the first layer where their outputs part.
public struct ModelComparisonReport: Equatable, Sendable {
    public var a: ComparedModel
    public var b: ComparedModel
    public var architecture: ArchitectureComparison
    public var behaviour: BehaviourComparison
    public var latency: LatencyComparison
    public var localisation: LayerLocalisation

    /// No architecture difference, no disagreeing prediction, every paired layer within tolerance.
    public var equivalent: Bool {
        architecture.identical && behaviour.disagreements == 0 && localisation.firstDivergent == nil
    }
}

public struct ModelComparisonOptions: Equatable, Sendable {
    public var split: EvaluationSplit
    public var latency: LatencyOptions
    public var localisation: LocalisationOptions

    public init(split: EvaluationSplit = .test, latency: LatencyOptions = LatencyOptions(), localisation: LocalisationOptions = LocalisationOptions()) {
        self.split = split; self.latency = latency; self.localisation = localisation
    }
}

public enum ModelComparison {
    /// Compares `a` and `b` (each built with its own config: data, semantics, GEMM, threads).
    /// Throws `ModelComparisonError` when their splits hold different samples.
    public static func run(_ a: TrainedModel, _ b: TrainedModel, options: ModelComparisonOptions = ModelComparisonOptions()) throws -> ModelComparisonReport {
        try options.latency.check()
        let architecture = ArchitectureComparison.compare(a.model, b.model)
        let behaviour = try BehaviourComparison.compare(a, b, split: options.split)
        let localisation = LayerLocalisation.compare(a, b, rows: architecture.rows, split: options.split, options: options.localisation)
        let latency = try Latency.compare(a, b, split: options.split, options: options.latency)
        func side(_ m: TrainedModel) -> ComparedModel {
            ComparedModel(name: m.name, config: m.configPath, weights: m.weightsPath, semantics: m.semantics.profile,
                          parameters: m.model.params.trainableCount)
        }
        return ModelComparisonReport(a: side(a), b: side(b), architecture: architecture, behaviour: behaviour, latency: latency,
                                     localisation: localisation)
    }
}
