#ifndef CWREPRO_SPIN_SIGNAL_H
#define CWREPRO_SPIN_SIGNAL_H
#include <stdint.h>

/* A counter one thread bumps when it has handed over work or finished some, and another watches
   without taking a lock (Sources/Recorder/DigestLane.swift): a thread that expects work within a
   few milliseconds spins on it instead of sleeping on a condition variable, so the thread that
   hands the work over makes no system call (waking a sleeping thread costs the waker a futex
   call and, on a virtual machine, an interprocessor interrupt: 10-30 us each). */
typedef struct cw_spin_signal cw_spin_signal;

cw_spin_signal *cw_spin_signal_new(void);
void cw_spin_signal_free(cw_spin_signal *signal);

/* The current value (an acquire load: what was written before the bump that made it is visible). */
uint64_t cw_spin_signal_value(const cw_spin_signal *signal);

/* Adds one (a release increment). */
void cw_spin_signal_bump(cw_spin_signal *signal);

/* Spins until the value is no longer `seen` or `nanoseconds` have passed, and says which: 1 when
   the value changed. Yields the CPU every few microseconds (another thread of the process, such
   as the record writer, may be waiting for it). */
int cw_spin_signal_wait(const cw_spin_signal *signal, uint64_t seen, uint64_t nanoseconds);

#endif
