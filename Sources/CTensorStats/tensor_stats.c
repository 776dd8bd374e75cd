// Per-tensor statistics in one pass (docs/record-format.md, section 2).
//
// Summation order: element i is added into lane i mod 16 (16 Float64 accumulators for the sum and
// 16 for the sum of squares); the lanes are combined pairwise at the end (lane j += lane j + w for
// w = 8, 4, 2, 1). The order is written out in the source, so it is the same whatever vector width
// the compiler picks: the AVX-512, AVX2 and baseline clones (chosen at run time) give identical
// bits, and so does any other CPU. The build passes -ffp-contract=off (no FMA contraction, which
// would round x * x + q differently for float64 tensors) and -O2 even in debug builds (this loop
// runs on every recorded tensor; the test suite records in debug builds).
#include "cw_tensor_stats.h"
#include <math.h>
#include <string.h>

#define LANES 16

#if defined(__x86_64__) && defined(__clang__) && defined(__linux__)
#define CW_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CW_CLONES
#endif

static void combine(double s[LANES], double q[LANES], cw_tensor_sums *out) {
    for (int w = LANES / 2; w >= 1; w /= 2) {
        for (int j = 0; j < w; j++) { s[j] += s[j + w]; q[j] += q[j + w]; }
    }
    out->sum = s[0];
    out->sumsq = q[0];
}

typedef float cw_f8 __attribute__((ext_vector_type(8)));
typedef int cw_i8 __attribute__((ext_vector_type(8)));
typedef double cw_d4 __attribute__((ext_vector_type(4)));
typedef double cw_d8 __attribute__((ext_vector_type(8)));

// Lane-wise select on bit patterns: where mask is all ones, a; else b.
#define pick(mask, a, b) ((cw_f8)((((cw_i8)(a)) & (mask)) | (((cw_i8)(b)) & ~(mask))))

// The 16 lanes live in registers: elements i..i+7 in x0 (lanes 0-7), i+8..i+15 in x1 (lanes
// 8-15); sums in two 8-lane Float64 vectors (lanes 0-7, 8-15: one register each in the AVX-512
// clone, two in the AVX2 one). Each lane still adds its elements one after the other, so the
// bits are those of the scalar definition on every clone.
CW_CLONES
void cw_sums_f32(const void *data, size_t count, cw_tensor_sums *out) {
    const unsigned char *p = (const unsigned char *)data;
    const cw_i8 expMask = 0x7F800000;
    const cw_f8 inf = INFINITY, ninf = -INFINITY, zero = 0.0f;
    cw_d8 s0 = 0, s1 = 0, q0 = 0, q1 = 0;
    cw_f8 lo0 = inf, lo1 = inf, hi0 = ninf, hi1 = ninf;
    cw_i8 bad0 = 0, bad1 = 0;
    size_t i = 0;
    // Fast pass while every element is finite: the same additions, minima and maxima in the same
    // lanes, without the masks (which are the identity on finite elements). It stops at the first
    // block holding a NaN or an infinity; the masked loop below goes on from that block with the
    // same accumulators, so the result is bit for bit that of the masked loop alone.
    for (; i + LANES <= count; i += LANES) {
        cw_f8 x0, x1;
        memcpy(&x0, p + 4 * i, sizeof x0);
        memcpy(&x1, p + 4 * i + 32, sizeof x1);
        cw_i8 e = (((cw_i8)x0 & expMask) == expMask) | (((cw_i8)x1 & expMask) == expMask);
        if (e[0] | e[1] | e[2] | e[3] | e[4] | e[5] | e[6] | e[7]) break;
        lo0 = pick(x0 < lo0, x0, lo0);
        lo1 = pick(x1 < lo1, x1, lo1);
        hi0 = pick(x0 > hi0, x0, hi0);
        hi1 = pick(x1 > hi1, x1, hi1);
        cw_d8 d0 = __builtin_convertvector(x0, cw_d8), d1 = __builtin_convertvector(x1, cw_d8);
        s0 += d0; s1 += d1;
        q0 += d0 * d0; q1 += d1 * d1;
    }
    for (; i + LANES <= count; i += LANES) {
        cw_f8 x0, x1;
        memcpy(&x0, p + 4 * i, sizeof x0);
        memcpy(&x1, p + 4 * i + 32, sizeof x1);
        cw_i8 f0 = ((cw_i8)x0 & expMask) != expMask, f1 = ((cw_i8)x1 & expMask) != expMask;   // -1 finite, 0 not
        bad0 += f0 + 1;
        bad1 += f1 + 1;
        cw_f8 m0 = pick(f0, x0, inf), m1 = pick(f1, x1, inf);
        lo0 = pick(m0 < lo0, m0, lo0);
        lo1 = pick(m1 < lo1, m1, lo1);
        cw_f8 n0 = pick(f0, x0, ninf), n1 = pick(f1, x1, ninf);
        hi0 = pick(n0 > hi0, n0, hi0);
        hi1 = pick(n1 > hi1, n1, hi1);
        cw_f8 v0 = pick(f0, x0, zero), v1 = pick(f1, x1, zero);
        cw_d8 d0 = __builtin_convertvector(v0, cw_d8), d1 = __builtin_convertvector(v1, cw_d8);
        s0 += d0; s1 += d1;
        q0 += d0 * d0; q1 += d1 * d1;
    }
    double s[LANES], q[LANES];
    float lo[LANES], hi[LANES];
    uint32_t bad[LANES];
    for (int j = 0; j < 8; j++) {
        s[j] = s0[j]; s[8 + j] = s1[j];
        q[j] = q0[j]; q[8 + j] = q1[j];
        lo[j] = lo0[j]; lo[8 + j] = lo1[j]; hi[j] = hi0[j]; hi[8 + j] = hi1[j];
        bad[j] = (uint32_t)bad0[j]; bad[8 + j] = (uint32_t)bad1[j];
    }
    for (int j = 0; i + (size_t)j < count; j++) {
        uint32_t b;
        memcpy(&b, p + 4 * (i + (size_t)j), 4);
        float v;
        memcpy(&v, &b, 4);
        if ((b & 0x7F800000u) == 0x7F800000u) { bad[j] += 1; continue; }
        if (v < lo[j]) lo[j] = v;
        if (v > hi[j]) hi[j] = v;
        double d = (double)v;
        s[j] += d;
        q[j] += d * d;
    }
    int64_t nonfinite = 0;
    float mn = INFINITY, mx = -INFINITY;
    for (int j = 0; j < LANES; j++) {
        nonfinite += bad[j];
        if (lo[j] < mn) mn = lo[j];
        if (hi[j] > mx) mx = hi[j];
    }
    out->nonfinite = nonfinite;
    out->finite = (int64_t)count - nonfinite;
    out->min = (double)mn;
    out->max = (double)mx;
    combine(s, q, out);
}

CW_CLONES
void cw_sums_f64(const void *data, size_t count, cw_tensor_sums *out) {
    const unsigned char *p = (const unsigned char *)data;
    double s[LANES] = {0}, q[LANES] = {0}, lo[LANES], hi[LANES];
    int64_t bad[LANES] = {0};
    for (int j = 0; j < LANES; j++) { lo[j] = INFINITY; hi[j] = -INFINITY; }
    for (size_t i = 0; i < count; i++) {
        int j = (int)(i % LANES);
        uint64_t b;
        memcpy(&b, p + 8 * i, 8);
        double v;
        memcpy(&v, &b, 8);
        if ((b & 0x7FF0000000000000ull) == 0x7FF0000000000000ull) { bad[j] += 1; continue; }
        if (v < lo[j]) lo[j] = v;
        if (v > hi[j]) hi[j] = v;
        s[j] += v;
        q[j] += v * v;
    }
    int64_t nonfinite = 0;
    double mn = INFINITY, mx = -INFINITY;
    for (int j = 0; j < LANES; j++) {
        nonfinite += bad[j];
        if (lo[j] < mn) mn = lo[j];
        if (hi[j] > mx) mx = hi[j];
    }
    out->nonfinite = nonfinite;
    out->finite = (int64_t)count - nonfinite;
    out->min = mn;
    out->max = mx;
    combine(s, q, out);
}

// Integer tensors: every element is finite; values are converted to Float64 before summing.
#define INT_SUMS(NAME, TYPE, TMIN, TMAX)                                                \
    CW_CLONES                                                                           \
    void NAME(const void *data, size_t count, cw_tensor_sums *out) {                    \
        const unsigned char *p = (const unsigned char *)data;                           \
        double s[LANES] = {0}, q[LANES] = {0};                                          \
        TYPE lo[LANES], hi[LANES];                                                      \
        for (int j = 0; j < LANES; j++) { lo[j] = TMAX; hi[j] = TMIN; }                 \
        size_t i = 0;                                                                   \
        for (; i + LANES <= count; i += LANES) {                                        \
            TYPE v[LANES];                                                              \
            memcpy(v, p + sizeof(TYPE) * i, sizeof v);                                  \
            for (int j = 0; j < LANES; j++) {                                           \
                lo[j] = v[j] < lo[j] ? v[j] : lo[j];                                    \
                hi[j] = v[j] > hi[j] ? v[j] : hi[j];                                    \
                double d = (double)v[j];                                                \
                s[j] += d;                                                              \
                q[j] += d * d;                                                          \
            }                                                                           \
        }                                                                               \
        for (int j = 0; i + (size_t)j < count; j++) {                                   \
            TYPE v;                                                                     \
            memcpy(&v, p + sizeof(TYPE) * (i + (size_t)j), sizeof v);                  \
            if (v < lo[j]) lo[j] = v;                                                   \
            if (v > hi[j]) hi[j] = v;                                                   \
            double d = (double)v;                                                       \
            s[j] += d;                                                                  \
            q[j] += d * d;                                                              \
        }                                                                               \
        TYPE mn = TMAX, mx = TMIN;                                                      \
        for (int j = 0; j < LANES; j++) {                                               \
            if (lo[j] < mn) mn = lo[j];                                                 \
            if (hi[j] > mx) mx = hi[j];                                                 \
        }                                                                               \
        out->nonfinite = 0;                                                             \
        out->finite = (int64_t)count;                                                   \
        out->min = (double)mn;                                                          \
        out->max = (double)mx;                                                          \
        combine(s, q, out);                                                             \
    }

INT_SUMS(cw_sums_i32, int32_t, INT32_MIN, INT32_MAX)
INT_SUMS(cw_sums_u32, uint32_t, 0, UINT32_MAX)
INT_SUMS(cw_sums_i64, int64_t, INT64_MIN, INT64_MAX)
INT_SUMS(cw_sums_u8, uint8_t, 0, UINT8_MAX)
