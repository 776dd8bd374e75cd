import CCPUFeatures
import Foundation

/// The instruction-set features this CPU offers: what CPUID reports and the operating system has
/// enabled (XGETBV), read once per process. CPUID rather than /proc/cpuinfo, because it is what
/// running code sees: under an emulator or a hypervisor that masks features the two disagree
/// (qemu-user shows the host's /proc/cpuinfo), and OpenBLAS picks its kernels from CPUID.
///
/// Names follow Linux's /proc/cpuinfo spellings (`avx2`, `fma`, `avx512f`, `avx512_bf16`,
/// `amx_tile`), except `sse3` (Linux: `pni`).
///
/// `CWREPRO_CPU_FLAGS` (space- or comma-separated names) restricts the set to its intersection
/// with what the CPU has: a way to see what cwrepro does on an older CPU (an AVX2-only CI runner)
/// without one. It can only take features away, never claim one the CPU lacks.
public struct CPUFeatures: Sendable, Equatable {
    /// The usable features.
    public let flags: Set<String>
    /// What CPUID reported before any restriction.
    public let detected: Set<String>
    /// True when `CWREPRO_CPU_FLAGS` restricted the set.
    public let restricted: Bool

    public static let restrictionVariable = "CWREPRO_CPU_FLAGS"

    /// Every feature cwrepro detects, in the order of the C probe's bits.
    public static let known = ["sse2", "sse3", "ssse3", "sse4_1", "sse4_2", "sse4a", "avx", "avx2", "fma", "fma4", "f16c",
                               "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx512_vnni", "avx512_bf16",
                               "avx512_fp16", "amx_tile", "amx_bf16"]

    /// What the cwrepro binary itself executes: the Engine is compiled with `-target-cpu haswell`
    /// (AVX2 and FMA: x86-64-v3, Intel Haswell and AMD Zen or later). Empty on other architectures.
    public static var binaryRequirement: [String] {
        #if arch(x86_64)
        ["avx2", "fma"]
        #else
        []
        #endif
    }

    public init(detected: Set<String>, restriction: Set<String>?) {
        self.detected = detected
        restricted = restriction != nil
        flags = restriction.map { detected.intersection($0) } ?? detected
    }

    /// This process's CPU, with the restriction from the environment applied.
    public static let current = CPUFeatures.detect()

    public static func detect(environment: [String: String] = ProcessInfo.processInfo.environment) -> CPUFeatures {
        let bits = cw_cpu_feature_bits()
        var detected = Set<String>()
        for (i, name) in known.enumerated() where bits & (1 << UInt64(i)) != 0 { detected.insert(name) }
        let restriction = environment[restrictionVariable].map {
            Set($0.split(whereSeparator: { $0 == " " || $0 == "," }).map { $0.lowercased() })
        }
        return CPUFeatures(detected: detected, restriction: restriction)
    }

    /// The CPUID vendor string: "GenuineIntel", "AuthenticAMD", or "" off x86-64.
    public static let vendor: String = {
        var buf = [CChar](repeating: 0, count: 13)
        cw_cpu_vendor(&buf)
        return String(cString: buf)
    }()

    /// The names in `required` this CPU lacks, in the order given.
    public func missing<S: Sequence>(_ required: S) -> [String] where S.Element == String {
        required.filter { !flags.contains($0) }
    }

    /// The features that select kernels (stored as `cpu.flags` in every record), sorted.
    public var kernelSelecting: [String] {
        flags.filter { Self.kernelSelectingNames.contains($0) }.sorted()
    }
    static let kernelSelectingNames: Set<String> = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl",
                                                    "avx512_bf16", "avx512_vnni", "amx_tile"]
}

extension CPUFeatures {
    /// Throws when this CPU lacks what the binary executes. Lives here, in code compiled for any
    /// x86-64 (Engine is compiled for AVX2), so it runs safely on any CPU: call it first.
    public func checkBinary() throws {
        let m = missing(Self.binaryRequirement)
        if !m.isEmpty { throw UnsupportedCPUError(subject: .binary, missing: m, cpu: self, alternatives: []) }
    }
}

/// This machine cannot run what was asked: the binary's instructions, or OpenBLAS kernels named
/// by `OPENBLAS_CORETYPE` or by a record. Never a signal: the command line reports it (exit 4).
public struct UnsupportedCPUError: Error, CustomStringConvertible, Equatable {
    public enum Subject: Equatable, Sendable {
        /// The cwrepro binary itself (compiled for AVX2 and FMA).
        case binary
        /// `OPENBLAS_CORETYPE` as set in the environment by the user.
        case requestedCoreType(String)
        /// The OpenBLAS core type a record (or golden) was made with: needed for bit-identity.
        case recordedCoreType(String, source: String)
    }
    public let subject: Subject
    /// The features the CPU lacks.
    public let missing: [String]
    public let cpu: CPUFeatures
    /// Core types this CPU can run, newest first.
    public let alternatives: [String]

    public init(subject: Subject, missing: [String], cpu: CPUFeatures, alternatives: [String]) {
        self.subject = subject; self.missing = missing; self.cpu = cpu; self.alternatives = alternatives
    }

    public var description: String {
        let lacks = "this CPU lacks \(missing.joined(separator: ", "))"
            + (cpu.restricted ? " (as restricted by \(CPUFeatures.restrictionVariable))" : "")
        switch subject {
        case .binary:
            return "cwrepro is built for x86-64 CPUs with AVX2 and FMA (Intel Haswell, AMD Zen or later); \(lacks)"
        case .requestedCoreType(let core):
            return "OPENBLAS_CORETYPE=\(core) selects OpenBLAS kernels this CPU cannot run (\(lacks)); OpenBLAS would die "
                + "with SIGILL at the first matrix product. Unset OPENBLAS_CORETYPE, or set it to one of: "
                + alternatives.joined(separator: ", ")
        case .recordedCoreType(let core, let source):
            return "\(source) was made with OpenBLAS's \(core) kernels, which this CPU cannot run (\(lacks)): "
                + "bit-identity with them is impossible here"
        }
    }
}
