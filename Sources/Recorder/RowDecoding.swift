import Foundation
import GRDB

/// Typed column access that never traps on a damaged file: GRDB's `row["x"] as Int` is a fatal
/// error when the column is missing or holds another type, and a record is untrusted input.
/// Every value is checked here and a mismatch is `RecordReadError.corrupt`.
extension RecordReader {
    /// The value of `column`; a missing column (a damaged schema) is corruption, not a trap.
    static func value(_ r: Row, _ column: String, _ path: String) throws -> DatabaseValue {
        guard r.hasColumn(column) else { throw RecordReadError.corrupt(path, "a row lacks the column \(column)") }
        return r[column] as DatabaseValue
    }

    static func int(_ r: Row, _ column: String, _ path: String) throws -> Int {
        let v = try value(r, column, path)
        guard case .int64(let i) = v.storage, let n = Int(exactly: i) else {
            throw RecordReadError.corrupt(path, "column \(column) holds \(v.description), expected an integer")
        }
        return n
    }

    static func int64(_ r: Row, _ column: String, _ path: String) throws -> Int64 { Int64(try int(r, column, path)) }

    static func double(_ r: Row, _ column: String, _ path: String) throws -> Double {
        let v = try value(r, column, path)
        switch v.storage {
        case .double(let d): return d
        case .int64(let i): return Double(i)
        default: throw RecordReadError.corrupt(path, "column \(column) holds \(v.description), expected a number")
        }
    }

    static func isNull(_ r: Row, _ column: String, _ path: String) throws -> Bool { try value(r, column, path).isNull }

    static func text(_ r: Row, _ column: String, _ path: String) throws -> String {
        let v = try value(r, column, path)
        guard case .string(let s) = v.storage else {
            throw RecordReadError.corrupt(path, "column \(column) holds \(v.description), expected text")
        }
        return s
    }

    static func blob(_ r: Row, _ column: String, _ path: String) throws -> Data {
        let v = try value(r, column, path)
        guard case .blob(let d) = v.storage else {
            throw RecordReadError.corrupt(path, "column \(column) holds \(v.description), expected bytes")
        }
        return d
    }
}

extension RecordReader {
    static func evaluation(_ r: Row, _ path: String) throws -> Evaluation {
        let ints = { (s: String) in s.split(separator: ",").compactMap { Int($0) } }
        return Evaluation(step: try int(r, "step", path), epoch: try int(r, "epoch", path), split: try text(r, "split", path),
                          correct: try int(r, "correct", path), total: try int(r, "total", path),
                          perClassCorrect: ints(try text(r, "per_class_correct", path)),
                          perClassTotal: ints(try text(r, "per_class_total", path)),
                          predictionsHash: UInt64(bitPattern: try int64(r, "predictions_hash", path)),
                          loss: try isNull(r, "loss", path) ? .nan : Float(try double(r, "loss", path)))
    }

    /// "[32,1,8,8]" -> [32, 1, 8, 8], the text `RecordedEvent.shapeText` writes, in one pass over the
    /// bytes (replay parses every stored shape). The step checks hash the stored text itself, so any
    /// other text (even one with the same numbers) is reported as tampering before dims are used.
    static func dims(_ text: String) -> [Int] { dims(text.utf8) }

    /// `dims` of a text given as its UTF-8 bytes.
    static func dims<S: Sequence<UInt8>>(_ utf8: S) -> [Int] {
        var out: [Int] = []
        var value = 0, inNumber = false
        for b in utf8 {
            if b >= 0x30 && b <= 0x39 {
                value = value &* 10 &+ Int(b &- 0x30); inNumber = true
            } else {
                if inNumber { out.append(value) }
                value = 0; inNumber = false
            }
        }
        if inNumber { out.append(value) }
        return out
    }
}
