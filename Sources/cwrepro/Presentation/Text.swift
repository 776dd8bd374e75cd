import Foundation
import Recorder

/// Number and table formatting shared by every renderer.
public enum Text {
    /// 1,234-style integers.
    public static func grouped(_ n: Int) -> String { groupedDigits(n) }

    /// `s` safe to print on a terminal: control characters other than newline and tab (ESC starts
    /// terminal escape sequences, CR overwrites a line), DEL, C1 controls and the bidirectional
    /// overrides (which reorder what a reader sees) are written as `\u001b`. Names and values
    /// from a record or a config are untrusted text.
    public static func printable(_ s: String) -> String {
        func unsafe(_ v: UInt32) -> Bool {
            (v < 0x20 && v != 0x0A && v != 0x09) || (0x7F...0x9F).contains(v) || (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v)
        }
        guard s.unicodeScalars.contains(where: { unsafe($0.value) }) else { return s }
        var out = ""
        for u in s.unicodeScalars {
            if unsafe(u.value) { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
        }
        return out
    }

    /// "1 step", "1,360 steps": a grouped count and its noun, plural unless the count is 1.
    public static func count(_ n: Int, _ singular: String, _ plural: String? = nil) -> String {
        "\(grouped(n)) \(n == 1 ? singular : plural ?? singular + "s")"
    }

    /// A fixed number of decimals: "0.9472".
    public static func fixed(_ x: Double, _ digits: Int = 4) -> String { String(format: "%.\(digits)f", x) }
    /// "0.9472" style accuracy.
    public static func acc(_ a: Double) -> String { String(format: "%.4f", a) }
    /// "+1.39 pp" style accuracy difference in percentage points.
    public static func pp(_ d: Double) -> String { String(format: "%+.2f pp", d * 100) }
    /// "42.86%".
    public static func percent(_ x: Double) -> String { String(format: "%.2f%%", 100 * x) }
    /// "420 ms" below a second, "1.24 s" above.
    public static func duration(_ s: Double) -> String {
        s < 1 ? String(format: "%.1f ms", s * 1000) : String(format: "%.2f s", s)
    }
    /// A loss with float32 precision, "-" when absent.
    public static func loss(_ l: Float?) -> String { l.map { String(format: "%.7g", Double($0)) } ?? "-" }

    /// A plain-text table with columns padded to their widest cell.
    public static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { c in all.map { $0.indices.contains(c) ? $0[c].count : 0 }.max() ?? 0 }
        return all.map { r in
            r.enumerated().map { c, s in c == r.count - 1 ? s : s.padding(toLength: widths[c], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }

    /// A GitHub-flavoured Markdown table; `|` in cells is escaped.
    public static func markdownTable(_ header: [String], _ rows: [[String]]) -> String {
        func row(_ cells: [String]) -> String { "| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |" }
        return ([row(header), "|" + header.map { _ in "---" }.joined(separator: "|") + "|"] + rows.map(row)).joined(separator: "\n")
    }

    /// Text for an XML attribute or element: the same escaping as a report page's
    /// (`HTMLText.escape`: `& < > " '` as references, control characters XML 1.0 forbids as U+FFFD).
    public static func xmlEscape(_ s: String) -> String { HTMLText.escape(s) }

    /// A GitHub Actions workflow command: `::error title=T::message` (%, CR and LF escaped).
    public static func githubAnnotation(_ level: String = "error", title: String, _ message: String) -> String {
        func esc(_ s: String, property: Bool) -> String {
            var t = s.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D")
                .replacingOccurrences(of: "\n", with: "%0A")
            if property { t = t.replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: ",", with: "%2C") }
            return t
        }
        return "::\(level) title=\(esc(title, property: true))::\(esc(message, property: false))"
    }
}
