import Foundation
import XCTest
@testable import Engine

/// The engine's thread pool (`Parallel.perform`, Sources/CCPUFeatures/work_pool.c): every
/// iteration runs exactly once and the call returns only after all have, for any count, back to
/// back (a pool thread still spinning from the last region, or already asleep), nested, and from
/// several threads at once.
final class ParallelTests: XCTestCase {
    /// `count` zeroed counters for `body` to bump from its threads, read after it returned.
    private func tally(_ count: Int, _ body: (UnsafeMutablePointer<Int>) -> Void) -> [Int] {
        let slots = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
        slots.initialize(repeating: 0, count: max(count, 1))
        defer { slots.deallocate() }
        body(slots)
        return Array(UnsafeBufferPointer(start: slots, count: count))
    }

    /// Runs `perform(n)` and returns how many times each index ran.
    private func counts(_ n: Int) -> [Int] { tally(n) { slots in Parallel.perform(n) { i in slots[i] += 1 } } }

    func testEveryIterationRunsOnceForAnyCount() {
        for n in [0, 1, 2, 3, 5, 8, 64, 1000] {
            XCTAssertEqual(counts(n), Array(repeating: 1, count: n), "n = \(n)")
        }
        // Over the ticket's 16-bit iteration field: run in order on the calling thread.
        XCTAssertEqual(counts(70_000), Array(repeating: 1, count: 70_000))
    }

    /// 20,000 short regions in a row: the pool's threads catch most while spinning; none may be
    /// lost or run twice (a late thread must not claim an iteration of a region that has ended).
    func testBackToBackRegionsLoseNothing() {
        let got = tally(3) { slots in
            for _ in 0..<20_000 { Parallel.perform(3) { i in slots[i] += 1 } }
        }
        XCTAssertEqual(got, [20_000, 20_000, 20_000])
    }

    /// A region after the pool's threads have gone to sleep (they spin 200 us by default).
    func testARegionAfterThePoolSleptRuns() {
        XCTAssertEqual(counts(4), [1, 1, 1, 1])
        usleep(20_000)
        XCTAssertEqual(counts(4), [1, 1, 1, 1])
    }

    /// Iterations much longer than the caller's spin (an explain run is a whole training run): the
    /// caller sleeps until the last one ends and is woken, whichever thread ran it.
    func testUnevenLongIterationsWakeTheCaller() {
        for round in 0..<4 {
            let got = tally(3) { slots in
                Parallel.perform(3) { i in
                    if i == round % 3 { usleep(30_000) }
                    slots[i] += 1
                }
            }
            XCTAssertEqual(got, [1, 1, 1], "round \(round)")
        }
    }

    /// A region opened from an iteration runs its iterations on that thread, all of them.
    func testNestedRegionsRunEveryInnerIteration() {
        let outer = 4, inner = 5
        let got = tally(outer * inner) { slots in
            Parallel.perform(outer) { i in Parallel.perform(inner) { j in slots[i * inner + j] += 1 } }
        }
        XCTAssertEqual(got, Array(repeating: 1, count: outer * inner))
    }

    /// Regions opened from several threads at once (one gets the pool, the others run theirs on
    /// their own thread): each returns after its own iterations, all of them.
    func testRegionsFromSeveralThreadsAtOnce() {
        let callers = 4, n = 6, rounds = 2_000
        let got = tally(callers * n) { slots in
            let shared = UncheckedSlots(slots)
            DispatchQueue.concurrentPerform(iterations: callers) { c in
                for _ in 0..<rounds {
                    Parallel.perform(n) { i in shared.p[c * n + i] += 1 }
                }
            }
        }
        XCTAssertEqual(got, Array(repeating: rounds, count: callers * n))
    }

    /// Chunks cover 0..<count exactly once, in contiguous ranges, on more threads than elements too.
    func testChunksCoverTheRangeOnce() {
        for (count, threads) in [(10, 3), (2, 8), (100_000, 2), (7, 1)] {
            let got = tally(count) { slots in
                Parallel.chunks(count, threads: threads, work: 1 << 20) { r in for i in r { slots[i] += 1 } }
            }
            XCTAssertEqual(got, Array(repeating: 1, count: count), "\(count) on \(threads)")
        }
    }
}

private struct UncheckedSlots: @unchecked Sendable {
    let p: UnsafeMutablePointer<Int>
    init(_ p: UnsafeMutablePointer<Int>) { self.p = p }
}
