import Foundation
import Recorder
import Replayer

/// Wording shared by the `evaluate` and `models compare` renderers: attribute values, layer
/// differences, latencies, and the JSON form of attribute values.
enum ModelText {
    /// "[16, 8, 8]".
    static func shape(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }

    /// An attribute's value as people read it: kernels "3x3", strides "2" (or "2x1"), paddings
    /// "1" when equal on every side, else "[top, bottom, left, right]".
    static func value(_ v: AttributeValue?, _ attribute: LayerAttribute? = nil) -> String {
        guard let v else { return "(absent)" }
        switch v {
        case .int(let i): return Text.grouped(i)
        case .ints(let xs):
            switch attribute {
            case .kernel?: return xs.map(String.init).joined(separator: "x")
            case .stride?, .dilation?: return Set(xs).count == 1 ? String(xs[0]) : xs.map(String.init).joined(separator: "x")
            case .padding?: return Set(xs).count == 1 ? String(xs[0]) : shape(xs)
            default: return shape(xs)
            }
        case .number(let d): return String(format: "%g", d)
        case .flag(let b): return b ? "true" : "false"
        case .choice(let s): return s
        }
    }

    /// "stride", "output shape", "parameter shape of weight", "only in A".
    static func kind(_ k: DifferenceKind) -> String {
        switch k {
        case .onlyInA: return "only in A"
        case .onlyInB: return "only in B"
        case .name: return "name"
        case .inputShape: return "input shape"
        case .outputShape: return "output shape"
        case .attribute(let a): return a.rawValue
        case .parameterCount: return "parameters"
        case .parameterShape(let p): return "\(p) shape"
        }
    }

    /// "stride 2 -> 1", "only in B (maxpool)".
    static func difference(_ d: ArchitectureDifference) -> String {
        switch d.kind {
        case .onlyInA, .onlyInB: return "\(kind(d.kind)) (\(d.layerKind.rawValue))"
        case .attribute(let a): return "\(a.rawValue) \(value(d.valueA, a)) -> \(value(d.valueB, a))"
        default: return "\(kind(d.kind)) \(value(d.valueA)) -> \(value(d.valueB))"
        }
    }

    /// "bias false -> true in 31 conv2d layers", "momentum 0.1 -> 0.01 in batchnorm 1".
    static func change(_ c: AttributeChange) -> String {
        let at = "\(c.attribute.rawValue) \(value(c.valueA, c.attribute)) -> \(value(c.valueB, c.attribute))"
        return c.layers.count == 1 ? "\(at) in \(c.layerKind.rawValue) \(c.layers[0])" : "\(at) in \(c.layers.count) \(c.layerKind.rawValue) layers"
    }

    /// "A 4.body.0", "4.body.0 / 5.body.0" when the names differ.
    static func layers(_ a: String?, _ b: String?) -> String {
        switch (a, b) {
        case let (x?, y?): return x == y ? x : "\(x) / \(y)"
        case let (x?, nil): return "\(x) (A)"
        case let (nil, y?): return "\(y) (B)"
        default: return "-"
        }
    }

    /// "stride 2 on 4.body.0 (1x1 conv) in A, on 4.body.3 (3x3 conv) in B; every parameter shape equal".
    static func strideMove(_ m: StrideMove) -> String {
        func side(_ layer: String?, _ kernel: [Int]?, _ stride: [Int]?) -> String {
            guard let layer else { return "no stride" }
            let k = kernel.map { $0.map(String.init).joined(separator: "x") + " " } ?? ""
            let s = stride.map { Set($0).count == 1 ? String($0[0]) : $0.map(String.init).joined(separator: "x") } ?? "?"
            return "stride \(s) on \(layer) (\(k)conv)"
        }
        return "block \(layers(m.blockA, m.blockB)): \(side(m.layerA, m.kernelA, m.strideA)) in A, \(side(m.layerB, m.kernelB, m.strideB)) in B"
            + (m.keepsParameterShapes ? "; every parameter shape is equal, so loading weights cannot reveal it" : "")
    }

    /// "1.23 ms" / "456 us" / "1.2 s".
    static func seconds(_ s: Double) -> String {
        if s >= 1 { return String(format: "%.2f s", s) }
        if s >= 1e-3 { return String(format: "%.3g ms", s * 1e3) }
        return String(format: "%.3g us", s * 1e6)
    }

    /// "batch 32 on 1 thread, 30 timed passes after 3 warm-up".
    static func latencySetting(_ m: LatencyMeasurement) -> String {
        "batch \(m.batchSize) on \(m.threads) thread\(m.threads == 1 ? "" : "s"), \(m.summary.count) timed passes after \(m.warmup) warm-up"
    }

    /// "median 1.23 ms, p95 1.4 ms, IQR 3.1% of the median".
    static func latency(_ m: LatencyMeasurement) -> String {
        "median \(seconds(m.medianSeconds)), p95 \(seconds(m.summary.p95)), IQR \(Text.percent(m.relativeSpread)) of the median"
    }

    /// A p-value: "0.0421", "3.1e-08".
    static func p(_ x: Double) -> String { x >= 1e-4 || x == 0 ? String(format: "%.4f", x) : String(format: "%.2g", x) }

    /// A relative error or difference in compact form: "0", "1.2e-07", "0.031".
    static func small(_ x: Double?) -> String {
        guard let x else { return "-" }
        if x == 0 { return "0" }
        if x.isInfinite { return "inf" }
        return String(format: "%.3g", x)
    }
}

/// An attribute value in JSON: numbers, arrays of integers, booleans, strings.
struct AttributeJSON: Encodable {
    let value: AttributeValue
    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch value {
        case .int(let i): try c.encode(i)
        case .ints(let xs): try c.encode(xs)
        case .number(let d): try c.encode(d)
        case .flag(let b): try c.encode(b)
        case .choice(let s): try c.encode(s)
        }
    }
}
