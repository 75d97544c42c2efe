/*
 * test_pool_lazy.c - growth segments reserved page by page (daemon/pool.c,
 * "Reservation"): a pool's first segment is reserved whole, every later
 * one starts with no page reserved, and a block leaves the pool only once
 * all its pages are; when /dev/shm cannot back them the allocation is
 * -ENOMEM and the pool, its heap and the session are as before.
 *
 * What tmpfs holds for a segment is read from fstat's st_blocks.  Where
 * the test may mount a private tmpfs on /dev/shm (root / CAP_SYS_ADMIN),
 * it fills it before writing the blocks: a page handed out unreserved
 * would then be a SIGBUS here, which Criterion reports as a crash.
 *
 * Each test uses the shm prefix "memdtpl-<pid>" and ends by asserting that
 * nothing with it is left in /dev/shm.
 */
#include "shm_entries.h"
#include "pool.h"
#include "session.h"

#include "ref.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define KiB  (UINT64_C(1) << 10)
#define MiB  (UINT64_C(1) << 20)
#define PAGE ((uint64_t)HEAP_PAGE_SIZE)

static struct memd_config cfg;
static struct pool_set set;

static void sweep(void)
{
	shm_entries_of("memdtpl", true);
}

TestSuite(pool_lazy, .fini = sweep);

/* The set's one pool "default" with these limits. */
static struct pool *open_pool(uint64_t seg, uint64_t max, uint64_t trim)
{
	return pool_fixture_open(&cfg, &set, "memdtpl", seg, max, trim);
}

static void close_pool(struct pool *p)
{
	pool_fixture_close(&cfg, &set, p, "memdtpl");
}

/* Take every page /dev/shm has left with an unlinked object of our own;
 * its fd (close it to give them back). */
static int dev_shm_fill(void)
{
	char name[64];
	uint64_t off = 0, chunk = 64 * MiB;
	int fd;

	snprintf(name, sizeof(name), "/memdtpl-%d-filler", (int)getpid());
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	cr_assert_geq(fd, 0);
	shm_unlink(name);
	while (chunk >= PAGE) {
		if (posix_fallocate(fd, (off_t)off, (off_t)chunk) == 0)
			off += chunk;
		else
			chunk /= 2;
	}
	return fd;
}

/* Bytes tmpfs holds for segment s. */
static uint64_t seg_bytes(const struct pool_segment *s)
{
	struct stat st;

	cr_assert_eq(fstat(s->fd, &st), 0);
	return (uint64_t)st.st_blocks * 512u;
}

/* Bytes tmpfs holds for all of p's segments. */
static uint64_t pool_bytes(const struct pool *p)
{
	uint64_t n = 0;

	for (size_t i = 0; i < p->seg_count; i++)
		n += seg_bytes(&p->segs[i]);
	return n;
}

static const struct pool_segment *seg_of(const struct pool *p, uint64_t ref)
{
	for (size_t i = 0; i < p->seg_count; i++)
		if (p->segs[i].id == memd_ref_seg(ref))
			return &p->segs[i];
	cr_assert_fail("no segment for ref %#llx", (unsigned long long)ref);
	return NULL;
}

/* Each growth segment of p must hold in tmpfs exactly the pages that the
 * blocks refs[0..n) (of usable[i] bytes) lying in it cover: all of them
 * (else a write could SIGBUS), and nothing more (reserving a segment whole
 * is what this replaced). */
static void expect_block_pages_reserved(const struct pool *p, const uint64_t *refs,
                                        const uint64_t *usable, size_t n)
{
	for (size_t i = 1; i < p->seg_count; i++) {
		const struct pool_segment *s = &p->segs[i];
		bool *covered = calloc(s->size / PAGE, sizeof(bool));
		uint64_t want = 0;

		cr_assert_not_null(covered);
		for (size_t j = 0; j < n; j++) {
			uint64_t off = memd_ref_off(refs[j]);

			if (memd_ref_seg(refs[j]) != s->id)
				continue;
			for (uint64_t pg = off / PAGE; pg < (off + usable[j] + PAGE - 1) / PAGE;
			     pg++)
				covered[pg] = true;
		}
		for (uint64_t pg = 0; pg < s->size / PAGE; pg++)
			want += covered[pg] ? PAGE : 0;
		cr_expect_eq(seg_bytes(s), want,
		             "segment %u holds %llu bytes in tmpfs; its blocks cover %llu", s->id,
		             (unsigned long long)seg_bytes(s), (unsigned long long)want);
		free(covered);
	}
}

/* Write every byte of the block at ref through a mapping of its segment
 * and read the first and last back. */
static void touch_block(const struct pool *p, uint64_t ref, uint64_t usable, int pattern)
{
	const struct pool_segment *s = seg_of(p, ref);
	unsigned char *m = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	unsigned char *b;

	cr_assert_neq(m, MAP_FAILED);
	b = m + memd_ref_off(ref);
	memset(b, pattern, usable);
	cr_expect_eq(b[0], (unsigned char)pattern);
	cr_expect_eq(b[usable - 1], (unsigned char)pattern);
	munmap(m, s->size);
}

Test(pool_lazy, growth_segment_pages_are_reserved_only_as_blocks_are_handed_out)
{
	struct pool *p = open_pool(64 * KiB, 16 * MiB, 16 * MiB);
	const struct pool_segment *g;
	uint64_t first, a, b, small, ua, ub, us, before, resident, punched;

	cr_assert_geq(seg_bytes(&p->segs[0]), 64 * KiB, "the first segment is reserved whole");
	cr_assert_eq(pool_alloc(p, 64 * KiB, 0, &first, NULL), 0);
	cr_assert_eq(p->seg_count, 1);

	/* A 40K block needs a segment: 128K are added, 40K reserved. */
	cr_assert_eq(pool_alloc(p, 40 * KiB, 0, &a, &ua), 0);
	cr_assert_eq(p->seg_count, 2);
	g = &p->segs[1];
	cr_assert_eq(memd_ref_seg(a), g->id);
	cr_assert_eq(g->size, 128 * KiB);
	cr_expect_eq(seg_bytes(g), ua, "growth segment reserved beyond its one block");
	cr_expect_eq(g->fresh_pages, (g->size - ua) / PAGE);

	/* The next block in it reserves its own pages, and only those. */
	before = seg_bytes(g);
	cr_assert_eq(pool_alloc(p, 40 * KiB, 0, &b, &ub), 0);
	cr_assert_eq(memd_ref_seg(b), g->id);
	cr_expect_eq(seg_bytes(g), before + ub);

	/* A small block (a slab slot): its slab is carved, one page reserved. */
	before = pool_bytes(p);
	cr_assert_eq(pool_alloc(p, 100, 0, &small, &us), 0);
	cr_assert_neq(memd_ref_seg(small), p->segs[0].id);
	cr_expect_eq(pool_bytes(p), before + PAGE);

	/* memctl's figures: what tmpfs holds, nothing punched yet; the rest
	 * of reserved was never reserved. */
	pool_memory(p, &resident, &punched);
	cr_expect_eq(resident, pool_bytes(p));
	cr_expect_eq(punched, 0, "pages never reserved reported as punched: %llu",
	             (unsigned long long)punched);
	cr_expect_lt(resident, p->reserved);

	cr_assert_eq(pool_free(p, small), 0);
	cr_assert_eq(pool_free(p, b), 0);
	cr_assert_eq(pool_free(p, a), 0);
	cr_assert_eq(pool_free(p, first), 0);
	close_pool(p);
}

Test(pool_lazy, punched_counts_pages_given_back_not_pages_never_reserved)
{
	struct pool *p = open_pool(64 * KiB, 16 * MiB, 16 * MiB);
	const struct pool_segment *g;
	uint64_t first, a, ua, resident, punched;

	cr_assert_eq(pool_alloc(p, 64 * KiB, 0, &first, NULL), 0);
	cr_assert_eq(pool_alloc(p, 40 * KiB, 0, &a, &ua), 0);
	cr_assert_eq(p->seg_count, 2);
	g = &p->segs[1];

	/* Emptied, the growth segment is the spare: punched, 40K given back
	 * (its free run, merged with the never-reserved rest, is punched
	 * whole, but only 40K of it was memory). */
	cr_assert_eq(pool_free(p, a), 0);
	cr_assert_eq(p->spare_id, g->id);
	cr_expect_eq(seg_bytes(g), 0, "spare not punched");
	cr_expect_eq(p->counters.punched_bytes, ua);
	pool_memory(p, &resident, &punched);
	cr_expect_eq(resident, 64 * KiB);
	cr_expect_eq(punched, ua, "punched %llu, given back %llu", (unsigned long long)punched,
	             (unsigned long long)ua);
	cr_expect_eq(p->reserved - resident - punched, g->size - ua, "never reserved");

	/* Handed out again: the spare's pages are reserved again. */
	cr_assert_eq(pool_alloc(p, 40 * KiB, 0, &a, &ua), 0);
	cr_assert_eq(memd_ref_seg(a), g->id);
	cr_expect_eq(seg_bytes(g), ua);
	pool_memory(p, &resident, &punched);
	cr_expect_eq(punched, 0);
	cr_assert_eq(pool_free(p, a), 0);
	cr_assert_eq(pool_free(p, first), 0);
	close_pool(p);
}

Test(pool_lazy, every_page_of_every_block_from_a_growth_segment_is_reserved)
{
	bool can_fill = tiny_dev_shm("8m");
	struct pool *p = open_pool(64 * KiB, 64 * MiB, 64 * MiB);
	uint64_t first, refs[300], usable[300], u = 0;
	uint32_t got = 0, batch_from;
	size_t n = 0, segs = 0;
	int filler = -1;

	cr_assert_eq(pool_alloc(p, 64 * KiB, 0, &first, NULL), 0);
	cr_assert_eq(p->seg_count, 1, "the first segment is not full");

	/* A small-class block, then page-run blocks (one of an odd size). */
	cr_assert_eq(pool_alloc(p, 100, 0, &refs[n], &usable[n]), 0);
	n++;
	cr_assert_eq(pool_alloc(p, 40000, 0, &refs[n], &usable[n]), 0);
	n++;
	cr_assert_eq(pool_alloc(p, 100 * KiB, 64 * KiB, &refs[n], &usable[n]), 0);
	n++;

	/* ALLOC_BATCH of small blocks: 48-byte slots, some across pages. */
	cr_assert_eq(pool_alloc_batch(p, 48, 200, refs + n, &got, &u), 0);
	cr_assert_eq(got, 200);
	for (uint32_t i = 0; i < got; i++)
		usable[n++] = u;

	/* A batch of page runs that needs a new segment half-way. */
	batch_from = (uint32_t)n;
	cr_assert_eq(pool_alloc_batch(p, 60 * KiB, 12, refs + n, &got, &u), 0);
	cr_assert_eq(got, 12);
	for (uint32_t i = 0; i < got; i++)
		usable[n++] = u;
	for (size_t i = batch_from; i < n; i++)
		segs += i == batch_from || memd_ref_seg(refs[i]) != memd_ref_seg(refs[i - 1]);
	cr_assert_geq(segs, 2, "the batch did not span segments");

	for (size_t i = 0; i < n; i++)
		cr_assert_gt(memd_ref_seg(refs[i]), p->segs[0].id, "block %zu in the first segment",
		             i);
	expect_block_pages_reserved(p, refs, usable, n);

	/* With /dev/shm full, an unreserved page would be a SIGBUS here. */
	if (can_fill)
		filler = dev_shm_fill();
	for (size_t i = 0; i < n; i++)
		touch_block(p, refs[i], usable[i], (int)(i & 0xff));
	touch_block(p, first, 64 * KiB, 0x5a);
	if (filler >= 0)
		close(filler);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(pool_free(p, refs[i]), 0);
	cr_assert_eq(pool_free(p, first), 0);
	close_pool(p);
}

/* What a failed allocation must leave as it was. */
struct books {
	struct heap_stats heap; /* the heap's totals */
	uint64_t reserved;      /* pool->reserved */
	size_t seg_count;       /* live segments */
	uint32_t next_seg_id;   /* next id */
	uint64_t created;       /* counters.segments_created */
	uint64_t released;      /* counters.segments_released */
	uint64_t tmpfs;         /* bytes tmpfs holds for the segments */
	uint64_t blocks_held;   /* the session's */
	uint64_t bytes_held;    /* the session's */
	uint64_t pool_bytes;    /* the session's charge in the pool */
	uint64_t uid_bytes;     /* the uid's charge in the pool */
};

static void books_read(const struct pool *p, const struct session *s, struct books *b)
{
	memset(b, 0, sizeof(*b));
	heap_stats(p->heap, &b->heap);
	b->reserved = p->reserved;
	b->seg_count = p->seg_count;
	b->next_seg_id = p->next_seg_id;
	b->created = p->counters.segments_created;
	b->released = p->counters.segments_released;
	b->tmpfs = pool_bytes(p);
	b->blocks_held = s->blocks_held;
	b->bytes_held = s->bytes_held;
	b->pool_bytes = session_pool_bytes(s, p);
	b->uid_bytes = pool_uid_bytes(p, s->uid);
}

static void books_expect_same(const struct pool *p, const struct session *s,
                              const struct books *was, const char *what)
{
	struct books now;

	books_read(p, s, &now);
	cr_expect_eq(now.heap.free_bytes, was->heap.free_bytes, "%s: heap free bytes", what);
	cr_expect_eq(now.heap.live_blocks, was->heap.live_blocks, "%s: live blocks", what);
	cr_expect_eq(now.heap.live_bytes, was->heap.live_bytes, "%s: live bytes", what);
	cr_expect_eq(now.heap.segments, was->heap.segments, "%s: heap segments", what);
	cr_expect_eq(now.reserved, was->reserved, "%s: reserved", what);
	cr_expect_eq(now.seg_count, was->seg_count, "%s: segments", what);
	cr_expect_eq(now.next_seg_id, was->next_seg_id, "%s: an id was used up", what);
	cr_expect_eq(now.created, was->created, "%s: segments created", what);
	cr_expect_eq(now.released, was->released, "%s: segments released", what);
	cr_expect_eq(now.tmpfs, was->tmpfs, "%s: tmpfs pages kept", what);
	cr_expect_eq(now.blocks_held, was->blocks_held, "%s: session blocks", what);
	cr_expect_eq(now.bytes_held, was->bytes_held, "%s: session bytes", what);
	cr_expect_eq(now.pool_bytes, was->pool_bytes, "%s: session charge", what);
	cr_expect_eq(now.uid_bytes, was->uid_bytes, "%s: uid charge", what);
	cr_expect_eq(shm_entries_of("memdtpl", false), (long)now.seg_count,
	             "%s: a segment left in /dev/shm", what);
}

Test(pool_lazy, full_dev_shm_fails_allocation_and_growth_cleanly)
{
	struct pool *p;
	struct session s;
	struct books was;
	uint64_t a, b, ref, refs[16], usable, enomem;
	uint32_t got = 99;
	int filler;

	if (!tiny_dev_shm("4m"))
		cr_skip_test("cannot mount a private tmpfs on /dev/shm (needs CAP_SYS_ADMIN)");
	p = open_pool(256 * KiB, 16 * MiB, 16 * MiB);
	session_init(&s, 1, &set, getpid(), getuid(), getgid());
	cr_assert_eq(session_open_pool(&s, p->id, MEMD_ACCESS_READ | MEMD_ACCESS_WRITE), 0);
	/* The first segment full, a 512K growth segment with one 64K block. */
	cr_assert_eq(session_alloc(&s, p, 256 * KiB, 0, false, &a, &usable), 0);
	cr_assert_eq(session_alloc(&s, p, 64 * KiB, 0, false, &b, &usable), 0);
	cr_assert_eq(p->seg_count, 2);
	cr_assert_eq(p->segs[1].size, 512 * KiB);

	filler = dev_shm_fill();
	books_read(p, &s, &was);
	enomem = p->counters.enomem;

	/* Room in the growth segment, but no page for it. */
	cr_expect_eq(session_alloc(&s, p, 64 * KiB, 0, false, &ref, &usable), -ENOMEM);
	books_expect_same(p, &s, &was, "page run in the segment");
	cr_expect_eq(session_alloc(&s, p, 100, 0, false, &ref, &usable), -ENOMEM);
	books_expect_same(p, &s, &was, "small block");
	cr_expect_eq(session_alloc_batch(&s, p, 48, 16, false, refs, &got, &usable), -ENOMEM);
	cr_expect_eq(got, 0);
	books_expect_same(p, &s, &was, "small batch");

	/* Growth: the new segment is made, its first block cannot be
	 * reserved, and the segment goes again. */
	cr_expect_eq(session_alloc(&s, p, MiB, 0, false, &ref, &usable), -ENOMEM);
	books_expect_same(p, &s, &was, "growth");
	/* A batch that fills the segment and grows: all of it given back. */
	cr_expect_eq(session_alloc_batch(&s, p, 64 * KiB, 16, false, refs, &got, &usable), -ENOMEM);
	cr_expect_eq(got, 0);
	books_expect_same(p, &s, &was, "batch with growth");
	cr_expect_geq(p->counters.enomem, enomem + 5);

	/* With room again, the same requests succeed and the blocks can be
	 * written. */
	close(filler);
	cr_assert_eq(session_alloc(&s, p, MiB, 0, false, &ref, &usable), 0);
	cr_expect_eq(memd_ref_seg(ref), was.next_seg_id, "the undone id is handed out again");
	touch_block(p, ref, usable, 0x33);
	cr_assert_eq(session_alloc_batch(&s, p, 64 * KiB, 16, false, refs, &got, &usable), 0);
	cr_expect_eq(got, 16);
	for (uint32_t i = 0; i < got; i++)
		touch_block(p, refs[i], usable, 0x44);
	session_release(&s);
	close_pool(p);
}
