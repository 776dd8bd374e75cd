/// Philox4x32-10, the counter-based generator of Salmon et al., "Parallel Random Numbers: As
/// Easy as 1, 2, 3" (SC'11), as in Random123's `philox4x32_R(10, ctr, key)`. A pure function of
/// a 128-bit counter and a 64-bit key: any block can be computed without the ones before it.
public enum Philox4x32 {
    public typealias Counter = (UInt32, UInt32, UInt32, UInt32)
    public typealias Key = (UInt32, UInt32)

    static let m0: UInt32 = 0xD251_1F53, m1: UInt32 = 0xCD9E_8D57
    static let w0: UInt32 = 0x9E37_79B9, w1: UInt32 = 0xBB67_AE85

    /// Ten rounds; the key is bumped by the Weyl constants between rounds.
    @inline(__always)
    public static func block(_ c: Counter, _ k: Key) -> Counter {
        var c = c, k = k
        for round in 0..<10 {
            if round > 0 { k.0 &+= w0; k.1 &+= w1 }
            let p0 = UInt64(m0) &* UInt64(c.0), p1 = UInt64(m1) &* UInt64(c.2)
            c = (UInt32(truncatingIfNeeded: p1 >> 32) ^ c.1 ^ k.0, UInt32(truncatingIfNeeded: p1),
                 UInt32(truncatingIfNeeded: p0 >> 32) ^ c.3 ^ k.1, UInt32(truncatingIfNeeded: p0))
        }
        return c
    }
}

/// The random stream of one site: Philox4x32-10 with key = the run seed (low, high words) and
/// counter = (block index low, block index high, site hash low, site hash high), where the site
/// hash is XXH3-64 of the site's UTF-8 name. Streams of different sites never share a block, so
/// adding a new random consumer never shifts another's numbers.
public struct RandomStream {
    public let seed: UInt64
    public let site: String
    private let key: Philox4x32.Key
    private let siteHash: UInt64
    /// Index of the next 32-bit word.
    public private(set) var position: UInt64 = 0

    /// A stream at word `position` (0: its start). Resuming a run restores each site's position.
    public init(seed: UInt64, site: String, position: UInt64 = 0) {
        self.seed = seed
        self.site = site
        self.position = position
        key = (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
        siteHash = TensorHash.string(site)
    }

    /// Words `4*b ..< 4*b+4` of the stream.
    @inline(__always)
    func block(_ b: UInt64) -> Philox4x32.Counter {
        Philox4x32.block((UInt32(truncatingIfNeeded: b), UInt32(truncatingIfNeeded: b >> 32),
                          UInt32(truncatingIfNeeded: siteHash), UInt32(truncatingIfNeeded: siteHash >> 32)), key)
    }

    /// Fills `out` with the next 32-bit words.
    public mutating func fill(_ out: UnsafeMutableBufferPointer<UInt32>) {
        var i = 0
        let n = out.count
        while i < n {
            let b = block(position >> 2)
            let words = [b.0, b.1, b.2, b.3]
            var lane = Int(position & 3)
            while lane < 4 && i < n {
                out[i] = words[lane]
                i += 1; lane += 1; position += 1
            }
        }
    }

    public mutating func next() -> UInt32 {
        var w: UInt32 = 0
        withUnsafeMutablePointer(to: &w) { fill(UnsafeMutableBufferPointer(start: $0, count: 1)) }
        return w
    }

    /// Uniform Float32 in [0, 1): the top 24 bits of a word times 2^-24.
    public mutating func uniform(into out: UnsafeMutableBufferPointer<Float>) {
        out.withMemoryRebound(to: UInt32.self) { words in
            fill(words)
            for i in words.indices { out[i] = Float(words[i] >> 8) * 0x1p-24 }
        }
    }

    /// Standard normal Float32 by Box-Muller in Float64, two words per value:
    /// z = sqrt(-2 ln(1 - u1)) cos(2 pi u2), u = word * 2^-32.
    public mutating func normal(into out: UnsafeMutableBufferPointer<Float>) {
        for i in out.indices {
            let u1 = Double(next()) * 0x1p-32, u2 = Double(next()) * 0x1p-32
            out[i] = Float((-2 * _log(1 - u1)).squareRoot() * _cos(2 * Double.pi * u2))
        }
    }

    /// An integer uniform in 0..<bound from two words (multiply-shift of a 64-bit draw;
    /// bias below bound / 2^64).
    public mutating func below(_ bound: Int) -> Int {
        let x = (UInt64(next()) << 32) | UInt64(next())
        return Int(x.multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// A uniformly random permutation of 0..<count (Fisher-Yates from the top).
    public mutating func permutation(_ count: Int) -> [Int] {
        var p = Array(0..<count)
        var i = count - 1
        while i > 0 {
            p.swapAt(i, below(i + 1))
            i -= 1
        }
        return p
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#else
import Darwin
@inline(__always) func _log(_ x: Double) -> Double { Darwin.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Darwin.cos(x) }
#endif
