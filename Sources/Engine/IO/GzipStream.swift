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
        let (out, status, beyond, message) = try inflate(bytes, windowBits: 16 + 15, flush: Z_SYNC_FLUSH, limit: limit,
                                                         reserve: min(limit, bytes.count * 4), name: name)
        if beyond { throw InputError("\(name): inflates to more than \(limit) bytes; refusing") }
        switch status {
        case Z_STREAM_END: return Inflated(bytes: out, ended: true)
        case Z_OK, Z_BUF_ERROR: return Inflated(bytes: out, ended: false)   // input exhausted before the end
        default:
            let why = message ?? "zlib status \(status)"
            throw InputError("\(name): corrupt gzip data (\(why)) after \(out.count) inflated bytes")
        }
    }
}
