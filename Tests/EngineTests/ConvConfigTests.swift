import XCTest
@testable import Engine
import Recorder

/// conv2d / pooling JSON: impossible shapes and unknown keys are refused with the JSON path.
final class ConvConfigTests: XCTestCase {
    func error(_ spec: String, input: [Int]) -> String {
        do {
            let json = try JSON.parse(Array(spec.utf8), source: "t")
            _ = try LayerFactory.build(json, name: "2", path: "model.layers[2]", inputShape: input, params: ParameterStore(),
                                       semantics: Semantics(profile: .pytorch))
            return "no error"
        } catch let e as InputError { return e.message } catch { return "\(error)" }
    }

    func testRefusals() {
        XCTAssertEqual(error(#"{"type": "conv2d", "filters": 4, "kernel": 9}"#, input: [1, 8, 8]),
                       "model.layers[2].kernel: 9 is larger than the padded input 8x8")
        XCTAssertTrue(error(#"{"type": "conv2d", "filters": 4, "kernel": 3, "strides": 2}"#, input: [1, 8, 8])
            .hasPrefix("model.layers[2].strides: unknown key (did you mean \"stride\"?)"))
        XCTAssertTrue(error(#"{"type": "conv2d", "kernel": 3}"#, input: [1, 8, 8]).hasPrefix("model.layers[2].filters: missing"))
        XCTAssertTrue(error(#"{"type": "conv2d", "filters": 2, "kernel": 3}"#, input: [64]).hasPrefix("model.layers[2]: expects per-sample input [channels, height, width]"))
        XCTAssertTrue(error(#"{"type": "conv2d", "filters": 2, "kernel": 0}"#, input: [1, 8, 8]).hasPrefix("model.layers[2].kernel: 0 is out of range; each must be 1...1048576"))
        XCTAssertTrue(error(#"{"type": "conv2d", "filters": 2, "kernel": 3, "padding": "full"}"#, input: [1, 8, 8]).hasPrefix("model.layers[2].padding: expected"))
        XCTAssertTrue(error(#"{"type": "conv2d", "filters": 2, "kernel": 3, "padding": [1, -1, 0, 0]}"#, input: [1, 8, 8]).hasPrefix("model.layers[2].padding:"))
        XCTAssertTrue(error(#"{"type": "conv2d", "filters": 100000, "kernel": 300}"#, input: [100, 400, 400]).contains("over the limit"))
        XCTAssertTrue(error(#"{"type": "maxpool", "size": 2, "padding": 2}"#, input: [1, 8, 8]).hasPrefix("model.layers[2].padding: top padding 2 is too large"))
        XCTAssertTrue(error(#"{"type": "maxpool", "size": 2, "countIncludePad": true}"#, input: [1, 8, 8]).hasPrefix("model.layers[2].countIncludePad: unknown key"))
        XCTAssertEqual(error(#"{"type": "avgpool", "size": [2, 3], "stride": [1, 2], "padding": [1, 0]}"#, input: [1, 8, 8]), "no error")
        XCTAssertTrue(error(#"{"type": "globalavgpool", "size": 2}"#, input: [1, 8, 8]).hasPrefix("model.layers[2].size: unknown key"))
    }

    /// The resolved spec is a valid layer JSON that rebuilds the same layer under either semantics.
    func testResolvedSpecRoundTrips() throws {
        let params = ParameterStore()
        let spec: JSON = .object(["type": .string("conv2d"), "filters": .number(2), "kernel": .number(3), "stride": .number(2), "padding": .string("same")])
        let a = try LayerFactory.build(spec, name: "0", path: "p", inputShape: [1, 6, 6], params: params, semantics: Semantics(profile: .keras))
        XCTAssertEqual(a.spec["padding"], .array([0, 1, 0, 1].map { .number($0) }))
        let b = try LayerFactory.build(a.spec, name: "1", path: "p", inputShape: [1, 6, 6], params: params, semantics: Semantics(profile: .pytorch))
        XCTAssertEqual(b.spec, a.spec)
    }
}
