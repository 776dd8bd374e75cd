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

    public func forward(_ x: Tensor, _ ctx: Context) -> Tensor {
        var y = body.forward(x, ctx)
        y.add(shortcut.forward(x, ctx))
        return y
    }

    public func backward(_ dy: Tensor, _ ctx: Context) -> Tensor {
        let ds = shortcut.backward(dy, ctx)
        var dx = body.backward(dy, ctx)
        dx.add(ds)
        return dx
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
        var y = Tensor(zeros: [n] + outputShape)
        let out = inSize + bodySize
        y.data.withUnsafeMutableBufferPointer { yp in
            x.data.withUnsafeBufferPointer { xp in
                b.data.withUnsafeBufferPointer { bp in
                    for s in 0..<n {
                        (yp.baseAddress! + s &* out).update(from: xp.baseAddress! + s &* inSize, count: inSize)
                        (yp.baseAddress! + (s &* out &+ inSize)).update(from: bp.baseAddress! + s &* bodySize, count: bodySize)
                    }
                }
            }
        }
        return y
    }

    public func backward(_ dy: Tensor, _ ctx: Context) -> Tensor {
        let n = dy.batch, out = inSize + bodySize
        var dPass = Tensor(zeros: [n] + inputShape)
        var dBody = Tensor(zeros: [n] + bodyShape)
        dy.data.withUnsafeBufferPointer { dp in
            dPass.data.withUnsafeMutableBufferPointer { pp in
                dBody.data.withUnsafeMutableBufferPointer { bp in
                    for s in 0..<n {
                        (pp.baseAddress! + s &* inSize).update(from: dp.baseAddress! + s &* out, count: inSize)
                        (bp.baseAddress! + s &* bodySize).update(from: dp.baseAddress! + (s &* out &+ inSize), count: bodySize)
                    }
                }
            }
        }
        var dx = body.backward(dBody, ctx)
        dx.add(dPass)
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
