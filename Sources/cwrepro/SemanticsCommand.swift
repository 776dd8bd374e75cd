import ArgumentParser
import Engine
import Foundation
import Recorder
import Replayer

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

    struct Row: Encodable {
        let knob: String, pytorch: JSON, keras: JSON, choices: [String]?, summary: String, formula: String, source: String
    }

    func run() throws {
        try guarded { if json && md { throw InputError("give at most one of --json and --md") } }
        let knobs = Knobs.all
        if json {
            print(jsonText(knobs.map { Row(knob: $0.name, pytorch: $0.pytorch, keras: $0.keras, choices: $0.choices,
                                          summary: $0.summary, formula: $0.formula, source: $0.source) }))
            return
        }
        if verbose && !md {
            for k in knobs {
                print("\(k.name)  pytorch \(k.pytorch.text)  keras \(k.keras.text)" + (k.choices.map { "  (one of \($0.joined(separator: ", ")))" } ?? ""))
                print("  \(k.summary)\n  formula: \(k.formula)\n  source: \(k.source)\n")
            }
            return
        }
        let header = ["knob", "pytorch", "keras", "what it decides"] + (verbose ? ["formula", "source"] : [])
        let rows = knobs.map { k in
            [k.name, k.pytorch.text, k.keras.text, k.summary] + (verbose ? [k.formula, k.source] : [])
        }
        print(md ? Reports.markdownTable(header, rows) : Reports.textTable(header, rows))
    }
}
