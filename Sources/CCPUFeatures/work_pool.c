// The engine's thread pool (include/work_pool.h).
#define _GNU_SOURCE
#include "work_pool.h"
#include "spin_wait.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

// One region at a time. `ticket` holds the region's generation (high 32 bits), its iteration
// count (16 bits) and the next unclaimed iteration (low 16 bits): a thread claims iteration i of
// generation g by a compare-and-swap from (g, n, i) to (g, n, i + 1), so a thread that wakes late
// can never claim an iteration of a region that has ended. fn and ctx are written before the
// ticket (release) and stay put until `done` reaches n, which needs every claimed iteration.
#define CW_POOL_MAX_THREADS 63
#define CW_POOL_MAX_N 0xFFFF
// The caller spins this many times a pool thread's spin for the others' iterations before it
// sleeps (2 ms by default: longer than the imbalance at the end of a compute region).
#define CW_POOL_CALLER_SPINS 10

static struct {
    _Alignas(64) _Atomic uint64_t ticket;
    _Alignas(64) _Atomic uint64_t done;
    _Alignas(64) cw_pool_fn fn;
    void *ctx;
    _Atomic int sleepers;
    _Atomic int waiting;     // the caller sleeps on `finished` until `done` reaches n
    int threads;
    uint64_t spin_ns;
    pthread_mutex_t region;  // one region at a time
    pthread_mutex_t sleep;   // guards the condition below
    pthread_cond_t wake;
    pthread_cond_t finished;
} pool = {.region = PTHREAD_MUTEX_INITIALIZER, .sleep = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
          .finished = PTHREAD_COND_INITIALIZER};

static _Thread_local int inside;  // this thread runs a region's iteration (or is a pool thread)

static inline uint32_t generation(uint64_t t) { return (uint32_t)(t >> 32); }

// Claims and runs iterations of generation `g` until none is left.
static void claim(uint32_t g) {
    uint64_t t = atomic_load_explicit(&pool.ticket, memory_order_acquire);
    for (;;) {
        if (generation(t) != g) return;
        uint64_t i = t & 0xFFFF, n = (t >> 16) & 0xFFFF;
        if (i >= n) return;
        if (!atomic_compare_exchange_weak_explicit(&pool.ticket, &t, t + 1, memory_order_acq_rel, memory_order_acquire))
            continue;
        pool.fn(pool.ctx, (int64_t)i);
        // Sequentially consistent: either the caller sees the last iteration done, or the thread
        // that finishes it sees the caller waiting and wakes it.
        if (atomic_fetch_add(&pool.done, 1) + 1 == n && atomic_load(&pool.waiting)) {
            pthread_mutex_lock(&pool.sleep);
            pthread_cond_broadcast(&pool.finished);
            pthread_mutex_unlock(&pool.sleep);
        }
        t = atomic_load_explicit(&pool.ticket, memory_order_acquire);
    }
}

static void *worker(void *unused) {
    (void)unused;
    inside = 1;
    uint32_t seen = generation(atomic_load_explicit(&pool.ticket, memory_order_acquire));
    for (;;) {
        // Spin for the next region (yielding now and then), then sleep until a region starts.
        uint32_t g = generation(cw_spin_while(&pool.ticket, 0xFFFFFFFF00000000u, (uint64_t)seen << 32, pool.spin_ns));
        if (g == seen) {
            pthread_mutex_lock(&pool.sleep);
            atomic_fetch_add(&pool.sleepers, 1);
            while ((g = generation(atomic_load(&pool.ticket))) == seen) pthread_cond_wait(&pool.wake, &pool.sleep);
            atomic_fetch_sub(&pool.sleepers, 1);
            pthread_mutex_unlock(&pool.sleep);
        }
        seen = g;
        claim(g);
    }
    return NULL;
}

static void run_inline(int64_t n, cw_pool_fn fn, void *ctx) {
    int was = inside;
    inside = 1;
    for (int64_t i = 0; i < n; i++) fn(ctx, i);
    inside = was;
}

// Starts threads up to `wanted`, at most one fewer than the CPUs online (more could only take
// turns, each spinning for its CPU): the caller claims whatever they leave.
static void start_threads(int wanted) {
    static int cpus = 0;
    if (cpus == 0) {
        const char *s = getenv("CWREPRO_POOL_SPIN_US");
        pool.spin_ns = s ? (uint64_t)strtoull(s, NULL, 10) * 1000u : CW_POOL_SPIN_NS;
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        cpus = online > 0 ? (int)online : 1;
    }
    if (wanted > cpus - 1) wanted = cpus - 1;
    while (pool.threads < wanted) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&t, &attr, worker, NULL);
        pthread_attr_destroy(&attr);
        if (failed) return;  // fewer threads: the caller claims what they do not
#if defined(__linux__)
        pthread_setname_np(t, "cwrepro-pool");
#endif
        pool.threads++;
    }
}

void cw_pool_run(int64_t n, cw_pool_fn fn, void *ctx) {
    if (n <= 0) return;
    if (n == 1 || n > CW_POOL_MAX_N || inside || pthread_mutex_trylock(&pool.region) != 0) {
        run_inline(n, fn, ctx);
        return;
    }
    start_threads((int)(n - 1 < CW_POOL_MAX_THREADS ? n - 1 : CW_POOL_MAX_THREADS));
    pool.fn = fn;
    pool.ctx = ctx;
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    uint32_t g = generation(atomic_load_explicit(&pool.ticket, memory_order_relaxed)) + 1;
    // Sequentially consistent: either a thread about to sleep sees the new generation, or this
    // thread sees it among the sleepers and wakes it.
    atomic_store(&pool.ticket, ((uint64_t)g << 32) | ((uint64_t)n << 16));
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.sleep);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.sleep);
    }
    inside = 1;
    claim(g);
    inside = 0;
    // The iterations other threads took: spin for them (a region's halves end microseconds
    // apart), then sleep (an iteration can be a whole training run: explain's parallel runs).
    const uint64_t start = cw_now_ns(), budget = CW_POOL_CALLER_SPINS * pool.spin_ns;
    uint64_t done = atomic_load_explicit(&pool.done, memory_order_acquire);
    while (done < (uint64_t)n) {
        uint64_t spent = cw_now_ns() - start;
        if (spent >= budget) {
            pthread_mutex_lock(&pool.sleep);
            atomic_store(&pool.waiting, 1);
            while (atomic_load(&pool.done) < (uint64_t)n) pthread_cond_wait(&pool.finished, &pool.sleep);
            atomic_store(&pool.waiting, 0);
            pthread_mutex_unlock(&pool.sleep);
            break;
        }
        done = cw_spin_while(&pool.done, UINT64_MAX, done, budget - spent);
    }
    pthread_mutex_unlock(&pool.region);
}
