import Foundation
import Recorder

/// Progress of a long command (record, train, replay, verify, variance, explain, sweep) on
/// standard error, readable wherever it goes:
///
/// - **bar** (stderr is a terminal): one line redrawn in place, `record [######......] step 45/90 loss 0.6063`;
///   cleared when the work ends.
/// - **lines** (stderr is a file or a pipe: CI logs, `2> log`, Slurm's output file): a plain line
///   each time another 10% of the work is done or 10 s have passed since the last line, whichever
///   comes first, `record: 45/90 steps (50%), loss 0.6063, 1.3 s elapsed, about 1.3 s left`, and a
///   last line when it ends. Work that ends within 2 s prints nothing (a quick command's log stays
///   clean); phase notes (`explain: training A`) follow the same rule.
/// - **none**: nothing.
///
/// `CWREPRO_PROGRESS=bar|lines|none` chooses the mode (`lines` then prints from the start, without
/// the 2 s grace); the default picks bar or lines by whether stderr is a terminal. Safe to call
/// from any thread.
final class Progress: @unchecked Sendable {
    enum Mode: String { case bar, lines, none }

    private(set) var total: Int
    let label: String
    /// What is counted ("steps", "runs", "trials").
    let unit: String
    let mode: Mode
    /// Seconds of work before the first line (lines mode).
    let grace: Double
    /// A line at least this often (seconds), and at every `fraction` of the work (lines mode).
    static let interval = 10.0
    static let fraction = 0.1

    private let lock = NSLock()
    private let start = Date()
    private var lastDraw = 0.0
    private var lastLine = 0.0
    private var lastDecile = 0
    private var printedLines = false
    private var done = 0
    private var detail = ""

    init(total: Int, label: String, unit: String = "steps", mode: Mode? = nil) {
        self.total = total
        self.label = label
        self.unit = unit
        let forced = ProcessInfo.processInfo.environment["CWREPRO_PROGRESS"].flatMap(Mode.init(rawValue:))
        self.mode = mode ?? forced ?? (stderrIsTerminal ? .bar : .lines)
        grace = forced == .lines ? 0 : 2
    }

    var elapsed: Double { Date().timeIntervalSince(start) }

    /// Changes how many units the work has (known once it is planned).
    func setTotal(_ n: Int) {
        lock.lock(); defer { lock.unlock() }
        total = n
    }

    /// A training step ended (record, train, replay, verify).
    func update(_ s: StepSummary) {
        advance(done: s.step + 1, detail: "loss \(String(format: "%.4f", s.loss))")
    }

    /// `done` of `total` units are finished; `detail` says about the last one.
    func advance(done: Int, detail: String = "") {
        lock.lock(); defer { lock.unlock() }
        self.done = done
        self.detail = detail
        let now = elapsed
        switch mode {
        case .none: return
        case .bar:
            guard now - lastDraw > 0.1 || done >= total else { return }
            lastDraw = now
            let width = 30, filled = total == 0 ? width : min(width, done * width / total)
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            let unitWord = unit == "steps" ? "step " : ""
            write("\r\u{1B}[K\(label) [\(bar)] \(unitWord)\(done)/\(total)\(detail.isEmpty ? "" : " " + detail)")
        case .lines:
            let decile = total == 0 ? 0 : Int(Double(done) / Double(total) / Self.fraction)
            guard now >= grace, done < total else { return }
            guard decile > lastDecile || now - lastLine >= Self.interval else { return }
            lastDecile = decile
            lastLine = now
            printedLines = true
            write(line(now) + "\n")
        }
    }

    /// A phase of the work ("training A"): a line of its own in either mode (after the grace, in lines mode).
    func note(_ text: String) {
        lock.lock(); defer { lock.unlock() }
        switch mode {
        case .none: return
        case .bar: write("\r\u{1B}[K\(label): \(text)\n")
        case .lines:
            guard elapsed >= grace else { return }
            printedLines = true
            lastLine = elapsed
            write("\(label): \(text)\n")
        }
    }

    /// "record: 45/90 steps (50%), loss 0.6063, 1.3 s elapsed, about 1.3 s left".
    func line(_ now: Double) -> String {
        let percent = total == 0 ? 100 : done * 100 / total
        var out = "\(label): \(done)/\(total) \(unit) (\(percent)%)"
        if !detail.isEmpty { out += ", \(detail)" }
        out += ", \(Self.duration(now)) elapsed"
        if done > 0 && done < total { out += ", about \(Self.duration(now * Double(total - done) / Double(done))) left" }
        return out
    }

    /// Ends the display: clears the bar, or prints the last line if any line was printed.
    func finish() {
        lock.lock(); defer { lock.unlock() }
        switch mode {
        case .none: return
        case .bar: if stderrIsTerminal { write("\r\u{1B}[K") }
        case .lines:
            guard printedLines || (grace == 0 && total > 0) else { return }
            if total == 0 {
                write("\(label): done in \(Self.duration(elapsed))\n")
            } else {
                write("\(label): \(done)/\(total) \(unit) (\(done * 100 / total)%) in \(Self.duration(elapsed))\n")
            }
        }
    }

    /// Runs `body` with this display and ends it afterwards, also when `body` throws.
    func running<T>(_ body: (Progress) throws -> T) rethrows -> T {
        defer { finish() }
        return try body(self)
    }

    /// "1.3 s", "4 min 05 s", "2 h 03 min".
    static func duration(_ s: Double) -> String {
        if s < 60 { return String(format: "%.1f s", s) }
        let t = Int(s.rounded())
        if t < 3600 { return String(format: "%d min %02d s", t / 60, t % 60) }
        return String(format: "%d h %02d min", t / 3600, (t % 3600) / 60)
    }

    private func write(_ s: String) { writeStderr(s) }
}
