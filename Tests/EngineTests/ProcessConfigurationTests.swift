import Dispatch
import Engine
import Foundation
import Recorder
import XCTest

/// OpenBLAS's thread count is held per run (`ProcessConfiguration.withOpenBLAS`): runs on one
/// thread share it, a run on more threads waits for them and then has it to itself.
final class ProcessConfigurationTests: XCTestCase {
    /// Observations made on several threads.
    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var entries: [String] = []
        func add(_ s: String) { lock.lock(); entries.append(s); lock.unlock() }
        var all: [String] { lock.lock(); defer { lock.unlock() }; return entries }
    }

    func testARunOnTwoThreadsWaitsForTheRunsOnOneAndKeepsItsCount() {
        let log = Log()
        let oneHeld = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), done = DispatchGroup()
        DispatchQueue.global().async(group: done) {
            ProcessConfiguration.withOpenBLAS(threads: 1) {
                log.add("one: \(ProcessConfiguration.openBLASThreads)")
                oneHeld.signal()
                release.wait()
                // The two-thread run has been asked for meanwhile: it must not have changed the count.
                log.add("one still: \(ProcessConfiguration.openBLASThreads)")
            }
        }
        oneHeld.wait()
        DispatchQueue.global().async(group: done) {
            ProcessConfiguration.withOpenBLAS(threads: 2) { log.add("two: \(ProcessConfiguration.openBLASThreads)") }
        }
        // A second run on one thread joins the first at once.
        ProcessConfiguration.withOpenBLAS(threads: 1) { log.add("another one: \(ProcessConfiguration.openBLASThreads)") }
        Thread.sleep(forTimeInterval: 0.05)
        release.signal()
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(log.all, ["one: 1", "another one: 1", "one still: 1", "two: 2"])
    }

    /// Inside a run on two threads, the workers of a parallel reduction get one, and the run gets
    /// its two back.
    func testOneThreadForReductionWorkersInsideARunOnTwo() {
        ProcessConfiguration.withOpenBLAS(threads: 2) {
            XCTAssertEqual(ProcessConfiguration.openBLASThreads, 2)
            ProcessConfiguration.withOpenBLASOnOneThread { XCTAssertEqual(ProcessConfiguration.openBLASThreads, 1) }
            XCTAssertEqual(ProcessConfiguration.openBLASThreads, 2)
            // A nested hold of the same count (a record header written inside a run) does not wait for itself.
            ProcessConfiguration.withOpenBLAS(threads: 2) { XCTAssertEqual(ProcessConfiguration.openBLASThreads, 2) }
            // A reduction started on one of the run's worker threads (no hold of its own) does not wait either.
            let counts = DispatchQueue.global().sync {
                ProcessConfiguration.withOpenBLASOnOneThread { ProcessConfiguration.openBLASThreads }
            }
            XCTAssertEqual(counts, 1)
            XCTAssertEqual(ProcessConfiguration.openBLASThreads, 2)
        }
        ProcessConfiguration.withOpenBLAS(threads: 1) {
            let counts = DispatchQueue.global().sync { ProcessConfiguration.withOpenBLASOnOneThread { ProcessConfiguration.openBLASThreads } }
            XCTAssertEqual(counts, 1, "under a shared hold the count is one already")
        }
    }

    /// The environment a record stores is the run's, whatever count was in force before.
    func testEnvironmentNamesTheRunsThreadCount() {
        XCTAssertEqual(ProcessConfiguration.openBLASEnvironment(threads: 2)["blas.threads"], "2")
        XCTAssertEqual(ProcessConfiguration.openBLASEnvironment(threads: 1)["blas.threads"], "1")
    }

    func testReexecDecision() {
        XCTAssertNil(ProcessConfiguration.coreTypeToRequest(recorded: BLAS.coreName, environment: [:]), "the same core")
        XCTAssertNil(ProcessConfiguration.coreTypeToRequest(recorded: nil, environment: [:]))
        let other = BLAS.coreName == "Haswell" ? "Zen" : "Haswell"
        XCTAssertEqual(ProcessConfiguration.coreTypeToRequest(recorded: other, environment: [:]), other)
        XCTAssertNil(ProcessConfiguration.coreTypeToRequest(recorded: other, environment: [ProcessConfiguration.reexecMarker: "Zen"]),
                     "a re-executed process does not re-execute again")
        XCTAssertEqual(ProcessConfiguration.reexecOutcome(environment: [:]), .notReexecuted)
        XCTAssertEqual(ProcessConfiguration.reexecOutcome(environment: [ProcessConfiguration.reexecMarker: "Zen", "OPENBLAS_CORETYPE": BLAS.coreName]),
                       .patched(from: "Zen", to: BLAS.coreName, requested: BLAS.coreName))
        XCTAssertEqual(ProcessConfiguration.reexecOutcome(environment: [ProcessConfiguration.reexecMarker: "Zen", "OPENBLAS_CORETYPE": "NoSuchCore"]),
                       .notHonoured(requested: "NoSuchCore", loaded: BLAS.coreName))
        XCTAssertEqual(try ProcessConfiguration.childEnvironment(coreType: "Sandybridge")["OPENBLAS_CORETYPE"], "Sandybridge")
        XCTAssertNil(try ProcessConfiguration.childEnvironment(coreType: nil)["OPENBLAS_CORETYPE"])
        // A child is never started on kernels this CPU cannot run.
        XCTAssertThrowsError(try ProcessConfiguration.childEnvironment(coreType: "SapphireRapids")) { e in
            XCTAssertTrue(e is UnsupportedCPUError || OpenBLASCore.support("SapphireRapids") == .runnable, "\(e)")
        }
    }
}

/// Runs with different OpenBLAS thread counts trained at the same time in one process (what
/// `explain` may do) give the bits each gives alone: the thread count is held per run. On kernels
/// where 1 and 2 threads round differently at this size (Haswell, Zen) the two runs differ, so a
/// run that got the other's thread count would show; on SkylakeX and Cooperlake kernels they agree
/// and the test checks that concurrency changes nothing.
final class ConcurrentRunTests: XCTestCase {
    /// Keeps every step digest of a run.
    final class Digests: RecordSink, @unchecked Sendable {
        var all: [UInt64] = []
        func wantsPayload(step: Int) -> Bool { false }
        func event(_ e: RecordedEvent) {}
        func endStep(_ summary: StepSummary, events: [RecordedEvent]) throws { all.append(summary.digest) }
        func evaluation(_ e: Evaluation) throws {}
        var shouldStop: Bool { false }
    }

    static func run(threads: Int) throws -> [UInt64] {
        let text = """
            {"seed": 11, "data": {"dataset": "digits", "batchSize": 256},
             "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 256}, {"type": "relu"}, {"type": "dense", "units": 10}]},
             "training": {"epochs": 1, "maxSteps": 6}, "determinism": {"threads": \(threads)}}
            """
        let config = try TrainConfig.parse(JSON.parse(Array(text.utf8), source: "t"), baseDirectory: "/")
        let sink = Digests()
        _ = try Trainer(config: config, recorder: Recorder(seed: config.seed, level: .grads, sink: sink)).run()
        return sink.all
    }

    func testConcurrentRunsOnDifferentThreadCountsKeepTheirBits() throws {
        let alone = try [1, 2].map { try Self.run(threads: $0) }
        final class Box: @unchecked Sendable { var results: [[UInt64]] = [[], [], [], []]; let lock = NSLock() }
        let box = Box()
        DispatchQueue.concurrentPerform(iterations: 4) { i in
            let r = (try? Self.run(threads: 1 + i % 2)) ?? []
            box.lock.lock(); box.results[i] = r; box.lock.unlock()
        }
        for i in 0..<4 { XCTAssertEqual(box.results[i], alone[i % 2], "run \(i) on \(1 + i % 2) threads") }
    }
}
