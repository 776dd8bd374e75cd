import ArgumentParser
import Engine
import Foundation
import Presentation

@main
struct CWRepro: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cwrepro",
        abstract: "Record, replay and explain deep-learning training runs, bit for bit.",
        discussion: """
            Exit codes: 0 identical / success, 1 diverged, verification failed, a digest that does not match or \
            training hit a non-finite value, 2 bad usage, bad input or an output that cannot be written, \
            3 unreadable, tampered or incompatible record, 4 this CPU cannot run the binary or the OpenBLAS \
            kernels asked for (OPENBLAS_CORETYPE) or recorded, 5 nothing differs but the comparison does not \
            cover a whole finished run (a killed, still running or failed record or golden; no training step).
            The train.json format: docs/config.md; the reproducibility guide: guidelines/ (in the \
            cwrepro repository).
            """,
        version: "0.2.0",
        subcommands: [RecordCommand.self, ReplayCommand.self, ShowCommand.self, TrainCommand.self,
                      HashesCommand.self, SealCommand.self, VerifyCommand.self, DiffCommand.self, ImportCommand.self, CompareCommand.self, VarianceCommand.self,
                      ExplainCommand.self, EvaluateCommand.self, ModelsCommand.self, SweepCommand.self, StudyCommand.self, ReportCommand.self,
                      SemanticsCommand.self, EnvCommand.self, SGEMMProbeCommand.self])

    /// ArgumentParser exits 64 (EX_USAGE) on a parse error; cwrepro documents 2 for bad usage, so
    /// parse and validation errors are printed as ArgumentParser words them and exit 2.
    static func main() {
        ParentWatch.start()
        do {
            try checkSubcommandName(Array(CommandLine.arguments.dropFirst()))
            var command = try parseAsRoot()
            try checkCPU(for: command)
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                writeStderr(fullMessage(for: error) + "\n")
                exit(withError: Exit.badInput)
            }
            exit(withError: error)
        }
    }
}

extension CWRepro {
    /// A first argument that names no command gets "did you mean" (ArgumentParser would say
    /// "unexpected arguments"), exit 2.
    static func checkSubcommandName(_ args: [String]) throws {
        guard let first = args.first, !first.hasPrefix("-"), first != "help" else { return }
        let all = configuration.subcommands.compactMap { $0.configuration.commandName }
        guard !all.contains(first) else { return }
        let names = all.filter { !$0.hasPrefix("_") }   // internal commands (a probe child's) are not offered
        let hint = Engine.suggestion(first, names)
        writeStderr("error: unknown command \"\(Text.printable(first))\"\(hint); the commands are: \(names.joined(separator: ", ")) (cwrepro --help)\n")
        exit(withError: Exit.badInput)
    }
}
