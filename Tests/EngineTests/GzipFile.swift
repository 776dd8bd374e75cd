import CZlib
import Foundation

/// gzip writing for tests: whole buffers, and large streams of zeros written chunk by chunk.
enum GzipFile {
    /// gzip of `bytes` (zlib, default level).
    static func compress(_ bytes: [UInt8]) throws -> [UInt8] {
        var s = z_stream()
        guard deflateInit2_(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                            Int32(MemoryLayout<z_stream>.size)) == Z_OK else { throw CocoaError(.featureUnsupported) }
        defer { deflateEnd(&s) }
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&s, uLong(bytes.count))) + 64)
        var input = bytes
        let n: Int = input.withUnsafeMutableBufferPointer { i in
            out.withUnsafeMutableBufferPointer { o in
                s.next_in = i.baseAddress; s.avail_in = uInt(i.count)
                s.next_out = o.baseAddress; s.avail_out = uInt(o.count)
                _ = deflate(&s, Z_FINISH)
                return o.count - Int(s.avail_out)
            }
        }
        return Array(out.prefix(n))
    }
}
