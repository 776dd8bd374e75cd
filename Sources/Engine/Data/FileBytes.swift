import CZlib
import Foundation
import Recorder

/// Reads a whole file; gzip content (magic 1f 8b) is inflated transparently whatever the name.
/// - Parameter what: what the file is for, for the error message ("data.order file").
func readFileBytes(_ path: String, what: String) throws -> [UInt8] {
    let bytes = [UInt8](try readFile(path, what: what))
    return Gzip.isGzip(bytes) ? try Gzip.decompress(bytes, name: path) : bytes
}

/// gzip inflation through zlib.
public enum Gzip {
    /// Largest inflated size accepted (4 GiB).
    public static let maxOutput = 4 << 30

    public static func isGzip(_ bytes: [UInt8]) -> Bool { bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b }

    public static func decompress(_ bytes: [UInt8], name: String) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw InputError("\(name): cannot initialise zlib")
        }
        defer { inflateEnd(&stream) }
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 4)
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var input = bytes
        var status: Int32 = Z_OK
        input.withUnsafeMutableBufferPointer { inp in
            stream.next_in = inp.baseAddress
            stream.avail_in = uInt(inp.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { c in
                    stream.next_out = c.baseAddress
                    stream.avail_out = uInt(c.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    out.append(contentsOf: c[0..<(c.count - Int(stream.avail_out))])
                }
            } while status == Z_OK && out.count <= maxOutput
        }
        guard status == Z_STREAM_END else {
            if out.count > maxOutput { throw InputError("\(name): inflates to more than 4 GiB; refusing") }
            throw InputError("\(name): corrupt or truncated gzip data (zlib status \(status)); re-download or re-create the file")
        }
        return out
    }
}

/// The bytes of `path`; errors say whether it is missing, a directory or unreadable.
func readFile(_ path: String, what: String) throws -> Data {
    if let data = FileManager.default.contents(atPath: path) { return data }
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw InputError("\(what) not found: \(path)")
    }
    throw InputError(isDirectory.boolValue ? "\(what) \(path) is a directory; give a file" : "\(what) \(path) cannot be read (permissions?)")
}
