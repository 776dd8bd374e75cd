// The reference GEMM's drivers (see cw_gemm.h for the definition every variant computes).
// Built with -ffp-contract=off: a product and the sum it joins are two roundings, never one fused
// multiply-add, so the AVX-512, AVX2 and portable variants give identical bits.
#include "cw_gemm.h"
#include <string.h>

typedef float cw_v16 __attribute__((ext_vector_type(16)));

static inline int cw_min(int a, int b) { return a < b ? a : b; }
static inline int cw_max(int a, int b) { return a > b ? a : b; }

static inline ptrdiff_t cw_axis_offset(const cw_axis *ax, ptrdiff_t i) {
    if (ax->block <= 0) return i * ax->stride;
    return (i / ax->block) * ax->block_stride + (i % ax->block) * ax->stride;
}

/// Offsets of indices [i0, i0 + count) of an axis into off[]; returns 1 when they are consecutive
/// (off[j] == off[0] + j), so a row of them is one contiguous run.
static inline int cw_offsets(const cw_axis *ax, int i0, int count, ptrdiff_t *off) {
    int contiguous = 1;
    for (int j = 0; j < count; j++) {
        off[j] = cw_axis_offset(ax, i0 + j);
        if (off[j] != off[0] + j) contiguous = 0;
    }
    return contiguous;
}

/// Zeros lanes [from, ld) of each of the k steps of a packed panel (panel[q * ld + lane]): the
/// padding rows or columns of an edge tile.
static inline void cw_zero_lanes(float *panel, int k, int from, int ld) {
    if (from >= ld) return;
    for (int q = 0; q < k; q++)
        for (int l = from; l < ld; l++) panel[(size_t)q * ld + l] = 0;
}

/// Walks an axis index by index without a division per step.
typedef struct { const cw_axis *ax; ptrdiff_t base, within, offset; } cw_axis_walker;

static inline cw_axis_walker cw_walker(const cw_axis *ax, ptrdiff_t i0) {
    cw_axis_walker w = {ax, 0, 0, 0};
    if (ax->block > 0) { w.base = (i0 / ax->block) * ax->block_stride; w.within = i0 % ax->block; }
    else w.within = i0;
    return w;
}

/// The offset of the current index, then steps to the next.
static inline ptrdiff_t cw_walker_next(cw_axis_walker *w) {
    ptrdiff_t off = w->base + w->within * w->ax->stride;
    if (++w->within == w->ax->block) { w->within = 0; w->base += w->ax->block_stride; }
    return off;
}

/// Columns [j0, j0 + nb) of an im2col matrix as runs of consecutive output columns ow of one
/// output row (sample s, row oh): the unit of a contiguous (stride 1) read of the input.
typedef struct {
    int count;
    int start[16 * 2], len[16 * 2], oh[16 * 2], ow[16 * 2];
    ptrdiff_t sample[16 * 2];
} cw_im2col_runs;

static void cw_runs_make(const cw_window *w, int j0, int nb, cw_im2col_runs *runs) {
    int plane = w->out_h * w->out_w;
    runs->count = 0;
    int jj = 0;
    while (jj < nb) {
        int j = j0 + jj, s = j / plane, pos = j % plane, oh = pos / w->out_w, ow = pos % w->out_w;
        int len = cw_min(nb - jj, w->out_w - ow);
        int r = runs->count++;
        runs->start[r] = jj; runs->len[r] = len; runs->oh[r] = oh; runs->ow[r] = ow;
        runs->sample[r] = (ptrdiff_t)s * w->sample_stride;
        jj += len;
    }
}

/// dst[0..<len] = src[0..<len] for len <= 32, in at most four overlapping fixed-size moves (a
/// call to memcpy per short run costs more than the copy).
static inline __attribute__((always_inline)) void cw_copy_short(float *restrict dst, const float *restrict src, int len) {
    if (len >= 16) {
        memcpy(dst, src, 64); memcpy(dst + len - 16, src + len - 16, 64);
    } else if (len >= 8) {
        memcpy(dst, src, 32); memcpy(dst + len - 8, src + len - 8, 32);
    } else if (len >= 4) {
        memcpy(dst, src, 16); memcpy(dst + len - 4, src + len - 4, 16);
    } else {
        for (int u = 0; u < len; u++) dst[u] = src[u];
    }
}

/// dst[u] = src[iw0 + u*sw] where that column lies in [0, in_w), else 0, for u < len <= 32.
static inline __attribute__((always_inline)) void cw_gather_row(const float *src, int iw0, int sw, int in_w, int len,
                                                                float *restrict dst) {
    if (sw == 1) {
        int lo = cw_min(cw_max(0, -iw0), len), hi = cw_max(lo, cw_min(len, in_w - iw0));
        for (int u = 0; u < lo; u++) dst[u] = 0;
        cw_copy_short(dst + lo, src + iw0 + lo, hi - lo);
        for (int u = hi; u < len; u++) dst[u] = 0;
        return;
    }
    for (int u = 0; u < len; u++) {
        int iw = iw0 + u * sw;
        dst[u] = (unsigned)iw < (unsigned)in_w ? src[iw] : 0;
    }
}

/// Rows [q0, q1) of the im2col matrix, restricted to the columns of `runs`, into
/// panel[(q - q0) * ld + run start + u].
static inline __attribute__((always_inline)) void cw_pack_im2col_rows(const cw_window *w, const float *x, const cw_im2col_runs *runs, int q0, int q1,
                                       float *restrict panel, int ld) {
    int taps = w->kh * w->kw, in_plane = w->in_h * w->in_w;
    int ch = q0 / taps, i = (q0 % taps) / w->kw, j = q0 % w->kw;
    for (int q = q0; q < q1; q++) {
        float *row = panel + (size_t)(q - q0) * ld;
        const float *xc = x + (ptrdiff_t)ch * in_plane;
        for (int r = 0; r < runs->count; r++) {
            float *dst = row + runs->start[r];
            int ih = runs->oh[r] * w->sh - w->top + i, len = runs->len[r];
            if ((unsigned)ih >= (unsigned)w->in_h) { for (int u = 0; u < len; u++) dst[u] = 0; continue; }
            cw_gather_row(xc + runs->sample[r] + (ptrdiff_t)ih * w->in_w, runs->ow[r] * w->sw - w->left + j, w->sw, w->in_w,
                          len, dst);
        }
        if (++j == w->kw) { j = 0; if (++i == w->kh) { i = 0; ch++; } }
    }
}

/// Rows [row0, row0 + rows) of the im2col matrix, columns [0, k) (k a whole number of samples'
/// planes), into dst[q * ld + r] (a panel whose k-steps are ld floats apart), and zeros into
/// lanes [rows, ld). One output row at a time for all lanes, so the block written stays in L1.
static inline __attribute__((always_inline)) void cw_pack_im2col_lanes(const cw_window *w, const float *x, int row0, int rows, int k,
                                        float *restrict dst, int ld) {
    int taps = w->kh * w->kw, plane = w->out_h * w->out_w, samples = k / plane, in_plane = w->in_h * w->in_w;
    int ch[32], ti[32], lo[32], hi[32];
    for (int r = 0; r < rows; r++) {
        int row = row0 + r, j = row % w->kw;
        ch[r] = row / taps; ti[r] = (row % taps) / w->kw;
        // Output columns ow whose input column ow*sw - left + j lies in [0, in_w); the source
        // offset of column ow is then ow*sw + (j - left).
        int lo_num = w->left - j, l = lo_num <= 0 ? 0 : (lo_num + w->sw - 1) / w->sw;
        int hi_num = w->in_w - 1 + w->left - j, h = hi_num < 0 ? 0 : cw_min(w->out_w, hi_num / w->sw + 1);
        lo[r] = cw_min(l, h); hi[r] = h;
    }
    for (int s = 0; s < samples; s++) {
        const float *xs = x + (ptrdiff_t)s * w->sample_stride;
        for (int oh = 0; oh < w->out_h; oh++) {
            float *d0 = dst + (size_t)(s * plane + oh * w->out_w) * ld;
            for (int r = 0; r < rows; r++) {
                float *d = d0 + r;
                int ih = oh * w->sh - w->top + ti[r];
                if ((unsigned)ih >= (unsigned)w->in_h) {
                    for (int ow = 0; ow < w->out_w; ow++) d[(size_t)ow * ld] = 0;
                    continue;
                }
                int j = (row0 + r) % w->kw;
                const float *src = xs + (ptrdiff_t)ch[r] * in_plane + (ptrdiff_t)ih * w->in_w + j - w->left;
                int ow = 0;
                for (; ow < lo[r]; ow++) d[(size_t)ow * ld] = 0;
                for (; ow < hi[r]; ow++) d[(size_t)ow * ld] = src[ow * w->sw];
                for (; ow < w->out_w; ow++) d[(size_t)ow * ld] = 0;
            }
            for (int r = rows; r < ld; r++)
                for (int ow = 0; ow < w->out_w; ow++) d0[(size_t)ow * ld + r] = 0;
        }
    }
}

/// k runs in blocks of this many steps: a block of a 16-column panel (16 KB) stays in L1.
#define CW_KC 256

// The variants. x86-64: AVX-512 (32 registers: a 12 x 16 tile in 12 accumulators; measured faster
// on Zen 4 than 8 x 32, which needs two loads of B per step) and AVX2 (16 registers: 6 x 16 in 12).
// Elsewhere, and as a fallback, portable C (4 x 16). Every variant's panels of B are 16 wide.
#define V(name) name##_portable
#define CW_TARGET
#define CW_MR 4
#define CW_NV 1
#include "gemm_variant.h"
#undef V
#undef CW_TARGET
#undef CW_MR
#undef CW_NV

#if defined(__x86_64__) && defined(__clang__)
#define CW_HAVE_X86 1
#define V(name) name##_avx2
#define CW_TARGET __attribute__((target("avx2")))
#define CW_MR 6
#define CW_NV 1
#include "gemm_variant.h"
#undef V
#undef CW_TARGET
#undef CW_MR
#undef CW_NV

#define V(name) name##_avx512
#define CW_TARGET __attribute__((target("avx512f")))
#define CW_MR 12
#define CW_NV 1
#include "gemm_variant.h"
#undef V
#undef CW_TARGET
#undef CW_MR
#undef CW_NV
#endif

static int cw_selected = -1;

static int cw_supported(int isa) {
#ifdef CW_HAVE_X86
    if (isa == 2) return __builtin_cpu_supports("avx512f");
    if (isa == 1) return __builtin_cpu_supports("avx2");
#endif
    return isa == 0;
}

int cw_gemm_isa(void) {
    int isa = __atomic_load_n(&cw_selected, __ATOMIC_RELAXED);
    if (isa < 0) {
        isa = cw_supported(2) ? 2 : cw_supported(1) ? 1 : 0;
        __atomic_store_n(&cw_selected, isa, __ATOMIC_RELAXED);
    }
    return isa;
}

int cw_gemm_select(int isa) {
    if (isa >= 0 && isa <= 2 && cw_supported(isa)) __atomic_store_n(&cw_selected, isa, __ATOMIC_RELAXED);
    return cw_gemm_isa();
}

static inline size_t cw_round_up(int x, int to) { return (size_t)((x + to - 1) / to) * (size_t)to; }

cw_gemm_plan cw_gemm_make_plan(int m, int n, int k) {
    int isa = cw_gemm_isa();
    cw_gemm_plan p;
    p.mr = isa == 2 ? 12 : isa == 1 ? 6 : 4;
    p.nr = 16;
    // Computed as C^T when that leaves a fifth fewer padding rows and columns in the tiles (a
    // 16-channel convolution: 16 output rows fill one 16-wide panel of C^T, not 24 rows of C).
    // Below that the packing of the transposed operands, which reads across rows, costs more.
    p.transposed = 5 * cw_round_up(n, p.mr) * cw_round_up(m, p.nr) < 4 * cw_round_up(m, p.mr) * cw_round_up(n, p.nr);
    if (p.transposed) { int t = m; m = n; n = t; }
    size_t kk = (size_t)(k > 0 ? k : 1), mp = cw_round_up(m, p.mr), np = cw_round_up(n, p.nr);
    // Pack the operand that is smaller once; stream the other.
    p.streams_b = mp <= np;
    p.panels = (int)(p.streams_b ? np / p.nr : mp / p.mr);
    p.shared_floats = (p.streams_b ? mp : np) * kk;
    p.stream_floats = (p.streams_b ? (size_t)p.nr : (size_t)p.mr) * kk + (p.streams_b ? mp : np) * (size_t)(p.streams_b ? p.nr : p.mr);
    return p;
}

/// The operands as the plan computes them: swapped and transposed for C^T = B^T A^T.
typedef struct { int m, n; cw_matrix a, b; cw_output c; const float *row_bias, *col_bias; } cw_oriented;

static cw_matrix cw_transpose(const cw_matrix *x) {
    cw_matrix t = *x;
    t.rows = x->cols; t.cols = x->rows;
    t.transposed = !x->transposed;
    return t;
}

static cw_oriented cw_orient(const cw_gemm_plan *plan, int m, int n, const cw_matrix *a, const cw_matrix *b,
                             const cw_output *c, const float *bias) {
    cw_oriented o;
    if (!plan->transposed) {
        o.m = m; o.n = n; o.a = *a; o.b = *b; o.row_bias = bias; o.col_bias = NULL;
        if (c) o.c = *c;
        return o;
    }
    o.m = n; o.n = m; o.a = cw_transpose(b); o.b = cw_transpose(a); o.row_bias = NULL; o.col_bias = bias;
    if (c) { o.c.data = c->data; o.c.rows = c->cols; o.c.cols = c->rows; }
    return o;
}

static int cw_plan_isa(const cw_gemm_plan *plan) { return plan->mr == 12 ? 2 : plan->mr == 6 ? 1 : 0; }

void cw_gemm_pack_shared(const cw_gemm_plan *plan, int m, int n, int k, const cw_matrix *a, const cw_matrix *b,
                         float *shared) {
    cw_oriented o = cw_orient(plan, m, n, a, b, NULL, NULL);
    switch (cw_plan_isa(plan)) {
#ifdef CW_HAVE_X86
    case 2: pack_shared_avx512(plan, o.m, o.n, k, &o.a, &o.b, shared); break;
    case 1: pack_shared_avx2(plan, o.m, o.n, k, &o.a, &o.b, shared); break;
#endif
    default: pack_shared_portable(plan, o.m, o.n, k, &o.a, &o.b, shared); break;
    }
}

void cw_gemm_run(const cw_gemm_plan *plan, int m, int n, int k, float alpha, const cw_matrix *a, const cw_matrix *b,
                 float beta, const cw_output *c, const float *bias, const float *shared, float *stream, int worker,
                 int workers) {
    if (m <= 0 || n <= 0) return;
    cw_oriented o = cw_orient(plan, m, n, a, b, c, bias);
    switch (cw_plan_isa(plan)) {
#ifdef CW_HAVE_X86
    case 2: run_avx512(plan, o.m, o.n, k, alpha, &o.a, &o.b, beta, &o.c, o.row_bias, o.col_bias, shared, stream, worker, workers); break;
    case 1: run_avx2(plan, o.m, o.n, k, alpha, &o.a, &o.b, beta, &o.c, o.row_bias, o.col_bias, shared, stream, worker, workers); break;
#endif
    default: run_portable(plan, o.m, o.n, k, alpha, &o.a, &o.b, beta, &o.c, o.row_bias, o.col_bias, shared, stream, worker, workers); break;
    }
}
