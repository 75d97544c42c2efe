/*
 * footprint.h - measure the peak growth of this process's resident memory.
 *
 * footprint_prepare() faults in what a replay would otherwise fault in as a
 * side effect (program text, read-only data, a stretch of stack, the vDSO),
 * footprint_begin() resets the kernel's high-water mark (VmHWM) to the
 * current resident size and returns that size, footprint_end() returns the
 * high-water mark since.  Resident memory counts anonymous, file-backed and
 * shared-memory pages alike (VmRSS = RssAnon + RssFile + RssShmem), so the
 * pages of a MAP_SHARED shm segment count as soon as they are touched.
 *
 * None of these functions allocates from the C heap.
 */
#ifndef MEMD_BENCH_FOOTPRINT_H
#define MEMD_BENCH_FOOTPRINT_H

#include <stdint.h>

/* Fault in file-backed read-only mappings and some stack.  Never fails. */
void footprint_prepare(void);

/* Reset VmHWM to VmRSS (writes "5" to /proc/self/clear_refs, Linux >= 4.0)
 * and store VmRSS in bytes in *rss.  0 or -errno. */
int footprint_begin(uint64_t *rss);

/* Store VmHWM in bytes (the peak since footprint_begin) in *hwm.  0 or
 * -errno. */
int footprint_end(uint64_t *hwm);

#endif /* MEMD_BENCH_FOOTPRINT_H */
