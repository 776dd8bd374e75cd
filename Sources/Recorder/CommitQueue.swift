import Foundation

/// What the training thread hands the record writer, in the order it happened.
enum PendingRow: Sendable {
    case step(StepSummary, [RecordedEvent])
    case evaluation(Evaluation)
    case checkpoint(step: Int, bytes: [UInt8])
}

/// The writer's commit queue: rows arrive from the training thread and are committed on a
/// background queue at most once per `delay`; rows queued meanwhile (or while the committer is
/// behind) go into one transaction (group commit). Training never waits for the disk. The first
/// commit error is kept and thrown by the next `enqueue` or `flush`.
final class CommitQueue: @unchecked Sendable {
    /// Commits a batch of rows in one transaction (called on the queue, one batch at a time).
    typealias Committer = @Sendable ([PendingRow]) throws -> Void

    private let queue = DispatchQueue(label: "cwrepro.record-writer")
    private let delay: DispatchTimeInterval
    /// Guards `pending`, `scheduled` and `failure` (the training thread and the queue share them).
    private let lock = NSLock()
    private var pending: [PendingRow] = []
    private var scheduled = false
    private var failure: Error?
    private var committer: Committer?

    init(delay: DispatchTimeInterval) { self.delay = delay }

    /// Set once, before the first row arrives.
    func setCommitter(_ c: @escaping Committer) { committer = c }

    func enqueue(_ row: PendingRow) throws {
        lock.lock()
        if let failure { lock.unlock(); throw failure }
        pending.append(row)
        let schedule = !scheduled
        scheduled = true
        lock.unlock()
        // Weak: a writer dropped without `flush()`/`finish()` is released (and its file lock with
        // it) at once, like a killed process, instead of living on until the delayed commit.
        if schedule { queue.asyncAfter(deadline: .now() + delay) { [weak self] in self?.drain() } }
    }

    private func drain() {
        lock.lock()
        let rows = pending
        pending = []; scheduled = false
        lock.unlock()
        // A delayed drain finding the queue already emptied by `flush()` has nothing to commit.
        guard !rows.isEmpty, let committer else { return }
        do { try committer(rows) } catch { lock.lock(); failure = failure ?? error; lock.unlock() }
    }

    /// Commits everything queued now; rethrows the first commit error.
    func flush() throws {
        queue.sync { self.drain() }
        lock.lock(); defer { lock.unlock() }
        if let failure { throw failure }
    }

    /// Runs `body` on the commit queue, after every commit before it.
    func sync<T>(_ body: () throws -> T) rethrows -> T { try queue.sync(execute: body) }
}
