/*
 * test_pool.c - pools over real POSIX shm segments: growth, limits, trim,
 * release, lookups, batch allocation, and cleanup.
 *
 * Every test uses the shm prefix "memdtest-<pid>" (Criterion runs each test
 * in its own process, so prefixes never collide) and ends by asserting that
 * nothing with that prefix is left in /dev/shm.
 */
#include "shm_entries.h"
#include "pool.h"

#include "ref.h"
#include "shm.h"

#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)

/* One test's pools. */
struct fixture {
	struct memd_config cfg; /* config the set was built from */
	struct pool_set set;    /* the pools */
	char err[512];          /* last error message */
};

/* Config with one pool "default" of the given limits. */
static void cfg_one(struct memd_config *cfg, uint64_t seg, uint64_t max, uint64_t trim)
{
	char err[256];

	cr_assert_eq(config_load_file(cfg, NULL, err, sizeof(err)), 0);
	snprintf(cfg->shm_prefix, sizeof(cfg->shm_prefix), "memdtest-%d", (int)getpid());
	cfg->pools[0].segment_size = seg;
	cfg->pools[0].max_size = max;
	cfg->pools[0].trim_threshold = trim;
}

static struct pool *fx_open(struct fixture *fx, uint64_t seg, uint64_t max, uint64_t trim)
{
	memset(fx, 0, sizeof(*fx));
	cfg_one(&fx->cfg, seg, max, trim);
	cr_assert_eq(pool_set_create(&fx->set, &fx->cfg, fx->err, sizeof(fx->err)), 0, "%s",
	             fx->err);
	return pool_set_find(&fx->set, "default");
}

/* Count /dev/shm entries of this test's prefix. */
static size_t shm_count(void)
{
	char prefix[64];
	size_t n = 0, len;
	struct dirent *e;
	DIR *d;

	len = (size_t)snprintf(prefix, sizeof(prefix), "memdtest-%d-", (int)getpid());
	d = opendir("/dev/shm");
	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, len) == 0)
			n++;
	closedir(d);
	return n;
}

static bool shm_exists(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "/dev/shm%s", name);
	return access(path, F_OK) == 0;
}

/* Suite fini: unlink whatever a failed test left under this prefix. */
static void shm_sweep(void)
{
	shm_entries_of("memdtest", true);
}

TestSuite(pool, .fini = shm_sweep);

static void fx_close(struct fixture *fx)
{
	pool_set_destroy(&fx->set);
	config_free(&fx->cfg);
	cr_assert_eq(shm_count(), 0, "segments left behind in /dev/shm");
}

static void check_heap(const struct pool *p)
{
	char err[256] = "";

	cr_assert_eq(heap_check(p->heap, err, sizeof(err)), 0, "%s", err);
}

static blkcnt_t seg_blocks(const struct pool_segment *s)
{
	struct stat st;

	cr_assert_eq(fstat(s->fd, &st), 0);
	return st.st_blocks;
}

Test(pool, first_segment_exists_at_start)
{
	struct fixture fx;
	struct pool *p = fx_open(&fx, 64 * KiB, MiB, 256 * KiB);
	struct stat st;

	cr_assert_not_null(p);
	cr_assert_eq(p->id, 1);
	cr_assert_eq(p->seg_count, 1);
	cr_assert_eq(p->segs[0].id, 1);
	cr_assert_eq(p->reserved, 64 * KiB);
	cr_assert(shm_exists(p->segs[0].name), "%s", p->segs[0].name);
	cr_assert_eq(fstat(p->segs[0].fd, &st), 0);
	cr_assert_eq(st.st_size, 64 * KiB);
	cr_assert_eq(st.st_mode & 0777, 0600);
	cr_assert_geq(st.st_blocks * 512, 64 * KiB, "not reserved by posix_fallocate");
	cr_assert_eq(shm_count(), 1);
	fx_close(&fx);
}

Test(pool, grows_geometrically_then_stops_at_max_size_with_enomem)
{
	struct fixture fx;
	struct pool *p = fx_open(&fx, 64 * KiB, MiB, 256 * KiB);
	uint64_t refs[32], usable = 0;
	size_t n = 0;
	int rc;

	while ((rc = pool_alloc(p, 64 * KiB, 0, &refs[n], &usable)) == 0) {
		cr_assert_eq(usable, 64 * KiB);
		cr_assert_lt(++n, 32);
	}
	cr_assert_eq(rc, -ENOMEM);
	/* 64K + 128K + 256K + 512K, then clipped to the 64K left. */
	cr_assert_eq(n, 16);
	cr_assert_eq(p->reserved, MiB);
	cr_assert_eq(p->seg_count, 5);
	cr_assert_eq(p->segs[1].size, 128 * KiB);
	cr_assert_eq(p->segs[2].size, 256 * KiB);
	cr_assert_eq(p->segs[3].size, 512 * KiB);
	cr_assert_eq(p->segs[4].size, 64 * KiB);
	for (size_t i = 0; i < p->seg_count; i++)
		cr_assert_eq(p->segs[i].id, 1 + i);
	cr_assert_eq(shm_count(), 5);
	cr_assert_eq(pool_alloc(p, 16, 0, &refs[n], NULL), -ENOMEM);
	cr_assert_geq(p->counters.enomem, 2);
	check_heap(p);
	fx_close(&fx);
}

Test(pool, request_larger_than_max_size_is_enomem)
{
	struct fixture fx;
	struct pool *p = fx_open(&fx, 64 * KiB, MiB, 256 * KiB);
	uint64_t ref;

	cr_assert_eq(pool_alloc(p, 2 * MiB, 0, &ref, NULL), -ENOMEM);
	cr_assert_eq(pool_alloc(p, 0, 0, &ref, NULL), -EINVAL);
	cr_assert_eq(pool_alloc(p, 16, 3, &ref, NULL), -EINVAL);
	cr_assert_eq(p->seg_count, 1);
	/* A request that fits beside what is reserved still works. */
	cr_assert_eq(pool_alloc(p, 896 * KiB, 0, &ref, NULL), 0);
	cr_assert_eq(p->segs[1].size, 896 * KiB);
	fx_close(&fx);
}

Test(pool, growth_fits_requests_of_any_size)
{
	/* heap_grow_size() promises that a fresh segment of that size fits
	 * the request; the pool adds exactly that much when it dominates the
	 * doubling.  (Fails while the heap's TLSF search rounds a request up
	 * to the next list boundary beyond the size heap_grow_size reports.) */
	static const uint64_t sizes[] = {33 * KiB, 100 * KiB, 200 * KiB, 900 * KiB, 3 * MiB + 1};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct fixture fx;
		struct pool *p = fx_open(&fx, 4 * KiB, 64 * MiB, 256 * KiB);
		uint64_t ref;
		int rc = pool_alloc(p, sizes[i], 0, &ref, NULL);
		cr_expect_eq(rc, 0, "size %llu: %d", (unsigned long long)sizes[i], rc);
		fx_close(&fx);
	}
}

Test(pool, aligned_allocation_honours_alignment)
{
	struct fixture fx;
	struct pool *p = fx_open(&fx, 64 * KiB, 4 * MiB, 256 * KiB);
	uint64_t ref;

	cr_assert_eq(pool_alloc(p, 100, 4096, &ref, NULL), 0);
	cr_assert_eq(memd_ref_off(ref) % 4096, 0);
	cr_assert_eq(pool_alloc(p, 40 * KiB, 64 * KiB, &ref, NULL), 0);
	cr_assert_eq(memd_ref_off(ref) % (64 * KiB), 0);
	fx_close(&fx);
}

Test(pool, empty_segments_are_released_keeping_first_and_one_spare)
{
	struct fixture fx;
	struct pool *p = fx_open(&fx, 64 * KiB, MiB, 256 * KiB);
	uint64_t refs[16];
	char name4[POOL_SHM_NAME_MAX], name5[POOL_SHM_NAME_MAX], name2[POOL_SHM_NAME_MAX];

	for (size_t i = 0; i < 16; i++)
		cr_assert_eq(pool_alloc(p, 64 * KiB, 0, &refs[i], NULL), 0);
	cr_assert_eq(p->seg_count, 5);
	snprintf(name2, sizeof(name2), "%s", p->segs[1].name);
	snprintf(name4, sizeof(name4), "%s", p->segs[3].name);
	snprintf(name5, sizeof(name5), "%s", p->segs[4].name);

	/* Segment 5 (one block) empties: it becomes the spare, punched. */
	cr_assert_eq(pool_free(p, refs[15]), 0);
	cr_assert_eq(p->seg_count, 5);
	cr_assert_eq(p->spare_id, 5);
	cr_assert_eq(seg_blocks(&p->segs[4]), 0, "spare not punched");

	/* Segment 4 (512K, blocks 7..14) empties: the larger one stays spare. */
	for (size_t i = 7; i < 15; i++)
		cr_assert_eq(pool_free(p, refs[i]), 0);
	cr_assert_eq(p->seg_count, 4);
	cr_assert_eq(p->spare_id, 4);
	cr_assert_not(shm_exists(name5));
	cr_assert(shm_exists(name4));

	/* Segments 3 and 2 empty: released outright. */
	for (size_t i = 1; i < 7; i++)
		cr_assert_eq(pool_free(p, refs[i]), 0);
	cr_assert_eq(p->seg_count, 2);
	cr_assert_not(shm_exists(name2));
	cr_assert_eq(p->counters.segments_released, 3);
	cr_assert_eq(p->reserved, 64 * KiB + 512 * KiB);

	/* The first segment is never released. */
	cr_assert_eq(pool_free(p, refs[0]), 0);
	cr_assert_eq(p->seg_count, 2);
	cr_assert_eq(p->segs[0].id, 1);
	check_heap(p);
	cr_assert_eq(shm_count(), 2);
	fx_close(&fx);
}

Test(pool, spare_segment_stops_id_churn)
{
	struct fixture fx;
	struct pool *p = fx_open(&fx, 64 * KiB, MiB, 256 * KiB);
	uint64_t hold, ref;

	cr_assert_eq(pool_alloc(p, 64 * KiB, 0, &hold, NULL), 0);
	for (int i = 0; i < 200; i++) {
		cr_assert_eq(pool_alloc(p, 64 * KiB, 0, &ref, NULL), 0);
		cr_assert_eq(memd_ref_seg(ref), 2);
		cr_assert_eq(pool_free(p, ref), 0);
	}
	cr_assert_eq(p->counters.segments_created, 2);
	cr_assert_eq(p->next_seg_id, 3);
	/* A request the spare cannot hold drops it instead of exceeding max. */
	cr_assert_eq(pool_alloc(p, 896 * KiB, 0, &ref, NULL), 0);
	cr_assert_eq(p->reserved, 64 * KiB + 896 * KiB);
	cr_assert_eq(p->spare_id, 0);
	cr_assert_eq(pool_free(p, ref), 0);
	cr_assert_eq(pool_free(p, hold), 0);
	fx_close(&fx);
}

Test(pool, punch_really_returns_memory_and_reuse_reserves_it_again)
{
	struct fixture fx;
	struct pool *p = fx_open(&fx, 4 * MiB, 16 * MiB, 256 * KiB);
	struct pool_segment *s = &p->segs[0];
	uint64_t ref, usable;
	blkcnt_t full, punched, again;
	unsigned char *m;

	cr_assert_eq(pool_alloc(p, MiB, 0, &ref, &usable), 0);
	cr_assert_eq(memd_ref_seg(ref), s->id);
	m = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	cr_assert_neq(m, MAP_FAILED);
	memset(m + memd_ref_off(ref), 0xab, usable);
	full = seg_blocks(s);
	cr_assert_geq(full * 512, 4 * MiB);

	cr_assert_eq(pool_free(p, ref), 0);
	punched = seg_blocks(s);
	cr_assert_leq(punched * 512, full * 512 - MiB, "blocks %ld -> %ld", (long)full,
	              (long)punched);
	cr_assert_geq(p->counters.punched_bytes, MiB);
	cr_assert_eq(m[memd_ref_off(ref)], 0, "punched page still holds data");

	/* Handing the range out again reserves its pages again. */
	cr_assert_eq(pool_alloc(p, MiB, 0, &ref, &usable), 0);
	again = seg_blocks(s);
	cr_assert_geq(again * 512, punched * 512 + MiB, "blocks %ld -> %ld", (long)punched,
	              (long)again);
	munmap(m, s->size);
	check_heap(p);
	fx_close(&fx);
}

Test(pool, a_deferred_trim_punches_only_when_the_set_runs_it)
{
	struct fixture fx;
	struct pool *p = fx_open(&fx, 4 * MiB, 16 * MiB, 256 * KiB);
	struct pool_segment *s = &p->segs[0];
	uint64_t ref, ref2, usable;
	blkcnt_t full;

	fx.set.defer_trims = true;
	cr_assert_eq(pool_alloc(p, MiB, 0, &ref, &usable), 0);
	cr_assert_eq(pool_alloc(p, MiB, 0, &ref2, &usable), 0);
	full = seg_blocks(s);
	cr_assert_eq(pool_free(p, ref), 0);
	cr_assert(p->trim_due);
	cr_assert_eq(fx.set.trims_due, 1);
	cr_assert_eq(seg_blocks(s), full, "punched before the set ran its due trims");
	cr_assert_eq(p->counters.trims, 0);
	cr_assert_eq(pool_free(p, ref2), 0); /* due already: counted once */
	cr_assert_eq(fx.set.trims_due, 1);

	pool_set_trim_due(&fx.set);
	cr_assert_not(p->trim_due);
	cr_assert_eq(fx.set.trims_due, 0);
	cr_assert_eq(p->counters.trims, 1);
	cr_assert_leq(seg_blocks(s) * 512, full * 512 - 2 * MiB, "blocks %ld -> %ld", (long)full,
	              (long)seg_blocks(s));
	cr_assert_geq(p->counters.punched_bytes, 2 * MiB);
	pool_set_trim_due(&fx.set); /* nothing due: nothing runs */
	cr_assert_eq(p->counters.trims, 1);
	check_heap(p);
	fx_close(&fx);
}

Test(pool, a_direct_trim_settles_a_due_one)
{
	struct fixture fx;
	struct pool *p = fx_open(&fx, 4 * MiB, 16 * MiB, 256 * KiB);
	uint64_t ref;

	fx.set.defer_trims = true;
	cr_assert_eq(pool_alloc(p, MiB, 0, &ref, NULL), 0);
	cr_assert_eq(pool_free(p, ref), 0);
	cr_assert_eq(fx.set.trims_due, 1);
	cr_assert_geq(pool_trim(p, 0), MiB); /* memctl's trim */
	cr_assert_not(p->trim_due);
	cr_assert_eq(fx.set.trims_due, 0);
	pool_set_trim_due(&fx.set);
	cr_assert_eq(p->counters.trims, 1);
	fx_close(&fx);
}

Test(pool, small_frees_below_threshold_do_not_trim)
{
	struct fixture fx;
	struct pool *p = fx_open(&fx, 4 * MiB, 16 * MiB, MiB);
	uint64_t ref;

	cr_assert_eq(pool_alloc(p, 64 * KiB, 0, &ref, NULL), 0);
	cr_assert_eq(pool_free(p, ref), 0);
	cr_assert_eq(p->counters.trims, 0);
	cr_assert_eq(p->freed_since_trim, 64 * KiB);
	cr_assert_geq(pool_trim(p, 4096), 64 * KiB);
	cr_assert_eq(p->freed_since_trim, 0);
	fx_close(&fx);
}

Test(pool, bad_refs_are_refused)
{
	struct fixture fx;
	struct pool *p = fx_open(&fx, 64 * KiB, MiB, 256 * KiB);
	uint64_t ref, small, sz;

	cr_assert_eq(pool_alloc(p, 8 * KiB, 0, &ref, NULL), 0);
	cr_assert_eq(pool_alloc(p, 48, 0, &small, NULL), 0);
	cr_assert_eq(pool_free(p, 0), -EINVAL);
	cr_assert_eq(pool_free(p, ref + 16), -EINVAL);
	cr_assert_eq(pool_free(p, small + 16), -EINVAL);
	cr_assert_eq(pool_free(p, memd_ref_make(99, 0)), -EINVAL);
	cr_assert_eq(pool_free(p, memd_ref_make(4097, 0)), -EINVAL);
	cr_assert_eq(pool_free(p, memd_ref_make(1, 64 * KiB)), -EINVAL);
	cr_assert_eq(pool_free(p, memd_ref_make(1, MEMD_REF_OFFSET_MASK)), -EINVAL);
	cr_assert_eq(pool_block_size(p, ref + 4096, &sz), -EINVAL);
	cr_assert_eq(pool_block_size(p, ref, &sz), 0);
	cr_assert_geq(sz, 8 * KiB);
	cr_assert_eq(pool_free(p, ref), 0);
	cr_assert_eq(pool_free(p, ref), -EINVAL, "double free accepted");
	cr_assert_eq(pool_block_size(p, ref, &sz), -EINVAL);
	cr_assert_eq(pool_free(p, small), 0);
	cr_assert_eq(pool_free(p, small), -EINVAL);
	check_heap(p);
	fx_close(&fx);
}

Test(pool, batch_allocates_up_to_count_and_stops_at_enomem)
{
	struct fixture fx;
	struct pool *p = fx_open(&fx, 64 * KiB, 256 * KiB, 256 * KiB);
	uint64_t refs[128], usable = 0;
	uint32_t got = 0;

	/* 64K + 128K + 64K of 64K blocks: 4 fit, the batch delivers them. */
	cr_assert_eq(pool_alloc_batch(p, 64 * KiB, 10, refs, &got, &usable), 0);
	cr_assert_eq(got, 4);
	cr_assert_eq(usable, 64 * KiB);
	cr_assert_eq(p->reserved, 256 * KiB);
	cr_assert_eq(pool_alloc_batch(p, 64 * KiB, 10, refs + 4, &got, &usable), -ENOMEM);
	cr_assert_eq(got, 0);
	for (uint32_t i = 0; i < 4; i++)
		cr_assert_eq(pool_free(p, refs[i]), 0);

	cr_assert_eq(pool_alloc_batch(p, 64, 100, refs, &got, &usable), 0);
	cr_assert_eq(got, 100);
	cr_assert_geq(usable, 64);
	for (uint32_t i = 0; i < got; i++)
		for (uint32_t j = i + 1; j < got; j++)
			cr_assert_neq(refs[i], refs[j]);
	for (uint32_t i = 0; i < got; i++)
		cr_assert_eq(pool_free(p, refs[i]), 0);
	cr_assert_eq(pool_alloc_batch(p, 0, 4, refs, &got, &usable), -EINVAL);
	cr_assert_eq(got, 0);
	check_heap(p);
	fx_close(&fx);
}

Test(pool, batch_after_punch_reserves_pages)
{
	struct fixture fx;
	struct pool *p = fx_open(&fx, MiB, 4 * MiB, 64 * KiB);
	uint64_t refs[64], big;
	uint32_t got;
	blkcnt_t before;

	cr_assert_eq(pool_alloc(p, 512 * KiB, 0, &big, NULL), 0);
	cr_assert_eq(pool_free(p, big), 0);
	cr_assert(p->segs[0].punched);
	before = seg_blocks(&p->segs[0]);
	cr_assert_eq(pool_alloc_batch(p, 16 * KiB, 32, refs, &got, NULL), 0);
	cr_assert_eq(got, 32);
	/* Every page of every block handed out is reserved again. */
	cr_assert_geq(seg_blocks(&p->segs[0]) * 512, before * 512);
	cr_assert_geq(seg_blocks(&p->segs[0]) * 512, 32 * 16 * KiB);
	for (uint32_t i = 0; i < got; i++)
		cr_assert_eq(pool_free(p, refs[i]), 0);
	fx_close(&fx);
}

Test(pool, lookups_by_name_id_ref_and_segment)
{
	struct fixture fx;
	struct pool *a, *b, *pp;
	struct pool_segment *seg;
	char err[256];
	uint64_t ref;

	memset(&fx, 0, sizeof(fx));
	cr_assert_eq(config_load_file(&fx.cfg, NULL, err, sizeof(err)), 0);
	snprintf(fx.cfg.shm_prefix, sizeof(fx.cfg.shm_prefix), "memdtest-%d", (int)getpid());
	fx.cfg.pools[0].segment_size = 64 * KiB;
	fx.cfg.pools[0].max_size = MiB;
	fx.cfg.pools = realloc(fx.cfg.pools, 2 * sizeof(*fx.cfg.pools));
	fx.cfg.pools[1] = fx.cfg.pools[0];
	snprintf(fx.cfg.pools[1].name, sizeof(fx.cfg.pools[1].name), "b");
	fx.cfg.pool_count = 2;
	cr_assert_eq(pool_set_create(&fx.set, &fx.cfg, fx.err, sizeof(fx.err)), 0, "%s", fx.err);

	a = pool_set_find(&fx.set, "default");
	b = pool_set_find(&fx.set, "b");
	cr_assert_not_null(a);
	cr_assert_not_null(b);
	cr_assert_null(pool_set_find(&fx.set, "c"));
	cr_assert_eq(pool_set_get(&fx.set, 1), a);
	cr_assert_eq(pool_set_get(&fx.set, 2), b);
	cr_assert_null(pool_set_get(&fx.set, 0));
	cr_assert_null(pool_set_get(&fx.set, 3));
	cr_assert_eq(b->segs[0].id, 1 + POOL_SEGS_PER_POOL);
	cr_assert_str_eq(b->segs[0].name + 1 + strlen(fx.cfg.shm_prefix), "-b-4097");

	cr_assert_eq(pool_alloc(b, 100, 0, &ref, NULL), 0);
	cr_assert_eq(pool_set_pool_of_ref(&fx.set, ref), b);
	cr_assert_eq(pool_set_pool_of_ref(&fx.set, memd_ref_make(4096, 0)), a);
	cr_assert_null(pool_set_pool_of_ref(&fx.set, 0));
	cr_assert_null(pool_set_pool_of_ref(&fx.set, memd_ref_make(2 * 4096 + 1, 0)));
	cr_assert_eq(pool_free(a, ref), -EINVAL, "a pool freed another pool's block");

	cr_assert_eq(pool_segment_lookup(&fx.set, 4097, &pp, &seg), 0);
	cr_assert_eq(pp, b);
	cr_assert_eq(seg->size, 64 * KiB);
	cr_assert_eq(pool_segment_fd(seg, false), seg->fd);
	cr_assert_eq(pool_segment_lookup(&fx.set, 4098, &pp, &seg), -EINVAL);
	cr_assert_eq(pool_segment_lookup(&fx.set, 0, &pp, &seg), -EINVAL);
	cr_assert_eq(pool_segment_lookup(&fx.set, 2, &pp, &seg), -EINVAL);
	cr_assert_eq(pool_free(b, ref), 0);
	fx_close(&fx);
}

Test(pool, readonly_fd_cannot_map_writable)
{
	struct fixture fx;
	struct pool *p = fx_open(&fx, 64 * KiB, MiB, 256 * KiB);
	struct pool_segment *s = &p->segs[0];
	unsigned char *rw, *ro;
	int fd;

	fd = pool_segment_fd(s, true);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pool_segment_fd(s, true), fd, "read-only fd not cached");
	cr_assert_eq(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	cr_assert_eq(mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), MAP_FAILED);
	cr_assert_eq(errno, EACCES);
	rw = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	ro = mmap(NULL, s->size, PROT_READ, MAP_SHARED, fd, 0);
	cr_assert_neq(rw, MAP_FAILED);
	cr_assert_neq(ro, MAP_FAILED);
	rw[100] = 42;
	cr_assert_eq(ro[100], 42);
	cr_assert_eq(mprotect(ro, s->size, PROT_READ | PROT_WRITE), -1);
	munmap(rw, s->size);
	munmap(ro, s->size);
	fx_close(&fx);
}

Test(pool, access_follows_read_and_write_lists)
{
	const uint32_t rw = MEMD_ACCESS_READ | MEMD_ACCESS_WRITE;
	struct fixture fx;
	struct pool *p = fx_open(&fx, 64 * KiB, MiB, 256 * KiB);
	char why[128];

	p->self_uid = 999;
	/* No lists: open to everybody. */
	cr_assert_eq(pool_access(p, 2000, 200), rw);
	cr_assert_eq(access_list_parse("uid:1000", &p->cfg.write, why, sizeof(why)), 0);
	cr_assert_eq(access_list_parse("gid:100", &p->cfg.read, why, sizeof(why)), 0);
	cr_assert_eq(pool_access(p, 1000, 5), rw);
	cr_assert_eq(pool_access(p, 2000, 100), MEMD_ACCESS_READ);
	cr_assert_eq(pool_access(p, 2000, 200), 0);
	cr_assert_eq(pool_access(p, 0, 0), rw);   /* root */
	cr_assert_eq(pool_access(p, 999, 7), rw); /* the daemon's own euid */
	/* Only a write list: everybody else has nothing. */
	p->cfg.read = (struct access_list){0};
	cr_assert_eq(pool_access(p, 2000, 100), 0);
	cr_assert_eq(access_list_parse("*", &p->cfg.read, why, sizeof(why)), 0);
	cr_assert_eq(pool_access(p, 2000, 200), MEMD_ACCESS_READ);
	/* An empty list that is set grants nothing either. */
	cr_assert_eq(access_list_parse("", &p->cfg.read, why, sizeof(why)), 0);
	cr_assert_eq(pool_access(p, 2000, 200), 0);
	fx_close(&fx);
}

Test(pool, existing_segment_name_fails_startup_and_is_left_alone)
{
	struct memd_config cfg;
	struct pool_set set;
	char name[128], err[512] = "";
	int fd;

	cfg_one(&cfg, 64 * KiB, MiB, 256 * KiB);
	snprintf(name, sizeof(name), "/%s-default-1", cfg.shm_prefix);
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pool_set_create(&set, &cfg, err, sizeof(err)), -EEXIST);
	cr_assert_not_null(strstr(err, "another memd"), "%s", err);
	cr_assert(shm_exists(name), "a name memd did not create was unlinked");
	close(fd);
	shm_unlink(name);
	pool_set_destroy(&set);
	config_free(&cfg);
	cr_assert_eq(shm_count(), 0);
}

Test(pool, destroy_leaves_nothing_behind)
{
	struct fixture fx;
	struct pool *p = fx_open(&fx, 4 * KiB, 64 * MiB, 256 * KiB);
	uint64_t ref;

	for (int i = 0; i < 40; i++)
		cr_assert_eq(pool_alloc(p, 256 * KiB, 0, &ref, NULL), 0);
	cr_assert_gt(shm_count(), 3);
	cr_assert_geq(pool_segment_fd(&p->segs[1], true), 0);
	fx_close(&fx); /* asserts shm_count() == 0 */
}

Test(pool, full_dev_shm_is_enospc_at_creation_and_enomem_for_alloc)
{
	struct fixture fx;
	struct pool *p;
	struct heap_segment_info info;
	uint64_t refs[64], ref, reserved, resident, punched;
	uint32_t next;
	size_t segs;
	int fd = -1, rc, n = 0;

	if (!tiny_dev_shm("1m"))
		cr_skip_test("cannot mount a private tmpfs on /dev/shm (needs CAP_SYS_ADMIN)");
	cr_assert_eq(shm_segment_create("/memdtest-enospc", 2 * MiB, &fd), -ENOSPC);
	cr_assert_eq(fd, -1);
	cr_assert_not(shm_exists("/memdtest-enospc"), "failed segment left behind");

	p = fx_open(&fx, 256 * KiB, 8 * MiB, 256 * KiB);
	while ((rc = pool_alloc(p, 128 * KiB, 0, &refs[n], NULL)) == 0)
		cr_assert_lt(++n, 64);
	cr_assert_eq(rc, -ENOMEM);
	cr_assert_geq(n, 2);
	/* p->reserved is the size of the segments (address space, bounded by
	 * max_size), and growth segments reserve their pages only as blocks
	 * are handed out, so it may pass the 1 MiB /dev/shm holds.  What the
	 * 1 MiB bounds is the memory: the segments hold at most that, all of
	 * it the first segment (reserved whole) and the pages of the blocks
	 * handed out from the others; and the pool keeps no segment it could
	 * not put a block in. */
	pool_memory(p, &resident, &punched);
	cr_assert_leq(resident, MiB);
	cr_assert_eq(resident, 256 * KiB + (uint64_t)(n - 2) * 128 * KiB);
	for (size_t i = 1; i < p->seg_count; i++) {
		cr_assert_eq(heap_segment_info(p->heap, p->segs[i].id, &info), 0);
		cr_assert_gt(info.live_blocks, 0, "segment %u holds no block", p->segs[i].id);
	}
	/* Failing again, with or without growth, takes nothing more. */
	reserved = p->reserved;
	segs = p->seg_count;
	next = p->next_seg_id;
	cr_assert_eq(pool_alloc(p, 128 * KiB, 0, &ref, NULL), -ENOMEM);
	cr_assert_eq(pool_alloc(p, 2 * MiB, 0, &ref, NULL), -ENOMEM);
	cr_assert_eq(p->reserved, reserved);
	cr_assert_eq(p->seg_count, segs);
	cr_assert_eq(p->next_seg_id, next);
	/* And every block handed out can be written: no SIGBUS. */
	for (int i = 0; i < n; i++) {
		const struct pool_segment *s = NULL;
		unsigned char *m;

		for (size_t j = 0; j < p->seg_count; j++)
			if (p->segs[j].id == memd_ref_seg(refs[i]))
				s = &p->segs[j];
		cr_assert_not_null(s);
		m = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
		cr_assert_neq(m, MAP_FAILED);
		memset(m + memd_ref_off(refs[i]), 0x77, 128 * KiB);
		munmap(m, s->size);
	}
	fx_close(&fx);
}

Test(shm, create_is_exclusive_and_destroy_unlinks)
{
	char name[64];
	int fd, fd2 = -1;

	snprintf(name, sizeof(name), "/memdtest-%d-x", (int)getpid());
	cr_assert_eq(shm_segment_create(name, 8192, &fd), 0);
	cr_assert_eq(shm_segment_create(name, 8192, &fd2), -EEXIST);
	cr_assert_eq(fd2, -1);
	cr_assert_eq(shm_punch(fd, 0, 4096), 0);
	cr_assert_eq(shm_reserve(fd, 0, 4096), 0);
	shm_segment_destroy(name, fd);
	cr_assert_not(shm_exists(name));
	cr_assert_eq(shm_count(), 0);
}
