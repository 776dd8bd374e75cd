/// A table of a report page (top gaps, per-point summaries): a caption, column headers, rows of
/// text. Numbers are right-aligned in their own columns; highlighted rows are shaded.
struct HTMLTable {
    enum Alignment: String { case left, right }

    struct Column {
        var title: String
        var alignment: Alignment = .left
    }

    var caption: String?
    var columns: [Column]
    var rows: [[String]]
    /// Indices of rows to shade (e.g. the points whose gap is significant).
    var highlighted: Set<Int> = []

    init(caption: String? = nil, columns: [Column], rows: [[String]], highlighted: Set<Int> = []) {
        self.caption = caption
        self.columns = columns
        self.rows = rows
        self.highlighted = highlighted
    }

    /// Columns from their titles; the columns at indices `numeric` are right-aligned.
    init(caption: String? = nil, headers: [String], numeric: Set<Int> = [], rows: [[String]], highlighted: Set<Int> = []) {
        self.init(caption: caption, columns: headers.enumerated().map { Column(title: $1, alignment: numeric.contains($0) ? .right : .left) },
                  rows: rows, highlighted: highlighted)
    }

    var html: String {
        var out = "<table>"
        if let caption { out += "<caption>\(HTMLText.escape(caption))</caption>" }
        out += "<thead><tr>" + columns.map { "<th scope=\"col\" class=\"\($0.alignment.rawValue)\">\(HTMLText.escape($0.title))</th>" }.joined() + "</tr></thead><tbody>"
        for (i, row) in rows.enumerated() {
            out += highlighted.contains(i) ? "<tr class=\"highlight\">" : "<tr>"
            for (j, cell) in row.enumerated() {
                let align = j < columns.count ? columns[j].alignment.rawValue : "left"
                out += "<td class=\"\(align)\">\(HTMLText.escape(cell))</td>"
            }
            out += "</tr>"
        }
        return out + "</tbody></table>"
    }
}
