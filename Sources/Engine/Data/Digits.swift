import Foundation
import Recorder

/// The embedded default dataset: the UCI optdigits test set as scikit-learn bundles it.
/// 1797 images of 8x8 pixels in 0..16, scaled by 1/16 to Float32, shape [1, 8, 8];
/// train = the first 1437 rows in file order, test = the last 360.
public enum Digits {
    public static let trainCount = 1437
    public static let totalCount = 1797

    private static let parsed: Result<DataSplit, Error> = Result { try parse() }

    public static func load() throws -> DataSplit { try parsed.get() }

    static func parse() throws -> DataSplit {
        guard let gz = Data(base64Encoded: digitsCSVGzBase64, options: .ignoreUnknownCharacters) else {
            throw InputError("the embedded digits data is not valid base64; rebuild with scripts/embed-digits.sh")
        }
        let csv = try Gzip.decompress([UInt8](gz), name: "embedded digits.csv.gz")
        let all = try CSVData.parse(csv, name: "embedded digits.csv.gz", labelColumn: -1, header: false,
                                    scale: 1.0 / 16, sampleShape: [1, 8, 8], classes: 10)
        guard all.count == totalCount else {
            throw InputError("the embedded digits data has \(all.count) rows, expected \(totalCount)")
        }
        return DataSplit(train: all.slice(0..<trainCount), test: all.slice(trainCount..<totalCount))
    }
}
