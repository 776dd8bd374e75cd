#include "cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

#define SET(bit, cond) do { if (cond) bits |= (uint64_t)1 << (bit); } while (0)

uint64_t cw_cpu_feature_bits(void) {
    unsigned a, b, c, d, max;
    uint64_t bits = 0;
    if (!__get_cpuid(0, &max, &b, &c, &d)) return 0;
    __get_cpuid(1, &a, &b, &c, &d);
    unsigned ecx1 = c, edx1 = d;
    /* Register state the OS saves: XMM (bit 1) and YMM (bit 2) for AVX; opmask, ZMM_Hi256 and
       Hi16_ZMM (bits 5-7) for AVX-512; XTILECFG and XTILEDATA (bits 17-18) for AMX. */
    uint64_t xcr0 = (ecx1 >> 27) & 1 ? xgetbv0() : 0;
    int avxState = (xcr0 & 0x6) == 0x6;
    int avx512State = avxState && (xcr0 & 0xE0) == 0xE0;
    int amxState = (xcr0 & 0x60000) == 0x60000;

    SET(CW_CPU_SSE2, (edx1 >> 26) & 1);
    SET(CW_CPU_SSE3, ecx1 & 1);
    SET(CW_CPU_SSSE3, (ecx1 >> 9) & 1);
    SET(CW_CPU_SSE4_1, (ecx1 >> 19) & 1);
    SET(CW_CPU_SSE4_2, (ecx1 >> 20) & 1);
    SET(CW_CPU_AVX, avxState && ((ecx1 >> 28) & 1));
    SET(CW_CPU_FMA, avxState && ((ecx1 >> 12) & 1));
    SET(CW_CPU_F16C, avxState && ((ecx1 >> 29) & 1));
    if (max >= 7) {
        __get_cpuid_count(7, 0, &a, &b, &c, &d);
        unsigned subleaves = a;
        SET(CW_CPU_AVX2, avxState && ((b >> 5) & 1));
        SET(CW_CPU_AVX512F, avx512State && ((b >> 16) & 1));
        SET(CW_CPU_AVX512DQ, avx512State && ((b >> 17) & 1));
        SET(CW_CPU_AVX512CD, avx512State && ((b >> 28) & 1));
        SET(CW_CPU_AVX512BW, avx512State && ((b >> 30) & 1));
        SET(CW_CPU_AVX512VL, avx512State && ((b >> 31) & 1));
        SET(CW_CPU_AVX512_VNNI, avx512State && ((c >> 11) & 1));
        SET(CW_CPU_AVX512_FP16, avx512State && ((d >> 23) & 1));
        SET(CW_CPU_AMX_BF16, amxState && ((d >> 22) & 1));
        SET(CW_CPU_AMX_TILE, amxState && ((d >> 24) & 1));
        if (subleaves >= 1) {
            __get_cpuid_count(7, 1, &a, &b, &c, &d);
            SET(CW_CPU_AVX512_BF16, avx512State && ((a >> 5) & 1));
        }
    }
    __get_cpuid(0x80000000, &max, &b, &c, &d);
    if (max >= 0x80000001) {
        __get_cpuid(0x80000001, &a, &b, &c, &d);
        SET(CW_CPU_SSE4A, (c >> 6) & 1);
        SET(CW_CPU_FMA4, avxState && ((c >> 16) & 1));
    }
    return bits;
}
void cw_cpu_vendor(char out[13]) {
    unsigned a, b, c, d;
    out[0] = 0;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    unsigned words[3] = {b, d, c};
    for (int i = 0; i < 12; i++) out[i] = (char)((words[i / 4] >> (8 * (i % 4))) & 0xFF);
    out[12] = 0;
}
#else
uint64_t cw_cpu_feature_bits(void) { return 0; }
void cw_cpu_vendor(char out[13]) { out[0] = 0; }
#endif
