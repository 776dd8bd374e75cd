import ArgumentParser
import Foundation
import Presentation
import Recorder
import Replayer

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two runs (records or traces of real PyTorch/Keras runs): bit for bit, or within the rounding envelope.",
        discussion: """
            Two runs of one implementation (two cwrepro records, two torch traces) are compared bit for bit: \
            the first tensor whose bits differ, as replay reports it. Two implementations (a torch trace and \
            cwrepro's record under the pytorch profile; torch and Keras) are compared by their per-tensor \
            statistics against the rounding noise expected at each magnitude (k eps sqrt(n), docs/compare.md): \
            the first tensor outside that envelope, the step from which the runs drift chaotically, tensors \
            whose values are rounding noise (a bias before BatchNorm), per-step losses, predictions. \
            Verdict: identical, within-tolerance or diverged. Exit 0 when identical or within tolerance, \
            1 when diverged, 2 on bad input (a trace's errors name the line and field), 3 when a record \
            cannot be read, 5 when nothing differs in what both hold but a run did not finish (killed, \
            failed: a trace cut short or without its end line; --allow-incomplete accepts it).
            """)

    @Argument(help: "Run A: a record (.cwr) or a trace (.trace, .trace.gz).")
    var a: String

    @Argument(help: "Run B: a record (.cwr) or a trace.")
    var b: String

    @Option(help: ArgumentHelp("Relative tolerance for every tensor statistic, replacing the computed envelope (e.g. 1e-5).", valueName: "x"))
    var rtol: Double?

    @Flag(help: "Compare by value even when both runs come from one implementation.")
    var values = false

    @Flag(help: "Accept a record or trace of a run that did not finish (killed, failed): exit 0 when nothing differs in what both hold.")
    var allowIncomplete = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Flag(help: "Print the report as Markdown.")
    var md = false

    func checkUsage() throws {
        if json && md { throw InputError("give at most one of --json and --md") }
        if let rtol, !(rtol.isFinite && rtol > 0) { throw InputError("--rtol \(rtol): give a relative tolerance > 0, e.g. 1e-5") }
    }

    func run() throws {
        var report: CompareReport?
        try guarded {
            try checkUsage()
            do {
                report = try CompareSession.compare(a, b, options: .init(rtol: rtol, values: values, allowIncomplete: allowIncomplete))
            } catch CompareError.noStatistics(let path) {
                throw InputError("\(path) is a schema 1 record without tensor statistics: it compares only bit for bit (leave out --values), or record it again with this cwrepro")
            }
        }
        guard let report else { return }
        if json { print(report.json) } else { printText(md ? report.markdown : report.humanText) }
        if report.verdict == .diverged && ProcessInfo.processInfo.environment["GITHUB_ACTIONS"] == "true" {
            let line = Text.githubAnnotation(title: "cwrepro compare", "\(report.a.path) vs \(report.b.path): \(report.headline)")
            if json || md { eprint(line) } else { print(line) }
        }
        try conclude(report.outcome)
    }
}
