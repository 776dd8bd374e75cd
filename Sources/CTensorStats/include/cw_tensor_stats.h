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

/// Elements are read as little-endian values of the named type from possibly unaligned memory.
void cw_sums_f32(const void *data, size_t count, cw_tensor_sums *out);
void cw_sums_f64(const void *data, size_t count, cw_tensor_sums *out);
void cw_sums_i32(const void *data, size_t count, cw_tensor_sums *out);
void cw_sums_u32(const void *data, size_t count, cw_tensor_sums *out);
void cw_sums_i64(const void *data, size_t count, cw_tensor_sums *out);
void cw_sums_u8(const void *data, size_t count, cw_tensor_sums *out);

#endif
