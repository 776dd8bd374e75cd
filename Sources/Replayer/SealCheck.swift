import Engine
import Foundation
import Recorder

/// `cwrepro seal`: a record's detached digest, and whether it matches one committed or signed earlier.
public struct SealCheck: Sendable {
    public var path: String
    /// What the record's checks prove; `.sealed` carries the digest (`sha256:<64 hex>`).
    public var integrity: RecordIntegrity
    public var status: RecordStatus
    public var writerActive: Bool
    /// The digest the caller expects, normalised (`sha256:` and lower-case hex), when given.
    public var expected: String?

    /// The record's digest, nil when it has no seal (unfinished, or schema 1).
    public var digest: String? { if case .sealed(let d) = integrity { d } else { nil } }
    /// Whether the record's digest is the expected one (nil: nothing expected, or no digest).
    public var matches: Bool? { expected.flatMap { e in digest.map { $0 == e } } }

    /// Verifies the whole record (every checksum, the chain, the seal), then reads its digest.
    /// `expected` may be written `sha256:<hex>` or bare hex, in either case; anything else is an
    /// `InputError`.
    public static func check(path: String, expected: String? = nil) throws -> SealCheck {
        let normalised = try expected.map(normalise)
        let r = try RecordReader(path: path)
        try r.verify()
        return SealCheck(path: path, integrity: try r.integrity(), status: r.status, writerActive: r.writerActive, expected: normalised)
    }

    static func normalise(_ text: String) throws -> String {
        var t = text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        if t.hasPrefix("sha256:") { t.removeFirst("sha256:".count) }
        guard t.count == 64, t.allSatisfy({ $0.isHexDigit && $0.isASCII }) else {
            throw InputError("\"\(text)\" is not a seal digest: expected sha256: and 64 hex digits, as `cwrepro seal RECORD` prints it")
        }
        return "sha256:" + t
    }
}
