import Foundation
import Recorder

/// An optimizer's state between steps: its buffers (parameter layout) and counters.
/// SGD: [momentum buffer] and [started]; Adam: [m, v] and [t]; RMSprop: [v] and [].
public struct OptimizerState: Equatable, Codable {
    public var type: String
    public var buffers: [[Float]]
    public var counters: [Int]
}

extension SGD {
    public func saveState() -> OptimizerState { OptimizerState(type: "sgd", buffers: [buf.values], counters: [started ? 1 : 0]) }
    public func restoreState(_ s: OptimizerState) -> Bool {
        guard s.type == "sgd", s.buffers.count == 1, s.buffers[0].count == buf.count, s.counters.count == 1 else { return false }
        buf.assign(s.buffers[0]); started = s.counters[0] != 0
        return true
    }
}

extension Adam {
    public func saveState() -> OptimizerState { OptimizerState(type: "adam", buffers: [m.values, v.values], counters: [t]) }
    public func restoreState(_ s: OptimizerState) -> Bool {
        guard s.type == "adam", s.buffers.count == 2, s.buffers[0].count == m.count, s.buffers[1].count == v.count,
              s.counters.count == 1, s.counters[0] >= 0 else { return false }
        m.assign(s.buffers[0]); v.assign(s.buffers[1]); t = s.counters[0]
        return true
    }
}

extension RMSprop {
    public func saveState() -> OptimizerState { OptimizerState(type: "rmsprop", buffers: [v.values], counters: []) }
    public func restoreState(_ s: OptimizerState) -> Bool {
        guard s.type == "rmsprop", s.buffers.count == 1, s.buffers[0].count == v.count else { return false }
        v.assign(s.buffers[0])
        return true
    }
}

/// The complete training state after a step, from which `cwrepro record --resume` continues bit
/// for bit: every entry of the ParameterStore (trainable parameters and buffers such as BatchNorm
/// running statistics), the optimizer state, the data-order position (the next step; the epoch's
/// permutation is derived again from its site) and the position of every random stream.
///
/// Encoding: "CWRCKPT1", a little-endian UInt32 length, that many bytes of JSON (`Header`), then
/// the parameter values and the optimizer buffers as little-endian Float32, in that order.
public struct Checkpoint: Equatable {
    /// The last step whose update is included.
    public var step: Int
    public var epoch: Int
    /// Parameter names in layout order (checked on restore) and the whole values buffer.
    public var names: [String]
    public var values: [Float]
    public var optimizer: OptimizerState
    public var streams: [String: StreamPosition]

    static let magic = Array("CWRCKPT1".utf8)

    struct Header: Codable {
        var step: Int, epoch: Int, names: [String], valueCount: Int
        var optimizerType: String, optimizerCounters: [Int], optimizerBuffers: [Int]
        var streams: [String: StreamPosition]
    }

    public func encode() -> [UInt8] {
        let h = Header(step: step, epoch: epoch, names: names, valueCount: values.count, optimizerType: optimizer.type,
                       optimizerCounters: optimizer.counters, optimizerBuffers: optimizer.buffers.map(\.count), streams: streams)
        let enc = JSONEncoder()
        enc.outputFormatting = .sortedKeys
        let json = [UInt8]((try? enc.encode(h)) ?? Data())
        var out = Self.magic
        withUnsafeBytes(of: UInt32(json.count).littleEndian) { out += $0 }
        out += json
        out.reserveCapacity(out.count + 4 * ([values] + optimizer.buffers).reduce(0) { $0 + $1.count })
        for buffer in [values] + optimizer.buffers {
            #if _endian(little)
            buffer.withUnsafeBytes { out += $0 }
            #else
            for v in buffer { withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 } }
            #endif
        }
        return out
    }

    /// Decodes a blob; `source` names the record in errors. Never trusts a length it has not checked.
    public static func decode(_ bytes: [UInt8], source: String) throws -> Checkpoint {
        func bad(_ why: String) -> RecordReadError { .corrupt(source, "its checkpoint is unreadable: \(why)") }
        guard bytes.count >= 12, Array(bytes[0..<8]) == magic else { throw bad("no checkpoint header") }
        let n = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        guard n <= bytes.count - 12 else { throw bad("header length \(n) exceeds the blob") }
        guard let h = try? JSONDecoder().decode(Header.self, from: Data(bytes[12..<(12 + n)])) else { throw bad("header is not valid JSON") }
        let counts = [h.valueCount] + h.optimizerBuffers
        guard counts.allSatisfy({ $0 >= 0 && $0 <= (bytes.count - 12 - n) / 4 }),
              counts.reduce(0, +) * 4 == bytes.count - 12 - n else { throw bad("buffer sizes do not match the blob") }
        var offset = 12 + n
        var buffers: [[Float]] = []
        for c in counts {
            var buffer = [Float](repeating: 0, count: c)
            buffer.withUnsafeMutableBytes { dst in
                bytes.withUnsafeBytes { src in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset..<(offset + 4 * c)])) }
            }
            #if !_endian(little)
            for i in buffer.indices { buffer[i] = Float(bitPattern: UInt32(littleEndian: buffer[i].bitPattern)) }
            #endif
            buffers.append(buffer)
            offset += 4 * c
        }
        return Checkpoint(step: h.step, epoch: h.epoch, names: h.names, values: buffers[0],
                          optimizer: OptimizerState(type: h.optimizerType, buffers: Array(buffers.dropFirst()), counters: h.optimizerCounters),
                          streams: h.streams)
    }
}

extension Trainer {
    /// The state after `step` (call after the step's update).
    public func checkpoint(after step: Int) -> Checkpoint {
        let p = model.params
        return Checkpoint(step: step, epoch: step / stepsPerEpoch, names: p.entries.map(\.name),
                          values: Array(UnsafeBufferPointer(start: p.values, count: p.count)),
                          optimizer: optimizer.saveState(), streams: recorder.streamPositions)
    }

    /// Puts the model, the optimizer and the recorder back where `c` left them; the next step
    /// is `c.step + 1`.
    func restore(_ c: Checkpoint, source: String) throws {
        let p = model.params
        guard c.names == p.entries.map(\.name), c.values.count == p.count else {
            throw RecordReadError.corrupt(source, "its checkpoint holds parameters \(c.names.prefix(4))... (\(c.values.count) values), the model has \(p.count)")
        }
        guard c.step >= 0, c.step < totalSteps, c.epoch == c.step / stepsPerEpoch else {
            throw RecordReadError.corrupt(source, "its checkpoint is after step \(c.step) of epoch \(c.epoch), which this run (\(totalSteps) steps) cannot have")
        }
        guard optimizer.restoreState(c.optimizer) else {
            throw RecordReadError.corrupt(source, "its checkpoint holds \(c.optimizer.type) state that does not fit the configured optimizer")
        }
        p.values.update(from: c.values, count: c.values.count)
        let next = c.step + 1
        recorder.resume(step: next, epoch: next / stepsPerEpoch, streams: c.streams)
    }
}
