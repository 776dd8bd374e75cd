/// Byte-level builders for the texts the record stores or hashes, written into a reused
/// `[UInt8]` instead of through String interpolation (which allocates per piece and costs about
/// as much as a small model's training step). The bytes are exactly those of the interpolated
/// Swift text they replace (`"\(int)"` is the decimal with a leading `-`, `"\(string)"` its UTF-8),
/// so checksums computed from them are unchanged; `RecorderTests` pins that equality.
struct RecordText {
    /// The text built so far. Cleared, not freed, by `reset()`: one buffer serves every step.
    var bytes: [UInt8] = []

    init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    mutating func reset() { bytes.removeAll(keepingCapacity: true) }

    mutating func append(_ byte: UInt8) { bytes.append(byte) }

    mutating func append(_ s: String) {
        // Borrowed UTF-8 (native strings are contiguous): no copy of the String, no retain.
        if s.utf8.withContiguousStorageIfAvailable({ bytes.append(contentsOf: $0) }) == nil {
            bytes.append(contentsOf: s.utf8)
        }
    }

    /// Bytes as they are (a column's UTF-8 text).
    mutating func append(_ raw: UnsafeBufferPointer<UInt8>) { bytes.append(contentsOf: raw) }

    /// `<length>:<bytes>` (`appendCounted` of a text given as its UTF-8).
    mutating func appendCounted(_ utf8: UnsafeBufferPointer<UInt8>) {
        append(utf8.count); bytes.append(0x3A); bytes.append(contentsOf: utf8)
    }

    /// Decimal digits of `v`, as `"\(v)"` prints it.
    mutating func append(_ v: UInt64) {
        // Least significant digit first into the end of a stack buffer (20 digits hold UInt64.max),
        // then appended in one copy: reversing `bytes[start...]` in place went through an
        // ArraySlice and cost a quarter of a record's verification.
        // Two digits per division, from a table of "00" to "99".
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            let pairs = Self.digitPairs.utf8Start
            var i = 20, v = v
            while v >= 100 {
                let r = Int(truncatingIfNeeded: v % 100)
                v /= 100
                i -= 2
                digits[i] = pairs[2 * r]; digits[i + 1] = pairs[2 * r + 1]
            }
            if v >= 10 {
                let r = Int(truncatingIfNeeded: v)
                i -= 2
                digits[i] = pairs[2 * r]; digits[i + 1] = pairs[2 * r + 1]
            } else {
                i -= 1
                digits[i] = UInt8(truncatingIfNeeded: v) &+ 0x30
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[i...]))
        }
    }

    /// "00", "01", ... "99" end to end (a literal: no lazy global to check on every call).
    private static var digitPairs: StaticString {
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"
    }

    /// Decimal digits of `v` with a leading `-` when negative, as `"\(v)"` prints it.
    mutating func append(_ v: Int) {
        if v < 0 { bytes.append(0x2D) }
        append(UInt64(v.magnitude))
    }

    /// `"[2,3]"`: a shape as the `tensors.shape` column stores it (`RecordedEvent.shapeText`).
    mutating func appendShape(_ shape: [Int]) {
        bytes.append(0x5B)
        for (i, d) in shape.enumerated() {
            if i > 0 { bytes.append(0x2C) }
            append(d)
        }
        bytes.append(0x5D)
    }

    /// `<UTF-8 length>:<text>`: a length-prefixed text, so that no name can pose as a field
    /// separator (schema 2 step and evaluation texts, the seal).
    mutating func appendCounted(_ s: String) {
        append(s.utf8.count); bytes.append(0x3A); append(s)
    }

    /// Lowercase hex of `raw`, two digits per byte.
    mutating func appendHex(_ raw: [UInt8]) {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        for b in raw { bytes.append(digits[Int(b >> 4)]); bytes.append(digits[Int(b & 15)]) }
    }

    /// A statistic: the decimal of its Float64 bit pattern, or `-` when it is absent (NULL).
    mutating func appendBits(_ v: Double?) {
        if let v { append(v.bitPattern) } else { bytes.append(0x2D) }
    }
}
