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
extension SweepCommand: ComputesWithOpenBLAS {}
extension StudyCollectCommand: ComputesWithOpenBLAS {}
extension StudyPointCommand: ComputesWithOpenBLAS {}
extension EnvCommand: ComputesWithOpenBLAS {}
extension SGEMMProbeCommand: ComputesWithOpenBLAS {}

/// Before any command runs: the CPU must run the binary (every command), and the kernels that
/// `OPENBLAS_CORETYPE` selected (commands that compute; reading commands only warn, since no
/// kernel runs). A mismatch is exit 4 with a message, never SIGILL. The checks, and the re-exec
/// that a simulated older CPU (`CWREPRO_CPU_FLAGS`) needs, are `ProcessConfiguration`'s.
func checkCPU(for command: ParsableCommand) throws {
    do {
        if let core = try ProcessConfiguration.startUp() {
            eprint("warning: could not re-execute with OPENBLAS_CORETYPE=\(core) for \(CPUFeatures.restrictionVariable)")
        }
        do {
            try ProcessConfiguration.checkRequestedCoreType()
        } catch let e as UnsupportedCPUError where !(command is ComputesWithOpenBLAS) {
            eprint("warning: \(e)")
        }
    } catch let e as UnsupportedCPUError {
        eprint("error: \(e)")
        throw Exit.unsupportedCPU
    }
}
