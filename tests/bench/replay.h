/*
 * replay.h - replay a parsed trace through an allocator and measure it.
 *
 * A replay runs in the process that calls it (memd-bench forks one child
 * per run, so no two replays share a heap or a high-water mark).  It maps
 * and pre-touches its slot table, faults in the program text, resets the
 * RSS high-water mark, then times the event loop alone.  Every block handed
 * out is touched by replay_touch(), the same way in every mode.
 */
#ifndef MEMD_BENCH_REPLAY_H
#define MEMD_BENCH_REPLAY_H

#include "trace.h"

#include <stddef.h>
#include <stdint.h>

/* What one replay measured.  Plain data: it crosses a pipe from the child
 * that ran the replay to the parent that prints it. */
struct replay_result {
	int status;                  /* 0, or the exit status memd-bench should use */
	uint64_t elapsed_ns;         /* wall time of the event loop */
	uint64_t baseline_rss;       /* VmRSS (bytes) just before the loop */
	uint64_t hwm;                /* VmHWM (bytes) just after it */
	uint64_t reserved_bytes;     /* core: bytes of registered segments; client:
	                              * bytes of memd's segments after the loop (0:
	                              * unknown, a memd given by --socket); else 0 */
	uint64_t segments;           /* core: segments created; else 0 */
	uint64_t page_faults;        /* minor + major faults during the loop */
	uint64_t round_trips;        /* client: requests written during the loop */
	int64_t daemon_growth;       /* client: memd's peak RSS growth, bytes; < 0 unknown */
	double meta_bytes_per_block; /* < 0: unknown (printed as null) */
	char err[240];               /* message when status != 0 */
};

/* Replay t through malloc/free.  Fills *r; returns r->status. */
int replay_malloc(const struct trace *t, struct replay_result *r);

/* Replay t through the heap core over real POSIX shm segments.  Fills *r;
 * returns r->status. */
int replay_core(const struct trace *t, struct replay_result *r);

struct memd_proc;

/* Replay t through libmemclient against the memd listening on socket;
 * daemon is that memd when memd-bench started it (its pid and shm prefix
 * give the daemon-side figures), NULL for one given by --socket.  Fills
 * *r; returns r->status. */
int replay_client(const struct trace *t, const char *socket, const struct memd_proc *daemon,
                  struct replay_result *r);

/* Write one byte at offset 0, at every multiple of 4096 and at the last
 * byte of the size-byte block at p (size >= 1), so every page of the block
 * is resident. */
static inline void replay_touch(void *p, uint32_t size)
{
	volatile unsigned char *b = p;

	for (uint32_t off = 0; off < size; off += 4096)
		b[off] = 1;
	b[size - 1] = 1;
}

/* Map a zeroed slot table of n entries of size elem and touch every page,
 * so the replay takes no page faults on it.  NULL on failure; free with
 * replay_table_free(p, n, elem). */
void *replay_table_new(size_t n, size_t elem);

/* Unmap a table from replay_table_new. */
void replay_table_free(void *p, size_t n, size_t elem);

/* Nanoseconds on the monotonic clock. */
uint64_t replay_now_ns(void);

/* Page faults (minor + major) this process has taken so far. */
uint64_t replay_faults(void);

/* Fill r->status and r->err with a formatted message; returns status. */
int replay_fail(struct replay_result *r, int status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#endif /* MEMD_BENCH_REPLAY_H */
