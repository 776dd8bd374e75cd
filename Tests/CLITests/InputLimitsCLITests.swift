import CZlib
import Foundation
import XCTest

/// Strict configs, bounded memory and relocated data, end to end: each bad input exits 2 with
/// its message (path and line:column for configs; the estimate, the limit and what to change for
/// memory), nothing is written, nothing crashes. Rows of guidelines/06's bad-input table (written
/// with BadInputCLITests' rows when CWREPRO_BAD_INPUT_TABLE is set).
final class InputLimitsCLITests: CLITestCase {
    override class func tearDown() { BadInputCLITests.tearDown() }

    /// Runs `args` (environment `env` added), checks exit code and message, adds a table row.
    @discardableResult
    func check(_ name: String, _ args: [String], env: [String: String] = [:], exit: Int32, message: String,
               function: String = #function, file: StaticString = #filePath, line: UInt = #line) throws -> Measured {
        let r = try Measured.run(args, env: env)
        XCTAssertEqual(r.status, exit, r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(message), "expected \"\(message)\" in: \(r.stderr)", file: file, line: line)
        let first = r.stderr.split(separator: "\n").first.map(String.init) ?? ""
        BadInputCLITests.table.append((name, "InputLimitsCLITests." + function.replacingOccurrences(of: "()", with: ""), r.status,
                                       first.replacingOccurrences(of: dir.path + "/", with: "")))
        return r
    }

    func config(_ text: String) throws -> String { try write("bad.json", text) }

    static let layers = #""model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]}"#

    // MARK: strict configs

    func testStrictConfigErrorsNamePathAndLineColumn() throws {
        let cfg = try config("{\"data\": {\"dataset\": \"digits\"},\n \"optimizer\": {\"lr\": 0.1, \"lr\": 0.05},\n \(Self.layers)}")
        try check("config: duplicate key", ["record", cfg, "-o", path("r.cwr")], exit: 2,
                  message: "bad.json:2:27: optimizer.lr: duplicate key (first at 2:16); give each key once")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("r.cwr")))
        try check("config: trailing comma", ["train", try config("{\"data\": {\"dataset\": \"digits\", },\n \(Self.layers)}")], exit: 2,
                  message: "bad.json:1:30: invalid JSON: trailing comma after data.dataset; remove it")
        try check("config: comment", ["train", try config("{\"data\": {\"dataset\": \"digits\"}, // digits\n \(Self.layers)}")], exit: 2,
                  message: "bad.json:1:33: invalid JSON: comments (//) are not allowed in JSON; remove it")
        try check("config: NaN", ["train", try config("{\"data\": {\"dataset\": \"digits\"}, \"optimizer\": {\"lr\": NaN}, \(Self.layers)}")], exit: 2,
                  message: "bad.json:1:53: optimizer.lr: NaN is not a JSON number; write a finite number")
        try check("config: leading zero", ["train", try config("{\"seed\": 0123, \"data\": {\"dataset\": \"digits\"}, \(Self.layers)}")], exit: 2,
                  message: "bad.json:1:10: seed: 0123 has a leading zero, which JSON numbers may not have; write 123")
        try check("config: lone surrogate in a string", ["train", try config("{\"name\": \"\\ud800\", \"data\": {\"dataset\": \"digits\"}, \(Self.layers)}")],
                  exit: 2, message: "bad.json:1:11: name: \\ud800 is a lone UTF-16 surrogate, not a character")
        try check("config: raw control character in a string", ["train", try config("{\"name\": \"a\tb\", \"data\": {\"dataset\": \"digits\"}, \(Self.layers)}")],
                  exit: 2, message: "bad.json:1:12: name: a raw control character (U+0009) inside a string (opened at 1:10)")
    }

    func testIntegerFieldsRefuseFloats() throws {
        try check("config: seed written 1234.0", ["train", try config("{\"seed\": 1234.0, \"data\": {\"dataset\": \"digits\"}, \(Self.layers)}")], exit: 2,
                  message: "bad.json:1:10: seed: expected an integer, found 1234.0 (written with a fraction, a float to JSON readers such as Python's); write 1234")
        try check("config: batch size 32.5", ["train", try config("{\"data\": {\"dataset\": \"digits\", \"batchSize\": 32.5}, \(Self.layers)}")], exit: 2,
                  message: "bad.json:1:45: data.batchSize: expected an integer, found 32.5")
        try check("config: layer units written 1e1", ["train", try config(#"{"data": {"dataset": "digits"}, "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 1e1}]}}"#)],
                  exit: 2, message: "bad.json:1:102: model.layers[1].units: expected an integer, found 1e1 (written with an exponent, a float to JSON readers such as Python's); write 10")
        // --set replaces a value: the file's spelling of it no longer counts, its other values still do.
        let cfg = try config("{\"seed\": 1, \"data\": {\"dataset\": \"digits\"}, \"training\": {\"maxSteps\": 2.0},\n \(Self.layers)}")
        XCTAssertEqual(try CLI.run(["train", cfg, "--set", "training.maxSteps=2"]).status, 0)
        try check("config: a float kept after --set elsewhere", ["train", cfg, "--set", "seed=3"], exit: 2,
                  message: "bad.json:1:69: training.maxSteps: expected an integer, found 2.0 (written with a fraction, a float to JSON readers such as Python's); write 2")
    }

    /// Values past what a key or option can hold are refused with the range, never a trap (exit
    /// 132-139), an allocation failure or a run that does not end: integers beyond 2^53 - 1 (not
    /// exact in a JSON number), a CSV sample shape whose product overflowed while the memory
    /// estimate built the model, window sizes past 2^20, explain's seeds and the latency passes.
    func testValuesPastTheirRangeAreRefusedWithTheRange() throws {
        XCTAssertEqual(try CLI.run(["train", try config(InputLimitsCLITests.small), "--set", "seed=9007199254740991"]).status, 0)
        try check("config: seed 2^53", ["train", try config(InputLimitsCLITests.small), "--set", "seed=9007199254740992"], exit: 2,
                  message: "seed: 9007199254740992 is out of range; expected 0...9007199254740991")
        try check("config: maxSteps past 2^53", ["train", try config(#"{"data": {"dataset": "digits"}, "training": {"maxSteps": 9223372036854775807}, "# + Self.layers + "}")],
                  exit: 2, message: "bad.json:1:58: training.maxSteps: 9.223372036854776e+18 is out of range; expected 1...9007199254740991")
        try check("--set with a bracketed index", ["train", try config(InputLimitsCLITests.small), "--set", "model.layers[1].units=5"], exit: 2,
                  message: "--set model.layers[1].units=5: array indexes are dot components in --set keys; write --set model.layers.1.units=5")
        _ = try write("d.csv", "1,2,3,0\n4,5,6,1\n7,8,9,0\n1,1,1,1\n")
        func csv(_ shape: String, first: String = #"{"type": "flatten"}"#) throws -> String {
            try config(#"{"data": {"source": {"format": "csv", "path": "d.csv", "trainCount": 2, "shape": "# + shape + #"}, "batchSize": 2},"#
                       + #" "model": {"layers": ["# + first + #", {"type": "dense", "units": 3}]}}"#)
        }
        try check("CSV sample shape of 2^64 values", ["train", try csv("[4294967296, 4294967296, 1]")], exit: 2,
                  message: "bad.json:1:82: data.source.shape: [4294967296, 4294967296, 1] must have 1 to 3 dimensions, each 1...1048576")
        try check("CSV sample shape larger than its rows", ["record", try csv("[1048576, 1048576, 1]", first: #"{"type": "conv2d", "filters": 2, "kernel": 1}"#), "-o", path("r.cwr")],
                  exit: 2, message: "d.csv: 3 features per row do not fit the sample shape [1048576, 1048576, 1]")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("r.cwr")))
        func conv(_ window: String) throws -> String {
            try config(#"{"data": {"dataset": "digits"}, "model": {"layers": [{"type": "conv2d", "filters": 2, "# + window + #"}, {"type": "flatten"}, {"type": "dense", "units": 10}]}}"#)
        }
        try check("conv2d padding 2^52", ["train", try conv(#""kernel": 3, "padding": 4503599627370496"#)], exit: 2,
                  message: "model.layers[0].padding: [4503599627370496, 4503599627370496, 4503599627370496, 4503599627370496] is out of range; each side must be 0...1048576")
        try check("conv2d kernel [3, 2^52]", ["train", try conv(#""kernel": [3, 4503599627370496]"#)], exit: 2,
                  message: "model.layers[0].kernel: [3,4503599627370496] is out of range; each must be 1...1048576")
        try check("explain --seeds 10^8", ["explain", try config(InputLimitsCLITests.small), "--profiles", "pytorch,keras", "--seeds", "100000000"], exit: 2,
                  message: "--seeds 100000000: give at most 10000 (each seed trains both sides; the default is 8)")
        try check("variance --runs 10^8", ["variance", try config(InputLimitsCLITests.small), "--runs", "100000000", "--vary", "seed"], exit: 2,
                  message: "--runs 100000000: give 1 to 10000 runs")
        let cfg = try config(InputLimitsCLITests.small)
        XCTAssertEqual(try CLI.run(["train", cfg, "--export", path("w.safetensors")]).status, 0)
        try check("evaluate --timed 10^11", ["evaluate", cfg, "--weights", path("w.safetensors"), "--timed", "100000000000"], exit: 2,
                  message: "--timed 100000000000: give 2 to 100000 (a spread needs two passes)")
        try check("evaluate --warmup 2^63 - 1", ["evaluate", cfg, "--weights", path("w.safetensors"), "--warmup", "9223372036854775807"], exit: 2,
                  message: "--warmup 9223372036854775807: give 0 to 10000")
    }

    static let small = #"{"seed": 1, "data": {"dataset": "digits"}, "training": {"maxSteps": 2}, "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]}}"#

    // MARK: memory

    /// The IDX header of `count` images of rows x cols.
    static func imageHeader(count: Int, rows: Int, cols: Int) -> [UInt8] {
        [0, 0, 8, 3] + [count, rows, cols].flatMap { withUnsafeBytes(of: UInt32($0).bigEndian, Array.init) }
    }

    /// A gzip file whose content is `header` then `zeros` zero bytes, written in one pass: a block
    /// of 1 MiB of zeros is deflated once with a full flush (so it refers to nothing before it)
    /// and repeated; the trailer's CRC is combined arithmetically. A 3.9 GB content takes about
    /// 4 MB on disk and a second to write.
    static func gzipBomb(header: [UInt8], zeros: Int, to path: String) throws {
        var s = z_stream()
        guard deflateInit2_(&s, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw CocoaError(.featureUnsupported)
        }
        defer { deflateEnd(&s) }
        func deflated(_ input: [UInt8], _ flush: Int32) -> [UInt8] {
            var input = input, out = [UInt8](repeating: 0, count: input.count + 4096)
            let n: Int = input.withUnsafeMutableBufferPointer { i in
                out.withUnsafeMutableBufferPointer { o in
                    s.next_in = i.baseAddress; s.avail_in = uInt(i.count)
                    s.next_out = o.baseAddress; s.avail_out = uInt(o.count)
                    _ = deflate(&s, flush)
                    return o.count - Int(s.avail_out)
                }
            }
            return Array(out.prefix(n))
        }
        let block = 1 << 20
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw CocoaError(.fileWriteUnknown) }
        defer { close(fd) }
        func put(_ b: [UInt8]) { _ = b.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) } }
        put([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3])
        put(deflated(header, Z_FULL_FLUSH))
        let unit = deflated([UInt8](repeating: 0, count: block), Z_FULL_FLUSH)
        for _ in 0..<(zeros / block) { put(unit) }
        put(deflated([UInt8](repeating: 0, count: zeros % block), Z_FINISH))
        var crc = crc32(0, header, uInt(header.count))
        let zeroBlock = [UInt8](repeating: 0, count: block)
        let blockCRC = crc32(0, zeroBlock, uInt(block))
        for _ in 0..<(zeros / block) { crc = crc32_combine(crc, blockCRC, off_t(block)) }
        crc = crc32_combine(crc, crc32(0, zeroBlock, uInt(zeros % block)), off_t(zeros % block))
        let total = UInt32(truncatingIfNeeded: header.count + zeros)
        put(withUnsafeBytes(of: UInt32(truncatingIfNeeded: crc).littleEndian, Array.init) + withUnsafeBytes(of: total.littleEndian, Array.init))
    }

    func idxConfig(images: String, labels: String, trainCount: Int) throws -> String {
        try config("""
            {"data": {"source": {"format": "idx", "images": "\(images)", "labels": "\(labels)", "trainCount": \(trainCount)}},
             \(Self.layers)}
            """)
    }

    func labels(_ n: Int, declared: Int? = nil) throws -> String {
        let bytes = [0, 0, 8, 1] + withUnsafeBytes(of: UInt32(declared ?? n).bigEndian, Array.init) + (0..<n).map { UInt8($0 % 10) }
        FileManager.default.createFile(atPath: path("labels.idx"), contents: Data(bytes))
        return "labels.idx"
    }

    /// The issue's gzip bomb: 3.9 GB of IDX images in a 4 MB gzip whose header says so. The
    /// estimate reads the header (16 inflated bytes) and refuses; nothing is inflated beyond it.
    func testGzipBombIsRefusedBeforeInflating() throws {
        let count = 5_000_000
        try Self.gzipBomb(header: Self.imageHeader(count: count, rows: 28, cols: 28), zeros: count * 784, to: path("images.idx.gz"))
        let size = try FileManager.default.attributesOfItem(atPath: path("images.idx.gz"))[.size] as! Int
        XCTAssertLessThan(size, 8 << 20, "the bomb is small on disk")
        let cfg = try idxConfig(images: "images.idx.gz", labels: try labels(10, declared: count), trainCount: 4_000_000)
        let r = try check("gzip bomb: 4 MB inflating to 3.9 GB of IDX images", ["record", cfg, "-o", path("r.cwr")],
                          env: ["CWREPRO_MEMORY_LIMIT": "4G"], exit: 2,
                          message: "the run needs an estimated 18.4 GiB of memory, over the limit of 4.0 GiB (CWREPRO_MEMORY_LIMIT=4G): the data take 18.3 GiB while loading: use fewer or smaller samples (4000000 train + 1000000 test samples of [1, 28, 28]")
        XCTAssertTrue(r.stderr.contains("or raise the limit (CWREPRO_MEMORY_LIMIT=19G)"), r.stderr)
        XCTAssertTrue(r.stderr.contains("\n  data: 14.7 GiB (4000000 train + 1000000 test samples of [1, 28, 28]"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("r.cwr")))
        XCTAssertLessThan(r.maxResidentKiB, 200 << 10, "peak memory of the refusal: \(r.maxResidentKiB) KiB")
        print("gzip bomb refused: \(size) bytes on disk, peak RSS \(r.maxResidentKiB) KiB, \(String(format: "%.2f", r.seconds)) s")
    }

    /// A stream that inflates beyond what its header claims is an error, not an allocation: the
    /// header says 1000 images, the stream holds 3.9 GB.
    func testStreamBeyondItsHeaderIsRefused() throws {
        try Self.gzipBomb(header: Self.imageHeader(count: 1000, rows: 28, cols: 28), zeros: 5_000_000 * 784, to: path("images.idx.gz"))
        let cfg = try idxConfig(images: "images.idx.gz", labels: try labels(1000), trainCount: 900)
        let r = try check("gzip stream longer than its IDX header claims", ["train", cfg], exit: 2,
                          message: "images.idx.gz: the gzip data inflates beyond the 784016 bytes its IDX header (1000 images of 28x28) claims; refusing (a damaged or hostile file)")
        XCTAssertLessThan(r.maxResidentKiB, 200 << 10, "peak memory: \(r.maxResidentKiB) KiB")
        print("gzip stream beyond its header refused: peak RSS \(r.maxResidentKiB) KiB, \(String(format: "%.2f", r.seconds)) s")
    }

    /// The issue's synthetic [1, 4096, 4096] x 100 (and 20 test samples): 7.5 GiB of samples, a
    /// dense layer of 168 M parameters; refused under a 4 GiB limit.
    func testHugeSyntheticShapeIsRefused() throws {
        let cfg = try config(#"{"data": {"dataset": "synthetic", "shape": [1, 4096, 4096], "classes": 10, "trainSize": 100, "testSize": 20}, "# + Self.layers + "}")
        let r = try check("synthetic data of [1, 4096, 4096] x 100 (+ 20 test) samples", ["train", cfg], env: ["CWREPRO_MEMORY_LIMIT": "4G"], exit: 2,
                          message: "the run needs an estimated 16.6 GiB of memory, over the limit of 4.0 GiB (CWREPRO_MEMORY_LIMIT=4G): the data take 7.5 GiB: use fewer or smaller samples (100 train + 20 test samples of [1, 4096, 4096] (synthetic data)), or raise the limit (CWREPRO_MEMORY_LIMIT=17G)")
        XCTAssertTrue(r.stderr.contains("\n  parameters: 5.0 GiB (167772170 values with gradients"), r.stderr)
        XCTAssertLessThan(r.maxResidentKiB, 200 << 10)
    }

    /// The issue's convolution with 2^20 filters: 9.4 M parameters, but outputs of 37.7 M values
    /// per sample; refused with the layer named and the batch size to lower.
    func testConvolutionWithAMillionFiltersIsRefused() throws {
        let cfg = try config(#"{"data": {"dataset": "digits"}, "model": {"layers": [{"type": "conv2d", "filters": 1048576, "kernel": 3},"#
                             + #" {"type": "globalavgpool"}, {"type": "dense", "units": 10}]}}"#)
        let r = try check("conv2d with 2^20 filters", ["train", cfg], env: ["CWREPRO_MEMORY_LIMIT": "4G"], exit: 2,
                          message: "the run needs an estimated 48.7 GiB of memory, over the limit of 4.0 GiB (CWREPRO_MEMORY_LIMIT=4G): evaluation takes 37.0 GiB (256 samples at a time): shrink model.layers[0] (output [1048576, 6, 6] per sample")
        XCTAssertLessThan(r.maxResidentKiB, 200 << 10)
        // With a limit large enough for a step but not an evaluation, the step is named.
        let smaller = try config(#"{"data": {"dataset": "digits", "batchSize": 64}, "model": {"layers": [{"type": "conv2d", "filters": 65536, "kernel": 3},"#
                                 + #" {"type": "globalavgpool"}, {"type": "dense", "units": 10}]}}"#)
        try check("conv2d with 2^16 filters at batch size 64", ["train", smaller], env: ["CWREPRO_MEMORY_LIMIT": "1G"], exit: 2,
                  message: "evaluation takes 2.3 GiB (256 samples at a time): shrink model.layers[0] (output [65536, 6, 6] per sample")
    }

    func testMemoryLimitSettings() throws {
        let cfg = try config(#"{"data": {"dataset": "digits"}, "training": {"maxSteps": 2}, "# + Self.layers + "}")
        try check("memory limit below the run's needs", ["train", cfg], env: ["CWREPRO_MEMORY_LIMIT": "16M"], exit: 2,
                  message: "over the limit of 16.0 MiB (CWREPRO_MEMORY_LIMIT=16M)")
        try check("memory limit not a size", ["train", cfg], env: ["CWREPRO_MEMORY_LIMIT": "lots"], exit: 2,
                  message: "CWREPRO_MEMORY_LIMIT=lots: \"lots\" is not a memory size; write e.g. 8G, 512M, 1.5G, 75% or none")
        XCTAssertEqual(try Measured.run(["train", cfg], env: ["CWREPRO_MEMORY_LIMIT": "none"]).status, 0)
        XCTAssertEqual(try Measured.run(["train", cfg], env: ["CWREPRO_MEMORY_LIMIT": "1.5G"]).status, 0)
        XCTAssertEqual(try Measured.run(["train", cfg]).status, 0, "the default limit admits the usual runs")
    }

    // MARK: relocated data

    /// A record that read its data from disk names the missing file and says the data may have
    /// moved; the content of a moved file is still checked by the record's fingerprint.
    func testMovedDataIsNamedWithAHint() throws {
        let data = dir.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try write("data/d.csv", (0..<40).map { "\($0 % 7),\($0 % 3),\($0 % 5),\($0 % 10)" }.joined(separator: "\n") + "\n")
        let cfg = try write("data/train.json", """
            {"data": {"source": {"format": "csv", "path": "d.csv", "trainCount": 30}}, "training": {"maxSteps": 2},
             "model": {"layers": [{"type": "dense", "units": 10}]}}
            """)
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("r.cwr")]).status, 0)
        try FileManager.default.moveItem(at: data, to: dir.appendingPathComponent("moved"))
        let r = try check("replay after the data directory moved", ["replay", path("r.cwr")], exit: 2,
                          message: "data.source.path: \(path("data/d.csv")) not found; relative paths resolve against the config's directory, \(path("data"))")
        XCTAssertTrue(r.stderr.contains("\nhint: if the data moved, point to it: --data-dir NEWDIR"), r.stderr)
        // Pointed to, it replays bit-identical; a changed file is named by the record's fingerprint.
        let moved = try CLI.run(["replay", path("r.cwr"), "--data-dir", path("moved")])
        XCTAssertEqual(moved.status, 0, moved.stdout + moved.stderr)
        XCTAssertTrue(moved.stdout.hasPrefix("bit-identical: 1 step, "), moved.stdout)
        XCTAssertEqual(try CLI.run(["replay", path("r.cwr"), "--data-dir", "\(path("data"))=\(path("moved"))"]).status, 0, "OLD=NEW")
        try write("moved/d.csv", (0..<40).map { "\(($0 + 1) % 7),\($0 % 3),\($0 % 5),\($0 % 10)" }.joined(separator: "\n") + "\n")
        let changed = try CLI.run(["replay", path("r.cwr"), "--data-dir", path("moved")])
        XCTAssertEqual(changed.status, 1, changed.stdout + changed.stderr)
        XCTAssertTrue(changed.stdout.contains("data.train"), changed.stdout)
        let missing = try CLI.run(["replay", path("r.cwr"), "--data-dir", path("nowhere")])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("data directory \(path("nowhere")): does not exist"), missing.stderr)
    }
}

/// A run of the binary measured with wait4: exit status, output, peak resident memory.
///
/// The binary is started by a small intermediary (python3, forking): Linux folds the high-water
/// RSS of the address space a process leaves at exec into its peak, and a child spawned straight
/// from this test process (vfork or fork) would report the test process's own peak (270 MB after
/// a full suite), not the binary's. The intermediary's own (~10 MB) is what is folded in instead.
struct Measured {
    let status: Int32
    let stdout: String
    let stderr: String
    let maxResidentKiB: Int
    let seconds: Double

    static let intermediary = """
        import os, sys
        out, err = (os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) for p in sys.argv[1:3])
        pid = os.fork()
        if pid == 0:
            os.dup2(out, 1); os.dup2(err, 2)
            os.execv(sys.argv[3], sys.argv[3:])
        _, status, usage = os.wait4(pid, 0)
        print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
        """

    static func run(_ args: [String], env: [String: String] = [:]) throws -> Measured {
        let dir = FileManager.default.temporaryDirectory
        let out = dir.appendingPathComponent("cwrepro-measured-\(UUID().uuidString).out"), err = out.appendingPathExtension("err")
        defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }
        let start = Date()
        let r = try CLI.run(["python3", "-c", intermediary, out.path, err.path, CLI.binary.path] + args, env: env,
                            executable: URL(fileURLWithPath: "/usr/bin/env"))
        let fields = r.stdout.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard r.status == 0, fields.count == 2 else { throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "python3 intermediary: \(r.stderr)"]) }
        let code = fields[0] < 0 ? 128 - fields[0] : fields[0]   // killed by a signal: 128 + its number
        return Measured(status: Int32(code), stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                        stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "", maxResidentKiB: fields[1],
                        seconds: Date().timeIntervalSince(start))
    }
}
