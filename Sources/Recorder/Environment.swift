import Foundation

/// Facts about the machine and build that can change result bits, stored in every record's
/// header and compared on replay. Engine adds the BLAS facts (`blas.core` loaded, `blas.coretype.requested`,
/// `blas.version`, `blas.config`, `blas.threads`).
public enum EnvironmentProfile {
    public static let cwreproVersion = "0.2.0"

    public static func current(extra: [String: String] = [:]) -> [String: String] {
        var env: [String: String] = [:]
        if let cpu = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
            let lines = cpu.split(separator: "\n")
            func field(_ key: String) -> String? {
                lines.first { $0.hasPrefix(key) }.flatMap { $0.split(separator: ":", maxSplits: 1).last }
                    .map { $0.trimmingCharacters(in: .whitespaces) }
            }
            env["cpu.model"] = field("model name")
        }
        // Only the SIMD features that select kernels (the full list is noise), from CPUID.
        env["cpu.flags"] = CPUFeatures.current.kernelSelecting.joined(separator: " ")
        env["cpu.count"] = String(ProcessInfo.processInfo.activeProcessorCount)
        env["os"] = ProcessInfo.processInfo.operatingSystemVersionString
        if let rel = try? String(contentsOfFile: "/etc/os-release", encoding: .utf8),
           let line = rel.split(separator: "\n").first(where: { $0.hasPrefix("PRETTY_NAME=") }) {
            env["os"] = line.dropFirst("PRETTY_NAME=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        #if canImport(Glibc)
        var buf = [CChar](repeating: 0, count: 64)   // "glibc 2.36": libm's exp/log round differently across versions
        if confstr(Int32(_CS_GNU_LIBC_VERSION), &buf, buf.count) > 0 { env["libc"] = String(cString: buf) }
        #endif
        env["swift"] = swiftVersion
        env["cwrepro"] = cwreproVersion
        #if arch(x86_64)
        env["arch"] = "x86_64"
        #elseif arch(arm64)
        env["arch"] = "arm64"
        #endif
        // Variables read by numeric libraries at load time (the BLAS core type, thread counts).
        let vars = ProcessInfo.processInfo.environment
        for name in numericVariables { if let v = vars[name] { env["env.\(name)"] = v } }
        for (k, v) in extra { env[k] = v }
        return env
    }

    static var swiftVersion: String {
        #if compiler(>=6.3)
        "6.3"
        #elseif compiler(>=6.2)
        "6.2"
        #elseif compiler(>=6.1)
        "6.1"
        #else
        "6.0"
        #endif
    }

    /// The bit-relevant facts of a profile, comparable across cwrepro versions: `blas.config`
    /// without the core name (records before 0.1.0's hardware profile included it there, and
    /// `blas.core` reports it on its own).
    public static func comparable(_ env: [String: String]) -> [String: String] {
        var out = env.filter { bitRelevantKeys.contains($0.key) }
        if let config = out["blas.config"], let core = env["blas.core"] {
            out["blas.config"] = config.split(separator: " ").filter { $0 != core }.joined(separator: " ")
        }
        return out
    }

    /// Process environment variables that change what numeric libraries do, recorded as `env.<NAME>`.
    public static let numericVariables = ["OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "GOTO_NUM_THREADS"]

    /// Keys whose difference can change result bits. `blas.core` and `blas.threads` are what
    /// `replay` patches (core type by re-executing with OPENBLAS_CORETYPE, threads directly);
    /// the others it can only report. `data.train` and `data.test` fingerprint the loaded data
    /// (files from `data.source` are read again on replay, not embedded in the record).
    public static let bitRelevantKeys = ["blas.core", "blas.threads", "blas.version", "blas.config", "cpu.flags", "arch",
                                         "libc", "swift", "cwrepro"] + dataKeys + frameworkKeys
    public static let dataKeys = ["data.train", "data.test"]
    /// The facts of a real framework's run (a record imported from a trace: docs/trace-format.md,
    /// section 5) that can change its bits: the framework and its kernel libraries, threads, the
    /// device, the determinism switches and the variables those libraries read. cwrepro's own
    /// records never hold them.
    public static let frameworkKeys = [
        "framework", "torch.threads", "torch.cpu_capability", "torch.deterministic_algorithms", "torch.mkldnn", "torch.onednn",
        "torch.mkl_version", "torch.build.blas_info", "torch.cuda", "torch.cudnn", "torch.cudnn.deterministic", "torch.cudnn.benchmark",
        "torch.cuda.matmul.allow_tf32", "torch.cudnn.allow_tf32", "keras.backend", "keras.floatx", "keras.dtype_policy",
        "tensorflow.version", "tensorflow.intra_op_threads", "tensorflow.op_determinism", "device", "device.name", "device.capability",
        "device.driver", "env.MKL_NUM_THREADS", "env.MKL_CBWR", "env.MKL_ENABLE_INSTRUCTIONS", "env.ATEN_CPU_CAPABILITY",
        "env.ONEDNN_MAX_CPU_ISA", "env.DNNL_MAX_CPU_ISA", "env.TF_ENABLE_ONEDNN_OPTS",
        "env.TF_DETERMINISTIC_OPS", "env.TF_NUM_INTRAOP_THREADS", "env.CUBLAS_WORKSPACE_CONFIG",
    ]
}
