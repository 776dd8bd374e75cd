import ArgumentParser
import Engine
import Foundation
import Recorder

/// Commands that run matrix products (OpenBLAS kernels run at their first one).
protocol ComputesWithOpenBLAS {}
extension RecordCommand: ComputesWithOpenBLAS {}
extension ReplayCommand: ComputesWithOpenBLAS {}
extension TrainCommand: ComputesWithOpenBLAS {}
extension VerifyCommand: ComputesWithOpenBLAS {}
extension VarianceCommand: ComputesWithOpenBLAS {}
extension ExplainCommand: ComputesWithOpenBLAS {}
extension EnvCommand: ComputesWithOpenBLAS {}
extension SGEMMProbeCommand: ComputesWithOpenBLAS {}

/// Before any command runs: the CPU must run the binary (every command), and the kernels that
/// `OPENBLAS_CORETYPE` selected (commands that compute; reading commands only warn, since no
/// kernel runs). A mismatch is exit 4 with a message, never SIGILL.
///
/// Under `CWREPRO_CPU_FLAGS` (a simulated older CPU) OpenBLAS has still picked its kernels from the
/// real CPU: when those are not runnable on the simulated one, the process re-executes itself with
/// the core type OpenBLAS would pick there, so the simulation covers the kernels too.
func checkCPU(for command: ParsableCommand) throws {
    do {
        try CPUFeatures.current.checkBinary()
        let cpu = CPUFeatures.current
        if cpu.restricted, BLAS.requestedCoreType == nil, case .missing = OpenBLASCore.support(BLAS.coreName, on: cpu),
           let core = OpenBLASCore.autoChoice(on: cpu) {
            setenv("OPENBLAS_CORETYPE", core, 1)
            execv("/proc/self/exe", CommandLine.unsafeArgv)
            eprint("warning: could not re-execute with OPENBLAS_CORETYPE=\(core) for \(CPUFeatures.restrictionVariable)")
        }
        do {
            try OpenBLASCore.checkRequested()
        } catch let e as UnsupportedCPUError where !(command is ComputesWithOpenBLAS) {
            eprint("warning: \(e)")
        }
    } catch let e as UnsupportedCPUError {
        eprint("error: \(e)")
        throw ExitCode(4)
    }
}
