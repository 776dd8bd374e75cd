import CZlib
import Recorder

extension Gzip {
    /// What a possibly unfinished gzip stream holds.
    public struct Inflated: Sendable {
        /// Everything the stream inflates to, up to where it ends or is cut.
        public var bytes: [UInt8]
        /// The stream ended with its trailer (false: cut off, e.g. the writer was killed; its
        /// content up to the last flushed block is in `bytes`).
        public var ended: Bool
    }

    /// Inflates a gzip stream that may lack its end: a writer that flushes (`Z_SYNC_FLUSH`) after
    /// each record and is killed leaves a stream without its last block and trailer, whose flushed
    /// content is still readable (Python's `zlib.decompressobj(wbits=31).decompress` reads it the
    /// same way). Corrupt data is an error; bytes after the end of the first member are ignored.
    /// At most `limit` bytes of output (default `maxOutput`, 4 GiB).
    public static func inflateAvailable(_ bytes: [UInt8], name: String, limit: Int = maxOutput) throws -> Inflated {
        var stream = z_stream()
        // 16 + 15: gzip only (no zlib or raw streams), the largest window.
        guard inflateInit2_(&stream, 16 + 15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw InputError("\(name): cannot initialise zlib")
        }
        defer { inflateEnd(&stream) }
        var out = [UInt8]()
        out.reserveCapacity(min(limit, bytes.count * 4))
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var status: Int32 = Z_OK
        var beyond = false
        bytes.withUnsafeBufferPointer { inp in
            stream.next_in = UnsafeMutablePointer(mutating: inp.baseAddress)
            stream.avail_in = uInt(inp.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { c in
                    stream.next_out = c.baseAddress
                    stream.avail_out = uInt(c.count)
                    status = inflate(&stream, Z_SYNC_FLUSH)
                    let produced = c.count - Int(stream.avail_out)
                    if out.count + produced > limit { beyond = true } else { out.append(contentsOf: c[0..<produced]) }
                }
            } while status == Z_OK && !beyond && !(stream.avail_in == 0 && stream.avail_out != 0)
        }
        if beyond { throw InputError("\(name): inflates to more than \(limit) bytes; refusing") }
        switch status {
        case Z_STREAM_END: return Inflated(bytes: out, ended: true)
        case Z_OK, Z_BUF_ERROR: return Inflated(bytes: out, ended: false)   // input exhausted before the end
        default:
            let why = stream.msg.map { String(cString: $0) } ?? "zlib status \(status)"
            throw InputError("\(name): corrupt gzip data (\(why)) after \(out.count) inflated bytes")
        }
    }
}
