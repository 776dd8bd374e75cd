import Foundation
import Replayer

/// `--executor ray`: the command lines of the Python package's Ray driver (`python -m cwrepro.ray`),
/// which submits each trial as a Ray task (or trains the points Ray Tune proposes), each running
/// this cwrepro binary. Python comes from `--python`, else `$CWREPRO_PYTHON`, else `python3`;
/// it needs `ray` and the `cwrepro` package (python/ in the repository: `pip install ./python`).
struct RayDriver {
    var python: String?
    /// The cluster (`ray://host:10001` or `host:6379`); nil starts a local Ray instance with `jobs` CPUs.
    var address: String?
    var jobs: Int

    var pythonExecutable: String { python ?? ProcessInfo.processInfo.environment["CWREPRO_PYTHON"] ?? "python3" }

    /// `--address ADDR`, or `--num-cpus N` for a local instance.
    var clusterArguments: [String] { address.map { ["--address", $0] } ?? ["--num-cpus", String(jobs)] }

    /// Each trial a Ray task.
    func executor(arguments: @escaping TrialArguments) -> DriverExecutor {
        let python = pythonExecutable, cluster = clusterArguments
        return DriverExecutor(name: "ray", command: { tasks in (python, ["-m", "cwrepro.ray", "run", tasks] + cluster) }, arguments: arguments)
    }

    /// Ray Tune chooses the points; each Tune trial trains one point with `cwrepro study point`.
    func tune(_ session: SweepSession, explain: StudyCollection.ExplainOptions?,
              progress: @escaping @Sendable (SweepProgress) -> Void) throws -> SweepOutcome {
        let python = pythonExecutable, cluster = clusterArguments
        return try TuneSession.run(session, command: { task in (python, ["-m", "cwrepro.ray", "tune", task] + cluster) },
                                   pointArguments: ["study", "point", session.study.root, "--jobs", "1", "--point"],
                                   explain: explain, progress: progress)
    }
}
