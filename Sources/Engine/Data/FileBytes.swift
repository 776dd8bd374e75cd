import CZlib
import Foundation
import Recorder

/// What is known about a data file before it is read whole: its size on disk, whether it is gzip
/// (magic 1f 8b, whatever the name), the size its content claims (a gzip's trailer, ISIZE: the
/// inflated size modulo 2^32; else the file size) and its first bytes (inflated). The memory
/// estimate and the loaders both start from it, so a file's claims are checked before anything
/// is allocated for its content.
struct FileProbe {
    let path: String
    let fileSize: Int
    let gzip: Bool
    /// Bytes of content: the gzip trailer's claim, or the file size.
    let contentSize: Int
    /// The first bytes of the content (up to the count asked for).
    let head: [UInt8]

    /// Opens `path` (a regular file) and reads its first `headBytes` bytes of content.
    /// - Parameter what: what the file is for, for messages ("IDX image file").
    static func open(_ path: String, what: String, headBytes: Int = 64) throws -> FileProbe {
        let fd = try openRegular(path, what: what)
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw InputError("\(what) \(path) cannot be read: \(String(cString: strerror(errno)))") }
        let size = Int(st.st_size)
        var start = [UInt8](repeating: 0, count: min(size, max(headBytes, 2)))
        _ = try readFully(fd, into: &start, at: 0, path: path, what: what)
        guard Gzip.isGzip(start) else {
            return FileProbe(path: path, fileSize: size, gzip: false, contentSize: size, head: Array(start.prefix(headBytes)))
        }
        var trailer = [UInt8](repeating: 0, count: 4)
        guard size >= 18, try readFully(fd, into: &trailer, at: size - 4, path: path, what: what) == 4 else {
            throw InputError("\(path): \(size) bytes is too short for gzip data (truncated?); re-download or re-create the file")
        }
        let claim = Int(trailer[0]) | Int(trailer[1]) << 8 | Int(trailer[2]) << 16 | Int(trailer[3]) << 24
        // The head: inflate the first compressed chunk(s) until enough content comes out.
        var compressed = [UInt8](repeating: 0, count: min(size, 1 << 16))
        _ = try readFully(fd, into: &compressed, at: 0, path: path, what: what)
        let head = try Gzip.inflatePrefix(compressed, count: headBytes, name: path)
        return FileProbe(path: path, fileSize: size, gzip: true, contentSize: claim, head: head)
    }

    /// The whole content: inflated when gzip, refusing to inflate beyond `limit` bytes (what the
    /// format's header claims; by default the gzip trailer's claim), so a lying or hostile file
    /// is an error, never an allocation beyond its claim.
    /// - Parameter claimedBy: names the claim in the error ("its IDX header (10 images of 28x28)").
    func read(what: String, limit: Int? = nil, claimedBy: String? = nil) throws -> [UInt8] {
        let bytes = try readFileBytesRaw(path, what: what, expectedSize: fileSize)
        guard gzip else { return bytes }
        return try Gzip.decompress(bytes, name: path, limit: limit ?? contentSize,
                                   claimedBy: claimedBy ?? "its gzip trailer (\(contentSize) bytes)")
    }
}

/// Reads a whole data file (a regular file); gzip content is inflated transparently, never beyond
/// what the gzip trailer claims.
func readFileBytes(_ path: String, what: String) throws -> [UInt8] {
    try FileProbe.open(path, what: what, headBytes: 2).read(what: what)
}

/// The bytes of a regular file, read straight into one array (no second copy).
func readFileBytesRaw(_ path: String, what: String, expectedSize: Int? = nil) throws -> [UInt8] {
    let fd = try openRegular(path, what: what)
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw InputError("\(what) \(path) cannot be read: \(String(cString: strerror(errno)))") }
    var out = [UInt8](repeating: 0, count: Int(st.st_size))
    let n = try readFully(fd, into: &out, at: 0, path: path, what: what)
    if n < out.count { out.removeSubrange(n...) }
    return out
}

/// Opens a regular file read-only; errors say whether it is missing, a directory, not a regular
/// file (a FIFO or device has no size to check and may never end) or unreadable.
func openRegular(_ path: String, what: String) throws -> Int32 {
    var st = stat()
    guard stat(path, &st) == 0 else {
        if errno == ENOENT || errno == ENOTDIR { throw InputError("\(what) not found: \(path)") }
        throw InputError("\(what) \(path) cannot be read: \(String(cString: strerror(errno)))")
    }
    if st.st_mode & S_IFMT == S_IFDIR { throw InputError("\(what) \(path) is a directory; give a file") }
    guard st.st_mode & S_IFMT == S_IFREG else {
        throw InputError("\(what) \(path) is not a regular file (a FIFO, socket or device); copy the data into a file")
    }
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw InputError("\(what) \(path) cannot be read (\(String(cString: strerror(errno)))); check its permissions") }
    return fd
}

/// Reads into `buffer` from `offset` until it is full or the file ends; returns the count read.
func readFully(_ fd: Int32, into buffer: inout [UInt8], at offset: Int, path: String, what: String) throws -> Int {
    var done = 0
    while done < buffer.count {
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, $0.count - done, off_t(offset + done)) }
        if n < 0 {
            if errno == EINTR { continue }
            throw InputError("\(what) \(path) cannot be read: \(String(cString: strerror(errno)))")
        }
        if n == 0 { break }
        done += n
    }
    return done
}

/// gzip inflation through zlib, bounded by what the data claims.
public enum Gzip {
    /// Largest inflated size accepted (4 GiB; the gzip trailer cannot state more).
    public static let maxOutput = 4 << 30
    /// Deflate expands at most about 1032:1; no stream of n bytes inflates beyond this.
    static func deflateBound(_ n: Int) -> Int { n.multipliedReportingOverflow(by: 1032).partialValue &+ 1 << 16 }

    public static func isGzip(_ bytes: [UInt8]) -> Bool { bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b }

    /// The inflated size the gzip trailer states (ISIZE, modulo 2^32), or nil when too short.
    public static func claimedSize(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 18 else { return nil }
        let t = bytes.count - 4
        return Int(bytes[t]) | Int(bytes[t + 1]) << 8 | Int(bytes[t + 2]) << 16 | Int(bytes[t + 3]) << 24
    }

    /// Inflates `bytes`, at most `limit` bytes of output (default: the trailer's claim). A stream
    /// with more is refused once `limit + 1` bytes came out ("inflates beyond what <claimedBy>
    /// claims"); memory is reserved for min(limit, what deflate can produce from the input).
    public static func decompress(_ bytes: [UInt8], name: String, limit: Int? = nil, claimedBy: String? = nil) throws -> [UInt8] {
        let claim = limit ?? claimedSize(bytes) ?? 0
        guard claim <= maxOutput else { throw InputError("\(name): claims \(claim) bytes inflated, more than 4 GiB; refusing") }
        let (out, status, beyond, _) = try inflate(bytes, windowBits: 15 + 32, flush: Z_NO_FLUSH, limit: claim,
                                                   reserve: min(claim, deflateBound(bytes.count)), name: name)
        if beyond {
            throw InputError("\(name): the gzip data inflates beyond the \(claim) bytes \(claimedBy ?? "its gzip trailer") claims; refusing (a damaged or hostile file)")
        }
        guard status == Z_STREAM_END else {
            throw InputError("\(name): corrupt or truncated gzip data (zlib status \(status == Z_OK ? Z_BUF_ERROR : status)); re-download or re-create the file")
        }
        return out
    }

    /// The one inflate loop: `bytes` through zlib (`windowBits` 15 + 32 any header, 16 + 15 gzip
    /// only) in 64 KiB chunks, `flush` per call, until the stream ends, the input is used up or
    /// more than `limit` bytes would come out (`beyond`: the output stops at what came before).
    /// Returns zlib's last status and its message.
    static func inflate(_ bytes: [UInt8], windowBits: Int32, flush: Int32, limit: Int, reserve: Int, name: String) throws
        -> (out: [UInt8], status: Int32, beyond: Bool, message: String?) {
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw InputError("\(name): cannot initialise zlib")
        }
        defer { inflateEnd(&stream) }
        var out = [UInt8]()
        out.reserveCapacity(reserve)
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
                    status = CZlib.inflate(&stream, flush)
                    let produced = c.count - Int(stream.avail_out)
                    if out.count + produced > limit { beyond = true } else { out.append(contentsOf: c[0..<produced]) }
                }
            } while status == Z_OK && !beyond && !(stream.avail_in == 0 && stream.avail_out != 0)
        }
        return (out, status, beyond, stream.msg.map { String(cString: $0) })
    }

    /// The first `count` bytes of the inflated content (fewer if it is shorter); reads only as
    /// much of the stream as that takes.
    static func inflatePrefix(_ bytes: [UInt8], count: Int, name: String) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw InputError("\(name): cannot initialise zlib")
        }
        defer { inflateEnd(&stream) }
        var out = [UInt8](repeating: 0, count: count)
        var status: Int32 = Z_OK
        var produced = 0
        bytes.withUnsafeBufferPointer { inp in
            out.withUnsafeMutableBufferPointer { o in
                stream.next_in = UnsafeMutablePointer(mutating: inp.baseAddress)
                stream.avail_in = uInt(inp.count)
                stream.next_out = o.baseAddress
                stream.avail_out = uInt(o.count)
                repeat { status = CZlib.inflate(&stream, Z_NO_FLUSH) } while status == Z_OK && stream.avail_out > 0 && stream.avail_in > 0
                produced = o.count - Int(stream.avail_out)
            }
        }
        guard status == Z_OK || status == Z_STREAM_END || (status == Z_BUF_ERROR && produced > 0) else {
            throw InputError("\(name): corrupt or truncated gzip data (zlib status \(status)); re-download or re-create the file")
        }
        return Array(out.prefix(produced))
    }
}

/// The bytes of `path` (configs and other small files): a FIFO or device is read up to
/// `limit + 1` bytes, so a stream cannot grow without end; errors say whether it is missing, a
/// directory or unreadable. What is read from a pipe or a device (or a descriptor path such as
/// /dev/stdin) is kept for a re-executed process, which reads it from its copy (`ReexecInputs`).
public func readFile(_ path: String, what: String, limit: Int = JSON.maxBytes) throws -> Data {
    if let handed = try ReexecInputs.bytes(of: path) { return handed.prefix(limit + 1) }
    var st = stat()
    if stat(path, &st) == 0, st.st_mode & S_IFMT != S_IFREG, st.st_mode & S_IFMT != S_IFDIR {
        guard let h = FileHandle(forReadingAtPath: path) else { throw InputError("\(what) \(path) cannot be read (permissions?)") }
        defer { try? h.close() }
        var data = Data()
        while data.count <= limit, let more = try? h.read(upToCount: min(1 << 16, limit + 1 - data.count)), !more.isEmpty { data += more }
        ReexecInputs.note(data, from: path)
        return data
    }
    if let data = FileManager.default.contents(atPath: path) {
        // A descriptor path may share its offset with the descriptor (macOS): read once, like a pipe.
        if path.hasPrefix("/dev/") { ReexecInputs.note(data, from: path) }
        return data
    }
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw InputError("\(what) not found: \(path)")
    }
    throw InputError(isDirectory.boolValue ? "\(what) \(path) is a directory; give a file" : "\(what) \(path) cannot be read (permissions?)")
}
