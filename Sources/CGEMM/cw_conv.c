// Direct convolution with the reference GEMM's arithmetic (see cw_gemm.h): the same products,
// summed in the same k-order, as the reference GEMM applied to the im2col matrix, so the same
// bits, without building or packing that matrix. Samples are copied into zero-padded planes; a
// kernel then broadcasts input values straight from them against 16 output channels at a time.
// Built with -ffp-contract=off (a rounded product, then a rounded sum: never a fused multiply-add).
#include "cw_gemm.h"
#include <string.h>

typedef float cw_v16 __attribute__((ext_vector_type(16)));

static inline int cw_min(int a, int b) { return a < b ? a : b; }
static inline int cw_max(int a, int b) { return a > b ? a : b; }
static inline int cw_round16(int o) { return (o + 15) & ~15; }

int cw_conv_pitch(const cw_window *w) { return cw_max(w->left + w->in_w, (w->out_w - 1) * w->sw + w->kw); }
static int cw_conv_rows(const cw_window *w) { return cw_max(w->top + w->in_h, (w->out_h - 1) * w->sh + w->kh); }

size_t cw_conv_padded_floats(const cw_window *w) {
    // 64 floats of slack: a stride-1 tile's last lanes read up to CW_MR - 1 floats past the end.
    return (size_t)w->channels * (size_t)cw_conv_rows(w) * (size_t)cw_conv_pitch(w) + 64;
}

void cw_conv_offsets(const cw_window *w, int *off) {
    int pitch = cw_conv_pitch(w), plane = cw_conv_rows(w) * pitch, q = 0;
    for (int c = 0; c < w->channels; c++)
        for (int i = 0; i < w->kh; i++)
            for (int j = 0; j < w->kw; j++) off[q++] = c * plane + i * pitch + j;
}

void cw_conv_pad(const cw_window *w, const float *x, float *xpad) {
    int pitch = cw_conv_pitch(w), rows = cw_conv_rows(w);
    memset(xpad, 0, sizeof(float) * cw_conv_padded_floats(w));
    for (int c = 0; c < w->channels; c++)
        for (int ih = 0; ih < w->in_h; ih++)
            memcpy(xpad + ((size_t)c * rows + (size_t)(w->top + ih)) * pitch + w->left,
                   x + ((size_t)c * w->in_h + ih) * w->in_w, sizeof(float) * (size_t)w->in_w);
}

size_t cw_conv_weights_floats(int k, int o) { return (size_t)k * (size_t)cw_round16(o); }

void cw_conv_pack_weights(const float *w, int o, int k, float *wt) {
    int ld = cw_round16(o);
    for (int q = 0; q < k; q++) {
        float *row = wt + (size_t)q * ld;
        for (int f = 0; f < o; f++) row[f] = w[(size_t)f * k + q];
        for (int f = o; f < ld; f++) row[f] = 0;
    }
}

size_t cw_conv_dy_floats(int positions, int o) { return (size_t)positions * (size_t)cw_round16(o); }

#define V(name) name##_portable
#define CW_TARGET
#define CW_MR 4
#include "conv_variant.h"
#undef V
#undef CW_TARGET
#undef CW_MR

#if defined(__x86_64__) && defined(__clang__)
#define CW_HAVE_X86 1
#define V(name) name##_avx2
#define CW_TARGET __attribute__((target("avx2")))
#define CW_MR 6
#include "conv_variant.h"
#undef V
#undef CW_TARGET
#undef CW_MR

#define V(name) name##_avx512
#define CW_TARGET __attribute__((target("avx512f")))
#define CW_MR 12
#define CW_OWN_FORWARD 1
#include "conv_variant.h"
#undef V
#undef CW_TARGET
#undef CW_MR
#undef CW_OWN_FORWARD
#endif

#ifdef CW_HAVE_X86
#include <immintrin.h>

/// The AVX-512 stride-1 forward, turned around: a tile is 16 output channels (16 accumulators,
/// each weight broadcast from the packed weights) by 16 consecutive positions of the padded
/// sample (one vector load of the input per k-step), so each channel's 16 results leave in
/// vector stores, masked to the positions of each output row, instead of 256 scalar stores.
/// The products and their order are those of forward_avx512: w * x over q in order.
__attribute__((target("avx512f"))) static void forward_avx512_rows(const cw_window *w, const float *xpad, const int *off,
                                                                   const float *wt, int o, const float *bias, float *y) {
    int pitch = cw_conv_pitch(w), plane = w->out_h * w->out_w, k = w->channels * w->kh * w->kw;
    int ldw = cw_round16(o), end = (w->out_h - 1) * pitch + w->out_w, gap = pitch - w->out_w;
    for (int p0 = 0; p0 < end; p0 += 16) {
        // The output rows the 16 lanes cover: lanes [first[r], first[r+1]) lie in row oh0 + r.
        int oh0 = p0 / pitch, rows = 0;
        __mmask16 mask[17];
        ptrdiff_t at[17];
        for (int oh = oh0; oh * pitch < p0 + 16 && oh < w->out_h; oh++) {
            __mmask16 m = 0;
            for (int l = 0; l < 16; l++) {
                int p = p0 + l;
                if (p / pitch == oh && p % pitch < w->out_w) m |= (__mmask16)(1u << l);
            }
            // Lane l of row oh goes to oh * out_w + (p0 + l - oh * pitch) = p0 + l - oh * gap.
            mask[rows] = m; at[rows] = (ptrdiff_t)p0 - (ptrdiff_t)oh * gap; rows++;
        }
        for (int f0 = 0; f0 < o; f0 += 16) {
            __m512 acc[16];
            for (int f = 0; f < 16; f++) acc[f] = _mm512_setzero_ps();
            const float *xq = xpad + p0;
            for (int q = 0; q < k; q++) {
                __m512 x = _mm512_loadu_ps(xq + off[q]);
                const float *wq = wt + (size_t)q * ldw + f0;
                for (int f = 0; f < 16; f++) acc[f] = _mm512_add_ps(acc[f], _mm512_mul_ps(_mm512_set1_ps(wq[f]), x));
            }
            int fb = cw_min(16, o - f0);
            for (int f = 0; f < fb; f++) {
                __m512 v = bias ? _mm512_add_ps(acc[f], _mm512_set1_ps(bias[f0 + f])) : acc[f];
                float *yf = y + (size_t)(f0 + f) * plane;
                for (int r = 0; r < rows; r++) _mm512_mask_storeu_ps(yf + at[r], mask[r], v);
            }
        }
    }
}
#endif

// dyt[p][f] = dy[f][p] for one sample, f < o, and 0 for o <= f < ld, position by position:
// the portable transposition, and the remainder of the AVX one (channels `f0` on, positions
// [p0, p1)).
static void pack_dy_rest(const float *d, int o, int plane, int ld, float *out, int f0, int p0, int p1) {
    for (int p = p0; p < p1; p++)
        for (int f = f0; f < ld; f++) out[(size_t)p * ld + f] = f < o ? d[(size_t)f * plane + p] : 0;
}

#ifdef CW_HAVE_X86
// The same transposition in 8 x 8 blocks (eight channels' rows of eight positions in, eight
// positions' rows of eight channels out, in 24 shuffles), the rest by pack_dy_rest: a pure copy,
// the same bytes. The scalar loop's stores, ld floats apart, were a third of the weight
// gradient's packing time at two threads, where each worker packs the whole group.
__attribute__((target("avx"))) static void pack_dy_avx(const float *d, int o, int plane, int ld, float *out) {
    int o8 = o & ~7, p8 = plane & ~7;
    for (int p0 = 0; p0 < p8; p0 += 8) {
        for (int f0 = 0; f0 < o8; f0 += 8) {
            const float *src = d + (size_t)f0 * plane + p0;
            __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + plane), r2 = _mm256_loadu_ps(src + 2 * (size_t)plane),
                   r3 = _mm256_loadu_ps(src + 3 * (size_t)plane), r4 = _mm256_loadu_ps(src + 4 * (size_t)plane),
                   r5 = _mm256_loadu_ps(src + 5 * (size_t)plane), r6 = _mm256_loadu_ps(src + 6 * (size_t)plane),
                   r7 = _mm256_loadu_ps(src + 7 * (size_t)plane);
            __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
                   t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
                   t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
            __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE), u2 = _mm256_shuffle_ps(t1, t3, 0x44),
                   u3 = _mm256_shuffle_ps(t1, t3, 0xEE), u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
                   u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
            float *dst = out + (size_t)p0 * ld + f0;
            _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
            _mm256_storeu_ps(dst + (size_t)ld, _mm256_permute2f128_ps(u1, u5, 0x20));
            _mm256_storeu_ps(dst + 2 * (size_t)ld, _mm256_permute2f128_ps(u2, u6, 0x20));
            _mm256_storeu_ps(dst + 3 * (size_t)ld, _mm256_permute2f128_ps(u3, u7, 0x20));
            _mm256_storeu_ps(dst + 4 * (size_t)ld, _mm256_permute2f128_ps(u0, u4, 0x31));
            _mm256_storeu_ps(dst + 5 * (size_t)ld, _mm256_permute2f128_ps(u1, u5, 0x31));
            _mm256_storeu_ps(dst + 6 * (size_t)ld, _mm256_permute2f128_ps(u2, u6, 0x31));
            _mm256_storeu_ps(dst + 7 * (size_t)ld, _mm256_permute2f128_ps(u3, u7, 0x31));
        }
        pack_dy_rest(d, o, plane, ld, out, o8, p0, p0 + 8);
    }
    pack_dy_rest(d, o, plane, ld, out, 0, p8, plane);
}
#endif

void cw_conv_pack_dy(const float *dy, int samples, int o, int plane, float *dyt) {
    int ld = cw_round16(o);
    for (int s = 0; s < samples; s++) {
        const float *d = dy + (size_t)s * o * plane;
        float *out = dyt + (size_t)s * plane * ld;
#ifdef CW_HAVE_X86
        if (cw_gemm_isa() >= 1) { pack_dy_avx(d, o, plane, ld, out); continue; }
#endif
        pack_dy_rest(d, o, plane, ld, out, 0, 0, plane);
    }
}

int cw_conv_lane_tiles(int k) {
    int mr = cw_gemm_isa() == 2 ? 12 : cw_gemm_isa() == 1 ? 6 : 4;
    return (k + mr - 1) / mr;
}

void cw_conv_forward(const cw_window *w, const float *xpad, const int *off, const float *wt, int o, const float *bias,
                     float *y) {
    switch (cw_gemm_isa()) {
#ifdef CW_HAVE_X86
    case 2: forward_avx512_rows(w, xpad, off, wt, o, bias, y); break;
    case 1: forward_avx2(w, xpad, off, wt, o, bias, y); break;
#endif
    default: forward_portable(w, xpad, off, wt, o, bias, y); break;
    }
}

void cw_conv_weight_grad(const cw_window *w, int samples, const float *xpads, const int *off, const float *dyt, int o,
                         int accumulate, float *dwt, int worker, int workers) {
    int tiles = cw_conv_lane_tiles(w->channels * w->kh * w->kw);
    int t0 = (int)((long)tiles * worker / workers), t1 = (int)((long)tiles * (worker + 1) / workers);
    switch (cw_gemm_isa()) {
#ifdef CW_HAVE_X86
    case 2: weight_grad_avx512(w, samples, xpads, off, dyt, o, accumulate, dwt, t0, t1); break;
    case 1: weight_grad_avx2(w, samples, xpads, off, dyt, o, accumulate, dwt, t0, t1); break;
#endif
    default: weight_grad_portable(w, samples, xpads, off, dyt, o, accumulate, dwt, t0, t1); break;
    }
}
