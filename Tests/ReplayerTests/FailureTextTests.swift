import Engine
import Presentation
import Recorder
import Replayer
import XCTest

/// The CLI's words and exit statuses for the documented errors (`FailureText.of`); the CLI tests
/// check the same through real processes for the common ones.
final class FailureTextTests: XCTestCase {
    func testAnOutputThatExistsNamesTheOptionThatGaveIt() throws {
        let e = OutputError.exists("w.safetensors")
        let viaExport = try XCTUnwrap(FailureText.of(e, outputs: ["w.safetensors": "--export"]))
        XCTAssertEqual(viaExport.message, "w.safetensors already exists; choose another output with --export, or pass --force to replace it")
        XCTAssertEqual(viaExport.status, .badInput)
        XCTAssertEqual(FailureText.of(e)?.message, "w.safetensors already exists; choose another output with -o, or pass --force to replace it")
        let directory = OutputError.notRegular("out", kind: .directory)
        XCTAssertEqual(FailureText.of(directory)?.message, "out is a directory; give the record a file name, e.g. -o out/run.cwr")
        XCTAssertEqual(FailureText.of(directory, outputs: ["out": "--junit"])?.message, "--junit out: is a directory; give a file name, e.g. out/verify.xml")
    }

    func testEachKindOfErrorHasItsDocumentedStatus() {
        XCTAssertEqual(FailureText.of(InputError("bad"))?.status, .badInput)
        XCTAssertEqual(FailureText.of(InputError("bad"))?.message, "bad")
        let refusal = ResumeRefusal.coreNotLoaded(record: "r.cwr", recorded: "SkylakeX", loaded: "Zen")
        XCTAssertEqual(FailureText.of(refusal)?.status, .unsupportedCPU)
        XCTAssertEqual(FailureText.of(VerifyError.stepsOutOfRange(requested: 9, available: 4, golden: "g.hashes")),
                       FailureText("--steps 9: the golden g.hashes has 4 steps; give at most 4", .badInput))
        XCTAssertEqual(FailureText.of(VarianceError.noShuffledOrder)?.status, .badInput)
        XCTAssertEqual(ExitStatus.allCases.map(\.rawValue), [1, 2, 3, 4, 5])
    }

    func testErrorsNoLayerDocumentsArePassedOn() {
        struct Unknown: Error {}
        XCTAssertNil(FailureText.of(Unknown()))
        XCTAssertNil(FailureText.of(CancellationError()))
    }
}
