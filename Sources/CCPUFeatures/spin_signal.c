// A counter watched without a lock (include/spin_signal.h).
#define _GNU_SOURCE
#include "spin_signal.h"
#include "spin_wait.h"
#include <stdatomic.h>
#include <stdlib.h>

// A cache line of its own: a spinning reader of a line the other thread also writes for other
// reasons (malloc's bookkeeping of a neighbouring block) would slow that thread's every write to it.
struct cw_spin_signal { _Alignas(64) _Atomic uint64_t value; char pad[56]; };

cw_spin_signal *cw_spin_signal_new(void) {
    cw_spin_signal *s = aligned_alloc(64, sizeof *s);
    if (s) atomic_init(&s->value, 0);
    return s;
}

void cw_spin_signal_free(cw_spin_signal *signal) { free(signal); }

uint64_t cw_spin_signal_value(const cw_spin_signal *signal) {
    return atomic_load_explicit(&((cw_spin_signal *)signal)->value, memory_order_acquire);
}

void cw_spin_signal_bump(cw_spin_signal *signal) {
    atomic_fetch_add_explicit(&signal->value, 1, memory_order_release);
}

int cw_spin_signal_wait(const cw_spin_signal *signal, uint64_t seen, uint64_t nanoseconds) {
    return cw_spin_while(&signal->value, UINT64_MAX, seen, nanoseconds) != seen;
}
