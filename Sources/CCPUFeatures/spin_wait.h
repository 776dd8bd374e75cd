// Spinning on a 64-bit word another thread changes (spin_signal.c, work_pool.c): a private
// header of this target, not part of its module.
#ifndef CWREPRO_SPIN_WAIT_H
#define CWREPRO_SPIN_WAIT_H
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

static inline uint64_t cw_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static inline void cw_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Spins until the bits `mask` of `*word` (acquire loads) are no longer `seen`, or `nanoseconds`
   have passed; returns the word's last value. Yields the CPU every few microseconds: another
   thread of the process (the record writer, the hashing helper) may be waiting for it. */
static inline uint64_t cw_spin_while(const _Atomic uint64_t *word, uint64_t mask, uint64_t seen, uint64_t nanoseconds) {
    const uint64_t start = cw_now_ns();
    for (unsigned spin = 1;; spin++) {
        uint64_t v = atomic_load_explicit((_Atomic uint64_t *)word, memory_order_acquire);
        if ((v & mask) != seen) return v;
        cw_relax();
        // 128 pauses are a few microseconds on current x86-64 cores (3.5 us on Zen 3); a yield
        // costs 0.7 us there when nothing else waits for the CPU.
        if (spin % 128 == 0) {
            if (cw_now_ns() - start >= nanoseconds) return atomic_load_explicit((_Atomic uint64_t *)word, memory_order_acquire);
            sched_yield();
        }
    }
}

#endif
