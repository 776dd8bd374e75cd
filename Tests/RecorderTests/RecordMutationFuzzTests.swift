import Foundation
import GRDB
import XCTest
@testable import Recorder

/// Seeded fuzzing of a sealed record at the level of its rows (the byte-level fuzzer is
/// EngineTests.RecordFuzzTests): rows deleted, duplicated under another key, reordered (keys
/// swapped), columns edited (numbers nudged, texts changed, NULLs, bytes flipped), schema objects
/// added. Every mutation must be detected (a RecordReadError) or provably harmless: everything a
/// reader returns equals what it returned for the original. A mutation that SQLite itself refuses
/// (a constraint) is skipped and counted.
///
/// Budget: `CWREPRO_FUZZ_SECONDS` (default 3 s) and seed `CWREPRO_FUZZ_SEED` (default 11).
final class RecordMutationFuzzTests: XCTestCase {
    /// Everything the reader gives (the comparison for "harmless").
    struct Reading: Equatable {
        var status: RecordStatus
        var meta: [String: String]
        var steps: [StepRow]
        var events: [[RecordedEvent]]
        var payloads: [[UInt8]?]
        var orders: [String]
        var evaluations: [Evaluation]
        var checkpoint: [UInt8]?
        var checkpointStep: Int?
        var artifacts: [String: [UInt8]]
        var seal: String?
    }

    static func read(_ p: String) throws -> Reading {
        let r = try RecordReader(path: p)
        try r.verify()
        var events: [[RecordedEvent]] = [], payloads: [[UInt8]?] = [], orders: [String] = []
        for s in try r.steps() {
            let e = try r.events(step: s.step)
            events.append(e)
            for t in e { payloads.append(try r.payload(step: s.step, seq: t.seq)) }
            orders += try r.reductionOrders(step: s.step, events: e).sorted { $0.key < $1.key }.map { "\($0.key):\($0.value.site):\($0.value.order)" }
        }
        var artifacts: [String: [UInt8]] = [:]
        for n in try r.artifactNames() { artifacts[n] = try r.artifact(n) }
        let c = try r.lastCheckpoint()
        return Reading(status: r.status, meta: r.meta, steps: try r.steps(), events: events, payloads: payloads, orders: orders,
                       evaluations: try r.evaluations(), checkpoint: c?.bytes, checkpointStep: c?.step, artifacts: artifacts,
                       seal: try r.sealDigest())
    }

    /// SplitMix64.
    struct Rng {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
        mutating func pick<T>(_ a: [T]) -> T { a[below(a.count)] }
    }

    static let tables = ["meta", "steps", "tensors", "tensor_data", "evaluations", "artifacts", "reduction_orders", "checkpoints"]

    /// One random mutation as SQL, chosen from the record's actual rows and columns.
    static func mutation(_ db: Database, _ rng: inout Rng) throws -> String {
        let table = rng.pick(tables)
        let columns = try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?)", arguments: [table])
        // WITHOUT ROWID tables have no rowid: address their rows through their primary key.
        let rowKeys: [String]
        if ["tensors", "tensor_data", "reduction_orders"].contains(table) {
            // Quoted by SQLite: an earlier mutation may have left a text or a NULL in a key column.
            rowKeys = try String.fetchAll(db, sql: "SELECT 'step IS ' || quote(step) || ' AND seq IS ' || quote(seq) FROM \(table)")
        } else {
            rowKeys = try Int.fetchAll(db, sql: "SELECT rowid FROM \(table)").map { "rowid = \($0)" }
        }
        let column = rng.pick(columns)
        switch rng.below(7) {
        case 0:  // delete a row
            guard !rowKeys.isEmpty else { return "SELECT 1" }
            return "DELETE FROM \(table) WHERE \(rng.pick(rowKeys))"
        case 1:  // duplicate a row under another key
            guard !rowKeys.isEmpty else { return "SELECT 1" }
            let keyColumn = table == "meta" || table == "artifacts" ? (table == "meta" ? "key" : "name") : (columns.contains("seq") ? "seq" : "step")
            let others = columns.map { $0 == keyColumn ? (keyColumn == "key" || keyColumn == "name" ? "\($0) || 'x'" : "\($0) + 1000") : $0 }
            return "INSERT INTO \(table)(\(columns.joined(separator: ", "))) SELECT \(others.joined(separator: ", ")) FROM \(table) WHERE \(rng.pick(rowKeys))"
        case 2:  // reorder: swap the keys of two rows
            guard rowKeys.count >= 2, table == "steps" || table == "tensors" || table == "evaluations" else { return "SELECT 1" }
            let k = table == "tensors" ? "seq" : "step"
            let a = rng.pick(rowKeys), b = rng.pick(rowKeys)
            guard let ka = try String.fetchOne(db, sql: "SELECT quote(\(k)) FROM \(table) WHERE \(a)"),
                  let kb = try String.fetchOne(db, sql: "SELECT quote(\(k)) FROM \(table) WHERE \(b)") else { return "SELECT 1" }
            // Rows addressed by (step, seq) move when their key changes: address them by the new key.
            let a2 = table == "tensors" ? a.replacingOccurrences(of: "seq IS \(ka)", with: "seq IS -1000") : a
            return "UPDATE \(table) SET \(k) = -1000 WHERE \(a); UPDATE \(table) SET \(k) = \(ka) WHERE \(b); UPDATE \(table) SET \(k) = \(kb) WHERE \(a2)"
        case 3:  // nudge a number, or change a text
            guard !rowKeys.isEmpty else { return "SELECT 1" }
            let edits = ["\(column) + 1", "\(column) - 1", "\(column) * 2", "-\(column)", "\(column) || ''", "\(column) || 'x'",
                         "substr(\(column), 2)", "0", "''", "x'00'", "\(column) + 0.5"]
            return "UPDATE \(table) SET \(column) = \(rng.pick(edits)) WHERE \(rng.pick(rowKeys))"
        case 4:  // NULL
            guard !rowKeys.isEmpty else { return "SELECT 1" }
            return "UPDATE \(table) SET \(column) = NULL WHERE \(rng.pick(rowKeys))"
        case 5:  // flip a byte of a blob or a text
            guard !rowKeys.isEmpty else { return "SELECT 1" }
            let i = 1 + rng.below(40)
            return "UPDATE \(table) SET \(column) = CASE WHEN length(\(column)) >= \(i) THEN substr(\(column), 1, \(i - 1)) || char(unicode(substr(\(column), \(i), 1)) + 1) || substr(\(column), \(i + 1)) ELSE \(column) END WHERE \(rng.pick(rowKeys))"
        default:  // a schema object
            return rng.pick([
                "CREATE TABLE extra(x)", "CREATE INDEX extra_i ON \(table)(\(column))",
                "CREATE VIEW extra_v AS SELECT * FROM \(table)",
                "CREATE TRIGGER extra_t AFTER INSERT ON \(table) BEGIN SELECT 1; END",
                "DROP TABLE \(table)",
            ])
        }
    }

    func testMutationsAreDetectedOrHarmless() throws {
        let env = ProcessInfo.processInfo.environment
        let seconds = Double(env["CWREPRO_FUZZ_SECONDS"] ?? "") ?? 3
        var rng = Rng(state: UInt64(env["CWREPRO_FUZZ_SEED"] ?? "") ?? 11)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cwrepro-mutate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let seedPath = dir.appendingPathComponent("seed.cwr").path
        try SealedRecordTests.writeRun(seedPath, steps: 4)
        let seed = try Data(contentsOf: URL(fileURLWithPath: seedPath))
        let original = try Self.read(seedPath)
        let target = dir.appendingPathComponent("mutated.cwr").path
        var tried = 0, detected = 0, harmless = 0, refused = 0
        var silent: [String] = [], otherErrors: [String] = []
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            try seed.write(to: URL(fileURLWithPath: target))
            let db = try DatabaseQueue(path: target)
            let count = 1 + rng.below(3)
            var sqls: [String] = []
            var applied = true
            do {
                try db.writeWithoutTransaction { db in
                    for _ in 0..<count {
                        let sql = try Self.mutation(db, &rng)
                        sqls.append(sql)
                        try db.execute(sql: sql)
                    }
                }
            } catch {
                applied = false   // SQLite refused it (a constraint, a dropped table's dependents)
                if env["CWREPRO_FUZZ_VERBOSE"] != nil { print("refused: \(sqls.last ?? ""): \(error)") }
            }
            try db.close()
            tried += 1
            guard applied else { refused += 1; continue }
            do {
                let reading = try Self.read(target)
                if reading == original { harmless += 1 } else { silent.append(sqls.joined(separator: "; ")) }
            } catch is RecordReadError {
                detected += 1
            } catch {
                otherErrors.append("\(sqls.joined(separator: "; ")): \(error)")
            }
        }
        print("record mutations: \(tried) tried in \(String(format: "%.1f", Date().timeIntervalSince(start))) s, \(detected) detected, \(harmless) harmless, \(refused) refused by SQLite, \(silent.count) silently changed")
        XCTAssertTrue(silent.isEmpty, "mutations that changed what the reader returns without an error: \(silent.prefix(5))")
        XCTAssertTrue(otherErrors.isEmpty, "errors other than RecordReadError: \(otherErrors.prefix(5))")
        XCTAssertGreaterThan(detected, 10, "the fuzzer reached the checks")
    }
}
