import Foundation
import GRDB

/// A record's rows after every check passed (kept by the reader).
struct VerifiedRecord {
    var steps: [StepRow]
    /// Verified step checksum by step (events(step:) compares against it).
    var checksums: [Int: UInt64]
    var evaluations: [Evaluation]
    var checkpoint: (step: Int, bytes: [UInt8])?
    /// The seal text of a finished schema 2 record.
    var sealText: String?
}

/// Verifies a whole record in one pass (docs/record-format.md, section 6):
///
/// 1. Step rows are contiguous: initialisation (-1), then 0, 1, ... with no hole.
/// 2. Each step's tensor rows are numbered 0..<tensor_count, match the step digest, and with the
///    step row match the stored checksum (schema 2: with their statistics and the SHA-256 of kept
///    bytes and reduction orders; no kept row without its tensor).
/// 3. Schema 2: each step's link follows from the previous one (the first from the header's
///    anchor) and the evaluations after the previous step; every evaluation has a checksum and
///    follows a recorded step; the checkpoint's link binds it to its step.
/// 4. Schema 2: a finished record (complete or failed) has a seal equal to the one its rows give;
///    a running record has none.
struct RecordVerifier {
    let reader: RecordReader
    let db: Database
    /// Called with each step's events, in order, once the step passed its checks (contiguity,
    /// checksum, chain link); the record's own checks (kept rows, evaluations, checkpoint, seal)
    /// come after the last step. Throwing stops the verification (`VerifiedSteps`).
    var onStep: ((Int, [RecordedEvent]) throws -> Void)?
    var path: String { reader.path }
    var schema: Int { reader.schemaVersion }

    /// One pass over the step rows and, alongside, the tensor rows in (step, seq) order, read through
    /// SQLite's C API (RawRows): each step's checksum text, digest and chain link are built from the
    /// stored columns as they stream by, without an event object per row.
    func run() throws -> VerifiedRecord {
        var steps: [StepRow] = [], checksums: [Int: UInt64] = [:], links: [Int: [UInt8]] = [:]
        let evaluations = try readEvaluations()
        let byStep = Dictionary(grouping: evaluations, by: \.step)
        let kept = schema >= 2 ? try Self.keptDigestsByStep(db, path: path) : [:]
        var usedKept = 0
        var previous = schema >= 2 ? RecordChain.anchor(headerText: RecordSchema.headerText(
            meta: reader.meta, artifacts: reader.artifactSHA.map { ($0.key, $0.value) })) : []
        let stepRows = try RawRows(db, "SELECT \(StoredStepRow.columns(schema: schema)) FROM steps ORDER BY step", path: path)
        let tensorRows = try RawRows(db, "SELECT \(StoredTensorRow.columns(schema: schema)) FROM tensors ORDER BY step, seq", path: path)
        defer { stepRows.finish(); tensorRows.finish() }
        var next = try tensorRows.step() ? try StoredTensorRow(tensorRows, schema: schema) : nil
        var check = StepCheck(schema: schema, path: path)
        var i = 0
        while try stepRows.step() {
            let row = try StoredStepRow(stepRows)
            let s = row.summary
            guard s.step == initStep + i else {
                let expected = initStep + i
                throw RecordReadError.tamperedRecord(path, s.step > expected
                    ? "step \(stepLabel(expected)) is missing (the steps jump from \(i == 0 ? "the start" : stepLabel(expected - 1)) to \(stepLabel(s.step)))"
                    : "its steps do not start at initialisation (first step \(stepLabel(s.step)))")
            }
            try row.checkLossColumn(path)
            let stepKept = kept[s.step]
            check.begin(s)
            var events: [RecordedEvent] = []
            while let e = next, e.step <= s.step {
                guard e.step == s.step else { throw RecordReadError.tampered(path, step: e.step, detail: "tensor rows without a step row") }
                let k = stepKept?[e.seq]
                if k != nil { usedKept += 1 }
                check.add(e, kept: k)
                if onStep != nil { events.append(e.event) }
                next = try tensorRows.step() ? try StoredTensorRow(tensorRows, schema: schema) : nil
            }
            try check.check(s, stored: row.checksum)
            if schema >= 2 {
                let link = RecordChain.link(previous: previous, stepText: check.text.bytes, evaluations: byStep[s.step - 1] ?? [])
                guard try stepRows.blob(9, "link").elementsEqual(link) else {
                    throw RecordReadError.tampered(path, step: s.step, detail: "its chain link does not follow from step \(stepLabel(s.step - 1)) and the evaluations after it: a row before it was changed or deleted")
                }
                links[s.step] = link
                previous = link
            }
            checksums[s.step] = row.checksum
            steps.append(StepRow(step: s.step, epoch: s.epoch, loss: s.loss, lr: s.lr, digest: s.digest, wallSeconds: s.wallSeconds, tensorCount: s.tensorCount))
            try onStep?(s.step, events)
            i += 1
        }
        if let e = next { throw RecordReadError.tampered(path, step: e.step, detail: "tensor rows without a step row") }
        if usedKept != kept.values.reduce(0, { $0 + $1.count }) {
            throw RecordReadError.tamperedRecord(path, "it holds kept tensor bytes or reduction orders of tensors that are not recorded")
        }
        let lastStep = steps.last?.step
        if let stray = evaluations.first(where: { lastStep == nil || $0.step > lastStep! || $0.step < initStep }) {
            throw RecordReadError.tamperedRecord(path, "its \(stray.split) evaluation after step \(stepLabel(stray.step)) follows no recorded step")
        }
        let (checkpoint, checkpointLink) = try readCheckpoint(checksums: checksums, links: links)
        let sealText = schema >= 2 ? try checkSeal(steps: steps, evaluations: evaluations, tail: lastStep.flatMap { byStep[$0] } ?? [],
                                                   head: previous, checkpointLink: checkpointLink) : nil
        return VerifiedRecord(steps: steps, checksums: checksums, evaluations: evaluations, checkpoint: checkpoint, sealText: sealText)
    }

    /// SHA-256 of the kept bytes and reduction orders (schema 2), by step and seq, each checked
    /// against the bytes it claims to hash.
    static func keptDigestsByStep(_ db: Database, path: String) throws -> [Int: [Int: [UInt8]]] {
        var out: [Int: [Int: [UInt8]]] = [:]
        for (key, sha) in try keptRows(db, path: path, sql: "", arguments: [], checkBytes: true) { out[key.step, default: [:]][key.seq] = sha }
        return out
    }

    /// SHA-256 of the kept bytes and reduction orders of `steps`, by step and seq (the bytes are
    /// checked when they are read: `payload`, `reductionOrders`).
    static func keptDigests(_ db: Database, path: String, steps: ClosedRange<Int>) throws -> [Int: [Int: [UInt8]]] {
        var out: [Int: [Int: [UInt8]]] = [:]
        for (key, sha) in try keptRows(db, path: path, sql: " WHERE step BETWEEN ? AND ?", arguments: [steps.lowerBound, steps.upperBound],
                                       checkBytes: false) {
            out[key.step, default: [:]][key.seq] = sha
        }
        return out
    }

    private static func keptRows(_ db: Database, path: String, sql: String, arguments: StatementArguments,
                                 checkBytes: Bool) throws -> [StepSeq: [UInt8]] {
        var out: [StepSeq: [UInt8]] = [:]
        for table in ["tensor_data", "reduction_orders"] {
            let columns = checkBytes ? "step, seq, sha256, bytes" : "step, seq, sha256"
            // A cached statement: replay reads the kept digests of every step.
            for r in try Row.fetchAll(db.cachedStatement(sql: "SELECT \(columns) FROM \(table)" + sql), arguments: arguments) {
                let key = StepSeq(step: try RecordReader.int(r, "step", path), seq: try RecordReader.int(r, "seq", path))
                let sha = [UInt8](try RecordReader.blob(r, "sha256", path))
                guard sha.count == 32, out.updateValue(sha, forKey: key) == nil else {
                    throw RecordReadError.tampered(path, step: key.step, detail: "the kept bytes of tensor \(key.seq) have no valid SHA-256")
                }
                if checkBytes, RecordChain.sha256(try RecordReader.blob(r, "bytes", path)) != sha {
                    throw RecordReadError.tampered(path, step: key.step, detail: "the kept bytes of tensor \(key.seq) do not match their SHA-256")
                }
            }
        }
        return out
    }

    func readEvaluations() throws -> [Evaluation] {
        try Row.fetchAll(db, sql: "SELECT * FROM evaluations ORDER BY step, split").map { r in
            let e = try RecordReader.evaluation(r, path)
            let hasChecksum = try r.hasColumn("checksum") && !RecordReader.isNull(r, "checksum", path)
            // Schema 1 records written before evaluation checksums existed have no column or NULL.
            if schema >= 2 || hasChecksum {
                guard hasChecksum else {
                    throw RecordReadError.tampered(path, step: e.step, detail: "its \(e.split) evaluation row has no checksum")
                }
                let stored = UInt64(bitPattern: try RecordReader.int64(r, "checksum", path))
                let computed = schema >= 2 ? RecordChain.evaluationChecksum(e) : RecordSchema.checksumV1(e)
                guard computed == stored else {
                    throw RecordReadError.tampered(path, step: e.step, detail: "its \(e.split) evaluation row does not match its checksum")
                }
            }
            return e
        }
    }

    /// The checkpoint, its hash checked, its step recorded and (schema 2) its link bound to that
    /// step's link. Returns it with its link.
    func readCheckpoint(checksums: [Int: UInt64], links: [Int: [UInt8]]) throws -> ((step: Int, bytes: [UInt8])?, [UInt8]?) {
        guard try db.tableExists("checkpoints") else { return (nil, nil) }
        let rows = try Row.fetchAll(db, sql: "SELECT * FROM checkpoints ORDER BY step DESC")
        guard let r = rows.first else { return (nil, nil) }
        if schema >= 2 && rows.count > 1 { throw RecordReadError.tamperedRecord(path, "it holds \(rows.count) checkpoints; cwrepro keeps one") }
        let step = try RecordReader.int(r, "step", path), bytes = [UInt8](try RecordReader.blob(r, "bytes", path))
        let stored = UInt64(bitPattern: try RecordReader.int64(r, "hash", path))
        guard RecordSchema.bytesHash(bytes) == stored else {
            throw RecordReadError.tampered(path, step: step, detail: "its checkpoint does not match the stored hash \(hex64(stored))")
        }
        guard checksums[step] != nil else {
            if schema >= 2 { throw RecordReadError.tamperedRecord(path, "its checkpoint claims to follow step \(stepLabel(step)), which is not recorded") }
            throw RecordReadError.corrupt(path, "a checkpoint after step \(step) but no such step")
        }
        guard schema >= 2 else { return ((step, bytes), nil) }
        let link = RecordChain.checkpointLink(step: step, stepLink: links[step]!, bytesSHA: RecordChain.sha256(bytes))
        guard try [UInt8](RecordReader.blob(r, "link", path)) == link else {
            throw RecordReadError.tampered(path, step: step, detail: "its checkpoint is not the one taken after this step (its step or bytes were changed)")
        }
        return ((step, bytes), link)
    }

    /// The seal of a finished record must be the one its rows give; a running record has none.
    func checkSeal(steps: [StepRow], evaluations: [Evaluation], tail: [Evaluation], head: [UInt8], checkpointLink: [UInt8]?) throws -> String? {
        let meta = reader.meta
        let statusText = meta["status"]
        guard let statusText, ["running", "complete", "failed"].contains(statusText) else {
            throw RecordReadError.tamperedRecord(path, "its status \"\(statusText ?? "(none)")\" is not running, complete or failed")
        }
        if statusText == "running" {
            guard meta["seal"] == nil, meta["finished_at"] == nil, meta["failure"] == nil else {
                throw RecordReadError.tamperedRecord(path, "it says it is running but carries the seal or end of a finished run")
            }
            return nil
        }
        guard let stored = meta["seal"] else {
            throw RecordReadError.tamperedRecord(path, "it says it is \(statusText) but has no seal, so its end cannot be verified (the seal was deleted)")
        }
        if statusText == "complete" && meta["failure"] != nil {
            throw RecordReadError.tamperedRecord(path, "it says it is complete but carries a failure text")
        }
        let seal = RecordChain.Seal(steps: steps.count, lastStep: steps.last?.step, evaluations: evaluations.count, head: head,
                                    tailEvaluations: tail, checkpointLink: checkpointLink, status: reader.status,
                                    finishedAt: meta["finished_at"] ?? "")
        guard seal.text == stored else {
            throw RecordReadError.tamperedRecord(path, "its seal does not match its rows (steps, evaluations, checkpoint, status or failure text were changed or deleted)")
        }
        return stored
    }
}

/// A tensor's place: (step, seq).
struct StepSeq: Hashable { var step: Int, seq: Int }
