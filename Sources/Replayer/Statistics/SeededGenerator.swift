/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
/// OOPSLA 2014; Vigna's reference C `splitmix64.c`): a 64-bit state advanced by the golden-ratio
/// increment `0x9E3779B97F4A7C15` and mixed by two xor-shift-multiply rounds. Passes BigCrush; a
/// period of 2^64; one addition and three multiplications per draw. Its output for a seed is
/// fixed by this file alone (tested against the reference C's known answers), unlike the
/// standard library's unspecified `SystemRandomNumberGenerator` and `random(in:using:)`, so
/// statistics that resample (the bootstrap) are reproducible from their seed on every platform
/// and Swift version. Not for cryptography.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Statistics {
    /// A uniform integer in `0 ..< bound` (`bound > 0`) from any generator, by Lemire's
    /// multiply-and-reject method ("Fast random integer generation in an interval", 2019): the high
    /// word of `next() * bound`, rejecting the `2^64 mod bound` low words that would bias it.
    /// Defined here rather than by the standard library's `random(in:using:)` (whose algorithm is
    /// not specified), so the sequence for a seeded generator never changes.
    public static func uniformIndex<G: RandomNumberGenerator>(below bound: Int, using generator: inout G) -> Int {
        precondition(bound > 0, "uniformIndex(below:) needs a positive bound, got \(bound)")
        let range = UInt64(bound)
        var product = generator.next().multipliedFullWidth(by: range)
        if product.low < range {
            let threshold = (0 &- range) % range  // 2^64 mod range
            while product.low < threshold { product = generator.next().multipliedFullWidth(by: range) }
        }
        return Int(product.high)
    }
}
