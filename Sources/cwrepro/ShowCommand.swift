import ArgumentParser
import Foundation
import Presentation
import Replayer

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print what a record holds: run, resolved config, environment, steps, evaluations.")

    @Argument(help: "The record (.cwr).")
    var record: String

    @Flag(help: "Print everything as JSON.")
    var json = false

    @Flag(help: "List every step (default: the first and last 5).")
    var allSteps = false

    @Flag(help: "Print the model's layers (presets expanded, blocks with their children): name, type, output shape, parameters.")
    var layers = false

    func run() throws {
        try guarded {
            if layers {
                let l = try RecordOverview.layers(path: record)
                if json { print(l.json) } else { printText(l.text) }
                return
            }
            let overview = try RecordOverview.load(path: record)
            if json { print(overview.json) } else { printText(overview.text(allSteps: allSteps)) }
        }
    }
}
