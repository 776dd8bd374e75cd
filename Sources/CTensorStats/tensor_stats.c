// Per-tensor statistics in one pass (docs/record-format.md, section 2).
//
// Summation order: element i is added into lane i mod 16 (16 Float64 accumulators for the sum and
// 16 for the sum of squares); the lanes are combined pairwise at the end (lane j += lane j + w for
// w = 8, 4, 2, 1). The order is written out in the source, so it is the same whatever vector width
// the compiler picks: the AVX2 clone and the baseline clone (chosen at run time) give identical
// bits, and so does any other CPU. The build passes -ffp-contract=off (no FMA contraction, which
// would round x * x + q differently for float64 tensors) and -O2 even in debug builds (this loop
// runs on every recorded tensor; the test suite records in debug builds).
#include "cw_tensor_stats.h"
#include <math.h>
#include <string.h>

#define LANES 16

#if defined(__x86_64__) && defined(__clang__) && defined(__linux__)
#define CW_CLONES __attribute__((target_clones("avx2", "default")))
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

CW_CLONES
void cw_sums_f32(const void *data, size_t count, cw_tensor_sums *out) {
    const unsigned char *p = (const unsigned char *)data;
    double s[LANES] = {0}, q[LANES] = {0};
    float lo[LANES], hi[LANES];
    uint32_t bad[LANES] = {0};
    for (int j = 0; j < LANES; j++) { lo[j] = INFINITY; hi[j] = -INFINITY; }
    size_t i = 0;
    for (; i + LANES <= count; i += LANES) {
        uint32_t b[LANES];
        memcpy(b, p + 4 * i, sizeof b);
        for (int j = 0; j < LANES; j++) {
            float v;
            memcpy(&v, &b[j], 4);
            int finite = (b[j] & 0x7F800000u) != 0x7F800000u;
            bad[j] += (uint32_t)!finite;
            float vf = finite ? v : 0.0f;
            lo[j] = (finite && v < lo[j]) ? v : lo[j];
            hi[j] = (finite && v > hi[j]) ? v : hi[j];
            double d = (double)vf;
            s[j] += d;
            q[j] += d * d;
        }
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
