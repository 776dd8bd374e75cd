import Engine
import Foundation
import Recorder

/// The config a record ran with, rebuilt from its header alone: the config as given, its
/// directory (relative paths resolve against it), the files embedded in the record and the
/// level. The one way replay, resume, verify against a record and `show --layers` get it.
public enum RecordedConfig {
    /// The config given as `text`, recorded from the file `configPath`.
    static func parse(given text: String, configPath: String, source: String) throws -> TrainConfig {
        let given = try JSON.parse(Array(text.utf8), source: "\(source) (recorded config)")
        return try TrainConfig.parse(given, baseDirectory: URL(fileURLWithPath: configPath).deletingLastPathComponent().path)
    }

    /// The record's config with `changes` applied and its embedded files attached; and the
    /// resolved-config keys the changes altered.
    public static func load(_ reader: RecordReader, applying changes: [ConfigAssignment] = []) throws -> (TrainConfig, [Change]) {
        var given = try JSON.parse(Array(reader.configGiven.utf8), source: "\(reader.path) (recorded config)")
        try ConfigAssignment.apply(changes, to: &given)
        var config = try TrainConfig.parse(given, baseDirectory: URL(fileURLWithPath: reader.configPath).deletingLastPathComponent().path)
        for name in try reader.artifactNames() { config.embedded[name] = try reader.artifact(name) }
        return (config, Change.between(try resolved(reader), config.resolved))
    }

    /// The record's resolved config.
    public static func resolved(_ reader: RecordReader) throws -> JSON {
        try JSON.parse(Array(reader.configResolved.utf8), source: "\(reader.path) (resolved config)")
    }

    /// Whether the recorded run's GEMM was OpenBLAS (true when the record does not say).
    public static func usesOpenBLAS(_ reader: RecordReader) -> Bool {
        guard let resolved = try? resolved(reader), case .string(let gemm)? = resolved["determinism"]?["gemm"] else { return true }
        return gemm == GEMMMode.openblas.rawValue
    }

    /// The recorded model, rebuilt from the resolved config's layers and knobs, with the input
    /// shape of the first recorded `batch.x`.
    public static func model(_ reader: RecordReader) throws -> Model {
        let resolved = try resolved(reader)
        guard case .array(let specs)? = resolved["model"]?["layers"] else {
            throw RecordReadError.corrupt(reader.path, "the resolved config has no model.layers")
        }
        var semantics = Semantics(profile: resolved["semantics"].flatMap { if case .string(let s) = $0 { Semantics.Profile(rawValue: s) } else { nil } } ?? .pytorch)
        if case .object(let knobs)? = resolved["knobs"] { try semantics.apply(knobs, path: "knobs") }
        guard let x = try (reader.steps().map(\.step).filter { $0 >= 0 }.first).flatMap({ try reader.events(step: $0).first { $0.name == "batch.x" } }) else {
            throw InputError("\(reader.path): no training step recorded, so the input shape is unknown")
        }
        return try Model(layers: specs, inputShape: Array(x.shape.dropFirst()), semantics: semantics)
    }
}
