/*
 * replay_core.c - replay a trace through the heap core (daemon/heap.h) over
 * real POSIX shared memory.
 *
 * The replay plays the part of the pool layer: it creates a heap with no
 * segments, and whenever heap_alloc() answers -ENOMEM it makes a segment
 * and registers it.  A segment is a uniquely named shm object
 * ("/memd-bench-<pid>-<n>"), sized with ftruncate only (no fallocate, so a
 * page becomes resident when the replay first touches it, as it would in a
 * client), mapped MAP_SHARED, and unlinked at once.  Segment sizes follow a
 * geometric policy, independent of what forced the growth: 4 MiB first,
 * each next one twice the previous policy size, capped at 1 GiB; a request
 * too large for the policy size gets max(policy, heap_grow_size(size, 0)).
 *
 * Ownership: struct arena owns the heap, the mappings and the table
 * seg_id -> (base, size) (an anonymous mapping, ARENA_SEG_COUNT + 1 entries
 * indexed by segment id, touched before timing).  A reference becomes a
 * pointer as seg[ref >> 40].base + (ref & (2^40 - 1)).  The heap core's own
 * metadata comes from libc realloc (the NULL hook), so its growth during
 * the replay counts in the footprint, as it would in the daemon.
 *
 * meta_bytes_per_block: heap_stats().meta_bytes / live_blocks at the event
 * where live bytes first reach their peak.  Reading stats inside the timed
 * loop at every new peak would perturb the timing, so after the timed run
 * the heap is destroyed and the trace is replayed again, untimed and
 * without touching memory, up to that event, on segments that are
 * registered but never mapped (the core never reads managed memory).  The
 * core is deterministic, so the heap it reaches is the one the timed run
 * had at that event.  heap_check() runs there too, so every core run also
 * verifies the heap's integrity at its fullest.
 */
#include "replay.h"
#include "footprint.h"

#include "heap.h"
#include "ref.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ARENA_SEG_BASE  1u
#define ARENA_SEG_COUNT 4096u
#define ARENA_FIRST     (UINT64_C(4) << 20)
#define ARENA_CAP       (UINT64_C(1) << 30)

/* One segment as the bench sees it. */
struct arena_seg {
	unsigned char *base; /* mapping, or NULL when not mapped */
	uint64_t size;       /* bytes */
};

/* The pool layer's stand-in: a heap and the segments behind it. */
struct arena {
	heap_t *heap;          /* the core under test */
	struct arena_seg *seg; /* indexed by segment id; ARENA_SEG_COUNT + 1 */
	uint32_t nsegs;        /* segments created (ids 1 .. nsegs) */
	uint64_t next_size;    /* policy size of the next segment */
	uint64_t reserved;     /* sum of segment sizes */
	bool map;              /* false: register segments without memory */
};

/* Create a heap and the segment table.  0 or a message in r. */
static int arena_init(struct arena *a, bool map, struct replay_result *r)
{
	struct heap_options opt = {.seg_id_base = ARENA_SEG_BASE, .seg_id_count = ARENA_SEG_COUNT};
	int rc;

	memset(a, 0, sizeof(*a));
	a->map = map;
	a->next_size = ARENA_FIRST;
	a->seg = replay_table_new(ARENA_SEG_COUNT + 1, sizeof(struct arena_seg));
	if (!a->seg)
		return replay_fail(r, 1, "cannot map the segment table: %s", strerror(errno));
	rc = heap_create(&opt, &a->heap);
	if (rc < 0) {
		replay_fail(r, 1, "heap_create: %s", strerror(-rc));
		goto fail_free_table;
	}
	return 0;

fail_free_table:
	replay_table_free(a->seg, ARENA_SEG_COUNT + 1, sizeof(struct arena_seg));
	a->seg = NULL;
	return r->status;
}

/* Destroy the heap and unmap every segment and the table. */
static void arena_fini(struct arena *a)
{
	if (a->heap)
		heap_destroy(a->heap);
	for (uint32_t id = ARENA_SEG_BASE; a->seg && id < ARENA_SEG_BASE + a->nsegs; id++)
		if (a->seg[id].base)
			munmap(a->seg[id].base, a->seg[id].size);
	replay_table_free(a->seg, ARENA_SEG_COUNT + 1, sizeof(struct arena_seg));
	memset(a, 0, sizeof(*a));
}

/* Map a fresh, already unlinked shm object of size bytes.  The mapping or
 * MAP_FAILED with errno set. */
static void *shm_map(uint32_t seg_id, uint64_t size)
{
	char name[64];
	void *p = MAP_FAILED;
	int fd, saved;

	snprintf(name, sizeof name, "/memd-bench-%ld-%u", (long)getpid(), seg_id);
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return MAP_FAILED;
	shm_unlink(name);
	if (ftruncate(fd, (off_t)size) == 0)
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	saved = errno;
	close(fd);
	errno = saved;
	return p;
}

/* Size of the next segment for a request of size bytes; 0 if none can
 * hold it. */
static uint64_t arena_next_size(struct arena *a, uint64_t size)
{
	uint64_t need = heap_grow_size(size, 0);
	uint64_t s = a->next_size > need ? a->next_size : need;

	if (need == 0)
		return 0;
	return (s + HEAP_PAGE_SIZE - 1) / HEAP_PAGE_SIZE * HEAP_PAGE_SIZE;
}

/* Add a segment big enough for a request of size bytes.  0, or a non-zero
 * status with a message in r. */
static int arena_grow(struct arena *a, uint64_t size, struct replay_result *r)
{
	uint64_t bytes = arena_next_size(a, size);
	uint32_t id = ARENA_SEG_BASE + a->nsegs;
	void *p = NULL;
	int rc;

	if (bytes == 0 || a->nsegs == ARENA_SEG_COUNT)
		return replay_fail(r, 1, "no segment can hold %llu bytes",
		                   (unsigned long long)size);
	if (a->map && (p = shm_map(id, bytes)) == MAP_FAILED)
		return replay_fail(r, 1, "shm segment of %llu bytes: %s", (unsigned long long)bytes,
		                   strerror(errno));
	rc = heap_add_segment(a->heap, id, bytes);
	if (rc < 0) {
		replay_fail(r, 1, "heap_add_segment(%u, %llu): %s", id, (unsigned long long)bytes,
		            strerror(-rc));
		goto fail_unmap;
	}
	a->seg[id] = (struct arena_seg){.base = p, .size = bytes};
	a->nsegs++;
	a->reserved += bytes;
	a->next_size = a->next_size * 2 > ARENA_CAP ? ARENA_CAP : a->next_size * 2;
	return 0;

fail_unmap:
	if (p)
		munmap(p, bytes);
	return r->status;
}

/* Allocate size bytes, growing the arena once if needed.  0 with *ref set,
 * or a status with a message in r. */
static int arena_alloc(struct arena *a, uint32_t size, uint64_t *ref, struct replay_result *r)
{
	int rc = heap_alloc(a->heap, size, ref);

	if (rc == -ENOMEM) {
		if (arena_grow(a, size, r) != 0)
			return r->status;
		rc = heap_alloc(a->heap, size, ref);
	}
	if (rc < 0)
		return replay_fail(r, 1, "heap_alloc(%u): %s", size, strerror(-rc));
	return 0;
}

/* Address of the byte ref names. */
static inline void *arena_ptr(const struct arena *a, uint64_t ref)
{
	return a->seg[memd_ref_seg(ref)].base + memd_ref_off(ref);
}

/* Replay events [0, end) through a; touch blocks if touch.  0, or a status
 * with a message in r. */
static int core_loop(struct arena *a, const struct trace *t, size_t end, uint64_t *tab, bool touch,
                     struct replay_result *r)
{
	for (size_t i = 0; i < end; i++) {
		struct trace_event ev = t->ev[i];
		uint64_t ref;
		int rc;

		if (ev.slot & TRACE_FREE_BIT) {
			rc = heap_free(a->heap, tab[ev.slot & ~TRACE_FREE_BIT]);
			if (rc < 0)
				return replay_fail(r, 1,
				                   "event %zu: heap_free refused a live block: %s",
				                   i, strerror(-rc));
			continue;
		}
		if (arena_alloc(a, ev.size, &ref, r) != 0)
			return r->status;
		if (touch)
			replay_touch(arena_ptr(a, ref), ev.size);
		tab[ev.slot] = ref;
	}
	return 0;
}

/* The timed run: fills elapsed, baseline, hwm, reserved and segments. */
static int core_timed(const struct trace *t, uint64_t *tab, struct replay_result *r)
{
	struct arena a;
	uint64_t t0, faults;
	int rc;

	if (arena_init(&a, true, r) != 0)
		return r->status;
	footprint_prepare();
	rc = footprint_begin(&r->baseline_rss);
	if (rc < 0) {
		replay_fail(r, 1, "cannot reset the RSS high-water mark: %s", strerror(-rc));
		goto out_fini;
	}
	faults = replay_faults();
	t0 = replay_now_ns();
	rc = core_loop(&a, t, t->nev, tab, true, r);
	r->elapsed_ns = replay_now_ns() - t0;
	r->page_faults = replay_faults() - faults;
	if (rc != 0)
		goto out_fini;
	rc = footprint_end(&r->hwm);
	if (rc < 0)
		replay_fail(r, 1, "cannot read VmHWM: %s", strerror(-rc));
	r->reserved_bytes = a.reserved;
	r->segments = a.nsegs;

out_fini:
	arena_fini(&a);
	return r->status;
}

/* The untimed pass to the peak-live event: fills meta_bytes_per_block,
 * after heap_check() has vouched for the heap there. */
static int core_meta(const struct trace *t, uint64_t *tab, struct replay_result *r)
{
	struct heap_stats st;
	struct arena a;
	char why[160];

	if (arena_init(&a, false, r) != 0)
		return r->status;
	if (core_loop(&a, t, t->peak_live_index + 1, tab, false, r) != 0)
		goto out_fini;
	if (heap_check(a.heap, why, sizeof why) != 0) {
		replay_fail(r, 1, "heap_check at event %llu: %s",
		            (unsigned long long)t->peak_live_index, why);
		goto out_fini;
	}
	heap_stats(a.heap, &st);
	r->meta_bytes_per_block =
	        st.live_blocks ? (double)st.meta_bytes / (double)st.live_blocks : -1;

out_fini:
	arena_fini(&a);
	return r->status;
}

int replay_core(const struct trace *t, struct replay_result *r)
{
	uint64_t *tab = replay_table_new(t->max_live_blocks, sizeof(uint64_t));

	memset(r, 0, sizeof(*r));
	if (!tab)
		return replay_fail(r, 1, "cannot map the slot table: %s", strerror(errno));
	if (core_timed(t, tab, r) == 0)
		core_meta(t, tab, r);
	replay_table_free(tab, t->max_live_blocks, sizeof(uint64_t));
	return r->status;
}
