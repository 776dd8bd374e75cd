import Foundation
import XCTest
@testable import Engine
import Recorder

/// The semantics knobs: the documented table equals the code, and the defaults a profile gives
/// are the ones the engine uses.
final class KnobTests: XCTestCase {
    static var guideline: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("guidelines/04-porting-between-frameworks.md")
    }

    /// The knob table of the porting guideline (its section "## The knobs"): knob -> (pytorch, keras,
    /// formula) as written.
    func documentedKnobs() throws -> [String: (JSON, JSON, String)] {
        let whole = try String(contentsOf: Self.guideline, encoding: .utf8)
        let section = try XCTUnwrap(whole.range(of: "\n## The knobs\n"), "the guideline has a section \"## The knobs\"")
        let rest = whole[section.upperBound...]
        let text = rest[..<(rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex)]
        func value(_ cell: Substring) -> JSON {
            let s = cell.trimmingCharacters(in: .whitespaces)
            if s.hasPrefix("`") { return .string(String(s.dropFirst().dropLast())) }
            return Double(s).map(JSON.number) ?? .string(s)
        }
        var out: [String: (JSON, JSON, String)] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| `") {
            // Cells split on unescaped "|" only (formulas may contain "\|").
            let cells = line.replacingOccurrences(of: "\\|", with: "\u{1}").split(separator: "|", omittingEmptySubsequences: false)
                .dropFirst().map { $0.replacingOccurrences(of: "\u{1}", with: "|")[...] }
            let name = cells[cells.startIndex].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            guard Knobs.named(name) != nil || name.contains(".") else { continue }
            XCTAssertNil(out[name], "\(name) documented twice")
            out[name] = (value(cells[cells.startIndex + 1]), value(cells[cells.startIndex + 2]),
                         cells[cells.startIndex + 3].trimmingCharacters(in: .whitespaces))
        }
        return out
    }

    func testDocumentedDefaultsEqualTheCode() throws {
        let doc = try documentedKnobs()
        XCTAssertEqual(Set(doc.keys), Set(Knobs.all.map(\.name)), "the guideline's knob table lists exactly the knobs of the code")
        let torch = Semantics(profile: .pytorch), keras = Semantics(profile: .keras)
        for k in Knobs.all {
            guard let (p, q, formula) = doc[k.name] else { continue }
            XCTAssertEqual(p, torch.values[k.name], "\(k.name): documented pytorch value")
            XCTAssertEqual(q, keras.values[k.name], "\(k.name): documented keras value")
            XCTAssertEqual(formula, k.formula, "\(k.name): documented formula")
            if let choices = k.choices {
                for v in [k.pytorch, k.keras] { if case .string(let s) = v { XCTAssertTrue(choices.contains(s), "\(k.name): \(s)") } }
            }
        }
    }

    func config(_ profile: String, _ optimizer: String) throws -> TrainConfig {
        let text = """
            {"semantics": "\(profile)", "data": {"dataset": "digits"}, "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]},
             "optimizer": \(optimizer)}
            """
        return try TrainConfig.parse(JSON.parse(Array(text.utf8), source: "test"), baseDirectory: "/")
    }

    /// Optimizer hyperparameters not given take the profile's defaults; given ones win.
    func testOptimizerDefaultsComeFromTheProfile() throws {
        for profile in Semantics.profiles {
            let s = Semantics(profile: Semantics.Profile(rawValue: profile)!)
            func f(_ k: String) -> Float {
                guard case .number(let d)? = s.values[k] else { XCTFail("\(k) is not a number"); return .nan }
                return Float(d)
            }
            XCTAssertEqual(try config(profile, #"{"type": "sgd"}"#).optimizer.lr, f("sgd.lr"))
            XCTAssertEqual(try config(profile, #"{"type": "adam"}"#).optimizer.epsilon, f("adam.epsilon"))
            let r = try config(profile, #"{"type": "rmsprop"}"#).optimizer
            XCTAssertEqual(r.lr, f("rmsprop.lr"))
            XCTAssertEqual(r.rho, f("rmsprop.rho"))
            XCTAssertEqual(r.epsilon, f("rmsprop.epsilon"))
            XCTAssertEqual(try config(profile, #"{"type": "adam", "epsilon": 0.5}"#).optimizer.epsilon, 0.5)
        }
        // An override of a default knob moves the default.
        var c = try config("pytorch", #"{"type": "adam"}"#).given
        try c.set(path: ["overrides", "adam.epsilon"], to: .number(1e-7))
        XCTAssertEqual(try TrainConfig.parse(c, baseDirectory: "/").optimizer.epsilon, 1e-7)
    }

    /// Each `init.kernel` value draws within its documented bound, and fills most of it.
    func testInitKernelBounds() throws {
        let fanIn = 64, fanOut = 32
        let bounds: [String: Double] = ["pytorch": 1 / Double(fanIn).squareRoot(),
                                        "glorotUniform": (6 / Double(fanIn + fanOut)).squareRoot(),
                                        "heUniform": (6 / Double(fanIn)).squareRoot()]
        XCTAssertEqual(Set(bounds.keys), Set(Knobs.named("init.kernel")!.choices!))
        for (choice, bound) in bounds {
            var s = Semantics(profile: .pytorch)
            try s.apply(["init.kernel": .string(choice)])
            let params = ParameterStore()
            let off = params.add("w", shape: [fanOut, fanIn])
            let ctx = Context(recorder: .plain(seed: 1), params: params, semantics: s)
            Init.kernel(ctx, name: "w", offset: off, count: fanIn * fanOut, fanIn: fanIn, fanOut: fanOut)
            let w = UnsafeBufferPointer(start: params.values + off, count: fanIn * fanOut)
            let m = Double(w.map(abs).max()!)
            XCTAssertLessThanOrEqual(m, bound * (1 + 1e-6), choice)
            XCTAssertGreaterThan(m, bound * 0.95, choice)
        }
    }

    /// Overrides: every choice of every knob is accepted; a wrong value or name says what to do.
    func testOverridesAreChecked() throws {
        for k in Knobs.all {
            var s = Semantics(profile: .keras)
            for v in k.choices?.map(JSON.string) ?? [.number(0.5)] {
                XCTAssertNoThrow(try s.apply([k.name: v]), k.name)
                XCTAssertEqual(s.values[k.name], v)
            }
        }
        var s = Semantics(profile: .pytorch)
        XCTAssertThrowsError(try s.apply(["adam.epsilonMode": .string("inside")])) {
            XCTAssertTrue("\($0)".contains("expected one of corrected, hat"), "\($0)")
        }
        XCTAssertThrowsError(try s.apply(["adam.epsilonMod": .string("hat")])) {
            XCTAssertTrue("\($0)".contains("adam.epsilonMode"), "suggests the knob: \($0)")
        }
    }
}
