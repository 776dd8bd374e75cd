import Engine
import Recorder

/// Who computed a record's numbers: cwrepro's engine (under a semantics profile), or a real
/// framework whose trace `cwrepro import` turned into the record. Two records of the same
/// implementation compare bit for bit; two of different implementations, by value within the
/// rounding envelope (`RecordComparison`).
public enum RecordOrigin: Sendable, Equatable {
    /// Recorded by cwrepro under `semantics` (`pytorch`, `keras`).
    case cwrepro(semantics: String)
    /// Imported from a trace of `framework` (`torch`, `keras`); `description` as the trace's
    /// environment names it (`torch 2.13.0+cpu`).
    case imported(framework: String, description: String)

    /// The key of an imported record's resolved config that holds what the trace says beyond a
    /// train.json (docs/record-format.md, "Imported records"); cwrepro's configs never have it.
    public static let importedKey = "imported"

    public static func of(_ reader: RecordReader) -> RecordOrigin {
        if let resolved = try? RecordedConfig.resolved(reader), case .string(let fw)? = resolved[importedKey]?["framework"] {
            return .imported(framework: fw, description: reader.environment["framework"] ?? fw)
        }
        return .cwrepro(semantics: reader.meta["semantics"] ?? "?")
    }

    /// What computed the numbers: `cwrepro` or the framework's name. Records of one
    /// implementation are compared bit for bit.
    public var implementation: String {
        switch self {
        case .cwrepro: "cwrepro"
        case .imported(let fw, _): fw
        }
    }

    public var isImported: Bool { if case .imported = self { true } else { false } }
}

/// An operation that needs cwrepro to have computed the record (replay, resume), asked of an
/// imported one.
public struct ImportedRecordError: Error, Equatable, Sendable, CustomStringConvertible {
    public var path: String
    /// The framework that computed it (`torch 2.13.0+cpu`).
    public var framework: String
    /// What was asked (`replay`).
    public var operation: String

    public var description: String {
        "\(path) was imported from a trace of a real \(framework) run: cwrepro did not compute it, so it cannot \(operation) it"
    }

    /// Throws when `reader` is an imported record.
    static func refuse(_ reader: RecordReader, _ operation: String) throws {
        if case .imported(_, let description) = RecordOrigin.of(reader) {
            throw ImportedRecordError(path: reader.path, framework: description, operation: operation)
        }
    }
}
