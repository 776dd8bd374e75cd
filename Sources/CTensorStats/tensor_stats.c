// Per-tensor statistics in one pass (two when a float32 tensor holds a NaN or an infinity)
// (docs/record-format.md, section 2).
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
typedef float cw_f16 __attribute__((ext_vector_type(16)));
typedef int cw_i8 __attribute__((ext_vector_type(8)));
typedef double cw_d4 __attribute__((ext_vector_type(4)));
typedef double cw_d8 __attribute__((ext_vector_type(8)));

// Lane-wise select on bit patterns: where mask is all ones, a; else b.
#define pick(mask, a, b) ((cw_f8)((((cw_i8)(a)) & (mask)) | (((cw_i8)(b)) & ~(mask))))

// The pass over the full blocks of 16 when every element is finite, which is the usual case: the
// same additions, minima and maxima in the same lanes as the masked loop below, without its masks
// (the identity on finite elements). Lanes 0-3, 4-7, 8-11, 12-15 each live in a 4-wide Float64
// vector, as the conversion of 4 floats is the fast one on AMD Zen 4.
//
// The square of a float is exact in Float64 (24-bit significands give at most 48 bits), so
// q + d * d rounds once either way: the fused multiply-add gives the bits of the separate
// multiply and add, and leaves the add pipes to the sums (1.4x on Zen 4).
//
// A non-finite element turns its lane's sum of squares into +Inf or NaN for good, while finite
// floats cannot overflow it (3.4e38^2 is about 1e77): the caller checks q and, when a lane is not
// finite, runs the masked loop over the piece again instead. The accumulators are read from and
// written back to the arrays (a piece continues the lanes of the pieces before it). Returns the
// count of elements covered (the full blocks).
#define FINITE_PASS(SQUARE_ADD)                                                                    \
    const unsigned char *p = (const unsigned char *)data;                                         \
    cw_d4 s0, s1, s2, s3, q0, q1, q2, q3;                                                         \
    cw_f16 lo, hi;                                                                                \
    for (int j = 0; j < 4; j++) {                                                                 \
        s0[j] = s[j]; s1[j] = s[4 + j]; s2[j] = s[8 + j]; s3[j] = s[12 + j];                      \
        q0[j] = q[j]; q1[j] = q[4 + j]; q2[j] = q[8 + j]; q3[j] = q[12 + j];                      \
    }                                                                                             \
    for (int j = 0; j < LANES; j++) { lo[j] = lo_io[j]; hi[j] = hi_io[j]; }                       \
    size_t i = 0;                                                                                 \
    for (; i + LANES <= count; i += LANES) {                                                      \
        cw_f16 x;                                                                                 \
        memcpy(&x, p + 4 * i, sizeof x);                                                          \
        lo = x < lo ? x : lo;                                                                     \
        hi = x > hi ? x : hi;                                                                     \
        cw_d4 a = __builtin_convertvector(x.s0123, cw_d4), b = __builtin_convertvector(x.s4567, cw_d4); \
        cw_d4 c = __builtin_convertvector(x.s89ab, cw_d4), d = __builtin_convertvector(x.scdef, cw_d4); \
        s0 += a; s1 += b; s2 += c; s3 += d;                                                       \
        SQUARE_ADD(q0, a); SQUARE_ADD(q1, b); SQUARE_ADD(q2, c); SQUARE_ADD(q3, d);               \
    }                                                                                             \
    for (int j = 0; j < 4; j++) {                                                                 \
        s[j] = s0[j]; s[4 + j] = s1[j]; s[8 + j] = s2[j]; s[12 + j] = s3[j];                      \
        q[j] = q0[j]; q[4 + j] = q1[j]; q[8 + j] = q2[j]; q[12 + j] = q3[j];                      \
    }                                                                                             \
    for (int j = 0; j < LANES; j++) { lo_io[j] = lo[j]; hi_io[j] = hi[j]; }                       \
    return i;

#define FUSED(q, a) q = __builtin_elementwise_fma(a, a, q)
#define SEPARATE(q, a) q += a * a

typedef size_t (*finite_pass_fn)(const void *, size_t, double *, double *, float *, float *);

#if defined(__x86_64__) && defined(__clang__)
__attribute__((target("avx512f,avx512vl,avx512dq,fma")))
static size_t finite_pass_avx512(const void *data, size_t count, double *s, double *q, float *lo_io, float *hi_io) {
    FINITE_PASS(FUSED)
}
__attribute__((target("avx2,fma")))
static size_t finite_pass_avx2(const void *data, size_t count, double *s, double *q, float *lo_io, float *hi_io) {
    FINITE_PASS(FUSED)
}
#endif
static size_t finite_pass_portable(const void *data, size_t count, double *s, double *q, float *lo_io, float *hi_io) {
    FINITE_PASS(SEPARATE)
}

static finite_pass_fn finite_pass(void) {
#if defined(__x86_64__) && defined(__clang__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")
        && __builtin_cpu_supports("fma")) return finite_pass_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return finite_pass_avx2;
#endif
    return finite_pass_portable;
}

// The masked loop: every element, NaN and infinities counted and left out. Lanes 0-7 in x0,
// 8-15 in x1; sums in two 8-lane Float64 vectors. Each lane adds its elements one after the other,
// so the bits are those of the scalar definition on every clone. Continues the accumulators
// given over the full blocks of the piece; returns the count of elements covered.
CW_CLONES
static size_t masked_pass(const unsigned char *p, size_t count, double s[LANES], double q[LANES],
                          float lo[LANES], float hi[LANES], uint32_t bad[LANES]) {
    const cw_i8 expMask = 0x7F800000;
    const cw_f8 inf = INFINITY, ninf = -INFINITY, zero = 0.0f;
    cw_d8 s0, s1, q0, q1;
    cw_f8 lo0, lo1, hi0, hi1;
    cw_i8 bad0, bad1;
    for (int j = 0; j < 8; j++) {
        s0[j] = s[j]; s1[j] = s[8 + j]; q0[j] = q[j]; q1[j] = q[8 + j];
        lo0[j] = lo[j]; lo1[j] = lo[8 + j]; hi0[j] = hi[j]; hi1[j] = hi[8 + j];
        bad0[j] = (int)bad[j]; bad1[j] = (int)bad[8 + j];
    }
    size_t i = 0;
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
    for (int j = 0; j < 8; j++) {
        s[j] = s0[j]; s[8 + j] = s1[j];
        q[j] = q0[j]; q[8 + j] = q1[j];
        lo[j] = lo0[j]; lo[8 + j] = lo1[j]; hi[j] = hi0[j]; hi[8 + j] = hi1[j];
        bad[j] = (uint32_t)bad0[j]; bad[8 + j] = (uint32_t)bad1[j];
    }
    return i;
}

void cw_sums_f32_begin(cw_sums_f32_state *st) {
    for (int j = 0; j < LANES; j++) {
        st->s[j] = 0; st->q[j] = 0; st->lo[j] = INFINITY; st->hi[j] = -INFINITY; st->bad[j] = 0;
    }
    st->count = 0;
}

// The accumulators of the pieces so far, into working copies.
static void load_state(const cw_sums_f32_state *st, double s[LANES], double q[LANES], float lo[LANES], float hi[LANES]) {
    memcpy(s, st->s, sizeof st->s); memcpy(q, st->q, sizeof st->q);
    memcpy(lo, st->lo, sizeof st->lo); memcpy(hi, st->hi, sizeof st->hi);
}

void cw_sums_f32_update(cw_sums_f32_state *st, const void *data, size_t count) {
    static finite_pass_fn chosen;   // once per process; two threads racing store the same pointer
    finite_pass_fn pass = __atomic_load_n(&chosen, __ATOMIC_RELAXED);
    if (!pass) { pass = finite_pass(); __atomic_store_n(&chosen, pass, __ATOMIC_RELAXED); }
    const unsigned char *p = (const unsigned char *)data;
    double s[LANES], q[LANES];
    float lo[LANES], hi[LANES];
    uint32_t bad[LANES] = {0};
    load_state(st, s, q, lo, hi);
    size_t i = pass(data, count, s, q, lo, hi);
    // The sums of squares so far are finite (non-finite elements are left out, and finite floats
    // cannot overflow them): a lane that is not finite now met a NaN or an infinity in this chunk.
    int finite = 1;
    for (int j = 0; j < LANES; j++) finite &= (int)isfinite(q[j]);
    if (!finite) {
        load_state(st, s, q, lo, hi);
        i = masked_pass(p, count, s, q, lo, hi, bad);
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
    memcpy(st->s, s, sizeof s); memcpy(st->q, q, sizeof q);
    memcpy(st->lo, lo, sizeof lo); memcpy(st->hi, hi, sizeof hi);
    for (int j = 0; j < LANES; j++) st->bad[j] += bad[j];
    st->count += count;
}

void cw_sums_f32_end(const cw_sums_f32_state *st, cw_tensor_sums *out) {
    double s[LANES], q[LANES];
    memcpy(s, st->s, sizeof s); memcpy(q, st->q, sizeof q);
    int64_t nonfinite = 0;
    float mn = INFINITY, mx = -INFINITY;
    for (int j = 0; j < LANES; j++) {
        nonfinite += (int64_t)st->bad[j];
        if (st->lo[j] < mn) mn = st->lo[j];
        if (st->hi[j] > mx) mx = st->hi[j];
    }
    out->nonfinite = nonfinite;
    out->finite = (int64_t)st->count - nonfinite;
    out->min = (double)mn;
    out->max = (double)mx;
    combine(s, q, out);
}

void cw_sums_f32(const void *data, size_t count, cw_tensor_sums *out) {
    cw_sums_f32_state st;
    cw_sums_f32_begin(&st);
    cw_sums_f32_update(&st, data, count);
    cw_sums_f32_end(&st, out);
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
