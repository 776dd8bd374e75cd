import Recorder
import Replayer

/// `cwrepro seal`: the digest line, the check's verdict, why there is no digest, and JSON.
extension SealCheck {
    /// "run.cwr: OK sha256:..." or "run.cwr: MISMATCH: ..." (nil when nothing was expected).
    public var checkText: String? {
        guard let expected, let digest else { return nil }
        return matches == true ? "\(path): OK \(digest)"
            : "\(path): MISMATCH: its seal digest is \(digest), expected \(expected); this is not the record that digest was taken of (or it was rebuilt since)"
    }

    /// Why the record has no digest, and what to do (nil when it has one).
    public var noDigestText: String? {
        switch integrity {
        case .sealed: return nil
        case .unsealed:
            return "\(path) has no seal: it is \(RunStateText.recordState(status, writerActive: writerActive)); only a finished record is sealed"
                + (writerActive ? " (wait for the run to end)" : " (`cwrepro record --resume \(path)` finishes and seals it)")
        case .legacy:
            return "\(path) is a schema 1 record, written before records were sealed: it has no seal digest (sha256sum of the file pins its bytes)"
        }
    }

    public var json: String {
        var o = JSONDocument()
        o.set("record", path)
        o.set("digest", digest)
        o.set("status", status.name)
        o.set("integrity", { switch integrity { case .sealed: "sealed"; case .unsealed: "unsealed"; case .legacy: "legacy" } }())
        o.set("expected", expected)
        o.set("matches", matches)
        return jsonText(o)
    }
}
