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

    /// One tensor as a header declares it, checked against the data buffer: a known dtype, a
    /// shape whose element count times the dtype's size equals the byte range `begin..<end`
    /// (relative to the data buffer's start).
    public struct TensorInfo: Equatable, Sendable {
        public var name: String
        public var dtype: String
        public var shape: [Int]
        public var begin: Int
        public var end: Int
        public var count: Int { shape.reduce(1, *) }
    }

    /// Bytes per element of the dtypes cwrepro reads (weights: the float ones; data files also
    /// the integer ones).
    static let itemSizes = ["F32": 4, "F64": 8, "F16": 2, "BF16": 2, "U8": 1, "I32": 4, "I64": 8]

    /// What to give instead of the cwrepro record `name`, given for parameters.
    static func recordGivenForWeights(_ name: String) -> String {
        "a record holds hashes, not the weights to load: write them when training (`cwrepro record config.json --export w.safetensors`, or `cwrepro train config.json --export w.safetensors`, which writes the same bytes) and give that file; `cwrepro show \(name)` lists the record's own evaluations"
    }

    /// The header length N from the first bytes (at least 8; pass 16 when the file has them, so
    /// that a file of another format is named as one, without the meaningless length its first
    /// bytes give), checked against the file size and `maxHeader`. `recordAdvice` says what to
    /// give instead of a cwrepro record.
    static func headerLength(_ first: [UInt8], fileBytes: Int, name: String,
                             recordAdvice: (String) -> String = recordGivenForWeights) throws -> Int {
        guard first.count >= 8 else { throw InputError("\(name): \(fileBytes) bytes is too short for a safetensors file (8-byte header length)") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(first[i]) << (8 * UInt64(i)) }
        // A length that does not fit, read from a file of another format (a record's "SQLite f"
        // reads as 7e18 bytes), says nothing: the file is named for what it is. Only then: the
        // first bytes of a real header length can look like another format's.
        if n > UInt64(maxHeader) || 8 + Int(n) > fileBytes {
            if let other = OtherFormat(first) {
                throw InputError("\(name) is \(other.description), not a safetensors file; " + (other == .cwreproRecord ? recordAdvice(name) : other.advice))
            }
            // A header starts with `{`: without one the first 8 bytes were never a header length.
            if first.count > 8 && first[8] != UInt8(ascii: "{") {
                throw InputError("\(name) is not a safetensors file (it does not start with an 8-byte header length and a JSON header); give a file saved as safetensors (PyTorch: safetensors.torch.save_file; cwrepro: record or train --export)")
            }
        }
        guard n <= UInt64(maxHeader) else {
            throw InputError("\(name): header of \(n) bytes exceeds the \(maxHeader >> 20) MiB limit; not a safetensors file?")
        }
        guard 8 + Int(n) <= fileBytes else {
            throw InputError("\(name): header claims \(n) bytes, the file has \(fileBytes - 8) after the length")
        }
        return Int(n)
    }

    /// Formats given where safetensors is expected, known by their first bytes.
    enum OtherFormat: Equatable {
        case cwreproRecord, zip, hdf5, pickle, json

        init?(_ first: [UInt8]) {
            if first.starts(with: Array("SQLite format 3\u{0}".utf8)) { self = .cwreproRecord }
            else if first.starts(with: [0x50, 0x4B, 0x03, 0x04]) { self = .zip }
            else if first.starts(with: [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]) { self = .hdf5 }
            else if first.count >= 2, first[0] == 0x80, (2...5).contains(first[1]) { self = .pickle }
            else if first.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) == UInt8(ascii: "{") { self = .json }
            else { return nil }
        }

        var description: String {
            switch self {
            case .cwreproRecord: "a cwrepro record (an SQLite database)"
            case .zip: "a zip archive (a PyTorch torch.save checkpoint, .pt or .pth?)"
            case .hdf5: "an HDF5 file (Keras .h5 weights?)"
            case .pickle: "a Python pickle (an old torch.save checkpoint?)"
            case .json: "JSON text (a config?)"
            }
        }

        /// What to give instead (a record's depends on what the file was for: `recordAdvice`).
        var advice: String {
            switch self {
            case .cwreproRecord: "give a safetensors file"
            case .zip, .pickle: "save the state_dict as safetensors (safetensors.torch.save_file(model.state_dict(), path)) and give that file"
            case .hdf5: "export the model with cwrepro.keras.export (its init.safetensors holds the weights in cwrepro's layouts) and give that file"
            case .json: "give the safetensors file itself"
            }
        }
    }

    /// The tensors a header (the JSON after the length) declares, sorted by offset, with no two
    /// byte ranges overlapping. `__metadata__` and the keys `skip` accepts are left out; a dtype
    /// outside `dtypes` is an error whose message lists `dtypes`.
    static func tensors(header: [UInt8], dataBytes: Int, name: String, dtypes: [String],
                        skip: (String) -> Bool = { _ in false }) throws -> [TensorInfo] {
        let json = try JSON.parse(header, source: "\(name) (header)")
        guard case .object(let entries) = json else { throw InputError("\(name): the header is not a JSON object") }
        var out: [TensorInfo] = []
        for (key, value) in entries where key != "__metadata__" && !skip(key) {
            out.append(try tensorInfo(key, value, dataBytes: dataBytes, name: name, dtypes: dtypes))
        }
        out.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        for (a, b) in zip(out, out.dropFirst()) where b.begin < a.end {
            throw InputError("\(name): tensors \"\(a.name)\" and \"\(b.name)\" overlap in the data buffer")
        }
        return out
    }

    static func tensorInfo(_ key: String, _ value: JSON, dataBytes: Int, name: String, dtypes: [String]) throws -> TensorInfo {
        guard case .string(let dtype)? = value["dtype"], case .array(let shapeJ)? = value["shape"],
              case .array(let offJ)? = value["data_offsets"], offJ.count == 2 else {
            throw InputError("\(name): tensor \"\(key)\" lacks dtype, shape or data_offsets")
        }
        guard dtypes.contains(dtype), let size = itemSizes[dtype] else {
            throw InputError("\(name): tensor \"\(key)\" has dtype \(dtype); readable here: \(dtypes.joined(separator: ", "))")
        }
        let shape: [Int] = try shapeJ.map {
            guard case .number(let d) = $0, d >= 0, d == d.rounded(), d < 1e12 else { throw InputError("\(name): tensor \"\(key)\" has an invalid shape") }
            return Int(d)
        }
        let offs: [Int] = try offJ.map {
            guard case .number(let d) = $0, d >= 0, d == d.rounded(), d < 1e15 else { throw InputError("\(name): tensor \"\(key)\" has invalid data_offsets") }
            return Int(d)
        }
        guard offs[0] <= offs[1], offs[1] <= dataBytes else {
            throw InputError("\(name): tensor \"\(key)\" data_offsets \(offs) fall outside the \(dataBytes)-byte data buffer (truncated file?)")
        }
        let (count, overflow) = shape.reduce((1, false)) { acc, d in
            let m = acc.0.multipliedReportingOverflow(by: d)
            return (m.partialValue, acc.1 || m.overflow)
        }
        let bytes = count.multipliedReportingOverflow(by: size)
        guard !overflow, !bytes.overflow, bytes.partialValue == offs[1] - offs[0] else {
            throw InputError("\(name): tensor \"\(key)\" has shape \(shape) (\(count) x \(size) bytes) but \(offs[1] - offs[0]) bytes of data")
        }
        return TensorInfo(name: key, dtype: dtype, shape: shape, begin: offs[0], end: offs[1])
    }

    /// Parameters from a file's bytes, in the order of their data offsets.
    public static func parse(_ bytes: [UInt8], name: String) throws -> [Entry] {
        let n = try headerLength(Array(bytes.prefix(16)), fileBytes: bytes.count, name: name)
        let dataStart = 8 + n
        // BatchNorm's step counter in a torch state_dict (an I64 scalar): cwrepro's BatchNorm uses a
        // fixed momentum and has no counter, so it is skipped (added with the BatchNorm layer).
        let infos = try tensors(header: Array(bytes[8..<dataStart]), dataBytes: bytes.count - dataStart, name: name,
                                dtypes: ["F32", "F64", "F16", "BF16"], skip: { $0.hasSuffix(".num_batches_tracked") })
        return infos.map { t in (t.name, t.shape, decode(bytes[(dataStart + t.begin)..<(dataStart + t.end)], dtype: t.dtype)) }
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
