import Foundation

/// Text that goes into a report page: escaping of every user-provided string and the compact
/// number formats of labels and tooltips.
enum HTMLText {
    /// `s` as text safe in element content and in a quoted attribute value, in HTML and in the
    /// inline SVG/XML of a report: `& < > " '` become character references, and the control
    /// characters XML 1.0 forbids become U+FFFD (a record name can hold anything; the page must
    /// still parse). A name such as `<script>alert(1)</script>` shows as those characters.
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF:
                out += "\u{FFFD}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A coordinate in SVG user units: at most one decimal, no trailing ".0", no "-0"
    /// (0.1 px is below what a screen shows; it keeps paths short).
    static func coordinate(_ x: Double) -> String {
        let tenths = (x * 10).rounded()
        guard tenths.isFinite, abs(tenths) < 1e15 else { return "0" }
        let t = Int(tenths)
        if t == 0 { return "0" }
        let sign = t < 0 ? "-" : "", m = abs(t)
        return m % 10 == 0 ? "\(sign)\(m / 10)" : "\(sign)\(m / 10).\(m % 10)"
    }

    /// A value for a tooltip or a table: 4 significant digits (`%.4g`), "NaN", "inf".
    static func number(_ x: Double, significant: Int = 4) -> String {
        if x.isNaN { return "NaN" }
        if x.isInfinite { return x > 0 ? "inf" : "-inf" }
        return String(format: "%.\(significant)g", x)
    }

    /// A tick label for `value` on an axis whose ticks are `step` apart: as many decimals as the
    /// step needs, or `%g` exponent form for very large or very small magnitudes.
    static func tick(_ value: Double, step: Double) -> String {
        let v = abs(value) < abs(step) * 1e-9 ? 0 : value  // no "-0" or "1e-17" at zero
        let decimals = max(0, Int(-(log10(abs(step)) + 1e-9).rounded(.down)))
        if v != 0 && (abs(v) >= 1e6 || decimals > 5) { return String(format: "%g", v) }
        return String(format: "%.\(decimals)f", v)
    }

    /// An integer with thousands separators (1,234,567).
    static func count(_ n: Int) -> String {
        let digits = String(abs(n))
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return n < 0 ? "-" + out : out
    }
}
