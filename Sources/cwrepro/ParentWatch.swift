import Foundation

/// A trial started by a sweep ends when the sweep dies. `cwrepro sweep` gives its trial processes
/// `CWREPRO_PARENT_PID`; such a process checks fifty times a second that its parent is still that
/// process, and exits with status 137 (as if killed) once it has been re-parented: a sweep killed
/// with SIGKILL (which its children cannot see) leaves no trial recording on, and the unfinished
/// records are trained again by the next run. Linux's PR_SET_PDEATHSIG would do this in the
/// kernel, but `prctl` is variadic and cannot be called from Swift.
enum ParentWatch {
    static func start() {
        guard let text = ProcessInfo.processInfo.environment["CWREPRO_PARENT_PID"], let parent = Int32(text) else { return }
        guard getppid() == parent else { _exit(137) }
        Thread.detachNewThread {
            while true {
                Thread.sleep(forTimeInterval: 0.02)  // getppid is a cheap system call
                if getppid() != parent { _exit(137) }
            }
        }
    }
}
