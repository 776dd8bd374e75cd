import Foundation
import Recorder

/// The most memory a run may plan to use, checked (`MemoryEstimate.check`) before the data, the
/// model or any step is allocated. Default: 3/4 of the machine's memory, where "the machine" is
/// the smaller of the physical memory and the cgroup (container) limit. Per process it comes
/// from, in order: the command line (`MemoryLimit.setProcess`, which the CLI calls), the
/// environment variable `CWREPRO_MEMORY_LIMIT`, the default.
///
/// Sizes are written as a number with an optional binary unit: `8G` = 8 GiB = 8 * 2^30 bytes,
/// `512M`, `1.5G`, `64K`, `2T` (`B`, `iB` and lower case accepted: `8gib`), a plain byte count,
/// a percentage of the machine's memory (`50%`), or `none` (no limit).
public struct MemoryLimit: Equatable, Sendable, CustomStringConvertible {
    /// Bytes; nil means no limit.
    public var bytes: Int?
    /// Where the limit comes from, for messages (`CWREPRO_MEMORY_LIMIT=8G`).
    public var origin: String
    /// How a user raises it, `{size}` standing for a size: `CWREPRO_MEMORY_LIMIT={size}` (the
    /// default), `--memory-limit {size}` (set by the CLI).
    public var change: String

    public init(bytes: Int?, origin: String, change: String = "\(MemoryLimit.environmentVariable)={size}") {
        self.bytes = bytes; self.origin = origin; self.change = change
    }

    /// Throws an `InputError` (exit 2) when `estimate` is above this limit: the estimate, the
    /// limit, the largest part and what to change.
    public func check(_ estimate: MemoryEstimate) throws {
        if let bytes, estimate.total > bytes { throw InputError(estimate.refusal(limit: self)) }
    }

    /// `change` with a size that would admit `needed` bytes.
    public func raise(to needed: Int) -> String { change.replacingOccurrences(of: "{size}", with: MemoryLimit.suggestion(needed)) }

    public static let environmentVariable = "CWREPRO_MEMORY_LIMIT"

    /// "16.0 GiB (CWREPRO_MEMORY_LIMIT=16G)".
    public var description: String { bytes.map { "\(MemoryLimit.format($0)) (\(origin))" } ?? "none (\(origin))" }

    /// The machine's memory: physical memory, or the cgroup limit when lower.
    public static func machineMemory() -> Int {
        let physical = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        var limits = [physical]
        for f in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
            if let t = try? String(contentsOfFile: f, encoding: .utf8),
               let v = Int(t.trimmingCharacters(in: .whitespacesAndNewlines)), v > 0 {
                limits.append(v)
            }
        }
        return limits.min()!
    }

    /// 3/4 of `machineMemory()`.
    public static func machineDefault(memory: Int = machineMemory()) -> MemoryLimit {
        MemoryLimit(bytes: memory / 4 * 3, origin: "the default: 3/4 of this machine's \(format(memory))")
    }

    /// Reads a size (`8G`, `512M`, `1.5G`, `75%`, `none`); nil for `none`. `origin` names it in errors.
    public static func parse(_ text: String, origin: String, change: String = "\(environmentVariable)={size}",
                             memory: Int = machineMemory()) throws -> MemoryLimit {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        if ["none", "off", "unlimited"].contains(t) { return MemoryLimit(bytes: nil, origin: origin, change: change) }
        let bad = InputError("\(origin): \"\(text)\" is not a memory size; write e.g. 8G, 512M, 1.5G, 75% or none")
        if t.hasSuffix("%") {
            guard let p = Double(t.dropLast()), p > 0, p <= 100 else { throw bad }
            return MemoryLimit(bytes: Int(Double(memory) * p / 100), origin: origin, change: change)
        }
        var number = Substring(t)
        for suffix in ["ib", "b"] where number.hasSuffix(suffix) { number = number.dropLast(suffix.count); break }
        var scale = 1.0
        if let last = number.last, let power = ["k": 1, "m": 2, "g": 3, "t": 4][String(last)] {
            scale = pow(1024, Double(power))
            number = number.dropLast()
        }
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let v = Double(number), v > 0 else { throw bad }
        let bytes = v * scale
        guard bytes >= 1, bytes < 9.2e18 else { throw bad }
        return MemoryLimit(bytes: Int(bytes), origin: origin, change: change)
    }

    /// From `CWREPRO_MEMORY_LIMIT` when set, else the machine default.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> MemoryLimit {
        guard let v = environment[environmentVariable] else { return machineDefault() }
        return try parse(v, origin: "\(environmentVariable)=\(v)")
    }

    // MARK: process configuration

    /// The limit of this process, set once by the command line; documented process configuration
    /// (the one mutable static of this type), guarded by a lock.
    private static let state = ProcessLimit()

    private final class ProcessLimit: @unchecked Sendable {
        let lock = NSLock()
        var limit: MemoryLimit?
    }

    /// Sets this process's limit; the CLI's option does
    /// `MemoryLimit.setProcess(try .parse(text, origin: "--memory-limit \(text)", change: "--memory-limit {size}"))`.
    public static func setProcess(_ limit: MemoryLimit) {
        state.lock.lock(); defer { state.lock.unlock() }
        state.limit = limit
    }

    /// This process's limit: the one set by `setProcess`, else `fromEnvironment()`.
    public static func process() throws -> MemoryLimit {
        state.lock.lock(); defer { state.lock.unlock() }
        if let l = state.limit { return l }
        return try fromEnvironment()
    }

    // MARK: formatting

    /// "1.5 GiB", "320 MiB", "12 KiB", "100 bytes".
    public static func format(_ bytes: Int) -> String {
        if bytes == Int.max { return "more than 8 EiB" }
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var v = Double(bytes), u = 0
        while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
        if u == 0 { return "\(bytes) bytes" }
        return v >= 100 ? "\(Int(v.rounded())) \(units[u])" : String(format: "%.1f %@", v, units[u])
    }

    /// A round size at or above `bytes` for a hint ("32G", "600M").
    static func suggestion(_ bytes: Int) -> String {
        if bytes < 1 << 30 { return "\(max(1, Int((Double(bytes) / Double(1 << 20)).rounded(.up))))M" }
        if bytes >= 1 << 60 { return "none" }
        return "\(Int((Double(bytes) / Double(1 << 30)).rounded(.up)))G"
    }
}
