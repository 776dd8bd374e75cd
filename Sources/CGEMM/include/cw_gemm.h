// cwrepro's reference GEMM (`determinism.gemm: reference`): every output element is
//   c[i,j] = alpha * acc + beta * c[i,j]  (+ bias[i])        (alpha * acc when beta = 0)
//   acc    = (...((0 + a[i,0]*b[0,j]) + a[i,1]*b[1,j]) + ...) + a[i,k-1]*b[k-1,j]
// in Float32, each product rounded before it is added (no fused multiply-add). The kernels hold
// tiles of C in registers and run k in order, so every instruction set, tile shape and thread
// split gives these same bits.
//
// Operands are views, not copies: a strided (optionally blocked) matrix, or the im2col matrix of
// a batch of NCHW samples, read straight from the samples while packing (no im2col buffer).
#ifndef CW_GEMM_H
#define CW_GEMM_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// One axis of a strided view: index i is at (i / block) * block_stride + (i % block) * stride
/// (block 0: i * stride). Blocks put samples side by side: the columns of [O, samples * P] of
/// NCHW data are blocks of P with block_stride O * P.
typedef struct {
    ptrdiff_t stride;
    ptrdiff_t block;
    ptrdiff_t block_stride;
} cw_axis;

/// A sliding window over NCHW samples (dilation 1), sample_stride floats apart.
typedef struct {
    int channels, in_h, in_w, kh, kw, sh, sw, top, left, out_h, out_w;
    ptrdiff_t sample_stride;
} cw_window;

/// A matrix operand. With window == NULL, element (r, c) is data[rows(r) + cols(c)]. Otherwise it
/// is the im2col matrix of the samples at data: row (ch*kh + i)*kw + j, column
/// s*out_h*out_w + oh*out_w + ow holds x[s, ch, oh*sh - top + i, ow*sw - left + j] (0 outside);
/// or, with transposed = 1, its transpose.
typedef struct {
    const float *data;
    cw_axis rows, cols;
    const cw_window *window;
    int transposed;
} cw_matrix;

/// The output: element (r, c) at data[rows(r) + cols(c)].
typedef struct {
    float *data;
    cw_axis rows, cols;
} cw_output;

/// How a product is split. It is computed as C = A B or, when that wastes less of the tiles, as
/// C^T = B^T A^T (`transposed`). Of the two operands so computed, the smaller is packed once
/// (`shared_floats`); the other is streamed in `panels` panels, each packed by the worker that
/// computes it (`stream_floats` each, with its tile accumulators), so workers split panels and
/// never a k-order.
typedef struct {
    int transposed;     // 1: computed as C^T = B^T A^T
    int streams_b;      // 1: A packed once, B streamed in panels of NR columns; 0: the reverse (MR rows)
    int panels;
    size_t shared_floats;
    size_t stream_floats;
    int mr, nr;         // the micro-tile of the selected instruction set
} cw_gemm_plan;

cw_gemm_plan cw_gemm_make_plan(int m, int n, int k);

/// Packs the shared operand into `shared` (plan.shared_floats). Call once, before any worker.
void cw_gemm_pack_shared(const cw_gemm_plan *plan, int m, int n, int k, const cw_matrix *a,
                         const cw_matrix *b, float *shared);

/// Computes the panels of worker `worker` of `workers` (contiguous runs of panels), packing each
/// streamed panel into `stream` (plan.stream_floats, this worker's own). `bias`: NULL or m floats.
void cw_gemm_run(const cw_gemm_plan *plan, int m, int n, int k, float alpha, const cw_matrix *a,
                 const cw_matrix *b, float beta, const cw_output *c, const float *bias,
                 const float *shared, float *stream, int worker, int workers);

/// The instruction set the kernels use: 2 = AVX-512 (12 x 16 tiles), 1 = AVX2 (6 x 16), 0 = portable
/// C (4 x 16). Chosen from CPUID on first use; cw_gemm_select forces one the CPU runs (tests compare
/// them) and returns the one now in use.
int cw_gemm_isa(void);
int cw_gemm_select(int isa);


// Direct convolution (cw_conv.c): the reference GEMM's arithmetic on a convolution, bit for bit
// what cw_gemm gives on the im2col matrix, read from zero-padded copies of the samples.

/// Width of a zero-padded row and floats per zero-padded sample (with slack past the end).
int cw_conv_pitch(const cw_window *w);
size_t cw_conv_padded_floats(const cw_window *w);
/// Copies one sample ([channels, in_h, in_w]) into its zero-padded planes.
void cw_conv_pad(const cw_window *w, const float *x, float *xpad);
/// off[q] for each im2col row q = (ch*kh + i)*kw + j: where its window starts in a padded sample.
void cw_conv_offsets(const cw_window *w, int *off);
/// Weights [o, k] as wt[q * ld + f] (ld = o rounded up to 16, zeros past o).
size_t cw_conv_weights_floats(int k, int o);
void cw_conv_pack_weights(const float *w, int o, int k, float *wt);
/// dy of `samples` samples ([o, plane] each) as dyt[(s * plane + p) * ld + f].
size_t cw_conv_dy_floats(int positions, int o);
void cw_conv_pack_dy(const float *dy, int samples, int o, int plane, float *dyt);
/// Stride-1 forward of one padded sample: y[f, oh, ow] = acc (+ bias[f]), y [o, out_h, out_w].
void cw_conv_forward(const cw_window *w, const float *xpad, const int *off, const float *wt, int o, const float *bias,
                     float *y);
/// Tiles of im2col rows a weight gradient is split into (workers take contiguous runs of them).
int cw_conv_lane_tiles(int k);
/// dW^T[k, o] = (dW^T +) the sum over the positions of `samples` padded samples (in order) of
/// col[q, p] * dy[f, p]: the reference GEMM of col and dY^T, with beta 0 (accumulate = 0) or 1.
void cw_conv_weight_grad(const cw_window *w, int samples, const float *xpads, const int *off, const float *dyt, int o,
                         int accumulate, float *dwt, int worker, int workers);

#ifdef __cplusplus
}
#endif
#endif
