import XCTest
@testable import Recorder

final class PhiloxTests: XCTestCase {
    /// Known-answer vectors from Random123's kat_vectors (philox4x32, 10 rounds): ctr, key -> output.
    func testPublishedKnownAnswerVectors() {
        let cases: [([UInt32], [UInt32], [UInt32])] = [
            ([0, 0, 0, 0], [0, 0], [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]),
            ([0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff], [0xffff_ffff, 0xffff_ffff], [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]),
            ([0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344], [0xa409_3822, 0x299f_31d0], [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]),
        ]
        for (c, k, expected) in cases {
            let out = Philox4x32.block((c[0], c[1], c[2], c[3]), (k[0], k[1]))
            XCTAssertEqual([out.0, out.1, out.2, out.3], expected)
        }
    }

    func testStreamsAreKeyedBySiteNotByOrderOfUse() {
        var a = RandomStream(seed: 1234, site: "init/1.weight")
        let first = (0..<10).map { _ in a.next() }
        // Using another site in between does not shift this site's numbers.
        var other = RandomStream(seed: 1234, site: "dropout/3/step-0")
        _ = other.next()
        var b = RandomStream(seed: 1234, site: "init/1.weight")
        XCTAssertEqual((0..<10).map { _ in b.next() }, first)
        var c = RandomStream(seed: 1234, site: "init/1.bias")
        XCTAssertNotEqual((0..<10).map { _ in c.next() }, first)
        var d = RandomStream(seed: 1235, site: "init/1.weight")
        XCTAssertNotEqual((0..<10).map { _ in d.next() }, first)
    }

    func testFillMatchesWordByWordAcrossBlockBoundaries() {
        var a = RandomStream(seed: 9, site: "s")
        var words = [UInt32](repeating: 0, count: 11)
        words.withUnsafeMutableBufferPointer { a.fill($0) }
        var b = RandomStream(seed: 9, site: "s")
        _ = b.next(); _ = b.next(); _ = b.next()
        var rest = [UInt32](repeating: 0, count: 8)
        rest.withUnsafeMutableBufferPointer { b.fill($0) }
        XCTAssertEqual(Array(words[3...]), rest)
        XCTAssertEqual(a.position, 11)
    }

    func testUniformIsInUnitIntervalAndRoughlyUniform() {
        var s = RandomStream(seed: 42, site: "u")
        var u = [Float](repeating: 0, count: 100_000)
        u.withUnsafeMutableBufferPointer { s.uniform(into: $0) }
        XCTAssertTrue(u.allSatisfy { $0 >= 0 && $0 < 1 })
        let mean = u.reduce(0.0) { $0 + Double($1) } / Double(u.count)
        XCTAssertEqual(mean, 0.5, accuracy: 0.005)
    }

    func testNormalMoments() {
        var s = RandomStream(seed: 42, site: "n")
        var z = [Float](repeating: 0, count: 100_000)
        z.withUnsafeMutableBufferPointer { s.normal(into: $0) }
        let mean = z.reduce(0.0) { $0 + Double($1) } / Double(z.count)
        let variance = z.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(z.count)
        XCTAssertEqual(mean, 0, accuracy: 0.01)
        XCTAssertEqual(variance, 1, accuracy: 0.02)
    }

    func testPermutationIsAPermutationAndDependsOnSeed() {
        var a = RandomStream(seed: 1, site: "data/shuffle/epoch-0")
        let p = a.permutation(1000)
        XCTAssertEqual(p.sorted(), Array(0..<1000))
        XCTAssertNotEqual(p, Array(0..<1000))
        var b = RandomStream(seed: 2, site: "data/shuffle/epoch-0")
        XCTAssertNotEqual(b.permutation(1000), p)
    }
}

final class StreamTableTests: XCTestCase {
    /// Step- and epoch-scoped sites are forgotten when their step or epoch ends; the others stay,
    /// and a site used again after that continues where it stood.
    func testScopedStreamsAreForgottenWhenTheirStepOrEpochEnds() throws {
        let r = Recorder.plain(seed: 3)
        _ = r.uniform(site: "init/1.weight", count: 3)
        try r.endStep(loss: 0, lr: 0, nextStep: 0, nextEpoch: 0)
        _ = r.permutation(site: "data/shuffle/epoch-0", count: 5)
        _ = r.uniform(site: "dropout/2/step-0", count: 4)
        XCTAssertEqual(Set(r.streamPositions.keys), ["init/1.weight", "data/shuffle/epoch-0", "dropout/2/step-0"])
        try r.endStep(loss: 0, lr: 0, nextStep: 1, nextEpoch: 0)
        XCTAssertEqual(Set(r.streamPositions.keys), ["init/1.weight", "data/shuffle/epoch-0"])
        _ = r.uniform(site: "dropout/2/step-1", count: 4)
        try r.endStep(loss: 0, lr: 0, nextStep: 2, nextEpoch: 1)
        XCTAssertEqual(Set(r.streamPositions.keys), ["init/1.weight"])
        let next = r.uniform(site: "init/1.weight", count: 2)
        var fresh = RandomStream(seed: 3, site: "init/1.weight")
        var all = [Float](repeating: 0, count: 5)
        all.withUnsafeMutableBufferPointer { fresh.uniform(into: $0) }
        XCTAssertEqual(next, Array(all[3...]), "a kept site continues where it stood")
    }
}
