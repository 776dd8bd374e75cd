import Engine
import Foundation
import Recorder

/// A golden step-hash file (`cwrepro hashes`): a small, stable, diffable text meant to be
/// committed next to a train.json and checked in CI by `cwrepro verify`.
///
/// ```
/// # cwrepro step hashes ...            comment lines start with '#'
/// format cwrepro-hashes 1
/// name mlp-digits
/// level grads                          the record level the digests were hashed at
/// semantics pytorch
/// config-hash 5d2c...                  XXH3-64 of the resolved config (canonical JSON text)
/// steps 90                             training steps (the init line comes on top)
/// status running                       only for a record that is not complete: running (killed or
///                                      still going) or failed <reason>
/// tensors no                           yes: every step is followed by its tensor lines
/// env blas.core Haswell                environment summary (the bit-relevant facts)
/// config optimizer.lr 0.1              the resolved config, flattened, one key per line
/// step loss loss-bits digest           the table: one line per step
/// init - - 8f1e...
/// 0 2.3170984 40144a3c 0b7e...
///   7d1f... batch f32 [32,1,8,8] batch.x     (with --tensors: hash role dtype shape name)
/// eval 44 test 299/360 b693...         an evaluation after step 44: split, correct/total,
///                                      XXH3 of the predicted labels
/// ```
/// Wall times are left out on purpose: the file changes only when the numbers do.
public struct StepHashes: Sendable {
    public static let formatTag = "cwrepro-hashes"
    public static let version = 1

    public struct Entry: Sendable, Equatable {
        public var step: Int
        public var loss: Float
        public var digest: UInt64
        /// The step's tensors in execution order (hash, role, dtype, shape, name), when the file has them.
        public var tensors: [RecordedEvent]?
    }

    /// An evaluation after a step: the predictions' hash decides, the counts are for people.
    public struct EvalEntry: Sendable, Equatable {
        public var step: Int
        public var split: String
        public var correct: Int
        public var total: Int
        public var predictionsHash: UInt64
    }

    public var name: String
    public var level: RecordLevel
    public var semantics: String
    public var configHash: UInt64
    /// The resolved config, flattened (dotted path, canonical JSON text of the value).
    public var config: [(key: String, value: String)]
    public var environment: [String: String]
    public var entries: [Entry]
    public var evaluations: [EvalEntry] = []
    public var hasTensors: Bool
    /// The status of the record the golden was made from (`complete` unless the file says otherwise).
    public var status: RecordStatus = .complete
    /// The record was being written by another process when the golden was made from it.
    public var writerActive = false

    /// Training steps (the init entry excluded).
    public var trainingSteps: Int { entries.filter { $0.step >= 0 }.count }

    /// Environment facts kept in the header: those that can change bits, and what names the machine.
    public static let environmentKeys = ["cpu.model", "os"] + EnvironmentProfile.bitRelevantKeys

    /// XXH3-64 of the canonical (key-sorted, compact) text of a resolved config.
    public static func configHash(_ resolved: JSON) -> UInt64 { TensorHash.string(resolved.text) }

    /// The step hashes of a record; with `tensors`, every step's tensor hashes too.
    public static func from(_ reader: RecordReader, tensors: Bool) throws -> StepHashes {
        let resolved = try JSON.parse(Array(reader.configResolved.utf8), source: "\(reader.path) (resolved config)")
        let steps = try reader.steps()
        let entries = try steps.map { s in
            Entry(step: s.step, loss: s.loss, digest: s.digest, tensors: tensors ? try reader.events(step: s.step) : nil)
        }
        var name = "run"
        if case .string(let n)? = resolved["name"] { name = n }
        var g = StepHashes(name: name, level: reader.level, semantics: reader.meta["semantics"] ?? "?",
                           configHash: configHash(resolved), config: Change.leaves(resolved),
                           environment: reader.environment.filter { environmentKeys.contains($0.key) },
                           entries: entries, hasTensors: tensors)
        g.evaluations = try reader.evaluations().map {
            EvalEntry(step: $0.step, split: $0.split, correct: $0.correct, total: $0.total, predictionsHash: $0.predictionsHash)
        }
        g.status = reader.status
        g.writerActive = reader.writerActive
        return g
    }

    /// A golden from a `.hashes` file, or from a `.cwr` record (which always has the tensors).
    /// The largest golden read (a pipe or device is read up to it): 1 GiB, about 15 million
    /// tensor lines.
    static let maxBytes = 1 << 30

    public static func load(path: String) throws -> StepHashes {
        guard FileManager.default.fileExists(atPath: path) else {
            throw InputError("golden file not found: \(path); write one with `cwrepro hashes run.cwr -o \(path)`")
        }
        // A directory, an unreadable file: readFile says which. A pipe is read (`<(cat g.hashes)`).
        let data = try readFile(path, what: "golden file", limit: maxBytes)
        guard data.count <= maxBytes else { throw InputError("golden file \(path) is larger than \(maxBytes >> 30) GiB: not a step-hash file") }
        // A .cwr that is not a database gets the record reader's message (exit 3), not advice to
        // overwrite it with a hashes file.
        if data.starts(with: Array("SQLite format 3".utf8)) || path.hasSuffix(".cwr") {
            return try from(RecordReader(path: path), tensors: true)
        }
        // A config given as the golden: never advise writing a golden over it.
        if data.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) == UInt8(ascii: "{") {
            throw InputError("\(path) is JSON (a train.json config?), not a golden step-hash file; make a golden from a record: `cwrepro record \(path) -o run.cwr`, then `cwrepro hashes run.cwr -o steps.hashes`")
        }
        return try parse(String(decoding: data, as: UTF8.self), source: path)
    }

    public var text: String {
        var out = """
            # cwrepro step hashes: one line per step (step, loss, float32 loss bits, step digest).
            # Written by `cwrepro hashes`; checked by `cwrepro verify train.json --golden <this file>`.
            # Regenerate it only when a change of training numerics is intended.
            format \(Self.formatTag) \(Self.version)
            name \(name)
            level \(level.rawValue)
            semantics \(semantics)
            config-hash \(hex64(configHash))
            steps \(trainingSteps)

            """
        // Only a record that is not complete says so: goldens of complete runs keep their bytes.
        switch status {
        case .complete: break
        case .running: out += "status running\n"
        case .failed(let reason): out += "status failed \(reason.split(whereSeparator: \.isNewline).joined(separator: " "))\n"
        }
        out += "tensors \(hasTensors ? "yes" : "no")\n"
        for k in environment.keys.sorted() { out += "env \(k) \(environment[k]!)\n" }
        for (k, v) in config { out += "config \(k) \(v)\n" }
        out += "step loss loss-bits digest\n"
        for e in entries {
            if e.step == initStep {
                out += "init - - \(hex64(e.digest))\n"
            } else {
                out += "\(e.step) \(String(format: "%.7g", Double(e.loss))) \(hex32(e.loss.bitPattern)) \(hex64(e.digest))\n"
            }
            for t in e.tensors ?? [] {
                out += "  \(hex64(t.hash)) \(t.role.rawValue) \(t.dtype.name) \(t.shapeText) \(t.name)\n"
            }
            for v in evaluations where v.step == e.step {
                out += "eval \(v.step) \(v.split) \(v.correct)/\(v.total) \(hex64(v.predictionsHash))\n"
            }
        }
        return out
    }

    public static func parse(_ text: String, source: String) throws -> StepHashes {
        var g = StepHashes(name: "run", level: .grads, semantics: "?", configHash: 0, config: [], environment: [:],
                           entries: [], hasTensors: false)
        var sawFormat = false, inTable = false, declaredSteps: Int?
        var entryLine = 0   // the line of the last step, whose tensor lines follow it
        func bad(_ n: Int, _ why: String) -> InputError {
            // Only a file that says it is a golden gets advice to regenerate it in place.
            sawFormat ? InputError("\(source):\(n): \(why); regenerate the file with `cwrepro hashes run.cwr -o \(source)`")
                : InputError("\(source):\(n): \(why): not a cwrepro step-hash file (no `format \(Self.formatTag)` line before it); write a golden with `cwrepro hashes run.cwr -o steps.hashes`")
        }
        /// The last step's tensor lines, once they are all read, must give its digest (`checkTensors`).
        func checkLastTensors() throws {
            guard let e = g.entries.last else { return }
            try checkTensors(e, line: entryLine, source: source)
        }
        // Any line ending: a golden checked out with CRLF endings (git's autocrlf) reads the same.
        for (i, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let n = i + 1
            let line = String(raw)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if inTable {
                if line.hasPrefix("  ") {
                    let f = line.dropFirst(2).split(separator: " ", maxSplits: 4).map(String.init)
                    guard g.hasTensors, !g.entries.isEmpty, f.count == 5, let h = UInt64(f[0], radix: 16),
                          let role = TensorRole(rawValue: f[1]), let dtype = DType(name: f[2]) else {
                        throw bad(n, "expected a tensor line: hash role dtype shape name")
                    }
                    let dims = f[3].trimmingCharacters(in: CharacterSet(charactersIn: "[]")).split(separator: ",").compactMap { Int($0) }
                    let last = g.entries.count - 1
                    let seq = g.entries[last].tensors?.count ?? 0
                    g.entries[last].tensors = (g.entries[last].tensors ?? []) + [RecordedEvent(
                        step: g.entries[last].step, seq: seq, name: f[4], role: role, dtype: dtype, shape: dims, hash: h, nonFinite: 0)]
                    continue
                }
                let f = line.split(separator: " ").map(String.init)
                if f.first == "eval" {
                    let counts = f.count == 5 ? f[3].split(separator: "/").compactMap { Int($0) } : []
                    guard counts.count == 2, let step = Int(f[1]), let h = UInt64(f[4], radix: 16), step == g.entries.last?.step else {
                        throw bad(n, "expected: eval step split correct/total predictions-hash, after its step")
                    }
                    g.evaluations.append(EvalEntry(step: step, split: f[2], correct: counts[0], total: counts[1], predictionsHash: h))
                    continue
                }
                guard f.count == 4, let digest = UInt64(f[3], radix: 16) else { throw bad(n, "expected: step loss loss-bits digest") }
                let step: Int, loss: Float
                if f[0] == "init" {
                    step = initStep; loss = 0
                } else {
                    guard let s = Int(f[0]), s >= 0, let bits = UInt32(f[2], radix: 16) else { throw bad(n, "expected: step loss loss-bits digest") }
                    step = s; loss = Float(bitPattern: bits)
                }
                if let prev = g.entries.last?.step, step != prev + 1 { throw bad(n, "step \(f[0]) follows step \(stepLabel(prev))") }
                try checkLastTensors()
                entryLine = n
                g.entries.append(Entry(step: step, loss: loss, digest: digest, tensors: g.hasTensors ? [] : nil))
                continue
            }
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            let key = parts[0], value = parts.count > 1 ? parts[1] : ""
            switch key {
            case "format":
                guard value.hasPrefix(formatTag + " "), let v = Int(value.dropFirst(formatTag.count + 1)) else {
                    throw bad(n, "not a cwrepro step-hash file (format line: \(value))")
                }
                guard v <= version else {
                    throw InputError("\(source) is step-hash format \(v), this cwrepro reads up to \(version): upgrade cwrepro")
                }
                sawFormat = true
            case "name": g.name = value
            case "level":
                guard let l = RecordLevel(rawValue: value) else { throw bad(n, "unknown level \(value)") }
                g.level = l
            case "semantics": g.semantics = value
            case "config-hash":
                guard let h = UInt64(value, radix: 16) else { throw bad(n, "config-hash is not 16 hex digits") }
                g.configHash = h
            case "steps":
                guard let d = Int(value), d >= 0 else { throw bad(n, "steps \(value): expected the count of training steps") }
                declaredSteps = d
            case "tensors": g.hasTensors = value == "yes"
            case "status":
                let f = value.split(separator: " ", maxSplits: 1).map(String.init)
                switch f.first {
                case "running": g.status = .running
                case "complete": g.status = .complete
                case "failed": g.status = .failed(reason: f.count > 1 ? f[1] : "no reason recorded")
                default: throw bad(n, "status \(value): expected running, complete or failed <reason>")
                }
            case "env", "config":
                let kv = value.split(separator: " ", maxSplits: 1).map(String.init)
                guard kv.count == 2 else { throw bad(n, "expected: \(key) <key> <value>") }
                if key == "env" { g.environment[kv[0]] = kv[1] } else { g.config.append((kv[0], kv[1])) }
            case "step": inTable = true
            default: throw bad(n, "unknown header line \"\(key)\"")
            }
            if !sawFormat { throw bad(n, "the first line must be `format \(formatTag) \(version)`") }
        }
        guard sawFormat else { throw InputError("\(source) is not a cwrepro step-hash file (no format line)") }
        try checkLastTensors()
        // `hashes` always writes the steps line and a table that starts with the init line: a file
        // without them was cut or edited (not a golden of a run without training steps).
        guard let d = declaredSteps else {
            throw InputError("\(source): no `steps` line; the file is cut or edited (regenerate it with `cwrepro hashes run.cwr -o \(source)`)")
        }
        guard inTable, g.entries.first?.step == initStep else {
            throw InputError("\(source): no step table (its `step loss loss-bits digest` header and init line); the file is cut or edited (regenerate it with `cwrepro hashes run.cwr -o \(source)`)")
        }
        if d != g.trainingSteps {
            throw InputError("\(source): the header declares \(d) steps, the table has \(g.trainingSteps); the file is cut or edited")
        }
        return g
    }
}

extension StepHashes {
    /// Checks that a step's tensor lines (a golden written with `--tensors`) reproduce its digest:
    /// the recorder's digest over the ordered (name, role, hash) list of the step's tensors
    /// (`TensorHash.digest`), so a duplicated, dropped, reordered or changed tensor line is a
    /// damaged file, not a tensor that "the golden has and the run did not produce". `line` is
    /// the step's line in `source`. A step without tensor lines (`tensors no`) is not checked.
    static func checkTensors(_ e: Entry, line: Int, source: String) throws {
        guard let tensors = e.tensors else { return }
        let digest = TensorHash.digest(tensors.map { ($0.name, $0.role.rawValue, $0.hash) })
        guard digest != e.digest else { return }
        let what = e.step == initStep ? "the init step" : "step \(e.step)"
        let lines = tensors.count == 1 ? "1 tensor line" : "\(tensors.count) tensor lines"
        throw InputError("\(source):\(line): the \(lines) of \(what) do not reproduce its digest \(hex64(e.digest)) (they give \(hex64(digest))): the file is edited or damaged; regenerate it with `cwrepro hashes run.cwr --tensors -o \(source)`")
    }
}

/// 8 lowercase hex digits.
func hex32(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: 8 - s.count) + s
}
