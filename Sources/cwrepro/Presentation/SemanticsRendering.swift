import Engine
import Foundation

/// `cwrepro semantics`: the knob table as text, Markdown or JSON.
public enum SemanticsRendering {
    struct Row: Encodable {
        let knob: String, pytorch: JSON, keras: JSON, choices: [String]?, summary: String, formula: String, source: String
    }

    public static func json(_ knobs: [Knob]) -> String {
        jsonText(knobs.map { Row(knob: $0.name, pytorch: $0.pytorch, keras: $0.keras, choices: $0.choices,
                                 summary: $0.summary, formula: $0.formula, source: $0.source) })
    }

    /// One paragraph per knob with its formula and sources.
    public static func verbose(_ knobs: [Knob]) -> String {
        knobs.map { k in
            "\(k.name)  pytorch \(k.pytorch.text)  keras \(k.keras.text)" + (k.choices.map { "  (one of \($0.joined(separator: ", ")))" } ?? "")
                + "\n  \(k.summary)\n  formula: \(k.formula)\n  source: \(k.source)\n"
        }.joined(separator: "\n")
    }

    /// A table (Markdown with `markdown`), formulas and sources with `verbose`.
    public static func table(_ knobs: [Knob], verbose: Bool, markdown: Bool) -> String {
        let header = ["knob", "pytorch", "keras", "what it decides"] + (verbose ? ["formula", "source"] : [])
        let rows = knobs.map { k in [k.name, k.pytorch.text, k.keras.text, k.summary] + (verbose ? [k.formula, k.source] : []) }
        return markdown ? Text.markdownTable(header, rows) : Text.table(header, rows)
    }
}
