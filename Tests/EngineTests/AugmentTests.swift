import XCTest
@testable import Engine
import Recorder

/// Random crop with zero padding and horizontal flip: known answers from the recorder's draws,
/// against a direct pad-then-slice implementation.
final class AugmentTests: XCTestCase {
    func data(_ augment: String, normalize: String? = nil) throws -> TrainConfig.DataConfig {
        let n = normalize.map { #", "normalize": \#($0)"# } ?? ""
        let json = try JSON.parse(Array(#"{"data": {"dataset": "digits", "augment": \#(augment)\#(n)}, "model": {"layers": [{"type": "flatten"}]}}"#.utf8), source: "t")
        return try TrainConfig.parse(json, baseDirectory: "/").data
    }

    /// Pads [C, H, W] samples by p with `fill`, then takes the H x W window at (top, left).
    func padThenCrop(_ x: [Float], c: Int, h: Int, w: Int, p: Int, top: Int, left: Int, fill: [Float]) -> [Float] {
        let ph = h + 2 * p, pw = w + 2 * p
        var padded = [Float](repeating: 0, count: c * ph * pw)
        for ch in 0..<c {
            for i in 0..<(ph * pw) { padded[ch * ph * pw + i] = fill[ch] }
            for y in 0..<h { for xx in 0..<w { padded[ch * ph * pw + (y + p) * pw + xx + p] = x[ch * h * w + y * w + xx] } }
        }
        var out: [Float] = []
        for ch in 0..<c { for y in 0..<h { for xx in 0..<w { out.append(padded[ch * ph * pw + (y + top) * pw + xx + left]) } } }
        return out
    }

    func testRandomCropMatchesPadThenSliceWithTheRecordedOffsets() throws {
        let (n, c, h, w, p) = (6, 2, 4, 5, 2)
        let aug = try XCTUnwrap(try Augment(data(#"{"randomCrop": {"padding": 2}}"#), sampleShape: [c, h, w]))
        let x = GradCheck.random([n, c, h, w], seed: 3)
        var y = x
        aug.apply(&y, step: 5, recorder: .plain(seed: 11))
        let u = Recorder.plain(seed: 11).uniform(site: "augment/crop/step-5", count: 2 * n)
        var offsets = Set<[Int]>()
        for s in 0..<n {
            let top = Int(u[2 * s] * 5), left = Int(u[2 * s + 1] * 5)
            offsets.insert([top, left])
            let size = c * h * w
            XCTAssertEqual(Array(y.data[(s * size)..<((s + 1) * size)]),
                           padThenCrop(Array(x.data[(s * size)..<((s + 1) * size)]), c: c, h: h, w: w, p: p, top: top, left: left, fill: [0, 0]),
                           "sample \(s) at offset (\(top), \(left))")
        }
        XCTAssertGreaterThan(offsets.count, 1, "the draws should move the crop")
    }

    func testPaddingIsTheNormalisedImageOfZeroAndFlipsMirrorColumns() throws {
        let aug = try XCTUnwrap(try Augment(data(#"{"randomCrop": {"padding": 3}, "horizontalFlip": true}"#, normalize: #"{"mean": [0.5], "std": [0.25]}"#),
                                            sampleShape: [1, 2, 3]))
        XCTAssertEqual(aug.fill, [-2])
        // Padding 3 on a 2x3 image: every offset but the centre leaves padded cells.
        let n = 16
        let x = Tensor(shape: [n, 1, 2, 3], data: (0..<(n * 6)).map { Float($0 % 6) + 10 })
        var y = x
        aug.apply(&y, step: 0, recorder: .plain(seed: 2))
        let u = Recorder.plain(seed: 2).uniform(site: "augment/crop/step-0", count: 2 * n)
        let flip = Recorder.plain(seed: 2).uniform(site: "augment/flip/step-0", count: n)
        XCTAssertTrue(flip.contains { $0 < 0.5 } && flip.contains { $0 >= 0.5 })
        for s in 0..<n {
            var want = padThenCrop(Array(x.data[(s * 6)..<(s * 6 + 6)]), c: 1, h: 2, w: 3, p: 3,
                                   top: Int(u[2 * s] * 7), left: Int(u[2 * s + 1] * 7), fill: [-2])
            if flip[s] < 0.5 { want = [want[2], want[1], want[0], want[5], want[4], want[3]] }
            XCTAssertEqual(Array(y.data[(s * 6)..<(s * 6 + 6)]), want, "sample \(s)")
        }
    }

    func testAugmentConfigErrors() throws {
        XCTAssertThrowsError(try Augment(data(#"{"randomCrop": {"padding": 4}, "flip": true}"#), sampleShape: [1, 8, 8])) {
            XCTAssertTrue("\($0)".contains("data.augment.flip: unknown key"), "\($0)")
        }
        XCTAssertThrowsError(try Augment(data(#"{"horizontalFlip": true}"#), sampleShape: [64])) {
            XCTAssertTrue("\($0)".contains("data.augment: crops and flips need image samples"), "\($0)")
        }
        XCTAssertNil(try Augment(TrainConfig.parse(JSON.parse(Array(#"{"data": {"dataset": "digits"}, "model": {"layers": [{"type": "flatten"}]}}"#.utf8), source: "t"),
                                                   baseDirectory: "/").data, sampleShape: [1, 8, 8]))
    }
}
