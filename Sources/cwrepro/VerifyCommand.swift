import ArgumentParser
import Engine
import Foundation
import Presentation
import Recorder
import Replayer

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Train from a config (or take a record) and compare every step digest with a golden file; stop at the first mismatch.",
        discussion: """
            The golden is a file written by `cwrepro hashes` (or a .cwr record). The run is hashed at the \
            golden's record level. With --record nothing is trained: the record (cwrepro's, or imported from a \
            real PyTorch or Keras run with `cwrepro import`) is checked as it is. Exit 0 when every checked step matches, 1 on the first mismatch, \
            2 on bad input, 3 when a .cwr golden cannot be read, 4 when this CPU cannot run the golden's OpenBLAS \
            kernels, 5 when every step matches but the golden is not a whole finished run (made from a killed or \
            failed record; --allow-incomplete accepts it) or no training step was checked (--steps 0, a golden \
            without steps). With GITHUB_ACTIONS=true a failure also prints an ::error:: annotation (on stderr with \
            --json or --md).
            """)

    @Argument(help: "The train.json config (its format: docs/config.md in the cwrepro repository); omit with --record.")
    var config: String?

    @Option(help: ArgumentHelp("Check this record (any origin) instead of training a config.", valueName: "run.cwr"))
    var record: String?

    @OptionGroup var changes: ConfigChanges

    @Option(help: ArgumentHelp("The golden step hashes (written by `cwrepro hashes`) or a .cwr record.", valueName: "file"))
    var golden: String

    @Option(help: "Check this many training steps (default: all of the golden's).")
    var steps: Int?

    @Flag(help: "Verify on this machine's OpenBLAS core type as it is (no re-exec with the golden's).")
    var noPatch = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Flag(help: "Print the report as Markdown (for $GITHUB_STEP_SUMMARY).")
    var md = false

    @Option(help: ArgumentHelp("Also write a JUnit XML report: one test case per step checked (through a temporary file renamed into place).", valueName: "file"))
    var junit: String?

    @Flag(help: "Replace the --junit file if it exists (only a regular file that is none of the inputs).")
    var force = false

    @Flag(help: "Accept a golden made from a run that did not finish (killed, failed): exit 0 when its steps match.")
    var allowIncomplete = false

    @OptionGroup var resources: ResourceOptions

    /// Usage errors exit 2 like other bad input (the documented code), not ArgumentParser's 64.
    func checkUsage() throws {
        if json && md { throw InputError("give at most one of --json and --md") }
        if let steps, steps < 0 { throw InputError("--steps \(steps): give a number of steps >= 0") }
        if record != nil {
            guard config == nil, changes.sets.isEmpty, !noPatch else {
                throw InputError("--record checks a record as it is: give no config, --set or --no-patch with it")
            }
        } else if config == nil {
            throw InputError("give a config to train (cwrepro verify train.json --golden steps.hashes) or a record to check (--record run.cwr)")
        }
    }

    func run() throws {
        var report: VerifyReport?
        let inputs = [config ?? record, golden].compactMap { $0 }
        let outputs = junit.map { [$0: "--junit"] } ?? [:]
        try guarded(outputs: outputs) {
            try checkUsage()
            try resources.apply()
            // Checked before training: a long verification must not end in "exists".
            if let junit { try OutputFile.check(junit, force: force, inputs: inputs) }
            if let record {
                report = try RecordVerification.run(record: record, golden: StepHashes.load(path: golden), goldenPath: golden,
                                                    steps: steps, allowIncomplete: allowIncomplete)
                return
            }
            let config = self.config!   // checkUsage: a config when there is no --record
            let cfg = try TrainConfig.File(path: config).config(applying: changes.assignments())
            let session = VerifySession(config: cfg, configPath: config, golden: try StepHashes.load(path: golden), goldenPath: golden,
                                        options: .init(steps: steps, patch: !noPatch, allowIncomplete: allowIncomplete))
            // Like replay: run on the golden's OpenBLAS core type (its kernels round differently), so a
            // golden written on one machine verifies on another whose OpenBLAS would pick other kernels.
            if let core = session.coreTypeToRequest {
                try ProcessConfiguration.reexec(coreType: core, source: "the golden \(golden)")   // never into SIGILL; returns only if exec failed
            }
            let outcome = session.reexecOutcome
            outcome.patches.forEach { eprint("patched: " + DivergenceText.patch($0)) }
            outcome.warnings.forEach { eprint("warning: " + DivergenceText.warning($0)) }
            report = try Progress(total: session.stepsToCheck, label: "verify").running { try session.run(progress: $0.update) }
        }
        guard let report else { return }
        if json { print(report.json) } else { printText(md ? report.markdown : report.humanText) }
        if !report.passed && ProcessInfo.processInfo.environment["GITHUB_ACTIONS"] == "true" {
            // The runner reads workflow commands from both streams; with --json or --md stdout is a
            // document (often appended to $GITHUB_STEP_SUMMARY), so the annotation goes to stderr.
            let line = Text.githubAnnotation(title: "cwrepro verify", report.headline)
            if json || md { eprint(line) } else { print(line) }
        }
        if let junit {
            try guarded(outputs: outputs) { try OutputFile.write(Array(report.junit.xml.utf8), to: junit, force: force, inputs: inputs) }
        }
        if case .incomplete(let gap) = report.outcome, gap.acceptable {
            eprint("hint: --allow-incomplete accepts a golden of an unfinished run (exit 0 when its steps match)")
        }
        try conclude(report.outcome)
    }
}
