import Foundation
import XCTest

/// A test case with a fresh temporary directory per test (`dir`), removed afterwards: the home of
/// the records a test writes.
class RecordDirectoryTestCase: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("cwrepro-\(type(of: self))-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// `name` inside the test's directory.
    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
}
