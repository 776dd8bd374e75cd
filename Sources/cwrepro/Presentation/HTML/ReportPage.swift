/// A report page: one self-contained HTML file (no scripts, no network, no external fonts) that
/// opens from disk, made of sections of text, facts, tables and charts.
///
/// Plots are inline SVG written by this module rather than a vendored chart library, because:
/// - size: a report is tens of kilobytes (the six-chart demo page of `HTMLReportTests`: 83 KB;
///   a 40-tensor x 2,000-step heat map 61 KB; two 100,000-step curves 56 KB), where embedding
///   Chart.js (~200 KB minified) or Plotly (~3.5 MB) would dwarf the data;
/// - longevity: inline SVG and script-free HTML have rendered alike in every major browser for
///   over a decade; an archived report does not depend on a library version, a JavaScript
///   engine or a CDN, and a strict Content-Security-Policy forbids all fetching;
/// - determinism: the same report value gives the same bytes (a page can be diffed and tested
///   as text; the SVG parses as XML);
/// - accessibility without script: each chart has a `<title>` and `<desc>` (role="img"), every
///   bar, point, curve and heat-map cell a `<title>` that browsers show as its tooltip;
/// - no package to vendor and audit (and the npm registry is not reachable from the build machines).
/// The cost is no zoom or pan; the tables carry the exact numbers.
///
/// Markup is XHTML-compatible ("polyglot"): every element closed, only XML's character
/// references, so the whole page parses as XML too.
struct ReportPage {
    enum NoteKind: String { case info, warning }

    enum Block {
        case paragraph(String)
        /// A highlighted remark: a warning (e.g. "the gap is within seed noise") or information.
        case note(String, NoteKind)
        /// Name-value pairs (run, machine, verdict...).
        case facts([(String, String)])
        case chart(any Chart)
        /// Charts side by side where the window is wide enough (loss and learning rate).
        case charts([any Chart])
        case table(HTMLTable)
        /// Preformatted text (a command, a terminal excerpt).
        case code(String)
    }

    struct Section {
        var heading: String
        var blocks: [Block]
    }

    var title: String
    var subtitle: String?
    /// Who made the page, for the footer (e.g. "cwrepro 0.1.0").
    var generator: String
    var sections: [Section] = []

    init(title: String, subtitle: String? = nil, generator: String) {
        self.title = title
        self.subtitle = subtitle
        self.generator = generator
    }

    mutating func add(_ heading: String, _ blocks: [Block]) { sections.append(Section(heading: heading, blocks: blocks)) }

    /// No fetching of anything, no script; inline styles and data: images only.
    static let contentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

    static let css = """
        :root{color-scheme:light}
        body{margin:0 auto;max-width:1320px;padding:16px 24px 40px;font:14px/1.45 \(ChartFrame.fontFamily);color:#222;background:#fff}
        h1{font-size:22px;margin:8px 0 2px}h2{font-size:17px;margin:28px 0 8px;padding-bottom:4px;border-bottom:1px solid #ddd}
        .subtitle{color:#555;margin:0 0 8px}nav ol{display:flex;flex-wrap:wrap;gap:4px 28px;margin:4px 0;padding-left:20px}
        .charts{display:flex;flex-wrap:wrap;gap:12px 24px}svg.chart{max-width:100%;height:auto;display:block;margin:6px 0}
        table{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums}caption{text-align:left;font-weight:600;padding:4px 0}
        th,td{padding:3px 10px;border-bottom:1px solid #e4e4e4}th{background:#f6f6f6}.right{text-align:right}.left{text-align:left}
        tr.highlight td{background:#fff4d6}dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:8px 0}dt{color:#555}dd{margin:0}
        .note{padding:8px 12px;border-left:4px solid #0072B2;background:#eef5fb;margin:8px 0}.note.warning{border-color:#D55E00;background:#fdf0e8}
        pre{background:#f6f6f6;padding:8px 12px;overflow-x:auto}footer{margin-top:32px;color:#777;font-size:12px}
        @media print{.charts{display:block}svg.chart{page-break-inside:avoid}}
        """

    /// The whole page.
    func render() -> String {
        var out = """
            <!DOCTYPE html>
            <html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head><meta charset="utf-8"/>
            <meta http-equiv="Content-Security-Policy" content="\(Self.contentSecurityPolicy)"/>
            <meta name="viewport" content="width=device-width, initial-scale=1"/>
            <meta name="generator" content="\(HTMLText.escape(generator))"/>
            <title>\(HTMLText.escape(title))</title>
            <style>\(Self.css)</style></head>
            <body><header><h1>\(HTMLText.escape(title))</h1>
            """
        if let subtitle { out += "<p class=\"subtitle\">\(HTMLText.escape(subtitle))</p>" }
        if sections.count > 2 {
            out += "<nav><ol>" + sections.indices.map { "<li><a href=\"#section-\($0 + 1)\">\(HTMLText.escape(sections[$0].heading))</a></li>" }.joined() + "</ol></nav>"
        }
        out += "</header>\n<main>"
        var chartNumber = 0
        func nextID() -> String { chartNumber += 1; return "chart-\(chartNumber)" }
        for (i, section) in sections.enumerated() {
            out += "\n<section id=\"section-\(i + 1)\"><h2>\(HTMLText.escape(section.heading))</h2>\n"
            for block in section.blocks {
                switch block {
                case .paragraph(let text): out += "<p>\(HTMLText.escape(text))</p>\n"
                case .note(let text, let kind): out += "<p class=\"note \(kind.rawValue)\">\(HTMLText.escape(text))</p>\n"
                case .facts(let pairs):
                    out += "<dl>" + pairs.map { "<dt>\(HTMLText.escape($0.0))</dt><dd>\(HTMLText.escape($0.1))</dd>" }.joined() + "</dl>\n"
                case .chart(let chart): out += chart.svg(id: nextID()) + "\n"
                case .charts(let charts): out += "<div class=\"charts\">" + charts.map { $0.svg(id: nextID()) }.joined(separator: "\n") + "</div>\n"
                case .table(let table): out += table.html + "\n"
                case .code(let text): out += "<pre>\(HTMLText.escape(text))</pre>\n"
                }
            }
            out += "</section>"
        }
        out += "\n</main><footer>Made by \(HTMLText.escape(generator)). A single self-contained file: no scripts, no network; hover a mark for its value.</footer></body></html>\n"
        return out
    }
}
