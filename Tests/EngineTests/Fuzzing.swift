import Foundation
import XCTest
import Recorder

/// A seeded mutation fuzzer for parsers of untrusted input. Each target gets valid seed inputs;
/// every iteration picks one, applies 1-4 random mutations (bit flips, byte writes, interesting
/// integers, insertions, deletions, duplications, truncation, and for text targets JSON tokens
/// and extreme numbers) and calls the target, which must either succeed or throw one of the
/// documented errors (InputError, RecordReadError). A Swift runtime trap (index out of range,
/// overflow, force unwrap) kills the test process: that is what the fuzzer is for.
///
/// Budget: `iterations` per target by default (fixed seed: the same inputs on every run).
/// Environment: `CWREPRO_FUZZ_SECONDS=<s>` runs each target for that long instead,
/// `CWREPRO_FUZZ_SEED=<n>` changes the seed. The input under test is written to
/// `$TMPDIR/cwrepro-fuzz-<target>.input` first, so a crash leaves its reproducer behind.
struct Fuzzer {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }

    static let interesting32: [UInt32] = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x4000_0000, 3073]
    static let tokens: [String] = ["[", "]", "{", "}", "\"", ",", ":", "null", "true", "false", "-1", "0", "1e999", "-1e308",
                                   "1e9", "1000000000", "9007199254740993", "0.5", "\"x\"", "[]", "{}", "\\u0000", "NaN",
                                   "\"type\"", "\"units\"", "\"dense\"", "\"shape\"", "\"data_offsets\"", "\"dtype\"", "\"F32\"",
                                   // What the strict parser refuses, and near misses it must accept.
                                   "//", "/*", "*/", "Infinity", "-Infinity", "01", "-0", "1.0", "1e3", "1E+2", ".5", "1.", "+1",
                                   "0x1F", "\\ud800", "\\udc00", "\\ud83d\\ude00", "\\u00e9", ",}", ",]", "'", "\t", "\r\n",
                                   "\u{FEFF}", "\u{201C}", "True", "\"lr\": 1, \"lr\": 2", "\"seed\": 1234.0", "1e-400", "5e-324"]

    mutating func mutate(_ input: [UInt8], text: Bool) -> [UInt8] {
        var b = input
        for _ in 0..<(1 + below(4)) {
            let choice = below(text ? 11 : 8)
            let at = below(b.count + 1)
            switch choice {
            case 0 where !b.isEmpty: b[min(at, b.count - 1)] ^= UInt8(1) << UInt8(below(8))
            case 1 where !b.isEmpty: b[min(at, b.count - 1)] = UInt8(truncatingIfNeeded: next())
            case 2:
                let v = Self.interesting32[below(Self.interesting32.count)]
                let bytes: [UInt8] = below(2) == 0 ? withUnsafeBytes(of: v.bigEndian, Array.init) : withUnsafeBytes(of: v.littleEndian, Array.init)
                for (i, x) in bytes.enumerated() where at + i < b.count { b[at + i] = x }
            case 3: b.insert(contentsOf: (0..<(1 + below(16))).map { _ in UInt8(truncatingIfNeeded: next()) }, at: at)
            case 4 where !b.isEmpty: b.removeSubrange(min(at, b.count - 1)..<min(b.count, at + 1 + below(32)))
            case 5 where !b.isEmpty:
                let start = below(b.count), len = min(b.count - start, 1 + below(64))
                b.insert(contentsOf: b[start..<(start + len)], at: at)
            case 6: b = Array(b.prefix(below(b.count + 1)))
            case 7 where b.count >= 8:
                // A little-endian 64-bit length at the front (safetensors) or anywhere.
                let v: UInt64 = [0, 1, 7, 8, 0xffff_ffff, 1 << 40, UInt64.max, UInt64(b.count), UInt64(b.count) * 2][below(9)]
                let pos = below(2) == 0 ? 0 : below(b.count - 7)
                withUnsafeBytes(of: v.littleEndian) { for i in 0..<8 { b[pos + i] = $0[i] } }
            case 8, 9: b.insert(contentsOf: Array(Self.tokens[below(Self.tokens.count)].utf8), at: at)
            case 10:
                // Replace a run of digits with an extreme number.
                if let start = b.indices.shuffled(using: &self).first(where: { (0x30...0x39).contains(b[$0]) }) {
                    var end = start
                    while end < b.count, (0x30...0x39).contains(b[end]) || b[end] == 0x2e { end += 1 }
                    let n = ["0", "-1", "1e9", "4294967296", "9223372036854775807", "1e308", "1.5", "-0", "2147483648"][below(9)]
                    b.replaceSubrange(start..<end, with: Array(n.utf8))
                }
            default: break
            }
        }
        return b
    }

    /// Runs `target` on mutations of `seeds`; returns the number of inputs tried.
    /// Non-documented error types fail the test.
    @discardableResult
    static func run(_ name: String, seeds: [[UInt8]], text: Bool = false, iterations: Int,
                    file: StaticString = #filePath, line: UInt = #line, _ target: ([UInt8]) throws -> Void) -> Int {
        let env = ProcessInfo.processInfo.environment
        let seed = env["CWREPRO_FUZZ_SEED"].flatMap(UInt64.init) ?? 0xC0FF_EE00
        let seconds = env["CWREPRO_FUZZ_SECONDS"].flatMap(Double.init)
        var f = Fuzzer(seed: seed ^ UInt64(truncatingIfNeeded: TensorHash.string(name)))
        let reproducer = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("cwrepro-fuzz-\(name).input")
        // One descriptor rewritten in place: Data.write per input costs milliseconds here.
        let fd = open(reproducer.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let start = Date()
        var tried = 0, accepted = 0
        var unexpected: [String] = []
        while seconds.map({ Date().timeIntervalSince(start) < $0 }) ?? (tried < iterations) {
            var input = seeds[f.below(seeds.count)]
            input = f.mutate(input, text: text)
            if fd >= 0 {
                _ = ftruncate(fd, 0)
                _ = input.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            }
            do { try target(input); accepted += 1 } catch is InputError {} catch is RecordReadError {} catch {
                if unexpected.count < 5 { unexpected.append("\(type(of: error)): \(error)") }
            }
            tried += 1
        }
        if fd >= 0 { close(fd) }
        try? FileManager.default.removeItem(at: reproducer)
        let elapsed = Date().timeIntervalSince(start)
        print("fuzz \(name): \(tried) inputs in \(String(format: "%.2f", elapsed)) s, \(accepted) accepted, \(unexpected.count) unexpected errors, 0 crashes")
        XCTAssertTrue(unexpected.isEmpty, "\(name): errors other than InputError/RecordReadError: \(unexpected)", file: file, line: line)
        return tried
    }
}

extension Fuzzer: RandomNumberGenerator {}
