import Recorder

/// The kernel families of an OpenBLAS DYNAMIC_ARCH build for x86-64 (the `OPENBLAS_CORETYPE`
/// values, `driver/others/dynamic.c` of OpenBLAS 0.3.21) and the CPU features their kernels
/// execute. OpenBLAS trusts `OPENBLAS_CORETYPE`: asked for kernels the CPU cannot run, it loads
/// them and the first matrix product dies with SIGILL. cwrepro checks this table first.
///
/// Requirements are conservative (a family is refused when in doubt): SkylakeX's kernels use
/// AVX-512 F/CD/BW/DQ/VL, Cooperlake's add AVX-512 BF16, SapphireRapids' add AMX; Haswell, Zen
/// and Excavator use AVX2 with FMA (Excavator's also FMA4); Sandybridge uses AVX; the
/// Bulldozer line uses AVX with FMA4.
public enum OpenBLASCore {
    /// Whether a core type's kernels can run on a CPU.
    public enum Support: Equatable, Sendable {
        case runnable
        /// The CPU lacks these features (in the table's order).
        case missing([String])
        /// Not a core type OpenBLAS knows: it falls back to its own choice (no crash).
        case unknownName
    }

    static let avx512 = ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]

    /// Core type (as OpenBLAS spells it) -> required features.
    public static let requirements: [(core: String, features: [String])] = [
        ("Katmai", []), ("Coppermine", []), ("Northwood", ["sse2"]), ("Prescott", ["sse2", "sse3"]), ("Banias", ["sse2"]),
        ("Atom", ["sse2", "sse3", "ssse3"]), ("Core2", ["sse2", "sse3", "ssse3"]), ("Penryn", ["sse2", "sse3", "ssse3", "sse4_1"]),
        ("Dunnington", ["sse2", "sse3", "ssse3", "sse4_1"]), ("Nehalem", ["sse2", "sse3", "ssse3", "sse4_1", "sse4_2"]),
        ("Athlon", ["sse2"]), ("Opteron", ["sse2"]), ("Opteron_SSE3", ["sse2", "sse3"]), ("Barcelona", ["sse2", "sse3", "sse4a"]),
        ("Nano", ["sse2", "sse3", "ssse3"]), ("Sandybridge", ["avx"]), ("Bobcat", ["sse2", "sse3", "ssse3", "sse4a"]),
        ("Bulldozer", ["avx", "fma4"]), ("Piledriver", ["avx", "fma", "fma4"]), ("Haswell", ["avx", "avx2", "fma"]),
        ("Steamroller", ["avx", "fma", "fma4"]), ("Excavator", ["avx", "avx2", "fma", "fma4"]), ("Zen", ["avx", "avx2", "fma"]),
        ("SkylakeX", ["avx", "avx2", "fma"] + avx512), ("Cooperlake", ["avx", "avx2", "fma"] + avx512 + ["avx512_bf16"]),
        ("SapphireRapids", ["avx", "avx2", "fma"] + avx512 + ["avx512_bf16", "amx_tile", "amx_bf16"]),
    ]

    /// The features `core` needs (OpenBLAS compares names case-insensitively), nil for an unknown name.
    public static func requirement(_ core: String) -> [String]? {
        requirements.first { $0.core.lowercased() == core.lowercased() }?.features
    }

    public static func support(_ core: String, on cpu: CPUFeatures = .current) -> Support {
        #if arch(x86_64)
        guard let needed = requirement(core) else { return .unknownName }
        let missing = cpu.missing(needed)
        return missing.isEmpty ? .runnable : .missing(missing)
        #else
        return .runnable
        #endif
    }

    /// The core type OpenBLAS 0.3.21 picks by itself on a CPU with these features, for the families
    /// that matter to cwrepro (which needs AVX2 and FMA): Cooperlake with AVX-512 BF16, SkylakeX
    /// with AVX-512, Zen on AMD and Haswell on Intel CPUs with AVX2; nil below that.
    public static func autoChoice(on cpu: CPUFeatures, vendor: String = CPUFeatures.vendor) -> String? {
        for core in ["Cooperlake", "SkylakeX"] where support(core, on: cpu) == .runnable { return core }
        guard support("Haswell", on: cpu) == .runnable else { return nil }
        return vendor == "AuthenticAMD" || vendor == "HygonGenuine" ? "Zen" : "Haswell"
    }

    /// Core types whose kernels this CPU runs, from the newest family down (for messages).
    public static func runnable(on cpu: CPUFeatures = .current) -> [String] {
        ["SapphireRapids", "Cooperlake", "SkylakeX", "Zen", "Haswell", "Sandybridge", "Nehalem", "Prescott"]
            .filter { support($0, on: cpu) == .runnable }
    }
}

extension OpenBLASCore {
    /// Checks the core type asked for with `OPENBLAS_CORETYPE` (OpenBLAS has loaded it already; its
    /// kernels run at the first matrix product). Call before any computation.
    /// (The binary's own requirement is checked first, by `CPUFeatures.checkBinary()`, in code
    /// compiled for any x86-64: Engine itself is compiled for AVX2.)
    public static func checkRequested(cpu: CPUFeatures = .current, requested: String? = BLAS.requestedCoreType) throws {
        if let requested, case .missing(let m) = support(requested, on: cpu) {
            throw UnsupportedCPUError(subject: .requestedCoreType(requested), missing: m, cpu: cpu, alternatives: runnable(on: cpu))
        }
    }

    /// Checks that a recorded core type can run here before re-executing with it.
    /// - Parameter source: names the record or golden in the message.
    public static func checkRecorded(_ core: String, source: String, cpu: CPUFeatures = .current) throws {
        if case .missing(let m) = support(core, on: cpu) {
            throw UnsupportedCPUError(subject: .recordedCoreType(core, source: source), missing: m, cpu: cpu, alternatives: runnable(on: cpu))
        }
    }
}
