// Where the recorder's hashing thread may run (Sources/Recorder/DigestLane.swift): off the CPU
// the training thread is on, so that the scheduler never puts the two on one CPU while another
// is left to a BLAS worker waiting for its next product.
#define _GNU_SOURCE
#include "thread_placement.h"
#include <pthread.h>
#include <sched.h>

int cw_current_cpu(void) {
#if defined(__linux__)
    return sched_getcpu();
#else
    return -1;
#endif
}

int cw_keep_thread_off_cpu(pthread_t thread, int cpu) {
#if defined(__linux__)
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return -1;
    if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &allowed) || CPU_COUNT(&allowed) < 2) return -1;
    CPU_CLR(cpu, &allowed);
    return pthread_setaffinity_np(thread, sizeof allowed, &allowed);
#else
    (void)thread; (void)cpu;
    return -1;
#endif
}
