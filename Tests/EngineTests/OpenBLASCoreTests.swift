import Engine
import Recorder
import XCTest

/// The core type -> CPU feature table decides, before any re-exec or kernel runs, whether
/// OpenBLAS kernels can run here; CPUs are injected, so every path is tested on any machine.
final class OpenBLASCoreTests: XCTestCase {
    let avx2Only = CPUFeatures(detected: ["sse2", "sse3", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c"], restriction: nil)
    let zen4 = CPUFeatures(detected: ["sse2", "sse3", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512cd",
                                      "avx512bw", "avx512dq", "avx512vl", "avx512_vnni", "avx512_bf16"], restriction: nil)

    func testAVX512FamiliesNeedAVX512AndTheAVX2FamiliesRunOnAnyAVX2CPU() {
        XCTAssertEqual(OpenBLASCore.support("SkylakeX", on: avx2Only), .missing(["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]))
        XCTAssertEqual(OpenBLASCore.support("cooperlake", on: avx2Only), .missing(["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx512_bf16"]),
                       "names compare case-insensitively, as OpenBLAS compares them")
        for core in ["Haswell", "Zen", "Sandybridge", "Nehalem", "Prescott"] {
            XCTAssertEqual(OpenBLASCore.support(core, on: avx2Only), .runnable, core)
        }
        XCTAssertEqual(OpenBLASCore.support("Cooperlake", on: zen4), .runnable)
        XCTAssertEqual(OpenBLASCore.support("SapphireRapids", on: zen4), .missing(["amx_tile", "amx_bf16"]))
        XCTAssertEqual(OpenBLASCore.support("Skylakx", on: zen4), .unknownName, "a misspelled name falls back in OpenBLAS, it does not crash")
    }

    func testEveryOpenBLASCoreNameIsInTheTable() {
        // driver/others/dynamic.c (0.3.21), corename[1...26].
        let names = ["Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom", "Core2", "Penryn", "Dunnington", "Nehalem",
                     "Athlon", "Opteron", "Opteron_SSE3", "Barcelona", "Nano", "Sandybridge", "Bobcat", "Bulldozer", "Piledriver",
                     "Haswell", "Steamroller", "Excavator", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"]
        XCTAssertEqual(OpenBLASCore.requirements.map(\.core), names)
    }

    func testRestrictionOnlyTakesFeaturesAway() {
        let restricted = CPUFeatures(detected: avx2Only.detected, restriction: ["avx2", "fma", "avx512f"])
        XCTAssertEqual(restricted.flags, ["avx2", "fma"], "avx512f is not claimed: the CPU lacks it")
        XCTAssertTrue(restricted.restricted)
    }

    func testAutoChoiceFollowsOpenBLASOwnOrder() {
        XCTAssertEqual(OpenBLASCore.autoChoice(on: zen4, vendor: "AuthenticAMD"), "Cooperlake")
        XCTAssertEqual(OpenBLASCore.autoChoice(on: avx2Only, vendor: "AuthenticAMD"), "Zen")
        XCTAssertEqual(OpenBLASCore.autoChoice(on: avx2Only, vendor: "GenuineIntel"), "Haswell")
    }

    func testChecksThrowTypedErrorsThatSayWhatToDo() throws {
        XCTAssertNoThrow(try OpenBLASCore.checkRecorded("Haswell", source: "run.cwr", cpu: avx2Only))
        XCTAssertThrowsError(try OpenBLASCore.checkRecorded("SkylakeX", source: "run.cwr", cpu: avx2Only)) { error in
            let e = error as? UnsupportedCPUError
            XCTAssertEqual(e?.subject, .recordedCoreType("SkylakeX", source: "run.cwr"))
            XCTAssertEqual(e?.missing, ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"])
            XCTAssertEqual(e?.description, "run.cwr was made with OpenBLAS's SkylakeX kernels, which this CPU cannot run (this CPU lacks avx512f, avx512cd, avx512bw, avx512dq, avx512vl): bit-identity with them is impossible here")
        }
        XCTAssertNoThrow(try OpenBLASCore.checkRequested(cpu: avx2Only, requested: nil))
        XCTAssertNoThrow(try OpenBLASCore.checkRequested(cpu: avx2Only, requested: "Skylakx"))
        XCTAssertThrowsError(try OpenBLASCore.checkRequested(cpu: avx2Only, requested: "SkylakeX")) { error in
            XCTAssertTrue("\(error)".hasSuffix("Unset OPENBLAS_CORETYPE, or set it to one of: Zen, Haswell, Sandybridge, Nehalem, Prescott"), "\(error)")
        }
        let noFMA = CPUFeatures(detected: ["sse2", "avx"], restriction: nil)
        XCTAssertThrowsError(try noFMA.checkBinary()) { error in
            XCTAssertEqual((error as? UnsupportedCPUError)?.missing, ["avx2", "fma"])
        }
    }

    func testThisProcessDetectsWhatItRunsOn() {
        // The tests run, so the binary's requirement holds here; what OpenBLAS loaded must be runnable.
        XCTAssertEqual(CPUFeatures.current.missing(CPUFeatures.binaryRequirement), [])
        if !CPUFeatures.current.restricted {
            XCTAssertEqual(OpenBLASCore.support(BLAS.coreName, on: .current), .runnable, "OpenBLAS loaded \(BLAS.coreName)")
        }
    }
}
