#ifndef CWREPRO_CPU_FEATURES_H
#define CWREPRO_CPU_FEATURES_H
#include <stdint.h>

/* Instruction-set features this CPU reports through CPUID *and* the operating system has enabled
   (XGETBV: the AVX, AVX-512 and AMX register states saved on context switch), one bit each.
   CPUID, not /proc/cpuinfo: under an emulator or a hypervisor that masks features, CPUID is what
   the code that runs (OpenBLAS's kernel choice included) sees. Zero on non-x86-64 machines. */
enum {
    CW_CPU_SSE2 = 0, CW_CPU_SSE3, CW_CPU_SSSE3, CW_CPU_SSE4_1, CW_CPU_SSE4_2, CW_CPU_SSE4A,
    CW_CPU_AVX, CW_CPU_AVX2, CW_CPU_FMA, CW_CPU_FMA4, CW_CPU_F16C,
    CW_CPU_AVX512F, CW_CPU_AVX512CD, CW_CPU_AVX512BW, CW_CPU_AVX512DQ, CW_CPU_AVX512VL,
    CW_CPU_AVX512_VNNI, CW_CPU_AVX512_BF16, CW_CPU_AVX512_FP16, CW_CPU_AMX_TILE, CW_CPU_AMX_BF16,
    CW_CPU_FEATURE_COUNT
};

uint64_t cw_cpu_feature_bits(void);

/* The CPUID vendor string ("GenuineIntel", "AuthenticAMD"), NUL-terminated, into `out` (13 bytes);
   empty on non-x86-64 machines. */
void cw_cpu_vendor(char out[13]);

#endif
