import Foundation
import Recorder

/// `data.order`: the exact batches of a run elsewhere, `{"batches": [[train index, ...], ...]}`,
/// one list per step. It replaces shuffling.
public struct BatchOrder: Equatable {
    public var batches: [[Int]]

    public static func load(path: String, trainCount: Int) throws -> BatchOrder {
        try parse(readFileBytes(path, what: "data.order file"), name: path, trainCount: trainCount)
    }

    public static func parse(_ data: [UInt8], name: String, trainCount: Int) throws -> BatchOrder {
        let (json, source) = try ConfigSource.parse(data, name: name)
        // Indices are integers written as integers (`3`, not `3.0`), as in a config.
        if let (path, written) = source.spellings.min(by: { $0.key < $1.key }) {
            throw InputError("\(source.prefix(for: path))\(path): \(written) is not an integer index; write indices as integers (3, not 3.0)")
        }
        guard case .array(let list)? = json["batches"] else {
            throw InputError("\(name): expected {\"batches\": [[index, ...], ...]}")
        }
        guard !list.isEmpty else { throw InputError("\(name): \"batches\" is empty") }
        var batches: [[Int]] = []
        for (b, entry) in list.enumerated() {
            guard case .array(let items) = entry, !items.isEmpty else {
                throw InputError("\(name): batches[\(b)] must be a non-empty array of train indices")
            }
            batches.append(try items.enumerated().map { i, v in
                guard case .number(let d) = v, d == d.rounded(), d >= 0, d < Double(trainCount) else {
                    throw InputError("\(name): batches[\(b)][\(i)] = \(v.text) is not a train index in 0..<\(trainCount)")
                }
                return Int(d)
            })
        }
        return BatchOrder(batches: batches)
    }
}
