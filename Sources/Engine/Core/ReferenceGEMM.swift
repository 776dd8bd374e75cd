import CGEMM
import Foundation
import Recorder

/// cwrepro's own GEMM with a fixed k-order (`determinism.gemm: reference`):
///   c[i,j] = alpha * acc + beta * c[i,j]   (c[i,j] = alpha * acc when beta = 0; then + bias[i] if given)
///   acc = (...((0 + a[i,0]*b[0,j]) + a[i,1]*b[1,j]) + ...) + a[i,k-1]*b[k-1,j]
/// in Float32, each product rounded before it is added (no fused multiply-add). Every output
/// element is this one sequence whatever the machine, SIMD width or thread count, so results are
/// bit-identical everywhere.
///
/// The kernels are C (Sources/CGEMM): packed operands, a micro-tile of C held in registers over the
/// whole k loop (8 x 32 with AVX-512, 6 x 16 with AVX2, 4 x 16 portable, chosen at run time), the
/// smaller operand packed once and the other streamed in panels that workers share out. A mul and an
/// add per step cost no more than a fused multiply-add on AMD Zen, whose adders and multipliers
/// are separate pipes; on Intel cores, which share them, this runs at about half OpenBLAS's speed.
///
/// Operands are views (`Operand`): strided and blocked matrices, or the im2col matrix of a batch
/// of images read straight from the images while packing, so a convolution needs no im2col buffer.
public enum ReferenceGEMM {
    /// Products smaller than this many multiply-adds run on one thread.
    static let parallelThreshold = 1 << 18

    /// A view of a matrix operand.
    public enum Operand {
        /// Element (r, c) at base[rows(r) + cols(c)].
        case strided(UnsafePointer<Float>, rows: Axis, cols: Axis)
        /// The im2col matrix of the samples at base (`Window2D`, samples `sampleStride` floats apart):
        /// rows (c, i, j), columns (sample, oh, ow); see `Im2col`.
        case im2col(UnsafePointer<Float>, Window2D, sampleStride: Int)
    }

    /// Where index i of one axis lies: (i / block) * blockStride + (i % block) * stride
    /// (block 0: i * stride). Blocks lay samples side by side: the columns of [O, samples * P] of
    /// NCHW data are `Axis(1, block: P, blockStride: O * P)`.
    public struct Axis {
        var raw: cw_axis
        public init(_ stride: Int, block: Int = 0, blockStride: Int = 0) {
            raw = cw_axis(stride: stride, block: block, block_stride: blockStride)
        }
    }

    /// C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C, row-major; `threads` workers split panels.
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int = 1) {
        product(m: m, n: n, k: k, alpha: alpha,
                a: .strided(a, rows: Axis(transA ? 1 : lda), cols: Axis(transA ? lda : 1)),
                b: .strided(b, rows: Axis(transB ? 1 : ldb), cols: Axis(transB ? ldb : 1)),
                beta: beta, c: c, rows: Axis(ldc), cols: Axis(1), threads: threads)
    }

    /// C = alpha * A B + beta * C (+ bias[i] on row i) for views A [m, k], B [k, n] and an output
    /// whose element (i, j) is at c[rows(i) + cols(j)].
    public static func product(m: Int, n: Int, k: Int, alpha: Float = 1, a: Operand, b: Operand, beta: Float,
                               c: UnsafeMutablePointer<Float>, rows: Axis, cols: Axis,
                               bias: UnsafePointer<Float>? = nil, threads: Int = 1) {
        if m == 0 || n == 0 { return }
        ReferenceGEMM.useKernelsOfThisCPU()
        var plan = cw_gemm_make_plan(Int32(m), Int32(n), Int32(k))
        let workers = m &* n &* k < parallelThreshold ? 1 : max(1, min(threads, Int(plan.panels)))
        let shared = plan.shared_floats, stream = plan.stream_floats
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: shared + stream * workers)
        defer { buffer.deallocate() }
        withMatrix(a) { am in
            withMatrix(b) { bm in
                var out = cw_output(data: c, rows: rows.raw, cols: cols.raw)
                cw_gemm_pack_shared(&plan, Int32(m), Int32(n), Int32(k), am, bm, buffer)
                let run = { (w: Int) in
                    cw_gemm_run(&plan, Int32(m), Int32(n), Int32(k), alpha, am, bm, beta, &out, bias, buffer,
                                buffer + shared + stream * w, Int32(w), Int32(workers))
                }
                if workers == 1 { run(0) } else { Parallel.perform(workers, run) }
            }
        }
    }

    /// The C descriptor of a view, valid inside body.
    private static func withMatrix<R>(_ op: Operand, _ body: (UnsafePointer<cw_matrix>) -> R) -> R {
        switch op {
        case let .strided(base, rows, cols):
            var m = cw_matrix(data: base, rows: rows.raw, cols: cols.raw, window: nil, transposed: 0)
            return body(&m)
        case let .im2col(base, g, sampleStride):
            var w = g.cWindow(sampleStride: sampleStride)
            return withUnsafePointer(to: &w) { wp in
                var m = cw_matrix(data: base, rows: cw_axis(), cols: cw_axis(), window: wp, transposed: 0)
                return body(&m)
            }
        }
    }

    /// Picks the kernels once per process from `CPUFeatures.current`, so `CWREPRO_CPU_FLAGS` (which
    /// can hide AVX-512) also selects them: the same bits either way, a way to run the AVX2 ones here.
    private static let kernelChoice: Int = {
        let flags = CPUFeatures.current.flags
        #if arch(x86_64)
        return selectKernels(flags.contains("avx512f") ? 2 : flags.contains("avx2") ? 1 : 0)
        #else
        return selectKernels(0)
        #endif
    }()

    @inline(__always) static func useKernelsOfThisCPU() { _ = kernelChoice }

    /// The instruction set the kernels run: "avx512", "avx2" or "portable".
    public static var kernelName: String {
        useKernelsOfThisCPU()
        return ["portable", "avx2", "avx512"][Int(cw_gemm_isa())]
    }

    /// Forces the kernels of an instruction set this CPU runs (0 portable, 1 AVX2, 2 AVX-512) and
    /// returns the one in use: tests compare the variants, which give the same bits.
    @discardableResult
    public static func selectKernels(_ isa: Int) -> Int { Int(cw_gemm_select(Int32(isa))) }

    /// The definition, one output element at a time (the oracle the fast kernel is tested against).
    public static func naive(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let sa = transA ? lda : 1, sb = transB ? 1 : ldb
        for i in 0..<m {
            let ai = transA ? a + i : a + i &* lda
            for j in 0..<n {
                let bj = transB ? b + j &* ldb : b + j
                var acc: Float = 0
                for p in 0..<k { acc = acc + ai[p &* sa] * bj[p &* sb] }
                let out = c + (i &* ldc &+ j)
                out.pointee = beta == 0 ? alpha * acc : alpha * acc + beta * out.pointee
            }
        }
    }
}
