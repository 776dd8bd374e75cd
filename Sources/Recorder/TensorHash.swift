import CXXHash

/// Element types of hashed tensors; the code is part of every tensor hash.
public enum DType: UInt8, Codable, Sendable {
    case float32 = 1, int32 = 2, uint32 = 3, int64 = 4, float64 = 5, uint8 = 6

    public var name: String {
        switch self {
        case .float32: "f32"
        case .int32: "i32"
        case .uint32: "u32"
        case .int64: "i64"
        case .float64: "f64"
        case .uint8: "u8"
        }
    }
    public var size: Int {
        switch self {
        case .float32, .int32, .uint32: 4
        case .int64, .float64: 8
        case .uint8: 1
        }
    }
}

/// XXH3-64 hashes of tensors and of step digests. Always through `XXH3_64bits_dispatch`
/// (runtime-selected AVX2/AVX-512 code); the plain symbol is Debian's SSE2 build, half as fast.
///
/// tensor hash = XXH3-64(bytes, seed: XXH3-64(header)), header = [dtype, rank, dims as LE
/// UInt64...]. The bytes are the little-endian element bytes in row-major order, so a permuted
/// or reshaped tensor hashes differently.
public enum TensorHash {
    public static func bytes(_ raw: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        XXH3_64bits_withSeed_dispatch(raw.baseAddress, raw.count, seed)
    }

    public static func string(_ s: String) -> UInt64 {
        var s = s
        return s.withUTF8 { bytes(UnsafeRawBufferPointer($0)) }
    }

    /// Header words built on the stack: called once per recorded tensor.
    public static func header(dtype: DType, shape: [Int]) -> UInt64 {
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: shape.count + 2) { h in
            h[0] = UInt64(dtype.rawValue)
            h[1] = UInt64(shape.count)
            for (i, d) in shape.enumerated() { h[i + 2] = UInt64(d).littleEndian }
            return bytes(UnsafeRawBufferPointer(h))
        }
    }

    public static func tensor(dtype: DType, shape: [Int], raw: UnsafeRawBufferPointer) -> UInt64 {
        bytes(raw, seed: header(dtype: dtype, shape: shape))
    }

    public static func floats(_ values: [Float], shape: [Int]) -> UInt64 {
        values.withUnsafeBytes { tensor(dtype: .float32, shape: shape, raw: $0) }
    }

    /// Step digest: XXH3-64 over the ordered list of (name, role, tensor hash): per entry the
    /// name's UTF-8, 0, the role's UTF-8, 0, the hash as 8 little-endian bytes. Order-sensitive
    /// by construction (never XOR or sum).
    public static func digest<S: Sequence>(_ entries: S) -> UInt64 where S.Element == (String, String, UInt64) {
        var buf: [UInt8] = []
        for (name, role, h) in entries { appendDigestEntry(name: name, role: role, hash: h, to: &buf) }
        return buf.withUnsafeBytes { bytes($0) }
    }

    /// Appends one entry of the digest input (name, 0, role, 0, hash LE) to `buf`: the recorder
    /// builds each step's input in one reused buffer straight from its events.
    @inlinable
    public static func appendDigestEntry(name: String, role: String, hash: UInt64, to buf: inout [UInt8]) {
        var name = name, role = role
        name.withUTF8 { buf.append(contentsOf: $0) }; buf.append(0)
        role.withUTF8 { buf.append(contentsOf: $0) }; buf.append(0)
        withUnsafeBytes(of: hash.littleEndian) { buf.append(contentsOf: $0) }
    }

    /// `appendDigestEntry` with the name as UTF-8 bytes (a reader's borrowed column text).
    static func appendDigestEntry(name: UnsafeBufferPointer<UInt8>, role: String, hash: UInt64, to buf: inout [UInt8]) {
        var role = role
        buf.append(contentsOf: name); buf.append(0)
        role.withUTF8 { buf.append(contentsOf: $0) }; buf.append(0)
        withUnsafeBytes(of: hash.littleEndian) { buf.append(contentsOf: $0) }
    }
}

/// 16 lowercase hex digits.
public func hex64(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
}
