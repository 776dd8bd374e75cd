import ArgumentParser
import Engine
import Foundation
import Recorder

struct EnvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "env",
        abstract: "Print this machine's nondeterminism profile and probe which BLAS settings change result bits.",
        discussion: """
            The profile is what a record stores in its environment (CPU, OpenBLAS version, core type and \
            threads, libraries). The probe computes C = A B with fixed inputs for a few sizes with 1 and N \
            threads, for every OpenBLAS core type this CPU can run (each in a child process started with \
            OPENBLAS_CORETYPE set: OpenBLAS reads it only when it loads), and with cwrepro's reference GEMM, \
            and reports which combinations change the result bits, and their speed.
            """)

    @Option(help: ArgumentHelp("Matrix sizes to probe (comma-separated).", valueName: "n,n,..."))
    var sizes = "64,256,512"

    @Flag(help: "Print the profile only, without probing.")
    var noProbe = false

    @Flag(help: "Print everything as JSON.")
    var json = false

    struct CoreProbe: Encodable {
        let requested: String
        /// The core OpenBLAS loaded (differs from `requested` when the core type is unavailable).
        let loaded: String
        let results: [BLASProbe.Result]
    }
    struct Out: Encodable {
        let profile: [String: String]
        let autoCore: String
        let threads: [Int]
        let cores: [CoreProbe]
        let reference: [BLASProbe.Result]
        let findings: [String]
    }

    func run() throws {
        try guarded {
            let sizeList = sizes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !sizeList.isEmpty, sizeList.allSatisfy({ (1...4096).contains($0) }) else {
                throw InputError("--sizes \(sizes): expected comma-separated sizes between 1 and 4096, e.g. 64,256,512")
            }
            let profile = EnvironmentProfile.current(extra: BLAS.environment)
            if !json { printProfile(profile) }
            if noProbe {
                if json { print(jsonText(Out(profile: profile, autoCore: BLAS.coreName, threads: [], cores: [], reference: [], findings: []))) }
                return
            }
            let cpus = ProcessInfo.processInfo.activeProcessorCount
            let threads = cpus > 1 ? [1, cpus] : [1]
            let auto = try probeChild(coreType: nil, sizes: sizeList, threads: threads)
            var cores: [CoreProbe] = []
            for core in BLASProbe.candidateCoreTypes() {
                if !json && stderrIsTerminal { FileHandle.standardError.write(Data("\r\u{1B}[Kprobing \(core)...".utf8)) }
                let results = try probeChild(coreType: core, sizes: sizeList, threads: threads)
                cores.append(CoreProbe(requested: core, loaded: results.first?.core ?? "?", results: results))
            }
            if !json && stderrIsTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            let reference = BLASProbe.run(.reference, sizes: sizeList, threads: threads)
            let findings = Self.findings(auto: auto, cores: cores, reference: reference, threads: threads)
            if json {
                print(jsonText(Out(profile: profile, autoCore: auto.first?.core ?? BLAS.coreName, threads: threads,
                                   cores: cores, reference: reference, findings: findings)))
                return
            }
            printTable(auto: auto, cores: cores, reference: reference, sizes: sizeList, threads: threads)
            print("")
            for f in findings { print(f) }
        }
    }

    func printProfile(_ p: [String: String]) {
        print("environment profile (stored in every record; replay compares it):")
        let width = p.keys.map(\.count).max() ?? 0
        for k in p.keys.sorted() { print("  \(k.padding(toLength: width, withPad: " ", startingAt: 0))  \(p[k]!)") }
        if let w = BLAS.coreTypeFallback { print("warning: \(w)") }
    }

    /// Runs `cwrepro _sgemm-probe` in a child process, with OPENBLAS_CORETYPE set when `coreType` is given.
    func probeChild(coreType: String?, sizes: [Int], threads: [Int]) throws -> [BLASProbe.Result] {
        let p = Process()
        #if os(Linux)
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        #else
        p.executableURL = URL(fileURLWithPath: Bundle.main.executablePath ?? CommandLine.arguments[0])
        #endif
        p.arguments = [SGEMMProbeCommand.configuration.commandName!, "--sizes", sizes.map(String.init).joined(separator: ","),
                       "--threads", threads.map(String.init).joined(separator: ",")]
        var env = ProcessInfo.processInfo.environment
        if let coreType { env["OPENBLAS_CORETYPE"] = coreType } else { env.removeValue(forKey: "OPENBLAS_CORETYPE") }
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0, let results = try? JSONDecoder().decode([BLASProbe.Result].self, from: data) else {
            throw InputError("the sgemm probe for core type \(coreType ?? "(auto)") failed (exit \(p.terminationStatus))")
        }
        return results
    }

    func printTable(auto: [BLASProbe.Result], cores: [CoreProbe], reference: [BLASProbe.Result], sizes: [Int], threads: [Int]) {
        print("")
        print("sgemm probe: C = A B, n x n, fixed inputs; result hash (first 8 hex digits) and GFLOP/s")
        print("(auto: what OpenBLAS picks without OPENBLAS_CORETYPE; *: this process, \(BLAS.coreName)\(BLAS.requestedCoreType.map { ", OPENBLAS_CORETYPE=\($0)" } ?? ""))")
        var header = "  " + "core type".padding(toLength: 22, withPad: " ", startingAt: 0) + "threads"
        for n in sizes { header += "  " + "n=\(n)".padding(toLength: 21, withPad: " ", startingAt: 0) }
        print(header)
        func row(_ label: String, _ results: [BLASProbe.Result]) {
            for t in threads {
                var line = "  " + label.padding(toLength: 22, withPad: " ", startingAt: 0) + String(t).padding(toLength: 7, withPad: " ", startingAt: 0)
                for n in sizes {
                    guard let r = results.first(where: { $0.size == n && $0.threads == t }) else { continue }
                    let cell = "\(r.hash.prefix(8)) \(String(format: "%6.1f", r.gflops))"
                    line += "  " + cell.padding(toLength: 21, withPad: " ", startingAt: 0)
                }
                print(line)
            }
        }
        let autoCore = auto.first?.core ?? "?"
        if !cores.contains(where: { $0.loaded == autoCore }) { row("\(autoCore) (auto)", auto) }
        for c in cores {
            var label = c.loaded.lowercased() == c.requested.lowercased() ? c.requested : "\(c.requested) -> \(c.loaded)"
            if c.requested == autoCore { label += " (auto)" }
            if c.requested == BLAS.coreName { label += " *" }
            row(label, c.results)
        }
        row("reference GEMM", reference)
    }

    /// Which settings change the bits: the thread count per core type, each core type against
    /// this process's, and the reference GEMM across threads; and its speed.
    static func findings(auto: [BLASProbe.Result], cores: [CoreProbe], reference: [BLASProbe.Result], threads: [Int]) -> [String] {
        var out: [String] = []
        let autoCore = auto.first?.core ?? "?", here = BLAS.coreName
        func hashes(_ rs: [BLASProbe.Result], threads t: Int) -> [Int: String] {
            Dictionary(rs.filter { $0.threads == t }.map { ($0.size, $0.hash) }) { a, _ in a }
        }
        func sizesText(_ s: [Int]) -> String { s.sorted().map { "n=\($0)" }.joined(separator: ", ") }
        var available = cores.filter { $0.loaded.lowercased() == $0.requested.lowercased() }
        if !available.contains(where: { $0.loaded == autoCore }) { available.append(CoreProbe(requested: autoCore, loaded: autoCore, results: auto)) }
        out.append("OpenBLAS picks \(autoCore) on this CPU by itself; this process runs \(here)" +
                   (BLAS.requestedCoreType.map { " (OPENBLAS_CORETYPE=\($0))" } ?? ""))
        for c in cores where !available.contains(where: { $0.requested == c.requested }) {
            out.append("core type \(c.requested): not available here (OpenBLAS silently loads \(c.loaded) instead)")
        }
        if let many = threads.last, many > 1 {
            var stable: [String] = []
            for c in available {
                let one = hashes(c.results, threads: 1), n = hashes(c.results, threads: many)
                let changed = one.keys.filter { one[$0] != n[$0] }
                if changed.isEmpty { stable.append(c.loaded) } else { out.append("\(c.loaded): 1 vs \(many) threads change the bits at \(sizesText(changed))") }
            }
            if !stable.isEmpty { out.append("1 vs \(many) threads give the same bits on: " + stable.joined(separator: ", ")) }
        }
        if let base = available.first(where: { $0.loaded == here }) {
            for t in threads {
                let b = hashes(base.results, threads: t)
                var same: [String] = [], differ: [String] = []
                for c in available where c.loaded != here {
                    let h = hashes(c.results, threads: t)
                    let changed = b.keys.filter { b[$0] != h[$0] }
                    if changed.isEmpty { same.append(c.loaded) } else { differ.append("\(c.loaded) (\(sizesText(changed)))") }
                }
                out.append("against \(here), \(t) thread\(t == 1 ? "" : "s"): " +
                           (differ.isEmpty ? "no core type changes the bits" : "different bits on " + differ.joined(separator: ", ")) +
                           (same.isEmpty ? "" : "; same bits on " + same.joined(separator: ", ")))
            }
        }
        if let many = threads.last {
            let one = hashes(reference, threads: 1), n = hashes(reference, threads: many)
            let changed = one.keys.filter { one[$0] != n[$0] }
            out.append("reference GEMM: " + (changed.isEmpty ? "the same bits with 1 and \(many) thread\(many == 1 ? "" : "s") (and on every core type: it does not use OpenBLAS)"
                                                               : "DIFFERENT bits across threads at \(sizesText(changed)) (a bug: please report it)"))
            if let big = reference.map(\.size).max(), let r = reference.first(where: { $0.size == big && $0.threads == many }) {
                let speeds = available.compactMap { c in c.results.first { $0.size == big && $0.threads == many }.map { "\(c.loaded) \(String(format: "%.0f", $0.gflops))" } }
                out.append("speed at n=\(big), \(many) thread\(many == 1 ? "" : "s") (GFLOP/s): reference \(String(format: "%.0f", r.gflops)); OpenBLAS " + speeds.joined(separator: ", "))
            }
        }
        return out
    }
}

/// Hidden: computes sgemm result hashes in this process (whose OpenBLAS core type was fixed when
/// it started) and prints them as JSON. `cwrepro env` runs it once per core type.
struct SGEMMProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "_sgemm-probe", shouldDisplay: false)

    @Option var sizes = "64,256,512"
    @Option var threads = "1"
    @Option var gemm = "openblas"

    func run() throws {
        let s = sizes.split(separator: ",").compactMap { Int($0) }, t = threads.split(separator: ",").compactMap { Int($0) }
        guard let mode = GEMMMode(rawValue: gemm) else { throw ValidationError("--gemm: openblas or reference") }
        print(jsonText(BLASProbe.run(mode, sizes: s, threads: t)))
    }
}
