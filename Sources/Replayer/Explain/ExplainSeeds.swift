import Engine
import Recorder

/// What a run's seed decides, and what a config pins instead.
///
/// Every random draw of a run is a Philox stream keyed by (seed, site) (`Recorder`): the initial
/// weights (`init/<parameter>`), the batch order (`data/shuffle/epoch-<e>`, keyed by
/// `data.shuffleSeed` when given), the dropout masks (`dropout/<layer>/step-<n>`), the
/// augmentation (`augment/...`) and a synthetic dataset (`data/synthetic/...`). A config can pin
/// some of them: `model.init` loads the weights from a file, `data.order` replays fixed batches,
/// `data.shuffle: false` trains in file order, `data.shuffleSeed` fixes the order whatever the
/// seed. `explain --seeds` varies the seed; this says what that varies.
public struct SeedSources: Codable, Sendable, Equatable {
    /// A source of randomness a run may have.
    public enum Source: String, Codable, Sendable, CaseIterable {
        case initialisation, dataOrder, dropout, augmentation, syntheticData
    }

    /// A source the config fixes, and the config key that fixes it.
    public struct Pin: Codable, Sendable, Equatable {
        public var source: Source
        /// The config key (dotted path) that fixes it: `model.init`, `data.order`, `data.shuffle`, `data.shuffleSeed`.
        public var key: String
    }

    /// The sources the seed draws, in `Source` order.
    public var varies: [Source]
    /// The sources the config fixes instead.
    public var pinned: [Pin]

    /// Whether another seed changes anything at all.
    public var seedMatters: Bool { !varies.isEmpty }

    /// What the seed decides in `config` (read from the config; `explain` also counts the distinct
    /// runs it got, `SideSummary.distinctRuns`).
    public init(_ config: TrainConfig) {
        var varies: [Source] = [], pinned: [Pin] = []
        if config.initPath != nil { pinned.append(Pin(source: .initialisation, key: "model.init")) } else { varies.append(.initialisation) }
        if config.data.order != nil {
            pinned.append(Pin(source: .dataOrder, key: "data.order"))
        } else if !config.data.shuffle {
            pinned.append(Pin(source: .dataOrder, key: "data.shuffle"))
        } else if config.data.shuffleSeed != nil {
            pinned.append(Pin(source: .dataOrder, key: "data.shuffleSeed"))
        } else {
            varies.append(.dataOrder)
        }
        if config.layers.contains(where: Self.hasDropout) { varies.append(.dropout) }
        if config.data.augment != nil { varies.append(.augmentation) }
        if config.data.dataset == "synthetic" { varies.append(.syntheticData) }
        self.varies = varies
        self.pinned = pinned
    }

    /// A dropout layer with a rate above 0 anywhere in `layer` (blocks nest layers). The rate
    /// defaults to 0.5 (Dropout.swift).
    static func hasDropout(_ layer: JSON) -> Bool {
        switch layer {
        case .object(let o):
            if o["type"] == .string("dropout") {
                if case .number(let rate)? = o["rate"] { return rate > 0 }
                return true
            }
            return o.values.contains(where: hasDropout)
        case .array(let a):
            return a.contains(where: hasDropout)
        default:
            return false
        }
    }
}

extension Explain {
    /// `config` with its initial weights and batch order left to the seed: `model.init`,
    /// `data.order` and `data.shuffleSeed` removed, `data.shuffle` true. Returns the keys it
    /// changed (empty: nothing was pinned). The initial weights then come from the profile's
    /// `init.kernel` and `init.bias` (each framework's default initialiser), the order from
    /// shuffling every epoch; the number of steps stays `min(maxSteps, epochs x steps per epoch)`.
    public static func unpinned(_ config: TrainConfig) throws -> (TrainConfig, [String]) {
        var changed: [String] = []
        if config.initPath != nil { changed.append("model.init") }
        if config.data.order != nil { changed.append("data.order") }
        if !config.data.shuffle { changed.append("data.shuffle") }
        if config.data.shuffleSeed != nil { changed.append("data.shuffleSeed") }
        guard !changed.isEmpty else { return (config, []) }
        var given = config.given
        for k in ["model.init", "data.order", "data.shuffleSeed"] where changed.contains(k) {
            given = given.removing(path: k.split(separator: ".").map(String.init))
        }
        if !config.data.shuffle { try given.set(path: ["data", "shuffle"], to: .bool(true)) }
        var out = try TrainConfig.parse(given, baseDirectory: config.baseDirectory)
        out.embedded = config.embedded
        out.dataLocation = config.dataLocation
        return (out, changed)
    }
}
