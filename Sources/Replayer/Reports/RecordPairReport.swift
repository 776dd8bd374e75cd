import Engine
import Foundation
import Recorder

/// `cwrepro report A.cwr B.cwr`: both runs, their differences (`cwrepro diff`) and the divergence map.
public struct RecordPairReport: Sendable {
    public var a: RecordOverview
    public var b: RecordOverview
    public var diff: RunDiffReport
    public var map: DivergenceMap

    public static func load(_ pathA: String, _ pathB: String) throws -> RecordPairReport {
        let diff = try RunDiff.compare(pathA, pathB)
        let map = try DivergenceMap.make(try RecordReader(path: pathA), try RecordReader(path: pathB), firstDivergence: diff.firstDivergence)
        return RecordPairReport(a: try RecordOverview.load(path: pathA), b: try RecordOverview.load(path: pathB), diff: diff, map: map)
    }
}
