#ifndef CW_TENSOR_STATS_H
#define CW_TENSOR_STATS_H
#include <stddef.h>
#include <stdint.h>

/// Raw sums of one tensor (docs/record-format.md, section 2): counts, the extremes of the finite
/// elements and their sum and sum of squares in Float64. `finite` == 0 means min/max/sum are
/// meaningless (the caller stores NULL).
typedef struct {
    int64_t nonfinite;
    int64_t finite;
    double min;
    double max;
    double sum;
    double sumsq;
} cw_tensor_sums;

/// The statistics of a float32 tensor taken in pieces (`cw_sums_f32` is begin, one update, end):
/// each lane's accumulators as the definition has them after `count` elements. Every update but
/// the last must cover a multiple of 16 elements, so that element i stays in lane i mod 16.
typedef struct {
    double s[16];
    double q[16];
    float lo[16];
    float hi[16];
    uint64_t bad[16];
    uint64_t count;
} cw_sums_f32_state;

void cw_sums_f32_begin(cw_sums_f32_state *state);
void cw_sums_f32_update(cw_sums_f32_state *state, const void *data, size_t count);
void cw_sums_f32_end(const cw_sums_f32_state *state, cw_tensor_sums *out);

/// Elements are read as little-endian values of the named type from possibly unaligned memory.
void cw_sums_f32(const void *data, size_t count, cw_tensor_sums *out);
void cw_sums_f64(const void *data, size_t count, cw_tensor_sums *out);
void cw_sums_i32(const void *data, size_t count, cw_tensor_sums *out);
void cw_sums_u32(const void *data, size_t count, cw_tensor_sums *out);
void cw_sums_i64(const void *data, size_t count, cw_tensor_sums *out);
void cw_sums_u8(const void *data, size_t count, cw_tensor_sums *out);

#endif
