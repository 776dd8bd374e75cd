import ArgumentParser
import Engine
import Foundation
import Presentation
import Recorder
import Replayer

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

    func run() throws {
        try guarded {
            let sizeList = sizes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !sizeList.isEmpty, sizeList.allSatisfy({ (1...4096).contains($0) }) else {
                throw InputError("--sizes \(sizes): expected comma-separated sizes between 1 and 4096, e.g. 64,256,512")
            }
            let profile = EnvProbe.profileOnly()
            if !json { printText(profile.profileText) }
            if noProbe {
                if json { print(profile.json) }
                return
            }
            // Each core type is probed by this command's hidden probe in a child process.
            let probe = { (sizes: [Int], threads: [Int]) in
                [SGEMMProbeCommand.configuration.commandName!, "--sizes", sizes.map(String.init).joined(separator: ","),
                 "--threads", threads.map(String.init).joined(separator: ",")]
            }
            let report = try EnvProbe.run(sizes: sizeList, probe: probe, probing: { core in
                if !json && stderrIsTerminal { writeStderr("\r\u{1B}[Kprobing \(core)...") }
            })
            if !json && stderrIsTerminal { writeStderr("\r\u{1B}[K") }
            if json { return print(report.json) }
            printText(report.tableText)
            print("")
            report.findings.forEach { printText(EnvProbe.Report.text($0)) }
        }
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
