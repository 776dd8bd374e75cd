#ifndef CWREPRO_THREAD_PLACEMENT_H
#define CWREPRO_THREAD_PLACEMENT_H
#include <pthread.h>

/* The CPU the calling thread runs on now, or -1 where that cannot be known. */
int cw_current_cpu(void);

/* Lets `thread` run on every CPU the process may use except `cpu`. 0 on success; nothing changes
   (and -1 is returned) when `cpu` is not one of them or is the only one. */
int cw_keep_thread_off_cpu(pthread_t thread, int cpu);

#endif
