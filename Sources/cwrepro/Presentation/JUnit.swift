import Foundation

/// A JUnit XML document (the schema CI systems read: testsuites > testsuite > testcase, with
/// failure or skipped children).
public struct JUnitSuite: Sendable {
    public struct Case: Sendable {
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
        let e = Text.xmlEscape
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
