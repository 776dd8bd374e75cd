import Engine
import Foundation
import Recorder
#if canImport(Glibc)
import Glibc
#endif

/// Reads a trace (docs/trace-format.md, version 1; gzip-compressed or plain, recognised by its
/// first bytes) and checks every line and field as python/cwrepro/reader.py does, in the same
/// order, recomputing every step digest, every predictions hash and, where values are stored,
/// every tensor hash and statistic. The first violation is a `TraceError` naming the file, the
/// line and the field. The whole trace is held in memory (the events and the kept values).
public enum TraceReader {
    static let headerFields: Set<String> = ["type", "format", "version", "name", "framework", "level", "seed", "keepTensors", "model",
                                            "optimizer", "environment", "created"]
    static let tensorFields: Set<String> = ["type", "step", "seq", "name", "role", "dtype", "shape", "hash", "stats"]
    static let statsFields: Set<String> = ["nonfinite", "min", "max", "mean", "l2"]
    static let stepFields: Set<String> = ["type", "step", "epoch", "loss", "lossBits", "lr", "tensors", "digest", "wallSeconds"]
    static let evaluationFields: Set<String> = ["type", "step", "epoch", "split", "total", "correct", "accuracy", "perClassCorrect",
                                                "perClassTotal", "perClassAccuracy", "predictionsHash", "predictions", "loss", "lossBits"]
    static let endFields: Set<String> = ["type", "status", "steps", "tensors", "evaluations", "wallSeconds", "error"]

    /// Whether `bytes` start like a trace (gzip, or a JSON object) rather than like a record.
    public static func looksLikeTrace(_ head: [UInt8]) -> Bool {
        Gzip.isGzip(head) || head.first == UInt8(ascii: "{")
    }

    public static func read(path: String) throws -> Trace {
        var st = stat()
        guard stat(path, &st) == 0 else { throw TraceError(path: path, line: 0, field: "", message: "cannot read: no such file") }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw TraceError(path: path, line: 0, field: "", message: "cannot read: not a regular file (a trace is a file written by cwrepro.torch or cwrepro.keras)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TraceError(path: path, line: 0, field: "", message: "cannot read: permission denied or an I/O error")
        }
        return try parse([UInt8](data), path: path)
    }

    /// Checks the bytes of a trace file (`path` names it in messages).
    public static func parse(_ raw: [UInt8], path: String) throws -> Trace {
        var bytes = raw, truncated = false
        if Gzip.isGzip(raw) {
            do {
                let inflated = try Gzip.inflateAvailable(raw, name: path)
                bytes = inflated.bytes
                truncated = !inflated.ended
            } catch let e as InputError {
                throw TraceError(path: path, line: 0, field: "", message: e.message.hasPrefix(path + ": ") ? String(e.message.dropFirst(path.count + 2)) : e.message)
            }
        }
        guard !bytes.isEmpty else { throw TraceError(path: path, line: 0, field: "", message: "empty file (a trace starts with a header line)") }
        var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true {
            lines.removeLast()
        } else {
            throw TraceError(path: path, line: lines.count, field: "", message: "the last line has no newline (the file was truncated while written)")
        }
        var state = State(path: path)
        for (i, line) in lines.enumerated() {
            try state.read(Array(line), number: i + 1)
        }
        return try state.finish(truncated: truncated, lines: lines.count)
    }

    /// The reader's position: the header, the finished steps, the step in progress.
    struct State {
        let path: String
        var header: Trace.Header?
        var steps: [Trace.Step] = []
        var evaluations: [Trace.EvaluationLine] = []
        var pending: [RecordedEvent] = []
        var seen: Set<String> = []
        var step = initStep
        var tensorTotal = 0
        var end: (status: Trace.Status, wall: Double)?
        var lastLine = 0
        /// (step, split) of every evaluation, with its line: a record holds one per step and split.
        var evaluationLines: [String: Int] = [:]

        init(path: String) { self.path = path }

        mutating func read(_ bytes: [UInt8], number: Int) throws {
            lastLine = number
            guard String(validating: bytes, as: UTF8.self) != nil else {
                throw TraceError(path: path, line: number, field: "", message: "not valid UTF-8")
            }
            let json: JSON, source: ConfigSource
            do { (json, source) = try ConfigSource.parse(bytes, name: path, line: number, limit: .max) } catch let e as InputError {
                throw TraceError(syntax: e, path: path, line: number)
            }
            let f = TraceFields(path: path, line: number, source: source)
            guard case .object(let o) = json else { throw f.fail("", "expected a JSON object") }
            guard case .string(let type)? = o["type"] else {
                throw f.fail("type", "missing (every line has a type: header, tensor, step, evaluation, end)")
            }
            guard let header else {
                header = try TraceReader.header(o, type: type, f)
                return
            }
            if end != nil { throw f.fail("type", "a line after the end line") }
            switch type {
            case "tensor":
                pending.append(try TraceReader.tensor(o, header: header, step: step, seq: pending.count, seen: &seen, f))
            case "step":
                let s = try TraceReader.step(o, step: step, events: pending, f)
                if step == initStep { try TraceReader.checkInit(header, s, f) }
                steps.append(s)
                tensorTotal += pending.count
                pending = []
                seen = []
                step += 1
            case "evaluation":
                if !pending.isEmpty {
                    throw f.fail("type", "an evaluation inside step \(step) (after its tensor lines, before its step line)")
                }
                let e = try TraceReader.evaluation(o, lastStep: step - 1, f)
                let key = "\(e.evaluation.step)|\(e.evaluation.split)"
                if let first = evaluationLines[key] {
                    throw f.fail("split", "a second evaluation of split \"\(e.evaluation.split)\" after step \(e.evaluation.step) (the first is on line \(first)); a record holds one evaluation per step and split")
                }
                evaluationLines[key] = number
                evaluations.append(e)
            case "end":
                if !pending.isEmpty {
                    throw f.fail("type", "the end line comes before step \(step)'s step line (\(pending.count) tensor lines without one)")
                }
                end = try TraceReader.end(o, steps: steps.count - 1, tensors: tensorTotal, evaluations: evaluations.count, f)
            case "header":
                throw f.fail("type", "a second header line")
            default:
                throw f.fail("type", "unknown line type \(TraceFields.shown(.string(type))) (header, tensor, step, evaluation, end)")
            }
        }

        func finish(truncated: Bool, lines: Int) throws -> Trace {
            guard let header else { throw TraceError(path: path, line: 0, field: "", message: "no header line") }
            if !pending.isEmpty {
                throw TraceError(path: path, line: lastLine, field: "", message: "the trace ends inside step \(step): \(pending.count) tensor lines without a step line")
            }
            guard !steps.isEmpty else { throw TraceError(path: path, line: lastLine, field: "", message: "no initialisation step (step -1)") }
            return Trace(path: path, header: header, steps: steps, evaluations: evaluations, status: end?.status ?? .incomplete,
                         wallSeconds: end?.wall, truncatedGzip: truncated)
        }
    }

    // MARK: lines

    static func header(_ h: [String: JSON], type: String, _ f: TraceFields) throws -> Trace.Header {
        guard type == "header" else { throw f.fail("type", "the first line must be the header, got \(TraceFields.shown(.string(type)))") }
        guard case .string(Trace.formatTag)? = h["format"] else {
            throw f.fail("format", "expected \"\(Trace.formatTag)\", got \(TraceFields.shown(h["format"])) (not a cwrepro trace)")
        }
        let version = try f.integerValue(h["version"], at: "version")!
        if version > Trace.version {
            throw f.fail("version", "\(version) was written by a newer cwrepro; this reader knows version \(Trace.version): upgrade cwrepro")
        }
        if version < 1 { throw f.fail("version", "\(version) is not a trace version (versions start at 1)") }
        try f.fields(h, headerFields)
        let name = try f.requiredString(h, "name")
        let fw = try f.object(h["framework"], at: "framework", "an object {name, version}")
        try f.fields(fw, ["name", "version"], where: "framework")
        let framework = Trace.Framework(name: try f.requiredString(fw, "name", where: "framework"),
                                        version: try f.requiredString(fw, "version", where: "framework"))
        guard case .string(let l)? = h["level"], let level = RecordLevel(rawValue: l) else {
            throw f.fail("level", "expected one of params, grads, activations, got \(TraceFields.shown(h["level"]))")
        }
        let seed = try f.optionalInteger(h, "seed", min: 0)
        let keep = try f.integer(h, "keepTensors", min: -1)
        let m = try f.object(h["model"], at: "model", "an object {class, layers, note, parameters}")
        try f.fields(m, ["class", "layers", "note", "parameters"], where: "model")
        let modelClass = try f.requiredString(m, "class", where: "model")
        var layers: JSON?
        if m["layers"] != .null {
            guard case .array(let a)? = m["layers"], a.allSatisfy({ if case .string? = $0["type"] { true } else { false } }) else {
                throw f.fail("model.layers", "expected null or an array of layer objects with a string \"type\" (train.json model.layers)")
            }
            layers = .array(a)
        }
        let note = try f.string(m, "note", where: "model", nullable: true)
        if layers == nil && note == nil { throw f.fail("model.note", "must say why model.layers is null") }
        guard case .array(let ps)? = m["parameters"] else { throw f.fail("model.parameters", "expected an array of {name, shape, trainable}") }
        var parameters: [Trace.Parameter] = []
        for (i, pv) in ps.enumerated() {
            let at = "model.parameters[\(i)]"
            let p = try f.object(pv, at: at, "an object {name, shape, trainable}")
            try f.fields(p, ["name", "shape", "trainable"], where: at)
            let pname = try f.requiredString(p, "name", where: at)
            let shape = try f.shape(p["shape"], at: at + ".shape")
            guard case .bool(let trainable)? = p["trainable"] else {
                throw f.fail(at + ".trainable", "expected true or false, got \(TraceFields.shown(p["trainable"]))")
            }
            parameters.append(.init(name: pname, shape: shape, trainable: trainable))
        }
        var optimizer: Trace.Optimizer?
        if h["optimizer"] != .null {
            let o = try f.object(h["optimizer"], at: "optimizer", "null or an object {class, config, stateNames, hyperparameters}")
            try f.fields(o, ["class", "config", "stateNames", "hyperparameters"], where: "optimizer")
            let cls = try f.requiredString(o, "class", where: "optimizer")
            var config: JSON?
            if o["config"] != .null {
                guard case .object? = o["config"], case .string? = o["config"]?["type"] else {
                    throw f.fail("optimizer.config", "expected null or a train.json optimizer object with a string \"type\"")
                }
                config = o["config"]
            }
            guard case .array(let sn)? = o["stateNames"], sn.allSatisfy({ if case .string(let s) = $0 { !s.isEmpty } else { false } }) else {
                throw f.fail("optimizer.stateNames", "expected an array of non-empty strings")
            }
            guard case .object? = o["hyperparameters"] else { throw f.fail("optimizer.hyperparameters", "expected an object") }
            optimizer = .init(className: cls, config: config, stateNames: sn.compactMap { if case .string(let s) = $0 { s } else { nil } },
                              hyperparameters: o["hyperparameters"]!)
        }
        let env = try f.object(h["environment"], at: "environment", "an object of strings")
        var environment: [String: String] = [:]
        for k in env.keys.sorted() {
            guard !k.isEmpty, case .string(let v)? = env[k] else {
                throw f.fail("environment.\(k)", "expected a string, got \(TraceFields.shown(env[k]))")
            }
            environment[k] = v
        }
        let created = try f.requiredString(h, "created")
        guard isCreatedTime(created) else {
            throw f.fail("created", "expected UTC time as YYYY-MM-DDTHH:MM:SSZ, got \(TraceFields.shown(.string(created)))")
        }
        return Trace.Header(name: name, framework: framework, level: level, seed: seed, keepTensors: keep,
                            model: .init(className: modelClass, layers: layers, note: note, parameters: parameters),
                            optimizer: optimizer, environment: environment, created: created, json: .object(h))
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`.
    static func isCreatedTime(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard b.count == 20 else { return false }
        let digit: (UInt8) -> Bool = { (0x30...0x39).contains($0) }
        return b.enumerated().allSatisfy { i, c in
            switch i {
            case 4, 7: c == UInt8(ascii: "-")
            case 10: c == UInt8(ascii: "T")
            case 13, 16: c == UInt8(ascii: ":")
            case 19: c == UInt8(ascii: "Z")
            default: digit(c)
            }
        }
    }

    static func tensor(_ t: [String: JSON], header: Trace.Header, step: Int, seq: Int, seen: inout Set<String>, _ f: TraceFields) throws -> RecordedEvent {
        try f.fields(t, tensorFields, ["values"])
        let s = try f.integer(t, "step")
        if s != step { throw f.fail("step", "\(s): expected \(step) (steps run -1 (initialisation), 0, 1, ... and each ends with a step line)") }
        let q = try f.integer(t, "seq")
        if q != seq { throw f.fail("seq", "\(q): expected \(seq) (tensors of a step are numbered 0, 1, ... in execution order)") }
        let name = try f.requiredString(t, "name")
        let roleText = try f.requiredString(t, "role")
        guard let role = TensorRole(rawValue: roleText), Trace.roles.contains(role) else {
            throw f.fail("role", "\(TraceFields.shown(.string(roleText))) is not a trace role (\(Trace.roles.map(\.rawValue).joined(separator: ", ")))")
        }
        guard header.level.includes(role) else { throw f.fail("role", "\(roleText) tensors are not captured at level \(header.level.rawValue)") }
        let key = name + "\u{0}" + roleText
        if seen.contains(key) { throw f.fail("name", "\(TraceFields.shown(.string(name))) (role \(roleText)) appears twice in step \(step)") }
        seen.insert(key)
        let dtype: DType
        switch t["dtype"] {
        case .string("f32")?: dtype = .float32
        case .string("i32")?: dtype = .int32
        default: throw f.fail("dtype", "expected \"f32\" or \"i32\" (canonical dtypes), got \(TraceFields.shown(t["dtype"]))")
        }
        let shape = try f.shape(t["shape"], at: "shape")
        let hash = try f.hex16(t, "hash")
        let st = try f.object(t["stats"], at: "stats", "an object {nonfinite, min, max, mean, l2}")
        try f.fields(st, statsFields, where: "stats")
        let nonfinite = try f.integer(st, "nonfinite", min: 0, where: "stats")
        let count = shape.reduce(1, *)
        if nonfinite > count { throw f.fail("stats.nonfinite", "\(nonfinite) exceeds the element count \(count)") }
        if dtype == .int32 && nonfinite != 0 { throw f.fail("stats.nonfinite", "an i32 tensor has no non-finite elements") }
        let values = try ["min", "max", "mean", "l2"].map { try f.number(st, $0, where: "stats", nullable: true) }
        if nonfinite == count && values.contains(where: { $0 != nil }) {
            throw f.fail("stats", "min, max, mean and l2 must be null when no element is finite")
        }
        if nonfinite < count && values.contains(where: { $0 == nil }) {
            throw f.fail("stats", "min, max, mean and l2 are required (numbers) when some element is finite")
        }
        let stats = TensorStats(nonFinite: nonfinite, min: values[0], max: values[1], mean: values[2], l2: values[3])
        if nonfinite < count, let mn = values[0], let mx = values[1], let mean = values[2], let l2 = values[3] {
            if !(mn <= mean && mean <= mx) && !isClose(mean, mn) && !isClose(mean, mx) {
                throw f.fail("stats.mean", "\(mean) lies outside [min, max] = [\(mn), \(mx)]")
            }
            if l2 < 0 { throw f.fail("stats.l2", "\(l2) is negative") }
        }
        var payload: [UInt8]?
        if let v = t["values"] {
            guard case .string(let text) = v else { throw f.fail("values", "expected a base64 string") }
            guard let data = Data(base64Encoded: text) else { throw f.fail("values", "not valid base64 (RFC 4648, standard alphabet, padded)") }
            let bytes = [UInt8](data)
            if bytes.count != count * dtype.size {
                throw f.fail("values", "\(bytes.count) bytes; shape \(shape) of \(dtype.name) needs \(count * dtype.size)")
            }
            let actual = bytes.withUnsafeBytes { TensorHash.tensor(dtype: dtype, shape: shape, raw: $0) }
            if actual != hash { throw f.fail("hash", "\(hex64(hash)) is not the hash of the stored values (\(hex64(actual)))") }
            let recomputed = bytes.withUnsafeBytes { TensorStats(dtype: dtype, raw: $0) }
            if recomputed != stats {
                throw f.fail("stats", "\(statsText(stats)) are not the statistics of the stored values (\(statsText(recomputed)))")
            }
            payload = bytes
        }
        return RecordedEvent(step: s, seq: q, name: name, role: role, dtype: dtype, shape: shape, hash: hash, stats: stats, payload: payload)
    }

    /// Python's `math.isclose` with its default relative tolerance 1e-9.
    static func isClose(_ a: Double, _ b: Double) -> Bool { a == b || abs(a - b) <= 1e-9 * max(abs(a), abs(b)) }

    static func statsText(_ s: TensorStats) -> String {
        func n(_ x: Double?) -> String { x.map { "\($0)" } ?? "null" }
        return "{nonfinite \(s.nonFinite), min \(n(s.min)), max \(n(s.max)), mean \(n(s.mean)), l2 \(n(s.l2))}"
    }

    static func step(_ s: [String: JSON], step: Int, events: [RecordedEvent], _ f: TraceFields) throws -> Trace.Step {
        try f.fields(s, stepFields)
        let n = try f.integer(s, "step")
        if n != step { throw f.fail("step", "\(n): expected \(step)") }
        let epoch = try f.integer(s, "epoch", min: 0)
        if step < 0 && (s["loss"] != .null || s["lossBits"] != .null) {
            throw f.fail(s["lossBits"] != .null ? "lossBits" : "loss", "must be null for the initialisation step")
        }
        let loss = try f.lossPair(s, required: step >= 0, what: "a training step")
        let lr = try f.number(s, "lr", nullable: step < 0)
        if step < 0 && lr != nil { throw f.fail("lr", "must be null for the initialisation step") }
        if let lr, lr < 0 { throw f.fail("lr", "\(lr) is negative") }
        let count = try f.integer(s, "tensors", min: 0)
        if count != events.count { throw f.fail("tensors", "\(count), but the step has \(events.count) tensor lines") }
        let digest = try f.hex16(s, "digest")
        let expected = TensorHash.digest(events.map { ($0.name, $0.role.rawValue, $0.hash) })
        if digest != expected { throw f.fail("digest", "\(hex64(digest)) is not the digest of the step's tensors (\(hex64(expected)))") }
        let wall = try f.number(s, "wallSeconds")!
        if wall < 0 { throw f.fail("wallSeconds", "\(wall) is negative") }
        return Trace.Step(step: n, epoch: epoch, loss: loss, lr: lr, digest: digest, wallSeconds: wall, events: events, line: f.line)
    }

    /// The initialisation step holds exactly the header's parameters, in order, role param.
    static func checkInit(_ header: Trace.Header, _ s: Trace.Step, _ f: TraceFields) throws {
        let want = header.model.parameters
        for (k, (e, p)) in zip(s.events, want).enumerated() where e.name != p.name || e.role != .param || e.shape != p.shape {
            throw TraceError(path: f.path, line: f.line - s.events.count + k, field: "name",
                             message: "initialisation tensor \(k) is \(e.name) (\(e.role.rawValue), shape \(e.shape)); model.parameters[\(k)] is \(p.name) (param, shape \(p.shape))")
        }
        if s.events.count != want.count {
            throw f.fail("tensors", "the initialisation step has \(s.events.count) tensors; model.parameters lists \(want.count)")
        }
    }

    static func evaluation(_ e: [String: JSON], lastStep: Int, _ f: TraceFields) throws -> Trace.EvaluationLine {
        try f.fields(e, evaluationFields)
        let step = try f.integer(e, "step", min: -1)
        if step > lastStep {
            throw f.fail("step", "\(step): an evaluation follows the step line of the step it evaluates (last finished step: \(lastStep))")
        }
        let epoch = try f.integer(e, "epoch", min: 0)
        let split = try f.requiredString(e, "split")
        let total = try f.integer(e, "total", min: 0)
        let correct = try f.integer(e, "correct", min: 0)
        if correct > total { throw f.fail("correct", "\(correct) exceeds total \(total)") }
        let accuracy = try f.number(e, "accuracy")!
        if accuracy != (total == 0 ? 0 : Double(correct) / Double(total)) {
            throw f.fail("accuracy", "\(accuracy) is not correct / total = \(correct)/\(total)")
        }
        func counts(_ key: String) throws -> [Int] {
            guard case .array(let a)? = e[key] else { throw f.fail(key, "expected an array of non-negative integers") }
            return try a.enumerated().map { i, x in
                guard let n = try? f.integerValue(x, at: "\(key)[\(i)]", min: 0) else { throw f.fail(key, "expected an array of non-negative integers") }
                return n
            }
        }
        let pcc = try counts("perClassCorrect"), pct = try counts("perClassTotal")
        if pcc.count != pct.count || pct.isEmpty {
            throw f.fail("perClassCorrect", "\(pcc.count) classes, perClassTotal has \(pct.count) (one entry per class, at least one)")
        }
        if pct.reduce(0, +) != total || pcc.reduce(0, +) != correct {
            throw f.fail("perClassTotal", "sums \(pct.reduce(0, +)) / \(pcc.reduce(0, +)) differ from total \(total) / correct \(correct)")
        }
        if zip(pcc, pct).contains(where: { $0 > $1 }) { throw f.fail("perClassCorrect", "a class has more correct predictions than samples") }
        guard case .array(let pca)? = e["perClassAccuracy"], pca.count == pct.count,
              zip(pca, zip(pcc, pct)).allSatisfy({ x, ct in
                  if case .number(let d) = x { d == (ct.1 == 0 ? 0 : Double(ct.0) / Double(ct.1)) } else { false }
              }) else {
            throw f.fail("perClassAccuracy", "expected perClassCorrect / perClassTotal per class (0 for a class without samples)")
        }
        let badPredictions = f.fail("predictions", "expected \(total) integers in 0..\(pct.count - 1) (one predicted class per sample)")
        guard case .array(let pv)? = e["predictions"], pv.count == total else { throw badPredictions }
        var predictions: [Int32] = []
        predictions.reserveCapacity(total)
        for (i, x) in pv.enumerated() {
            guard let k = try? f.integerValue(x, at: "predictions[\(i)]", min: 0), k < pct.count else { throw badPredictions }
            predictions.append(Int32(k))
        }
        let h = try f.hex16(e, "predictionsHash")
        let actual = predictions.withUnsafeBytes { TensorHash.tensor(dtype: .int32, shape: [predictions.count], raw: $0) }
        if h != actual { throw f.fail("predictionsHash", "\(hex64(h)) is not the i32 tensor hash of the predictions (\(hex64(actual)))") }
        let loss = try f.lossPair(e, required: total > 0, what: "an evaluation of at least one sample")
        let evaluation = Evaluation(step: step, epoch: epoch, split: split, correct: correct, total: total, perClassCorrect: pcc,
                                    perClassTotal: pct, predictionsHash: h, loss: loss ?? .nan)
        return Trace.EvaluationLine(evaluation: evaluation, predictions: predictions, line: f.line)
    }

    static func end(_ e: [String: JSON], steps: Int, tensors: Int, evaluations: Int, _ f: TraceFields) throws -> (status: Trace.Status, wall: Double) {
        try f.fields(e, endFields)
        guard case .string(let status)? = e["status"], status == "complete" || status == "failed" else {
            throw f.fail("status", "expected \"complete\" or \"failed\", got \(TraceFields.shown(e["status"]))")
        }
        for (k, actual) in [("steps", steps), ("tensors", tensors), ("evaluations", evaluations)] {
            let v = try f.integer(e, k, min: 0)
            if v != actual { throw f.fail(k, "\(v), but the trace holds \(actual)") }
        }
        let wall = try f.number(e, "wallSeconds")!
        let error = try f.string(e, "error", nullable: true)
        if status == "failed" && error == nil { throw f.fail("error", "a failed trace says why") }
        return (status == "failed" ? .failed(error!) : .complete, wall)
    }
}
