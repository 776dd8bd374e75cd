import Engine
import Foundation

/// `Benchmarks json [--reps N] <file>...`: parses each file with the strict parser (`JSON.parse`),
/// with Foundation's JSONDecoder into `JSON` (the reader it replaced) and with JSONSerialization;
/// prints the median time of N repetitions and the throughput.
enum JSONBench {
    static func run(_ args: [String]) throws {
        var files = args, reps = 9
        if files.first == "--reps", files.count > 1 { reps = Int(files[1]) ?? reps; files.removeFirst(2) }
        for f in files {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: f)))
            let data = Data(bytes)
            let strict = try time(reps) { _ = try JSON.parse(bytes, source: f) }
            let decoder = try time(reps) { _ = try JSONDecoder().decode(JSON.self, from: data) }
            let serialization = try time(reps) { _ = try JSONSerialization.jsonObject(with: data) }
            func line(_ name: String, _ s: Double) -> String {
                String(format: "  %-22@ %10.3f ms  %8.1f MB/s", name as NSString, s * 1e3, Double(bytes.count) / s / 1e6)
            }
            print("\(f): \(bytes.count) bytes, median of \(reps)")
            print(line("strict JSON.parse", strict))
            print(line("JSONDecoder (before)", decoder))
            print(line("JSONSerialization", serialization))
        }
    }
}
