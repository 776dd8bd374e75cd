import Foundation
import Recorder

/// The safetensors format: an 8-byte little-endian header length N, N bytes of JSON
/// `{"<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {...}}`,
/// then the data buffer (offsets relative to its start). Reads F32, F64, F16 and BF16 (converted
/// to Float32); writes F32 in the given order. Names and layouts are PyTorch's, so a torch
/// state_dict round-trips.
public enum SafeTensors {
    public typealias Entry = (name: String, shape: [Int], data: [Float])
    /// Largest header accepted.
    public static let maxHeader = 100 << 20

    /// Reads a regular file (gzip inflated, never beyond its trailer's claim).
    public static func read(path: String) throws -> [Entry] {
        try parse(readFileBytes(path, what: "safetensors file"), name: path)
    }

    public static func parse(_ bytes: [UInt8], name: String) throws -> [Entry] {
        guard bytes.count >= 8 else { throw InputError("\(name): \(bytes.count) bytes is too short for a safetensors file") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(maxHeader) else { throw InputError("\(name): header of \(n) bytes exceeds the \(maxHeader >> 20) MiB limit") }
        guard 8 + Int(n) <= bytes.count else { throw InputError("\(name): header claims \(n) bytes, the file has \(bytes.count - 8) after the length") }
        let header = try JSON.parse(Array(bytes[8..<(8 + Int(n))]), source: "\(name) (header)")
        guard case .object(let entries) = header else { throw InputError("\(name): the header is not a JSON object") }
        let dataStart = 8 + Int(n), dataCount = bytes.count - dataStart
        var out: [(Int, Entry)] = []
        var ranges: [(Int, Int, String)] = []
        for (key, value) in entries where key != "__metadata__" {
            // BatchNorm's step counter in a torch state_dict (an I64 scalar): cwrepro's BatchNorm uses a
            // fixed momentum and has no counter, so it is skipped (added with the BatchNorm layer).
            if key.hasSuffix(".num_batches_tracked") { continue }
            guard case .string(let dtype)? = value["dtype"], case .array(let shapeJ)? = value["shape"],
                  case .array(let offJ)? = value["data_offsets"], offJ.count == 2 else {
                throw InputError("\(name): tensor \"\(key)\" lacks dtype, shape or data_offsets")
            }
            let shape: [Int] = try shapeJ.map {
                guard case .number(let d) = $0, d >= 0, d == d.rounded(), d < 1e12 else { throw InputError("\(name): tensor \"\(key)\" has an invalid shape") }
                return Int(d)
            }
            let offs: [Int] = try offJ.map {
                guard case .number(let d) = $0, d >= 0, d == d.rounded(), d < 1e15 else { throw InputError("\(name): tensor \"\(key)\" has invalid data_offsets") }
                return Int(d)
            }
            let size: Int
            switch dtype {
            case "F32": size = 4
            case "F64": size = 8
            case "F16", "BF16": size = 2
            default: throw InputError("\(name): tensor \"\(key)\" has dtype \(dtype); supported: F32, F64, F16, BF16")
            }
            guard offs[0] <= offs[1], offs[1] <= dataCount else {
                throw InputError("\(name): tensor \"\(key)\" data_offsets \(offs) fall outside the \(dataCount)-byte data buffer")
            }
            let (count, overflow) = shape.reduce((1, false)) { acc, d in let m = acc.0.multipliedReportingOverflow(by: d); return (m.partialValue, acc.1 || m.overflow) }
            let bytesNeeded = count.multipliedReportingOverflow(by: size)
            guard !overflow, !bytesNeeded.overflow, bytesNeeded.partialValue == offs[1] - offs[0] else {
                throw InputError("\(name): tensor \"\(key)\" has shape \(shape) (\(count) x \(size) bytes) but \(offs[1] - offs[0]) bytes of data")
            }
            ranges.append((offs[0], offs[1], key))
            let raw = bytes[(dataStart + offs[0])..<(dataStart + offs[1])]
            out.append((offs[0], (key, shape, decode(raw, dtype: dtype))))
        }
        ranges.sort { $0.0 < $1.0 }
        for (a, b) in zip(ranges, ranges.dropFirst()) where b.0 < a.1 {
            throw InputError("\(name): tensors \"\(a.2)\" and \"\(b.2)\" overlap in the data buffer")
        }
        return out.sorted { $0.0 < $1.0 }.map(\.1)
    }

    static func decode(_ raw: ArraySlice<UInt8>, dtype: String) -> [Float] {
        raw.withUnsafeBytes { p in
            switch dtype {
            case "F32": return (0..<(p.count / 4)).map { Float(bitPattern: p.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self).littleEndian) }
            case "F64": return (0..<(p.count / 8)).map { Float(Double(bitPattern: p.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self).littleEndian)) }
            case "BF16": return (0..<(p.count / 2)).map { Float(bitPattern: UInt32(p.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self).littleEndian) << 16) }
            default: return (0..<(p.count / 2)).map { Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self).littleEndian)) }
            }
        }
    }

    public static func encode(_ tensors: [Entry], metadata: [String: String] = [:]) -> [UInt8] {
        var header: [String: JSON] = [:]
        var offset = 0
        for t in tensors {
            header[t.name] = .object(["dtype": .string("F32"), "shape": .array(t.shape.map { .number(Double($0)) }),
                                      "data_offsets": .array([.number(Double(offset)), .number(Double(offset + t.data.count * 4))])])
            offset += t.data.count * 4
        }
        if !metadata.isEmpty { header["__metadata__"] = .object(metadata.mapValues { .string($0) }) }
        var h = Array(JSON.object(header).text.utf8)
        while (8 + h.count) % 8 != 0 { h.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + h.count + offset)
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { out += $0 }
        out += h
        for t in tensors { t.data.withUnsafeBytes { out += $0 } }
        return out
    }

    public static func write(_ tensors: [Entry], metadata: [String: String] = [:], to path: String) throws {
        do { try Data(encode(tensors, metadata: metadata)).write(to: URL(fileURLWithPath: path)) } catch {
            throw InputError("cannot write \(path): \(error.localizedDescription)")
        }
    }
}
