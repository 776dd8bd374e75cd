import Foundation
import XCTest
import Engine
import Presentation
import Recorder
import Replayer

/// A test case with its own temporary directory and a way to record a config into it, in
/// process, the way `cwrepro record` does (artifacts embedded, `record.keepTensors` honoured).
class RecordingTestCase: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("cwrepro-\(type(of: self))-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// `key=value` changes to a config, as `--set` gives them.
    func changes(_ sets: [String]) throws -> [ConfigAssignment] { try sets.map(ConfigAssignment.init(parsing:)) }

    /// Writes `json` to `configName` in the test directory, records it to `name` and returns the record's path.
    func recordConfig(_ json: String, name: String = "run.cwr", configName: String = "train.json") throws -> String {
        let cfgPath = dir.appendingPathComponent(configName).path
        try Data(json.utf8).write(to: URL(fileURLWithPath: cfgPath))
        let config = try TrainConfig.load(path: cfgPath)
        let rec = Recorder(seed: config.seed, level: config.record.level)
        let trainer = try Trainer(config: config, recorder: rec)
        let path = dir.appendingPathComponent(name).path
        let writer = try RecordWriter(path: path, header: RecordHeader(
            configGiven: config.given.text, configResolved: config.resolved.text, configPath: cfgPath,
            semantics: config.semantics.profile.rawValue, level: config.record.level,
            environment: EnvironmentPatch.currentEnvironment(config, data: trainer.data), cwreproVersion: "test"),
            keepTensors: config.record.keepTensors)
        for a in trainer.artifacts { try writer.addArtifact(name: a.name, bytes: a.bytes) }
        rec.sink = writer
        _ = try trainer.run()
        try writer.finish()
        return path
    }
}
