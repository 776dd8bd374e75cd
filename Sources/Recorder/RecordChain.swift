import Crypto
import Foundation

/// The schema 2 checksum chain and seal (docs/record-format.md, section 5).
///
/// Every step row has a text (`stepText`) that says everything its step and tensor rows hold;
/// `steps.checksum` is its XXH3-64 (a quick check of one step) and `steps.link` is
///
///     link(step t) = SHA-256(link(step t-1) ++ step text(t) ++ evaluation lines of step t-1)
///
/// starting from the header's anchor, so each link covers every row before it. A checkpoint's link
/// binds it to its step's link; a finished record's seal covers the chain head, the counts, the
/// evaluations after the last step, the checkpoint, the status and the failure text, and the
/// SHA-256 of the seal text is the record's detached digest. XXH3 catches damage quickly; SHA-256
/// makes the chain collision resistant (XXH3 is not), so a signed or committed seal digest pins
/// every row. It is a checksum chain, not a signature: whoever can run this code can rebuild it.
enum RecordChain {
    typealias Link = [UInt8]

    static func sha256<D: DataProtocol>(_ data: D) -> Link { Array(SHA256.hash(data: data)) }

    static func sha256(_ raw: UnsafeRawBufferPointer) -> Link { Array(SHA256.hash(data: raw)) }

    /// The link before initialisation: SHA-256 of "cwrepro-record-v2\n" and the header text
    /// (RecordSchema.headerText): the chain is bound to its config, environment and embedded files.
    static func anchor(headerText: [UInt8]) -> Link {
        var h = SHA256()
        h.update(data: Array("cwrepro-record-v2\n".utf8))
        h.update(data: headerText)
        return Array(h.finalize())
    }

    /// The schema 2 step text, built into `text` (reset first):
    ///
    ///     step|epoch|loss bits|lr bits|digest|tensor count|wall-seconds bits\n
    ///     per event: seq|<len>:name|role|dtype|[shape]|hash|nonfinite|min|max|mean|l2|kept\n
    ///
    /// Integers in decimal (float bits as the decimal of the bit pattern), statistics as the
    /// decimal of their Float64 bits or `-` when absent, `kept` the hex SHA-256 of the event's kept
    /// bytes (tensor_data or reduction_orders) or `-`.
    static func stepText(_ s: StepSummary, _ events: [RecordedEvent], kept: (Int) -> Link?, into text: inout RecordText) {
        let bar: UInt8 = 0x7C, newline: UInt8 = 0x0A
        appendStepHeader(s, into: &text)
        for (i, e) in events.enumerated() {
            text.append(e.seq); text.append(bar); text.appendCounted(e.name); text.append(bar)
            text.append(e.role.rawValue); text.append(bar); text.append(e.dtype.name); text.append(bar)
            text.appendShape(e.shape); text.append(bar); text.append(e.hash); text.append(bar)
            text.append(e.stats.nonFinite); text.append(bar)
            text.appendBits(e.stats.min); text.append(bar); text.appendBits(e.stats.max); text.append(bar)
            text.appendBits(e.stats.mean); text.append(bar); text.appendBits(e.stats.l2); text.append(bar)
            // A missing kept digest is the decimal text "45" (the Int 0x2D), not "-": what every
            // schema 2 record holds (docs/record-format.md, section 5).
            if let k = kept(i) { text.appendHex(k) } else { text.append(Int(0x2D)) }
            text.append(newline)
        }
    }

    /// Resets `text` to the first line of step `s`'s text (`stepText`).
    static func appendStepHeader(_ s: StepSummary, into text: inout RecordText) {
        let bar: UInt8 = 0x7C
        text.reset()
        text.append(s.step); text.append(bar); text.append(s.epoch); text.append(bar)
        text.append(UInt64(s.loss.bitPattern)); text.append(bar); text.append(UInt64(s.lr.bitPattern)); text.append(bar)
        text.append(s.digest); text.append(bar); text.append(s.tensorCount); text.append(bar)
        text.append(s.wallSeconds.bitPattern); text.append(UInt8(0x0A))
    }

    /// One event's line of the step text (`stepText`) from a stored row: the name and the shape
    /// as the `tensors` columns hold them (the writer stores the shape as `appendShape` writes it).
    static func appendEventLine(seq: Int, name: UnsafeBufferPointer<UInt8>, role: TensorRole, dtype: DType, shape: UnsafeBufferPointer<UInt8>,
                                hash: UInt64, stats: TensorStats, kept: Link?, into text: inout RecordText) {
        let bar: UInt8 = 0x7C
        text.append(seq); text.append(bar); text.appendCounted(name); text.append(bar)
        text.append(role.rawValue); text.append(bar); text.append(dtype.name); text.append(bar)
        text.append(shape); text.append(bar); text.append(hash); text.append(bar)
        text.append(stats.nonFinite); text.append(bar)
        text.appendBits(stats.min); text.append(bar); text.appendBits(stats.max); text.append(bar)
        text.appendBits(stats.mean); text.append(bar); text.appendBits(stats.l2); text.append(bar)
        if let kept { text.appendHex(kept) } else { text.append(Int(0x2D)) }   // "45", as `stepText` writes it
        text.append(UInt8(0x0A))
    }

    /// One evaluation as hashed:
    /// `eval|step|epoch|<len>:split|correct|total|c0,c1,...|t0,t1,...|predictions hash|loss bits\n`
    /// (a NaN loss, stored as NULL, is the bits 0x7fc00000). `evaluations.checksum` is its XXH3-64.
    static func evaluationLine(_ e: Evaluation, into text: inout RecordText) {
        let bar: UInt8 = 0x7C, comma: UInt8 = 0x2C
        text.append("eval|"); text.append(e.step); text.append(bar); text.append(e.epoch); text.append(bar)
        text.appendCounted(e.split); text.append(bar); text.append(e.correct); text.append(bar); text.append(e.total); text.append(bar)
        for (i, c) in e.perClassCorrect.enumerated() { if i > 0 { text.append(comma) }; text.append(c) }
        text.append(bar)
        for (i, c) in e.perClassTotal.enumerated() { if i > 0 { text.append(comma) }; text.append(c) }
        text.append(bar); text.append(e.predictionsHash); text.append(bar)
        text.append(UInt64(e.loss.isNaN ? Float.nan.bitPattern : e.loss.bitPattern)); text.append(0x0A)
    }

    static func evaluationChecksum(_ e: Evaluation) -> UInt64 {
        var text = RecordText(capacity: 128)
        evaluationLine(e, into: &text)
        return text.bytes.withUnsafeBytes { TensorHash.bytes($0) }
    }

    /// Evaluations in chain order: by step, then by the UTF-8 bytes of the split (SQLite's BINARY order).
    static func chainOrder(_ evals: [Evaluation]) -> [Evaluation] {
        evals.sorted { a, b in
            a.step != b.step ? a.step < b.step : Array(a.split.utf8).lexicographicallyPrecedes(Array(b.split.utf8))
        }
    }

    /// link(t) = SHA-256(previous link ++ step text ++ evaluation lines of the evaluations after the
    /// previous step, in chain order).
    static func link(previous: Link, stepText: [UInt8], evaluations: [Evaluation]) -> Link {
        var h = SHA256()
        h.update(data: previous)
        h.update(data: stepText)
        if !evaluations.isEmpty { h.update(data: evaluationText(evaluations)) }
        return Array(h.finalize())
    }

    /// The evaluation lines of `evals` in chain order.
    static func evaluationText(_ evals: [Evaluation]) -> [UInt8] {
        var text = RecordText(capacity: 256)
        for e in chainOrder(evals) { evaluationLine(e, into: &text) }
        return text.bytes
    }

    /// A checkpoint's link: SHA-256("checkpoint|<step>\n" ++ link of its step ++ SHA-256 of its bytes).
    static func checkpointLink(step: Int, stepLink: Link, bytesSHA: Link) -> Link {
        var text = RecordText(capacity: 32)
        text.append("checkpoint|"); text.append(step); text.append(0x0A)
        var h = SHA256()
        h.update(data: text.bytes)
        h.update(data: stepLink)
        h.update(data: bytesSHA)
        return Array(h.finalize())
    }

    /// What a finished record's seal says.
    struct Seal: Equatable {
        var steps: Int
        var lastStep: Int?
        var evaluations: Int
        var head: Link
        /// The evaluations after the last step (not covered by any link).
        var tailEvaluations: [Evaluation]
        var checkpointLink: Link?
        var status: RecordStatus
        var finishedAt: String

        /// The seal text stored as `meta.seal`:
        ///
        ///     cwrepro-seal-v2\n steps=N\n last_step=S|-\n evaluations=M\n head=<hex>\n
        ///     tail=<hex SHA-256 of the last step's evaluation lines>\n checkpoint=<hex>|-\n
        ///     status=complete|failed\n failure=<len>:<text>\n finished_at=<len>:<text>\n
        var text: String {
            var t = RecordText(capacity: 512)
            t.append("cwrepro-seal-v2\nsteps="); t.append(steps)
            t.append("\nlast_step="); if let lastStep { t.append(lastStep) } else { t.append(0x2D) }
            t.append("\nevaluations="); t.append(evaluations)
            t.append("\nhead="); t.appendHex(head)
            t.append("\ntail="); t.appendHex(RecordChain.sha256(RecordChain.evaluationText(tailEvaluations)))
            t.append("\ncheckpoint="); if let checkpointLink { t.appendHex(checkpointLink) } else { t.append(0x2D) }
            t.append("\nstatus="); t.append(status.name)
            t.append("\nfailure="); t.appendCounted(status.failure ?? "")
            t.append("\nfinished_at="); t.appendCounted(finishedAt)
            t.append(0x0A)
            return String(decoding: t.bytes, as: UTF8.self)
        }
    }

    /// The detached digest of a seal: `sha256:` and the hex SHA-256 of the seal text.
    static func digest(sealText: String) -> String {
        var t = RecordText(capacity: 80)
        t.append("sha256:"); t.appendHex(sha256(Array(sealText.utf8)))
        return String(decoding: t.bytes, as: UTF8.self)
    }

    static func hex(_ link: Link) -> String {
        var t = RecordText(capacity: 64)
        t.appendHex(link)
        return String(decoding: t.bytes, as: UTF8.self)
    }
}
