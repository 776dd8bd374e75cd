import Foundation

/// A value computed on another thread while the caller goes on with other work; `value` waits
/// for it (once computed, it is returned at once, as often as asked).
final class BackgroundValue<T: Sendable>: @unchecked Sendable {
    private let ready = DispatchSemaphore(value: 0)
    /// Written once by the computing thread before `ready` is signalled; read only after it.
    private var result: T?

    init(_ compute: @escaping @Sendable () -> T) {
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            result = compute()
            ready.signal()
        }
    }

    var value: T {
        ready.wait()
        defer { ready.signal() }
        return result!
    }
}
