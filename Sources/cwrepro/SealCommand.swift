import ArgumentParser
import Foundation
import Presentation
import Replayer

struct SealCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seal",
        abstract: "Print a finished record's detached seal digest (sha256:...), or check it against one committed or signed earlier.",
        discussion: """
            The digest is the SHA-256 of the record's seal, which covers the chain of every row (steps, \
            tensors, evaluations, kept bytes, checkpoint, status): a record that verifies and gives the same \
            digest is, row for row, the record the digest was taken of. The seal itself is a checksum chain, \
            not a signature: commit the digest next to the code or sign it (guideline 06, "Archive and \
            verify"). Every checksum is verified first (a tampered record exits 3).
            Exit 0: the digest is printed, or --check matches; 1: --check does not match; 2: bad usage; \
            3: the record cannot be read or trusted; 5: the record has no seal (killed, still being \
            recorded, or written before seals).
            """)

    @Argument(help: "The record (.cwr).")
    var record: String

    @Option(help: ArgumentHelp("The digest the record must have: sha256:<64 hex> (or the 64 hex digits alone).", valueName: "digest"))
    var check: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() throws {
        var result: SealCheck?
        try guarded { result = try SealCheck.check(path: record, expected: check) }
        guard let result else { return }
        if json { print(result.json) }
        if let why = result.noDigestText {
            if !json { eprint("error: " + why) }
            throw Exit.incomplete
        }
        if !json { printText(result.checkText ?? result.digest ?? "") }
        if result.matches == false { throw Exit.failed }
    }
}
