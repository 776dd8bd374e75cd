import Foundation
import Recorder

/// Text helpers shared by the reports of replay, verify, diff and variance: human lines,
/// Markdown tables (for a CI step summary), JUnit XML and GitHub Actions annotations.
public enum Reports {
    /// "param, after update", "gradient", ...
    public static func roleText(_ role: String, step: Int) -> String {
        switch role {
        case "param": step == initStep ? "param, initial value" : "param, after update"
        case "grad": "gradient"
        case "optimizer-state": "optimizer state"
        default: role
        }
    }

    /// "at step 3" or "at initialization".
    public static func at(_ step: Int) -> String { step == initStep ? "at initialization" : "at step \(step)" }

    /// How a report names its two sides: what was expected (a record, a golden, run A) and what
    /// was produced (a replay, a run, run B).
    public struct Sides: Sendable {
        public var expected: String
        public var actual: String
        /// Before the expected tensor's name in a structure mismatch ("expected", "A has").
        public var expectedHas: String
        /// Before the actual shape ("got", "B has").
        public var got: String
        public var producer: String
        public var reference: String

        public static let replay = Sides(expected: "expected", actual: "actual", expectedHas: "expected", got: "got",
                                         producer: "the replay", reference: "the record")
        public static let verify = Sides(expected: "expected", actual: "actual", expectedHas: "expected", got: "got",
                                         producer: "the run", reference: "the golden")
        public static let diff = Sides(expected: "A", actual: "B", expectedHas: "A has", got: "B has",
                                       producer: "B", reference: "A")
    }

    /// The lines `replay --until-diverge` prints for the first divergent tensor and the draw or
    /// order that is the evidence for its cause; verify and diff print the same.
    public static func divergenceLines(_ d: Divergence?, draw: Divergence?, sides s: Sides = .replay) -> [String] {
        var lines: [String] = []
        if let d {
            lines.append("first divergence \(at(d.step)), tensor \(d.name) (\(roleText(d.role, step: d.step)))")
            switch d.kind {
            case .hash: lines.append("  \(s.expected) hash \(d.expectedHash ?? "-"), \(s.actual) \(d.actualHash ?? "-")")
            case .structure:
                lines.append("  \(s.expectedHas) \(d.expectedName ?? d.name) with shape \(d.expectedShape ?? []), \(s.got) shape \(d.actualShape ?? []) (hashes \(d.expectedHash ?? "-") / \(d.actualHash ?? "-"))")
            case .missing: lines.append("  \(s.producer) produced fewer tensors than \(s.reference)")
            case .extra: lines.append("  \(s.producer) produced more tensors than \(s.reference)")
            }
            if let v = d.values {
                lines.append("  values: \(grouped(v.differing)) of \(grouped(v.count)) elements differ; max |diff| \(String(format: "%.3g", v.maxAbsDiff)), max \(v.maxULP) ulp")
            }
        }
        if let d = draw {
            lines.append("  evidence: \(d.role) \(d.name) \(at(d.step)) differs (\(s.expected) \(d.expectedHash ?? "-"), \(s.actual) \(d.actualHash ?? "-"))")
        }
        return lines
    }

    /// 1,234-style integers.
    public static func grouped(_ n: Int) -> String {
        var out = ""
        for (i, c) in String(n).reversed().enumerated() {
            if i > 0 && i % 3 == 0 && c != "-" { out.append(",") }
            out.append(c)
        }
        return String(out.reversed())
    }

    public static func causeLine(_ cause: Cause?, _ detail: String?) -> String? {
        cause.map { "  cause: \($0.rawValue)\(detail.map { " (\($0))" } ?? "")" }
    }

    /// A GitHub-flavoured Markdown table; `|` in cells is escaped.
    public static func markdownTable(_ header: [String], _ rows: [[String]]) -> String {
        func row(_ cells: [String]) -> String { "| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |" }
        return ([row(header), "|" + header.map { _ in "---" }.joined(separator: "|") + "|"] + rows.map(row)).joined(separator: "\n")
    }

    /// A plain-text table with columns padded to their widest cell.
    public static func textTable(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { c in all.map { $0.indices.contains(c) ? $0[c].count : 0 }.max() ?? 0 }
        return all.map { r in
            r.enumerated().map { c, s in c == r.count - 1 ? s : s.padding(toLength: widths[c], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }

    public static func xmlEscape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out.unicodeScalars.append(c)
            default: if c.value >= 0x20 { out.unicodeScalars.append(c) }  // XML 1.0 forbids other controls
            }
        }
        return out
    }

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

    /// "0.9472" style accuracy.
    public static func acc(_ a: Double) -> String { String(format: "%.4f", a) }
    /// "+1.39 pp" style accuracy difference in percentage points.
    public static func pp(_ d: Double) -> String { String(format: "%+.2f pp", d * 100) }
    /// "420 ms" below a second, "1.24 s" above.
    public static func duration(_ s: Double) -> String {
        s < 1 ? String(format: "%.1f ms", s * 1000) : String(format: "%.2f s", s)
    }
    public static func loss(_ l: Float?) -> String { l.map { String(format: "%.7g", Double($0)) } ?? "-" }
}

/// A JUnit XML document (the schema CI systems read: testsuites > testsuite > testcase,
/// with failure or skipped children).
public struct JUnitSuite {
    public struct Case {
        public var name: String
        public var className: String
        public var seconds: Double
        public var failure: (message: String, text: String)?
        public var skipped: String?
        public init(name: String, className: String, seconds: Double, failure: (message: String, text: String)? = nil, skipped: String? = nil) {
            self.name = name; self.className = className; self.seconds = seconds; self.failure = failure; self.skipped = skipped
        }
    }
    public var name: String
    public var cases: [Case]
    public init(name: String, cases: [Case]) { self.name = name; self.cases = cases }

    public var xml: String {
        let e = Reports.xmlEscape
        let failures = cases.filter { $0.failure != nil }.count, skipped = cases.filter { $0.skipped != nil }.count
        let time = String(format: "%.6f", cases.reduce(0) { $0 + $1.seconds })
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuites name=\"\(e(name))\" tests=\"\(cases.count)\" failures=\"\(failures)\" errors=\"0\" skipped=\"\(skipped)\" time=\"\(time)\">\n"
        out += "  <testsuite name=\"\(e(name))\" tests=\"\(cases.count)\" failures=\"\(failures)\" errors=\"0\" skipped=\"\(skipped)\" time=\"\(time)\">\n"
        for c in cases {
            let open = "    <testcase name=\"\(e(c.name))\" classname=\"\(e(c.className))\" time=\"\(String(format: "%.6f", c.seconds))\""
            if let f = c.failure {
                out += open + ">\n      <failure message=\"\(e(f.message))\" type=\"StepDigestMismatch\">\(e(f.text))</failure>\n    </testcase>\n"
            } else if let s = c.skipped {
                out += open + ">\n      <skipped message=\"\(e(s))\"/>\n    </testcase>\n"
            } else {
                out += open + "/>\n"
            }
        }
        return out + "  </testsuite>\n</testsuites>\n"
    }
}
