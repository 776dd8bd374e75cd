import Engine
import Foundation
import Recorder
import Replayer

/// The text every comparison report shares: tensor roles, the first divergence, the cause,
/// config and environment changes, environment patches.
public enum DivergenceText {
    /// "param, after update", "gradient", ...
    public static func role(_ role: TensorRole, step: Int) -> String {
        switch role {
        case .param: step == initStep ? "param, initial value" : "param, after update"
        case .grad: "gradient"
        case .optimizerState: "optimizer state"
        default: role.rawValue
        }
    }

    /// "at step 3" or "at initialization".
    public static func at(_ step: Int) -> String { step == initStep ? "at initialization" : "at step \(step)" }

    /// How a report names its two sides: what was expected (a record, a golden, run A) and what
    /// was produced (a replay, a run, run B).
    public struct Sides: Sendable {
        public var expected: String
        public var actual: String
        /// Before the expected tensor's name in a structure mismatch ("expected", "A has").
        public var expectedHas: String
        /// Before the actual shape ("got", "B has").
        public var got: String
        public var producer: String
        public var reference: String

        public static let replay = Sides(expected: "expected", actual: "actual", expectedHas: "expected", got: "got",
                                         producer: "the replay", reference: "the record")
        public static let verify = Sides(expected: "expected", actual: "actual", expectedHas: "expected", got: "got",
                                         producer: "the run", reference: "the golden")
        public static let diff = Sides(expected: "A", actual: "B", expectedHas: "A has", got: "B has",
                                       producer: "B", reference: "A")
    }

    /// The lines `replay --until-diverge` prints for the first divergent tensor and the draw or
    /// order that is the evidence for its cause; verify and diff print the same.
    public static func lines(_ d: Divergence?, draw: Divergence?, sides s: Sides = .replay) -> [String] {
        var lines: [String] = []
        if let d {
            lines.append("first divergence \(at(d.step)), tensor \(d.name) (\(role(d.role, step: d.step)))")
            switch d.kind {
            case .hash: lines.append("  \(s.expected) hash \(d.expectedHash ?? "-"), \(s.actual) \(d.actualHash ?? "-")")
            case .structure:
                // A renamed tensor in the other's place: both names (the headline has the actual one).
                let actual = d.expectedName == nil ? "shape" : "\(d.name) with shape"
                lines.append("  \(s.expectedHas) \(d.expectedName ?? d.name) with shape \(d.expectedShape ?? []), \(s.got) \(actual) \(d.actualShape ?? []) (hashes \(d.expectedHash ?? "-") / \(d.actualHash ?? "-"))")
            case .missing: lines.append("  \(s.reference) has it (hash \(d.expectedHash ?? "-")), \(s.producer) did not produce it")
            case .extra: lines.append("  \(s.producer) produced it (hash \(d.actualHash ?? "-")), \(s.reference) does not have it")
            }
            if let v = d.values {
                lines.append("  values: \(Text.grouped(v.differing)) of \(Text.grouped(v.count)) elements differ; max |diff| \(String(format: "%.3g", v.maxAbsDiff))" + Self.ulpText(v))
            }
        }
        if d == nil, let x = draw {
            // Only a draw or an order differs (the data of the test split, say): it is the headline.
            lines.append("first divergence \(at(x.step)), \(x.role.rawValue) \(x.name) (no recorded tensor differs)")
        }
        if let d = draw {
            switch d.kind {
            case .missing:
                lines.append("  evidence: \(d.role.rawValue) \(d.name) \(at(d.step)) is in \(s.reference) (\(d.expectedHash ?? "-")), not in \(s.producer)")
            case .extra:
                lines.append("  evidence: \(d.role.rawValue) \(d.name) \(at(d.step)) is in \(s.producer) (\(d.actualHash ?? "-")), not in \(s.reference)")
            case .hash, .structure:
                lines.append("  evidence: \(d.role.rawValue) \(d.name) \(at(d.step)) differs (\(s.expected) \(d.expectedHash ?? "-"), \(s.actual) \(d.actualHash ?? "-"))")
            }
        }
        return lines
    }

    /// "optimizer.lr: 0.1 -> 0.05" ("(absent)" for a missing side).
    public static func change(_ c: Change) -> String { "\(c.key): \(c.old ?? "(absent)") -> \(c.new ?? "(absent)")" }

    /// What the diagnosis points to, in a sentence (the JSON `causeDetail`).
    public static func detail(_ d: Diagnosis) -> String {
        let config = d.configChanges.isEmpty ? "" : "; config changed: " + d.configChanges.map(change).joined(separator: ", ")
        switch d.reason {
        case .randomDraws(let site): return "the random draws at site \(site) differ\(config)"
        case .dataOrder(let site): return "the data order at \(site) differs\(config)"
        case .dataFiles(let changes, let at):
            return "the data differ from the recorded run's (\(changes.map(change).joined(separator: "; "))): a data file changed; first seen at \(at)\(config)"
        case .batch(let structure, let expected, let actual):
            return "the batch differs (\(structure ? "shape \(expected ?? []) -> \(actual ?? [])" : "same shape, different samples or values"))\(config)"
        case .config: return d.configChanges.map(change).joined(separator: ", ")
        case .reductionOrder(let site):
            return "the parallel reduction \(site) combined its partial sums in another order (its worker threads finished in another order); a replay of the record imposes the recorded order"
        case .environment(let changes, let core?):
            let others = changes.filter { $0 != core }
            return "the OpenBLAS core differs (\(change(core))): its kernels round differently" +
                (others.isEmpty ? "" : "; also " + others.map(change).joined(separator: ", ")) +
                corePatchAdvice(d, recorded: core.old ?? "?")
        case .environment(let changes, nil): return "the machine differs: " + changes.map(change).joined(separator: ", ")
        case .arithmetic: return "same config, draws, data and environment: nondeterministic arithmetic (reduction order or threads)"
        case .evaluation: return "every checked step matches the golden: the evaluation itself changed (evaluation code or test data)"
        }
    }

    /// After an OpenBLAS core difference: what patching would do. Without --no-patch cwrepro
    /// re-executes on the recorded core, unless this CPU cannot run it; then nothing here can.
    static func corePatchAdvice(_ d: Diagnosis, recorded: String) -> String {
        if let missing = d.recordedCoreMissing {
            return "; this CPU cannot run the recorded \(recorded) kernels (it lacks \(missing.joined(separator: ", "))), so the difference cannot be patched here: "
                + "run it on a CPU that has them, or record with determinism.gemm: reference, which gives the same bits on any x86-64 CPU with AVX2 and FMA"
        }
        return d.patchingDisabled ? "; without --no-patch cwrepro re-executes with OPENBLAS_CORETYPE=\(recorded)" : ""
    }

    /// "  cause: config changed (optimizer.lr: 0.1 -> 0.05)", nil without a cause.
    public static func causeLine(_ d: Diagnosis?) -> String? {
        guard let d, let cause = d.cause else { return nil }
        return "  cause: \(cause.rawValue) (\(detail(d)))"
    }

    /// "config changed: optimizer.lr: 0.1 -> 0.05" for a Markdown cell, nil without a cause.
    public static func causeCell(_ d: Diagnosis?) -> String? {
        guard let d, let cause = d.cause else { return nil }
        return cause.rawValue + ": " + detail(d)
    }

    /// The JSON `cause` and `causeDetail` of a report.
    public static func setCause(_ d: Diagnosis?, in doc: inout JSONDocument) {
        doc.set("cause", d?.cause?.rawValue)
        doc.set("causeDetail", d.map(detail))
    }

    public static func patch(_ p: EnvironmentPatch.Patch) -> String {
        switch p {
        case .core(let from, let to, let requested): "OpenBLAS core \(from) -> \(to) (re-executed with OPENBLAS_CORETYPE=\(requested))"
        case .threads(let from, let to): "OpenBLAS threads \(from) -> \(to)"
        }
    }

    public static func warning(_ w: EnvironmentPatch.Warning) -> String {
        switch w {
        case .coreNotPatched(let requested, let loaded):
            "cannot patch the OpenBLAS core: the record used \(requested), and with OPENBLAS_CORETYPE=\(requested) this machine's OpenBLAS loads \(loaded) (the CPU or the library lacks those kernels)"
        case .coreTypeFallback(let f): coreTypeFallback(f)
        }
    }

    public static func coreTypeFallback(_ f: BLAS.CoreTypeFallback) -> String {
        "OPENBLAS_CORETYPE=\(f.requested) was not honoured: OpenBLAS loaded \(f.loaded) (a misspelled or unsupported core type falls back silently)"
    }

    /// ", max 656 ulp", with the elements that crossed zero counted apart (their ulp distance
    /// spans every float between them and means nothing): ", max 3 ulp where signs agree; 12 cross zero".
    static func ulpText(_ v: ValueDiff) -> String {
        if v.signChanges == 0 { return ", max \(v.maxULP) ulp" }
        let cross = "\(Text.grouped(v.signChanges)) \(v.signChanges == 1 ? "crosses" : "cross") zero"
        if v.signChanges == v.differing { return "; \(cross) (no ulp distance across a sign change)" }
        return ", max \(v.maxULP) ulp where signs agree; \(cross)"
    }
}
