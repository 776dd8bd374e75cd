import Foundation
import XCTest
@testable import Engine
import Recorder

/// The strict config parser: what it refuses (each with path and line:column), what it accepts,
/// and that it reads every number and string exactly as Foundation's JSONSerialization does.
final class StrictJSONTests: XCTestCase {
    func parse(_ text: String) throws -> JSON { try JSON.parse(Array(text.utf8), source: "c.json") }

    /// The message of the error `text` raises.
    func message(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try parse(text)
            XCTFail("accepted: \(text)", file: file, line: line)
            return ""
        } catch let e as InputError {
            return e.message
        } catch {
            XCTFail("\(type(of: error)): \(error)", file: file, line: line)
            return ""
        }
    }

    func refuses(_ text: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        let m = message(text, file: file, line: line)
        XCTAssertEqual(m, expected, file: file, line: line)
    }

    func testDuplicateKeysNameThePathAndBothPlaces() {
        refuses("{\"optimizer\": {\"lr\": 0.1,\n  \"lr\": 0.05}}",
                "c.json:2:3: optimizer.lr: duplicate key (first at 1:16); give each key once (JSON readers disagree on which value wins)")
        refuses(#"{"a": 1, "a": 1}"#, "c.json:1:10: a: duplicate key (first at 1:2); give each key once (JSON readers disagree on which value wins)")
        // Escapes decode before comparison: "l\u0072" is "lr".
        XCTAssertTrue(message(#"{"lr": 1, "l\u0072": 2}"#).hasPrefix("c.json:1:11: lr: duplicate key (first at 1:2)"))
        // In an array element.
        XCTAssertTrue(message(#"{"model": {"layers": [{"type": "dense"}, {"type": "relu", "type": "tanh"}]}}"#)
            .hasPrefix("c.json:1:59: model.layers[1].type: duplicate key (first at 1:43)"))
    }

    func testTrailingCommasAndComments() {
        refuses("{\"data\": {\"batchSize\": 32,\n}}", "c.json:1:26: invalid JSON: trailing comma after data.batchSize; remove it")
        refuses("{\"shape\": [1, 2,]}", "c.json:1:16: invalid JSON: trailing comma after shape[1]; remove it")
        refuses("{\"a\": 1 // the answer\n}", "c.json:1:9: invalid JSON: comments (//) are not allowed in JSON; remove it")
        refuses("/* x */ {}", "c.json:1:1: invalid JSON: comments (/*) are not allowed in JSON; remove it")
    }

    func testNonFiniteAndMalformedNumbers() throws {
        refuses(#"{"lr": NaN}"#, "c.json:1:8: lr: NaN is not a JSON number; write a finite number")
        refuses(#"{"lr": -Infinity}"#, "c.json:1:8: lr: -Infinity is not a JSON number; write a finite number")
        refuses(#"{"lr": Infinity}"#, "c.json:1:8: lr: Infinity is not a JSON number; write a finite number")
        refuses(#"{"seed": 0123}"#, "c.json:1:10: seed: 0123 has a leading zero, which JSON numbers may not have; write 123")
        refuses(#"{"seed": -007}"#, "c.json:1:10: seed: -007 has a leading zero, which JSON numbers may not have; write -7")
        refuses(#"{"n": +1}"#, "c.json:1:7: n: a JSON number may not start with \"+\"; remove it")
        refuses(#"{"n": .5}"#, "c.json:1:7: n: a JSON number needs a digit before the decimal point (write 0.5)")
        refuses(#"{"n": 1.}"#, "c.json:1:7: n: 1. needs digits after the decimal point (write 1.0 or 1)")
        refuses(#"{"n": 1e}"#, "c.json:1:7: n: 1e: the exponent has no digits")
        refuses(#"{"n": 0x1F}"#, "c.json:1:7: n: 0x1F: hexadecimal numbers are not JSON; write the number in decimal")
        refuses(#"{"schedule": {"gamma": 1e400}}"#,
                "c.json:1:24: schedule.gamma: 1e400 is beyond Float64's range (magnitude up to about 1.8e308); write a finite number")
        refuses(#"[1, -1e309]"#, "c.json:1:5: [1]: -1e309 is beyond Float64's range (magnitude up to about 1.8e308); write a finite number")
        // Underflow rounds to zero (as every reader does); -0 stays -0.
        XCTAssertEqual(try parse("1e-400"), .number(0))
        guard case .number(let z) = try parse("-0") else { return XCTFail() }
        XCTAssertEqual(z.bitPattern, (-0.0 as Double).bitPattern)
    }

    func testStringsControlCharactersEscapesSurrogatesAndUTF8() {
        refuses("{\"name\": \"a\tb\"}", "c.json:1:12: name: a raw control character (U+0009) inside a string (opened at 1:10); JSON strings must write it escaped, as \\t")
        refuses("{\"name\": \"ab\n\"}", "c.json:1:13: name: a line break inside a string (opened at 1:10); JSON strings must write it escaped, as \\n, or the closing quote is missing")
        refuses(#"{"name": "\ud800"}"#, "c.json:1:11: name: \\ud800 is a lone UTF-16 surrogate, not a character; write a surrogate pair (such as \\ud83d\\ude00) or the character itself")
        refuses(#"{"name": "\udc00x"}"#, "c.json:1:11: name: \\udc00 is a lone UTF-16 surrogate, not a character; write a surrogate pair (such as \\ud83d\\ude00) or the character itself")
        refuses(#"{"name": "\ud800\u0041"}"#, "c.json:1:11: name: \\ud800 is a lone UTF-16 surrogate, not a character; write a surrogate pair (such as \\ud83d\\ude00) or the character itself")
        refuses(#"{"name": "\x41"}"#, "c.json:1:11: name: invalid escape \\x in a string; JSON allows \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX")
        refuses(#"{"name": "\u12G4"}"#, "c.json:1:11: name: invalid \\u escape: expected 4 hexadecimal digits")
        var bad = Array("{\"name\": \"ab\"}".utf8)
        bad[11] = 0xFF
        XCTAssertEqual((try? JSON.parse(bad, source: "c.json")), nil)
        XCTAssertThrowsError(try JSON.parse(bad, source: "c.json")) { e in
            XCTAssertEqual("\(e)", "c.json:1:12: name: invalid UTF-8 (byte 0xFF) in a string; save the file as UTF-8")
        }
        // Overlong and surrogate encodings in UTF-8 are invalid too.
        for seq: [UInt8] in [[0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82]] {
            XCTAssertThrowsError(try JSON.parse(Array("\"".utf8) + seq + Array("\"".utf8), source: "c.json"), "\(seq)")
        }
        XCTAssertEqual(try parse(#""\ud83d\ude00 \u00e9 \/ \b\f\n\r\t \" \\ é""#), .string("\u{1F600} é / \u{08}\u{0C}\n\r\t \" \\ é"))
        XCTAssertEqual(try parse(#""\u0000""#), .string("\u{0}"))
    }

    func testSyntaxErrorsSayWhatWasExpected() {
        refuses("{\"seed\": 1,, }", "c.json:1:12: invalid JSON: expected a key in double quotes at the top level after \",\", found \",\"")
        refuses("{\"a\": 1 \"b\": 2}", "c.json:1:9: invalid JSON: expected \",\" or \"}\" after a, found a string")
        refuses("{\"a\" 1}", "c.json:1:6: invalid JSON: expected \":\" after the key a, found a number")
        refuses("{\"a\": [1 2]}", "c.json:1:10: invalid JSON: expected \",\" or \"]\" after a[0], found a number")
        refuses("{\"a\": }", "c.json:1:7: invalid JSON: expected a value for a (an object, array, string, number, true, false or null), found \"}\"")
        refuses("{'a': 1}", "c.json:1:2: invalid JSON: expected a key in double quotes at the top level, found \"'\"")
        refuses("{\"a\": 'x'}", "c.json:1:7: invalid JSON: strings need double quotes (\"), found '")
        refuses("{\"a\": relu}", "c.json:1:7: invalid JSON: expected a value for a (an object, array, string, number, true, false or null), found relu (a string needs double quotes: \"relu\")")
        refuses("{\"a\": True}", "c.json:1:7: a: invalid JSON: True is not a JSON value; JSON writes true, false and null in lower case")
        refuses("{\"a\": 1}}", "c.json:1:9: invalid JSON: \"}\" after the end of the top-level value; a JSON text holds one value")
        refuses("", "c.json:1:1: invalid JSON: expected a JSON value, found the end of the file")
        refuses("{\"data\": {\"a\": [1,\n", "c.json:2:1: invalid JSON: the file ends inside data.a (the array opened at 1:16 is not closed)")
        refuses("{\"data\": {\"a\": 1", "c.json:1:17: invalid JSON: the file ends inside data (the object opened at 1:10 is not closed)")
        refuses("{\"name\": \"abc", "c.json:1:10: invalid JSON: the string starting here is not closed (the file ends inside it)")
        refuses("\u{FEFF}{}", "c.json:1:1: starts with a UTF-8 byte order mark, which JSON text may not have (Python's json refuses it too); save the file without it")
        refuses("{\"a\":\u{201C}x\u{201D}}", "c.json:1:6: invalid JSON: expected a value for a (an object, array, string, number, true, false or null), found a typographic quote (U+201C); JSON needs straight double quotes (\")")
        // A control character is named, never printed.
        refuses("{\"a\": \u{1B}[31m}", "c.json:1:7: invalid JSON: expected a value for a (an object, array, string, number, true, false or null), found a control character (U+001B)")
    }

    func testLineAndColumnCountLinesAndCharacters() {
        // CR LF and lone CR end lines; columns count characters, not bytes.
        refuses("{\r\n\"é\": 1,\r\"é\": 2}", "c.json:3:1: é: duplicate key (first at 2:1); give each key once (JSON readers disagree on which value wins)")
        refuses("{\"ééé\": NaN}", "c.json:1:9: ééé: NaN is not a JSON number; write a finite number")
    }

    func testDepthAndSizeLimits() {
        let deep = String(repeating: "[", count: 101) + String(repeating: "]", count: 101)
        refuses(deep, "c.json:1:101: nested 101 levels deep; JSON here may nest at most 100 levels")
        XCTAssertNoThrow(try parse(String(repeating: "[", count: 100) + String(repeating: "]", count: 100)))
        XCTAssertThrowsError(try JSON.parse([UInt8](repeating: 0x20, count: (16 << 20) + 1), source: "c.json")) { e in
            XCTAssertEqual("\(e)", "c.json: 16777217 bytes is too large for a config (limit 16 MiB)")
        }
    }

    /// Every number reads as the C library's correctly rounded strtod reads it (and as Python
    /// does), and as the Foundation JSONDecoder the parser replaces read it, bit for bit: the fast
    /// path (Clinger) and the strtod path, on edge cases and 20,000 random decimals. (Foundation's
    /// JSONSerialization on Linux is not correctly rounded: it reads 0.10000000149011612 one ulp
    /// off, so it is not the reference.)
    func testNumbersMatchStrtodAndTheDecoderBitForBit() throws {
        var texts = ["0", "1", "0.1", "0.2", "0.3", "1e-7", "1e-07", "2.5e-3", "123456789012345678", "9007199254740993",
                     "1.7976931348623157e308", "2.2250738585072014e-308", "4.9e-324", "5e-324", "1e22", "1e23", "123.456e-10",
                     "0.000001", "99999999999999999999999", "3.141592653589793238462643383279", "1E+2", "1e-2", "0.10000000149011612",
                     "0.001", "1000000000000000000000000000000000000000e-20", "100000000000000000000.5", "-0.0", "1e-400"]
        var g = Fuzzer(seed: 2026)
        func digits(_ n: Int) -> String { String((0..<n).map { _ in Array("0123456789")[g.below(10)] }) }
        for _ in 0..<20_000 {
            let whole = String(digits(1 + g.below(20)).drop { $0 == "0" }).nonEmpty("0")
            let frac = g.below(2) == 0 ? "." + digits(1 + g.below(12)) : ""
            let exp = g.below(2) == 0 ? "e\(g.below(640) - 330)" : ""
            texts.append((g.below(2) == 0 ? "-" : "") + whole + frac + exp)
        }
        var compared = 0
        for t in texts {
            let strtod = Double(t)!
            guard strtod.isFinite else {
                XCTAssertThrowsError(try parse("[\(t)]"), t)
                continue
            }
            guard case .array(let a) = try parse("[\(t)]"), case .number(let d) = a[0] else { return XCTFail(t) }
            XCTAssertEqual(d.bitPattern, strtod.bitPattern, "\(t): \(d) vs strtod \(strtod)")
            // The decoder refuses what underflows to 0 or a subnormal (1e-400, 4.9e-324): we read it as strtod does.
            if let decoded = try? JSONDecoder().decode([Double].self, from: Data("[\(t)]".utf8))[0] {
                XCTAssertEqual(d.bitPattern, decoded.bitPattern, "\(t): \(d) vs JSONDecoder \(decoded)")
            } else {
                XCTAssertTrue(abs(strtod) < 2.3e-308, "the decoder refused \(t)")
            }
            compared += 1
        }
        XCTAssertGreaterThan(compared, 15_000)
    }

    func testIntegralNumbersWrittenAsFloatsAreRecorded() throws {
        let (json, source) = try ConfigSource.parse(Array(#"{"seed": 1234.0, "a": [1e3, 2, 2.5], "lr": 1.0}"#.utf8), name: "c.json")
        XCTAssertEqual(json["seed"], .number(1234))
        XCTAssertEqual(source.nonIntegerSpelling(at: "seed"), "1234.0")
        XCTAssertEqual(source.nonIntegerSpelling(at: "a[0]"), "1e3")
        XCTAssertNil(source.nonIntegerSpelling(at: "a[1]"))
        XCTAssertNil(source.nonIntegerSpelling(at: "a[2]"), "not integral: refused by value")
        XCTAssertEqual(source.nonIntegerSpelling(at: "lr"), "1.0")
        XCTAssertNil(source.masking(sets: ["seed=3"]).nonIntegerSpelling(at: "seed"))
        XCTAssertNil(source.masking(sets: ["a.0=3"]).nonIntegerSpelling(at: "a[0]"))
        XCTAssertEqual(source.location(of: "a[2]")?.line, 1)
        XCTAssertEqual(source.location(of: "a[2]")?.column, 32)
        XCTAssertEqual(source.location(of: "lr", key: true)?.column, 38)
        XCTAssertNil(source.location(of: "nowhere"))
    }

    /// A config's integer fields refuse non-integers, naming the path and line:column.
    func testIntegerFieldsRefuseFloatsWithTheirLocation() throws {
        func configError(_ text: String) -> String {
            do {
                let (json, source) = try ConfigSource.parse(Array(text.utf8), name: "t.json")
                _ = try source.reading { try TrainConfig.parse(json, baseDirectory: "/") }
                return ""
            } catch { return "\(error)" }
        }
        let base = #""model": {"layers": [{"type": "flatten"}]}"#
        XCTAssertEqual(configError("{\"seed\": 1234.0, \"data\": {\"dataset\": \"digits\"}, \(base)}"),
                       "t.json:1:10: seed: expected an integer, found 1234.0 (written with a fraction, a float to JSON readers such as Python's); write 1234")
        XCTAssertEqual(configError("{\"data\": {\"dataset\": \"digits\",\n \"batchSize\": 32.5}, \(base)}"),
                       "t.json:2:15: data.batchSize: expected an integer, found 32.5")
        XCTAssertEqual(configError("{\"data\": {\"dataset\": \"digits\"}, \"training\": {\"epochs\": 1e3}, \(base)}"),
                       "t.json:1:56: training.epochs: expected an integer, found 1e3 (written with an exponent, a float to JSON readers such as Python's); write 1000")
        XCTAssertEqual(configError("{\"data\": {\"dataset\": \"digits\"}, \"training\": {\"epoch\": 3}, \(base)}"),
                       "t.json:1:46: training.epoch: unknown key (did you mean \"epochs\"?); known keys here: epochs, maxSteps")
        // Floats stay floats: 1.0 and 1e-3 for float fields are fine.
        XCTAssertEqual(configError("{\"data\": {\"dataset\": \"digits\"}, \"optimizer\": {\"lr\": 1.0, \"epsilon\": 1e-3}, \(base)}"), "")
    }

    /// `key=value` applied as the command line's `--set` applies it (Replayer's ConfigAssignment).
    func set(_ j: inout JSON, _ assignment: String) throws {
        let parts = assignment.split(separator: "=", maxSplits: 1).map(String.init)
        let path = parts[0].split(separator: ".").map(String.init)
        try j.set(path: path, to: JSON.argument(parts[1], for: path, in: j))
    }

    func testSetsAndArgumentsUseOnePathNotation() throws {
        var j = try parse(#"{"model": {"layers": [{"units": 1}, {"units": 2}]}, "seed": 1}"#)
        try set(&j, "model.layers.1.units=16")
        XCTAssertEqual(j["model"]?["layers"], .array([.object(["units": .number(1)]), .object(["units": .number(16)])]))
        XCTAssertThrowsError(try set(&j, "model.layers.5.units=3")) { e in
            XCTAssertEqual("\(e)", "cannot set model.layers[5]: model.layers is an array of 2 elements, indexed 0...1")
        }
        XCTAssertThrowsError(try set(&j, "seed.x=3")) { e in
            XCTAssertEqual("\(e)", "cannot set seed.x: seed is a number, not an object or an array")
        }
        XCTAssertThrowsError(try set(&j, "model.layers.0.shape=[1,2,]")) { e in
            XCTAssertEqual("\(e)", "cannot set model.layers[0].shape: [1,2,] is not valid JSON (1:5: invalid JSON: trailing comma after [1]; remove it)")
        }
        XCTAssertEqual(JSON.fromArgument("keras"), .string("keras"))
        XCTAssertEqual(JSON.fromArgument("NaN"), .string("NaN"))
        XCTAssertEqual(JSON.fromArgument("0.05"), .number(0.05))
        XCTAssertEqual(JSON.fromArgument(#"{"mean":[0.5]}"#), .object(["mean": .array([.number(0.5)])]))
        XCTAssertEqual(j.path(dotted: "model.layers.1.units"), "model.layers[1].units")
        XCTAssertEqual(JSONPath.member("data", "\u{1B}[31m"), "data.\\u001b[31m")
    }

    /// Text the old (Foundation) reader produced for every committed config, re-read identically.
    func testCommittedConfigsParseAsBefore() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let files = try FileManager.default.subpathsOfDirectory(atPath: root.appendingPathComponent("examples").path).filter { $0.hasSuffix(".json") }
        XCTAssertGreaterThan(files.count, 5)
        for f in files {
            let data = try Data(contentsOf: root.appendingPathComponent("examples").appendingPathComponent(f))
            let ours = try JSON.parse(Array(data), source: f)
            let theirs = try JSONDecoder().decode(JSON.self, from: data)
            XCTAssertEqual(ours, theirs, f)
            XCTAssertEqual(ours.text, theirs.text, f)
        }
    }
}
