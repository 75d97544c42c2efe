/*
 * replay_malloc.c - replay a trace through the process's malloc/free, and
 * the helpers every replay shares.
 *
 * The slot table (one pointer per slot) is an anonymous mapping touched in
 * full before the clock starts, so the loop only pays for malloc, free and
 * the touching of the blocks malloc hands out.  One malloc/free pair runs
 * before the measurement so the allocator's one-time set-up is not counted
 * (the core's heap_create() is not counted either).  The blocks still live at the
 * end are left to the process's exit: the replaying child exits right after.
 *
 * meta_bytes_per_block is not measured for malloc.  Under glibc (and no
 * LD_PRELOAD that could swap the allocator) it is reported as 8, the size
 * field glibc keeps in front of every in-use chunk; otherwise it is unknown
 * (null).
 */
#include "replay.h"
#include "footprint.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#define PAGE 4096u

int replay_fail(struct replay_result *r, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof r->err, fmt, ap);
	va_end(ap);
	r->status = status;
	return status;
}

uint64_t replay_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t replay_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)ru.ru_minflt + (uint64_t)ru.ru_majflt;
}

/* Bytes a table of n entries of elem bytes maps (at least one page). */
static size_t table_bytes(size_t n, size_t elem)
{
	size_t bytes = (n ? n : 1) * elem;

	return (bytes + PAGE - 1) / PAGE * PAGE;
}

void *replay_table_new(size_t n, size_t elem)
{
	size_t bytes = table_bytes(n, elem);
	unsigned char *p =
	        mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	for (size_t off = 0; off < bytes; off += PAGE)
		p[off] = 0;
	return p;
}

void replay_table_free(void *p, size_t n, size_t elem)
{
	if (p)
		munmap(p, table_bytes(n, elem));
}

/* The timed loop.  0, or -ENOMEM with *failed_at set to the event index. */
static int malloc_loop(const struct trace *t, void **tab, size_t *failed_at)
{
	for (size_t i = 0; i < t->nev; i++) {
		struct trace_event ev = t->ev[i];
		void *p;

		if (ev.slot & TRACE_FREE_BIT) {
			free(tab[ev.slot & ~TRACE_FREE_BIT]);
			continue;
		}
		p = malloc(ev.size);
		if (!p) {
			*failed_at = i;
			return -ENOMEM;
		}
		replay_touch(p, ev.size);
		tab[ev.slot] = p;
	}
	return 0;
}

/* Let malloc initialise itself (glibc: the first sbrk; jemalloc: its
 * arenas) before the measurement, as the core's heap_create() is.  The
 * volatile keeps the compiler from eliding the pair. */
static void malloc_warm_up(void)
{
	void *volatile p = malloc(1);

	free(p);
}

/* 8 under glibc with no preloaded allocator, else -1 (unknown). */
static double malloc_meta_per_block(void)
{
#ifdef __GLIBC__
	if (!getenv("LD_PRELOAD"))
		return 8.0;
#endif
	return -1.0;
}

int replay_malloc(const struct trace *t, struct replay_result *r)
{
	void **tab = replay_table_new(t->max_live_blocks, sizeof(void *));
	size_t failed_at = 0;
	uint64_t t0, faults;
	int rc;

	memset(r, 0, sizeof(*r));
	if (!tab)
		return replay_fail(r, 1, "cannot map the slot table: %s", strerror(errno));
	malloc_warm_up();
	footprint_prepare();
	rc = footprint_begin(&r->baseline_rss);
	if (rc < 0) {
		replay_fail(r, 1, "cannot reset the RSS high-water mark: %s", strerror(-rc));
		goto out_free_table;
	}
	faults = replay_faults();
	t0 = replay_now_ns();
	rc = malloc_loop(t, tab, &failed_at);
	r->elapsed_ns = replay_now_ns() - t0;
	r->page_faults = replay_faults() - faults;
	if (rc < 0) {
		replay_fail(r, 1, "malloc failed at event %zu", failed_at);
		goto out_free_table;
	}
	rc = footprint_end(&r->hwm);
	if (rc < 0)
		replay_fail(r, 1, "cannot read VmHWM: %s", strerror(-rc));
	r->meta_bytes_per_block = malloc_meta_per_block();

out_free_table:
	replay_table_free(tab, t->max_live_blocks, sizeof(void *));
	return r->status;
}
