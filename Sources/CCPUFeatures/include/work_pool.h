#ifndef CWREPRO_WORK_POOL_H
#define CWREPRO_WORK_POOL_H
#include <stdint.h>

/* The engine's parallel regions (Sources/Engine/Core/Parallel.swift): fn(ctx, 0) ... fn(ctx, n - 1)
   on the calling thread and the pool's threads, returning when every call has returned.

   A training step at two threads opens a few hundred regions of 0.1 to 2 ms. Between them the
   pool's threads spin for a short while (`CW_POOL_SPIN_NS`) before they sleep, so the next region
   starts on both cores at once instead of after a wake-up (a futex call and, on a virtual
   machine, an interprocessor interrupt: tens of microseconds, more on a loaded host). Iterations
   are claimed one at a time: when a pool thread is late, the caller runs the rest itself, so a
   region never waits for a thread to wake. Which thread runs an iteration never changes a result
   (every caller gives each iteration its own outputs).

   The pool has at most one thread fewer than the CPUs online. The caller, once its own share is
   done, spins for the others' iterations for up to 10 times a pool thread's spin, then sleeps
   until the last one ends. A region opened inside another (from one of its iterations, or from
   another thread while one runs) runs its iterations in order on the calling thread. */
typedef void (*cw_pool_fn)(void *ctx, int64_t index);

void cw_pool_run(int64_t n, cw_pool_fn fn, void *ctx);

/* How long a pool thread spins for the next region before it sleeps (default 200 us;
   CWREPRO_POOL_SPIN_US in the environment overrides it, read once). */
#define CW_POOL_SPIN_NS 200000u

#endif
