import ArgumentParser
import Engine
import Foundation
import Presentation
import Recorder

struct SemanticsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "semantics",
        abstract: "List the semantics knobs with the pytorch and keras profiles' values.",
        discussion: """
            Each knob can be set one by one in a config's "overrides", e.g. \
            {"semantics": "pytorch", "overrides": {"adam.epsilonMode": "hat"}}. \
            --verbose adds each knob's formula and the framework source files it comes from.
            """)

    @Flag(name: .shortAndLong, help: "Add formulas and sources.")
    var verbose = false

    @Flag(help: "Print the knobs as JSON.")
    var json = false

    @Flag(help: "Print the knobs as a Markdown table.")
    var md = false

    func run() throws {
        try guarded { if json && md { throw InputError("give at most one of --json and --md") } }
        if json { return print(SemanticsRendering.json(Knobs.all)) }
        if verbose && !md { return printText(SemanticsRendering.verbose(Knobs.all)) }
        printText(SemanticsRendering.table(Knobs.all, verbose: verbose, markdown: md))
    }
}
