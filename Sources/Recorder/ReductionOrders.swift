import Foundation
import GRDB

/// Stored combination orders of parallel reductions (`determinism.reduction: parallel`).
///
/// Table `reduction_orders(step, seq, site, bytes, sha256)`: for each event of role `reduction` (a
/// tensor row with the same step and seq holds its hash), the order in which the partial sums were
/// combined, as little-endian int32 chunk indices. The event's hash covers these bytes and (schema
/// 2) the step text covers their SHA-256, so an edited or deleted order is detected when read.
extension RecordReader {
    /// The reduction orders recorded in `step`, by sequence number: (site, order). Each order is
    /// checked against its event's hash in `events` (which are checked against the step checksum).
    public func reductionOrders(step: Int, events: [RecordedEvent]) throws -> [Int: (site: String, order: [Int])] {
        let rows: [(Int, String, Data)] = try read { db in
            guard try db.tableExists("reduction_orders") else { return [] }
            return try Row.fetchAll(db, sql: "SELECT seq, site, bytes FROM reduction_orders WHERE step = ?", arguments: [step])
                .map { (try Self.int($0, "seq", path), try Self.text($0, "site", path), try Self.blob($0, "bytes", path)) }
        }
        var out: [Int: (site: String, order: [Int])] = [:]
        for (seq, site, bytes) in rows {
            let hash = bytes.withUnsafeBytes { TensorHash.tensor(dtype: .int32, shape: [bytes.count / 4], raw: $0) }
            guard seq >= 0, seq < events.count, events[seq].role == .reduction, events[seq].name == site, events[seq].hash == hash,
                  events[seq].shape == [bytes.count / 4] else {
                throw RecordReadError.tampered(path, step: step, detail: "the reduction order at \(site) does not match its recorded hash")
            }
            let order = bytes.withUnsafeBytes { raw in raw.bindMemory(to: Int32.self).map { Int(Int32(littleEndian: $0)) } }
            out[seq] = (site, order)
        }
        return out
    }
}
