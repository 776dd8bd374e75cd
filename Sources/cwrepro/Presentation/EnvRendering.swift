import Engine
import Foundation
import Replayer

/// `cwrepro env`: the profile, the sgemm probe table and its findings, or JSON.
extension EnvProbe.Report {
    /// The profile as "key  value" lines, and a warning when OPENBLAS_CORETYPE was not honoured.
    public var profileText: String {
        var lines = ["environment profile (stored in every record; replay compares it):"]
        let width = profile.keys.map(\.count).max() ?? 0
        for k in profile.keys.sorted() { lines.append("  \(k.padding(toLength: width, withPad: " ", startingAt: 0))  \(profile[k]!)") }
        if let w = coreTypeFallback { lines.append("warning: " + DivergenceText.coreTypeFallback(w)) }
        return lines.joined(separator: "\n")
    }

    /// The probe table: per core type and thread count, the result hash (8 hex digits) and GFLOP/s per size.
    public var tableText: String {
        var lines = ["", "sgemm probe: C = A B, n x n, fixed inputs; result hash (first 8 hex digits) and GFLOP/s"]
        lines.append("(auto: what OpenBLAS picks without OPENBLAS_CORETYPE; *: this process, \(BLAS.coreName)\(BLAS.requestedCoreType.map { ", OPENBLAS_CORETYPE=\($0)" } ?? ""))")
        var header = "  " + "core type".padding(toLength: 22, withPad: " ", startingAt: 0) + "threads"
        for n in sizes { header += "  " + "n=\(n)".padding(toLength: 21, withPad: " ", startingAt: 0) }
        lines.append(header)
        func rows(_ label: String, _ results: [BLASProbe.Result]) {
            for t in threads {
                var line = "  " + label.padding(toLength: 22, withPad: " ", startingAt: 0) + String(t).padding(toLength: 7, withPad: " ", startingAt: 0)
                for n in sizes {
                    guard let r = results.first(where: { $0.size == n && $0.threads == t }) else { continue }
                    let cell = "\(r.hash.prefix(8)) \(String(format: "%6.1f", r.gflops))"
                    line += "  " + cell.padding(toLength: 21, withPad: " ", startingAt: 0)
                }
                lines.append(line)
            }
        }
        let autoCore = auto.first?.core ?? "?"
        if !cores.contains(where: { $0.loaded == autoCore }) { rows("\(autoCore) (auto)", auto) }
        for c in cores {
            var label = c.available ? c.requested : "\(c.requested) -> \(c.loaded)"
            if c.requested == autoCore { label += " (auto)" }
            if c.requested == BLAS.coreName { label += " *" }
            rows(label, c.results)
        }
        rows("reference (\(referenceKernels))", reference)
        return lines.joined(separator: "\n")
    }

    /// Profile, table and findings.
    public var humanText: String {
        guard !threads.isEmpty else { return profileText }
        return profileText + "\n" + tableText + "\n\n" + findings.map(Self.text).joined(separator: "\n")
    }

    public var json: String {
        var o = JSONDocument()
        o.set("profile", profile)
        o.set("autoCore", autoCore)
        o.set("threads", threads)
        o.set("cores", cores)
        o.set("reference", reference)
        o.set("referenceKernels", referenceKernels)
        o.set("findings", findings.map(Self.text))
        return jsonText(o)
    }

    static func sizes(_ s: [Int]) -> String { s.map { "n=\($0)" }.joined(separator: ", ") }

    public static func text(_ f: EnvProbe.Finding) -> String {
        switch f {
        case .cores(let auto, let here, let requested):
            return "OpenBLAS picks \(auto) on this CPU by itself; this process runs \(here)" + (requested.map { " (OPENBLAS_CORETYPE=\($0))" } ?? "")
        case .unavailable(let requested, let loaded):
            return "core type \(requested): not available here (OpenBLAS silently loads \(loaded) instead)"
        case .threadsChangeBits(let core, let threads, let s): return "\(core): 1 vs \(threads) threads change the bits at \(sizes(s))"
        case .threadsKeepBits(let threads, let cores): return "1 vs \(threads) threads give the same bits on: " + cores.joined(separator: ", ")
        case .againstHere(let here, let t, let differ, let same):
            return "against \(here), \(t) thread\(t == 1 ? "" : "s"): " +
                (differ.isEmpty ? "no core type changes the bits" : "different bits on " + differ.map { "\($0.core) (\(sizes($0.sizes)))" }.joined(separator: ", ")) +
                (same.isEmpty ? "" : "; same bits on " + same.joined(separator: ", "))
        case .reference(let many, let changed):
            return "reference GEMM: " + (changed.isEmpty ? "the same bits with 1 and \(many) thread\(many == 1 ? "" : "s") (and on every core type: it does not use OpenBLAS)"
                                                         : "DIFFERENT bits across threads at \(sizes(changed)) (a bug: please report it)")
        case .speed(let big, let many, let reference, let openblas):
            return "speed at n=\(big), \(many) thread\(many == 1 ? "" : "s") (GFLOP/s): reference \(String(format: "%.0f", reference)); OpenBLAS " +
                openblas.map { "\($0.core) \(String(format: "%.0f", $0.gflops))" }.joined(separator: ", ")
        }
    }
}
