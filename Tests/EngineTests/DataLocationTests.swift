import Foundation
import XCTest
@testable import Engine
import Recorder

/// Relocated data: a new root for the config's directory, OLD=NEW prefix substitutions, and a
/// moved IDX dataset loading to the same fingerprint.
final class DataLocationTests: XCTestCase {
    func testResolution() {
        let none = DataLocation()
        XCTAssertTrue(none.isIdentity)
        XCTAssertEqual(none.resolve("d/x.idx", baseDirectory: "/proj/cfg"), "/proj/cfg/d/x.idx")
        XCTAssertEqual(none.resolve("../data/x.idx", baseDirectory: "/proj/cfg"), "/proj/data/x.idx")
        XCTAssertEqual(none.resolve("/abs//x.idx", baseDirectory: "/proj/cfg"), "/abs/x.idx")

        let moved = DataLocation(root: "/new")
        XCTAssertEqual(moved.resolve("d/x.idx", baseDirectory: "/proj/cfg"), "/new/d/x.idx")
        XCTAssertEqual(moved.resolve("/proj/cfg/d/x.idx", baseDirectory: "/proj/cfg"), "/new/d/x.idx", "absolute inside the config's directory moves with it")
        XCTAssertEqual(moved.resolve("/elsewhere/x.idx", baseDirectory: "/proj/cfg"), "/elsewhere/x.idx")
        XCTAssertEqual(moved.resolve("../x.idx", baseDirectory: "/proj/cfg"), "/proj/x.idx", "outside the config's directory: unmoved")

        let sub = DataLocation(root: "/new", substitutions: [.init(from: "/data", to: "/mnt/data"), .init(from: "/data/mnist", to: "/fast/mnist")])
        XCTAssertEqual(sub.resolve("/data/cifar/x.bin", baseDirectory: "/proj"), "/mnt/data/cifar/x.bin")
        XCTAssertEqual(sub.resolve("/data/mnist/x.idx", baseDirectory: "/proj"), "/fast/mnist/x.idx", "the longest prefix wins")
        XCTAssertEqual(sub.resolve("/database/x", baseDirectory: "/proj"), "/database/x", "whole components only")
        XCTAssertEqual(sub.resolve("/data", baseDirectory: "/proj"), "/mnt/data")
    }

    func testAdding() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cwrepro-loc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("sub"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let l = try DataLocation().adding("sub", currentDirectory: dir.path).adding("/old/data=\(dir.path)")
        XCTAssertEqual(l.root, dir.appendingPathComponent("sub").path)
        XCTAssertEqual(l.substitutions, [.init(from: "/old/data", to: dir.path)])
        XCTAssertThrowsError(try l.adding(dir.path)) { e in XCTAssertTrue("\(e)".contains("a new root is already given"), "\(e)") }
        XCTAssertThrowsError(try DataLocation().adding("/nowhere/at/all")) { e in
            XCTAssertEqual("\(e)", "data directory /nowhere/at/all: does not exist")
        }
        XCTAssertThrowsError(try DataLocation().adding("old=\(dir.path)")) { e in
            XCTAssertEqual("\(e)", "data directory old=\(dir.path): the old location old must be an absolute path (as the record names it)")
        }
    }

    /// A config reading IDX files relative to its directory; the directory moves; the data load
    /// from the new place with the same fingerprint, and without the remap the missing file is
    /// named by its key with the hint.
    func testMovedDataLoadsIdentically() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cwrepro-moved-\(UUID().uuidString)")
        let old = root.appendingPathComponent("old"), new = root.appendingPathComponent("new")
        try FileManager.default.createDirectory(at: old, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let img = [UInt8]([0, 0, 8, 3, 0, 0, 0, 12, 0, 0, 0, 4, 0, 0, 0, 4]) + (0..<192).map { UInt8($0 * 7 % 256) }
        let lab = [UInt8]([0, 0, 8, 1, 0, 0, 0, 12]) + (0..<12).map { UInt8($0 % 10) }
        try Data(try GzipFile.compress(img)).write(to: old.appendingPathComponent("images.idx.gz"))
        try Data(lab).write(to: old.appendingPathComponent("labels.idx"))
        try Data(#"{"data": {"source": {"format": "idx", "images": "images.idx.gz", "labels": "labels.idx", "trainCount": 8}}, "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]}}"#.utf8)
            .write(to: old.appendingPathComponent("train.json"))
        let recorder = Recorder(seed: 1, level: .grads, sink: NullSink())
        let config = try TrainConfig.load(path: old.appendingPathComponent("train.json").path)
        let before = try DataSource.load(config, recorder: recorder).fingerprint
        try FileManager.default.moveItem(at: old, to: new)
        XCTAssertThrowsError(try DataSource.load(config, recorder: recorder)) { e in
            XCTAssertTrue(e is DataFileMissing, "a missing file not yet relocated may have moved: \(type(of: e))")
            XCTAssertTrue("\(e)".hasSuffix("data.source.images: \(old.path)/images.idx.gz not found; relative paths resolve against the config's directory, \(old.path)"), "\(e)")
        }
        var relocated = config
        relocated.dataLocation = try DataLocation().adding(new.path)
        XCTAssertEqual(try DataSource.load(relocated, recorder: recorder).fingerprint, before)
        XCTAssertNoThrow(try MemoryEstimate.estimate(relocated))
        // An absolute path in the config: an OLD=NEW substitution.
        var absolute = try TrainConfig.parse(JSON.parse(Array(#"{"data": {"source": {"format": "idx", "images": "\#(old.path)/images.idx.gz", "labels": "\#(old.path)/labels.idx", "trainCount": 8}}, "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]}}"#.utf8), source: "t"), baseDirectory: "/")
        absolute.dataLocation = try DataLocation().adding("\(old.path)=\(new.path)")
        XCTAssertEqual(try DataSource.load(absolute, recorder: recorder).fingerprint, before)
    }
}

/// Batch orders are read as strictly as configs: an index written as a float is refused with
/// its place.
final class BatchOrderStrictnessTests: XCTestCase {
    func testIndicesWrittenAsFloatsAreRefused() {
        XCTAssertThrowsError(try BatchOrder.parse(Array(#"{"batches": [[0, 1], [2, 3.0]]}"#.utf8), name: "order.json", trainCount: 4)) { e in
            XCTAssertEqual("\(e)", "order.json:1:26: batches[1][1]: 3.0 is not an integer index; write indices as integers (3, not 3.0)")
        }
        XCTAssertThrowsError(try BatchOrder.parse(Array(#"{"batches": [[0, 1]], "batches": [[1]]}"#.utf8), name: "order.json", trainCount: 4)) { e in
            XCTAssertTrue("\(e)".hasPrefix("order.json:1:23: batches: duplicate key (first at 1:2)"), "\(e)")
        }
        XCTAssertEqual(try BatchOrder.parse(Array(#"{"batches": [[0, 1], [3]]}"#.utf8), name: "order.json", trainCount: 4).batches, [[0, 1], [3]])
    }
}
