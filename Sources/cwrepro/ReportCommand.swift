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
            from disk and can be archived or attached as it is. It is written through a temporary file \
            renamed into place; an existing file (the default <record>.html too) is replaced only with \
            --force, and never when it is an input, a device, a FIFO or a directory. Exit 0, 2 on bad \
            usage or an output that exists or cannot be written, 3 for an unreadable record.
            """)

    @Argument(help: "A record, two records, or a study directory.")
    var inputs: [String]

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("The HTML file to write (default: <record>.html, compare.html, or <study>/report.html).", valueName: "file"))
    var output: String?

    @Flag(help: "Replace the output file if it exists (only a regular file that is none of the inputs).")
    var force = false

    /// What the page is of.
    enum Subject {
        case study(StudyDirectory)
        case record(String)
        case pair(String, String)

        /// One record, two records, or one study directory; nil for any other count.
        init?(_ inputs: [String]) {
            var isDirectory: ObjCBool = false
            switch inputs.count {
            case 1 where FileManager.default.fileExists(atPath: inputs[0], isDirectory: &isDirectory) && isDirectory.boolValue:
                self = .study(StudyDirectory(inputs[0]))
            case 1: self = .record(inputs[0])
            case 2: self = .pair(inputs[0], inputs[1])
            default: return nil
            }
        }

        /// Where the page goes without -o: <record>.html, compare.html or <study>/report.html.
        var defaultOutput: String {
            switch self {
            case .study(let study): study.path("report.html")
            case .record(let r): (r.hasSuffix(".cwr") ? String(r.dropLast(4)) : r) + ".html"
            case .pair: "compare.html"
            }
        }

        /// The files the page is made from, which the output never replaces: the records (with
        /// their -wal), or the study's plan, trials, summary and every planned trial's record.
        func inputFiles() throws -> [String] {
            switch self {
            case .study(let study):
                let records = try study.readManifest().trials.map { study.path($0.record) }
                return [study.manifestPath, study.trialsPath, study.summaryPath] + records
            case .record(let r): return [r, r + "-wal"]
            case .pair(let a, let b): return [a, a + "-wal", b, b + "-wal"]
            }
        }

        /// The HTML page (a study is read as `study collect` reads it, writing nothing into it).
        func page(generator: String) throws -> String {
            switch self {
            case .study(let study):
                try StudyCollection.collect(study, explain: .init(parallel: 1, cachedOnly: true), writeTrials: false).htmlPage(generator: generator)
            case .record(let r): try RecordOverview.load(path: r).htmlPage(generator: generator)
            case .pair(let a, let b): try RecordPairReport.load(a, b).htmlPage(generator: generator)
            }
        }
    }

    func run() throws {
        let subject = Subject(inputs)
        let target = subject.map { output ?? $0.defaultOutput }
        let example = subject.map { URL(fileURLWithPath: $0.defaultOutput).lastPathComponent } ?? "report.html"
        try guarded(outputs: target.map { [$0: "-o"] } ?? [:], examples: ["-o": example]) {
            guard let subject, let target else { throw InputError("give one record, two records, or one study directory (cwrepro report run.cwr)") }
            // Checked before the records are read (or the study collected): a refusal costs nothing.
            let inputs = try subject.inputFiles()
            try OutputFile.check(target, force: force, inputs: inputs)
            let page = try subject.page(generator: "cwrepro \(CWRepro.configuration.version)")
            try OutputFile.write(Array(page.utf8), to: target, force: force, inputs: inputs)
            print("wrote \(target) (\(Text.grouped(page.utf8.count / 1024)) KB)")
        }
    }
}
