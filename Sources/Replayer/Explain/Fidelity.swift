import Engine
import Foundation
import Recorder

/// Does an exported config reproduce the real run it was exported from? (`explain --trace-a`,
/// `--trace-b`.) If it does not, an explanation of the gap between two exports is about
/// cwrepro's emulation, not about the frameworks.
///
/// The check trains `config` once, as written (its own seed, `model.init` and `data.order`: the
/// export's weights and batches), and compares it with the trace (docs/trace-format.md) of the
/// real run: per training step the relative loss difference `|l_cwrepro - l_real| / |l_real|`
/// (the absolute difference when `l_real` is 0; infinite when exactly one of them is not
/// finite), and the test predictions of the last evaluation by their hash.
///
/// - `identical`: the same number of steps, every loss bit for bit, the same predictions.
/// - `within-tolerance`: the same number of steps, every relative loss difference at most
///   `rtol` (default 1e-5, issue 13's criterion), the same predictions.
/// - `diverged`: anything else (`firstStepBeyondTolerance` says where the losses part).
///
/// This is the minimal check; `cwrepro compare` (imported trace against a record, per-tensor
/// envelopes, the step from which two runs drift chaotically) is the full one, and replaces
/// the body of `check` once it exists (the signature and `FidelityReport` stay).
public enum Fidelity {
    /// Relative loss tolerance per step.
    public static let defaultRTol = 1e-5

    public static func check(config: TrainConfig, trace path: String, rtol: Double = defaultRTol) throws -> FidelityReport {
        let trace = try TraceSummary.read(path)
        let run = try Explain.train(config, seed: config.seed, level: .params, reference: nil)
        return compare(run: run, trace: trace, tracePath: path, rtol: rtol)
    }

    /// The comparison of a finished run with a trace (see `check`).
    static func compare(run: Explain.Outcome, trace: TraceSummary, tracePath: String, rtol: Double) -> FidelityReport {
        let n = min(run.losses.count, trace.losses.count)
        var worst = 0.0, worstStep: Int?, firstBeyond: Int?, identical = 0
        for i in 0..<n {
            let c = run.losses[i], t = trace.losses[i]
            let d: Double
            if c.bitPattern == t.bitPattern {
                d = 0
                identical += 1
            } else if c.isFinite && t.isFinite {
                d = t == 0 ? abs(Double(c)) : abs(Double(c) - Double(t)) / abs(Double(t))
            } else {
                d = .infinity
            }
            if worstStep == nil || d > worst { worst = d; worstStep = i }
            if d > rtol && firstBeyond == nil { firstBeyond = i }
        }
        let sameSteps = run.losses.count == trace.losses.count
        let predictions = trace.evaluation.map { $0.predictionsHash == run.predictionsHash }
        let verdict: FidelityReport.Verdict
        if sameSteps && identical == n && predictions != false {
            verdict = .identical
        } else if sameSteps && firstBeyond == nil && predictions != false {
            verdict = .withinTolerance
        } else {
            verdict = .diverged
        }
        return FidelityReport(
            trace: tracePath, traceName: trace.name, framework: trace.framework, configName: run.configName,
            traceSteps: trace.losses.count, configSteps: run.losses.count, comparedSteps: n, rtol: rtol,
            maxRelativeLossDifference: n == 0 ? nil : worst, maxRelativeLossDifferenceStep: n == 0 ? nil : worstStep,
            firstStepBeyondTolerance: firstBeyond, identicalLosses: identical,
            predictionsIdentical: predictions,
            traceCorrect: trace.evaluation?.correct, configCorrect: run.correct, total: run.total,
            verdict: verdict)
    }
}

/// One side's fidelity: an exported config against the trace of the real run (`Fidelity.check`).
public struct FidelityReport: Codable, Sendable, Equatable {
    /// `compare`'s verdicts (issue 13).
    public enum Verdict: String, Codable, Sendable {
        case identical
        case withinTolerance = "within-tolerance"
        case diverged
    }

    public var trace: String
    /// The run's name in the trace header.
    public var traceName: String
    /// `framework.name framework.version` of the trace header (`torch 2.13.0+cpu`).
    public var framework: String
    public var configName: String
    /// Training steps in the trace and in cwrepro's run of the config.
    public var traceSteps: Int
    public var configSteps: Int
    public var comparedSteps: Int
    public var rtol: Double
    /// The largest relative loss difference over the compared steps, and its step (nil: none compared).
    public var maxRelativeLossDifference: Double?
    public var maxRelativeLossDifferenceStep: Int?
    /// The first step whose relative loss difference exceeds `rtol` (nil: none).
    public var firstStepBeyondTolerance: Int?
    /// Steps whose losses are the same float32 bits.
    public var identicalLosses: Int
    /// Whether the test predictions hash alike (nil: the trace has no evaluation after its last step).
    public var predictionsIdentical: Bool?
    public var traceCorrect: Int?
    public var configCorrect: Int
    public var total: Int
    public var verdict: Verdict

    /// `identical` or `within-tolerance`.
    public var reproduces: Bool { verdict != .diverged }

    enum CodingKeys: String, CodingKey {
        case trace, traceName, framework, configName, traceSteps, configSteps, comparedSteps, rtol, maxRelativeLossDifference,
             maxRelativeLossDifferenceStep, firstStepBeyondTolerance, identicalLosses, predictionsIdentical, traceCorrect,
             configCorrect, total, verdict
    }

    /// Absent values are written as null, so every key is always present (a non-finite maximum as null too).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(trace, forKey: .trace); try c.encode(traceName, forKey: .traceName)
        try c.encode(framework, forKey: .framework); try c.encode(configName, forKey: .configName)
        try c.encode(traceSteps, forKey: .traceSteps); try c.encode(configSteps, forKey: .configSteps)
        try c.encode(comparedSteps, forKey: .comparedSteps); try c.encode(rtol, forKey: .rtol)
        try c.encode(maxRelativeLossDifference.flatMap { $0.isFinite ? $0 : nil }, forKey: .maxRelativeLossDifference)
        try c.encode(maxRelativeLossDifferenceStep, forKey: .maxRelativeLossDifferenceStep)
        try c.encode(firstStepBeyondTolerance, forKey: .firstStepBeyondTolerance)
        try c.encode(identicalLosses, forKey: .identicalLosses)
        try c.encode(predictionsIdentical, forKey: .predictionsIdentical)
        try c.encode(traceCorrect, forKey: .traceCorrect); try c.encode(configCorrect, forKey: .configCorrect)
        try c.encode(total, forKey: .total); try c.encode(verdict, forKey: .verdict)
    }
}

/// What the fidelity check needs from a trace (docs/trace-format.md, version 1): the header's
/// name and framework, every training step's float32 loss (from `lossBits`, exact), and the
/// last evaluation of the test split after the last step. Checks the framing a reader must
/// (format and version, line types, consecutive step numbers) and names file, line and field
/// on error; the full validation (hashes, digests, statistics) is `cwrepro import`'s.
struct TraceSummary {
    var name: String
    var framework: String
    var losses: [Float]
    var evaluation: (correct: Int, total: Int, predictionsHash: UInt64)?

    static let newestVersion = 1

    static func read(_ path: String) throws -> TraceSummary {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError("\(path): cannot read the trace (no such file, or not readable)")
        }
        var bytes = [UInt8](data)
        if Gzip.isGzip(bytes) { bytes = try Gzip.decompress(bytes, name: path) }
        guard !bytes.isEmpty else { throw InputError("\(path): empty file (a trace starts with a header line)") }
        guard bytes.last == 0x0A else { throw InputError("\(path): the last line has no newline (the file was truncated while written)") }
        var out = TraceSummary(name: "", framework: "", losses: [], evaluation: nil)
        var lineNumber = 0, sawHeader = false, nextStep = -1, lastStep = -2
        for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast() {
            lineNumber += 1
            func fail(_ field: String, _ what: String) -> InputError {
                InputError("\(path):\(lineNumber): \(field.isEmpty ? "" : field + ": ")\(what)")
            }
            let json: JSON
            do { json = try JSON.parse(Array(line), source: "\(path) line \(lineNumber)") } catch let e as InputError {
                throw fail("", "not valid JSON (\(e.message))")
            }
            guard case .object(let o) = json else { throw fail("", "expected a JSON object") }
            guard case .string(let type)? = o["type"] else { throw fail("type", "missing (header, tensor, step, evaluation, end)") }
            if !sawHeader {
                guard type == "header" else { throw fail("type", "the first line must be the header, got \"\(type)\"") }
                guard o["format"] == .string("cwrepro-trace") else { throw fail("format", "expected \"cwrepro-trace\" (not a cwrepro trace)") }
                guard case .number(let v)? = o["version"], v >= 1, v == v.rounded() else { throw fail("version", "expected an integer >= 1") }
                if Int(v) > newestVersion {
                    throw fail("version", "\(Int(v)) was written by a newer cwrepro; this one reads version \(newestVersion): upgrade")
                }
                guard case .string(let name)? = o["name"] else { throw fail("name", "expected a string") }
                guard case .object(let fw)? = o["framework"], case .string(let fname)? = fw["name"], case .string(let fversion)? = fw["version"] else {
                    throw fail("framework", "expected {\"name\": string, \"version\": string}")
                }
                out.name = name
                out.framework = "\(fname) \(fversion)"
                sawHeader = true
                continue
            }
            switch type {
            case "tensor", "end":
                continue
            case "step":
                guard case .number(let s)? = o["step"], s == s.rounded(), Int(s) == nextStep else {
                    throw fail("step", "expected \(nextStep) (steps run -1, 0, 1, ... without gaps)")
                }
                if nextStep >= 0 {
                    guard case .string(let bits)? = o["lossBits"], bits.count == 8, let pattern = UInt32(bits, radix: 16) else {
                        throw fail("lossBits", "expected 8 hex digits (the float32 loss's bits) on a training step")
                    }
                    out.losses.append(Float(bitPattern: pattern))
                }
                lastStep = nextStep
                nextStep += 1
                out.evaluation = nil  // only an evaluation after the last step counts
            case "evaluation":
                guard case .number(let s)? = o["step"], case .number(let correct)? = o["correct"], case .number(let total)? = o["total"],
                      case .string(let hash)? = o["predictionsHash"], hash.count == 16, let h = UInt64(hash, radix: 16) else {
                    throw fail("", "an evaluation needs step, correct, total and predictionsHash (16 hex digits)")
                }
                let split: String
                if case .string(let sp)? = o["split"] { split = sp } else { split = "test" }
                if split == "test" && Int(s) == lastStep { out.evaluation = (Int(correct), Int(total), h) }
            default:
                throw fail("type", "unknown line type \"\(type)\" (header, tensor, step, evaluation, end)")
            }
        }
        guard sawHeader else { throw InputError("\(path): no header line") }
        return out
    }
}
