import Recorder

/// A layer made of nested layer sequences (residual and concat blocks). Children are named under
/// the block like a PyTorch module with `body` / `shortcut` nn.Sequential attributes
/// (`3.body.0.weight`, `3.shortcut.1.running_mean`); each child's output and input-gradient are
/// recorded by its Sequential at level `activations` (`3.body.1.output`), in execution order.
public protocol LayerContainer: Layer {
    /// Child sequences with their attribute names, in forward execution order.
    var children: [(attribute: String, layers: Sequential)] { get }
}

/// Residual block: y = body(x) + shortcut(x); an empty shortcut is the identity.
/// Backward: dx = body'(dy) + shortcut'(dy) (shortcut first, then body: reverse execution order).
/// A ResNet "relu after the add" is a separate layer after the block.
public final class Residual: LayerContainer {
    public let name: String
    public let body: Sequential
    public let shortcut: Sequential
    public let outputShape: [Int]

    public init(name: String, body: Sequential, shortcut: Sequential, outputShape: [Int]) {
        self.name = name; self.body = body; self.shortcut = shortcut; self.outputShape = outputShape
    }

    public var children: [(attribute: String, layers: Sequential)] { [("body", body), ("shortcut", shortcut)] }

    public var spec: JSON {
        .object(["type": .string("residual"), "body": .array(body.layers.map(\.spec)), "shortcut": .array(shortcut.layers.map(\.spec))])
    }

    public func initialize(_ ctx: Context) { body.initialize(ctx); shortcut.initialize(ctx) }

    /// y = body(x) + shortcut(x), out of place (8 lanes, split over threads).
    public func forward(_ x: Tensor, _ ctx: Context) -> Tensor {
        let b = body.forward(x, ctx), s = shortcut.forward(x, ctx)
        let y = Residual.sum(b, s, ctx)
        return y
    }

    public func backward(_ dy: Tensor, _ ctx: Context) -> Tensor {
        let ds = shortcut.backward(dy, ctx)
        let db = body.backward(dy, ctx)
        let dx = Residual.sum(db, ds, ctx)
        return dx
    }

    /// a + b elementwise (a's shape).
    static func sum(_ a: Tensor, _ b: Tensor, _ ctx: Context) -> Tensor {
        precondition(a.count == b.count, "add: \(b.shape) onto \(a.shape)")
        return a.data.withUnsafeBufferPointer { ap in
            b.data.withUnsafeBufferPointer { bp in
                Tensor.uninitialized(a.shape) { Elementwise.add(ap.baseAddress!, bp.baseAddress!, into: $0, count: a.count, threads: ctx.threads) }
            }
        }
    }
}

/// Dense (DenseNet) block unit: y = channel-concat(x, body(x)). For per-sample shapes [C, H, W]
/// and [C2, H, W] the output is [C + C2, H, W]; flat [C] and [C2] give [C + C2].
/// Backward: dx = dy[:, :C] + body'(dy[:, C:]).
public final class Concat: LayerContainer {
    public let name: String
    public let body: Sequential
    public let outputShape: [Int]
    let inputShape: [Int], bodyShape: [Int]
    /// Elements per sample of the input and of the body's output.
    let inSize: Int, bodySize: Int

    public init(name: String, body: Sequential, inputShape: [Int], bodyShape: [Int]) {
        self.name = name; self.body = body; self.inputShape = inputShape; self.bodyShape = bodyShape
        inSize = inputShape.reduce(1, *); bodySize = bodyShape.reduce(1, *)
        outputShape = [inputShape[0] + bodyShape[0]] + inputShape.dropFirst()
    }

    public var children: [(attribute: String, layers: Sequential)] { [("body", body)] }

    public var spec: JSON { .object(["type": .string("concat"), "body": .array(body.layers.map(\.spec))]) }

    public func initialize(_ ctx: Context) { body.initialize(ctx) }

    public func forward(_ x: Tensor, _ ctx: Context) -> Tensor {
        let n = x.batch
        let b = body.forward(x, ctx)
        let out = inSize + bodySize
        let y = x.data.withUnsafeBufferPointer { xp in
            b.data.withUnsafeBufferPointer { bp in
                Tensor.uninitialized([n] + outputShape) { yp in
                    for s in 0..<n {
                        (yp + s &* out).update(from: xp.baseAddress! + s &* inSize, count: inSize)
                        (yp + (s &* out &+ inSize)).update(from: bp.baseAddress! + s &* bodySize, count: bodySize)
                    }
                }
            }
        }
        return y
    }

    public func backward(_ dy: Tensor, _ ctx: Context) -> Tensor {
        let n = dy.batch, out = inSize + bodySize
        let (dPass, dBody) = dy.data.withUnsafeBufferPointer { dp in
            (Tensor.uninitialized([n] + inputShape) { pp in
                for s in 0..<n { (pp + s &* inSize).update(from: dp.baseAddress! + s &* out, count: inSize) }
            },
             Tensor.uninitialized([n] + bodyShape) { bp in
                for s in 0..<n { (bp + s &* bodySize).update(from: dp.baseAddress! + (s &* out &+ inSize), count: bodySize) }
            })
        }
        let db = body.backward(dBody, ctx)
        let dx = Residual.sum(db, dPass, ctx)
        return dx
    }
}

extension LayerFactory {
    /// `residual` {"body": [...], "shortcut": [...]} and `concat` {"body": [...]}: children built
    /// under `<name>.body` / `<name>.shortcut`, their errors naming `<path>.body[i]`.
    static func buildBlock(_ type: String, _ o: ConfigObject, name: String, path: String, inputShape: [Int],
                           params: ParameterStore, semantics: Semantics) throws -> Layer {
        func seq(_ key: String, required: Bool) throws -> Sequential {
            let specs = try o.array(key) ?? []
            if required && specs.isEmpty { throw InputError("\(path).\(key): missing or empty; a \(type) block needs at least one layer in \"\(key)\"") }
            return Sequential(try build(specs, prefix: "\(name).\(key)", path: "\(path).\(key)", inputShape: inputShape,
                                        params: params, semantics: semantics))
        }
        let body = try seq("body", required: true)
        let bodyShape = body.layers.last!.outputShape
        if type == "residual" {
            let shortcut = try seq("shortcut", required: false)
            let shortShape = shortcut.layers.last?.outputShape ?? inputShape
            guard bodyShape == shortShape else {
                throw InputError("\(path): body outputs \(bodyShape) but the shortcut gives \(shortShape); they are added, so they must match (add a projection to \"shortcut\", e.g. a 1x1 conv2d with the body's stride)")
            }
            return Residual(name: name, body: body, shortcut: shortcut, outputShape: bodyShape)
        }
        guard bodyShape.count == inputShape.count, bodyShape.dropFirst() == inputShape.dropFirst() else {
            throw InputError("\(path): body outputs \(bodyShape), which cannot be concatenated on channels with the input \(inputShape) (all but the first dimension must match)")
        }
        return Concat(name: name, body: body, inputShape: inputShape, bodyShape: bodyShape)
    }
}
