import ArgumentParser
import Engine
import Foundation
import Presentation
import Recorder
import Replayer

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write one self-contained HTML page with plots: of a record, of two records, or of a study.",
        discussion: """
            report run.cwr: the loss and learning-rate curves, the evaluations and per-class accuracy. \
            report A.cwr B.cwr: both loss curves with the first divergent step marked, a heat map of \
            the relative error in float32 ulps per tensor and step (first divergence outlined), the \
            reproducibility criteria and the config and environment differences. report study/: the \
            gap histogram, the gap against each swept key, the points with their intervals and the \
            explanations of the largest gaps. The page has no scripts and fetches nothing: it opens \
            from disk and can be archived or attached as it is. Exit 0, 2 on bad usage, 3 for an \
            unreadable record.
            """)

    @Argument(help: "A record, two records, or a study directory.")
    var inputs: [String]

    @Option(name: [.short, .customLong("output")], help: "The HTML file to write (default: <record>.html, compare.html, or <study>/report.html).")
    var output: String?

    func run() throws {
        try guarded {
            guard (1...2).contains(inputs.count) else { throw InputError("give one record, two records, or one study directory (cwrepro report run.cwr)") }
            let generator = "cwrepro \(CWRepro.configuration.version)"
            var isDirectory: ObjCBool = false
            let first = inputs[0]
            let page: String, target: String
            if inputs.count == 1, FileManager.default.fileExists(atPath: first, isDirectory: &isDirectory), isDirectory.boolValue {
                let study = StudyDirectory(first)
                let collected = try StudyCollection.collect(study, explain: .init(parallel: 1, cachedOnly: true))
                page = collected.htmlPage(generator: generator)
                target = output ?? study.path("report.html")
            } else if inputs.count == 1 {
                page = try RecordOverview.load(path: first).htmlPage(generator: generator)
                target = output ?? (first.hasSuffix(".cwr") ? String(first.dropLast(4)) : first) + ".html"
            } else {
                page = try RecordPairReport.load(inputs[0], inputs[1]).htmlPage(generator: generator)
                target = output ?? "compare.html"
            }
            for input in inputs where URL(fileURLWithPath: input).standardizedFileURL == URL(fileURLWithPath: target).standardizedFileURL {
                throw InputError("--output \(target) is an input; give another file")
            }
            do { try Data(page.utf8).write(to: URL(fileURLWithPath: target), options: .atomic) } catch {
                throw InputError("cannot write \(target): \(error.localizedDescription)")
            }
            print("wrote \(target) (\(Text.grouped(page.utf8.count / 1024)) KB)")
        }
    }
}
