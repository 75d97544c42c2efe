/*
 * test_pool.c - pool growth, the max_size limit and memory coming back.
 *
 * The daemon runs with CONFIG_SMALL_POOL: a pool "small" whose first
 * segment is 64 KiB and whose limit is 1 MiB.  Filling it must add
 * segments (visible both as distinct segment ids in the references and as
 * /dev/shm/<prefix>-small-* objects whose sizes never sum past 1 MiB), then
 * stop with -ENOMEM; freeing must make room again.  A client killed with
 * SIGKILL while holding the whole pool must give all of it back (DESIGN.md
 * invariant 8), which the test proves by allocating the same amount again
 * from a fresh client.  Because the pool is small, filling it and then
 * asking for MEMC_ZERO blocks tests zeroing on memory that certainly was
 * written before.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "memclient.h"
#include "proto.h"
#include "rawconn.h"
#include "ref.h"

#define FILL_MAX 100000 /* more blocks than the small pool can ever hold */

/* Connect to the test's memd or fail the test. */
static memc_client *must_connect(void)
{
	memc_client *c = NULL;
	int rc = memc_connect(H.sock, &c);

	cr_assert_eq(rc, 0, "memc_connect(%s) = %d (%s)", H.sock, rc, memc_strerror(rc));
	return c;
}

/* Allocate blocks of size from the small pool until it says -ENOMEM (or
 * max blocks), touching every block with fill.  Returns how many it got
 * (refs stored when refs is non-NULL) and the last error in *last_rc. */
static int fill_pool(memc_client *c, size_t size, unsigned flags, int fill, memc_ref *refs, int max,
                     int *last_rc)
{
	int n = 0;

	*last_rc = 0;
	while (n < max) {
		memc_ref ref = 0;
		void *p;
		int rc = memc_alloc(c, SMALL_POOL, size, flags, &ref);

		if (rc != 0) {
			*last_rc = rc;
			break;
		}
		p = memc_ptr(c, ref);
		if (!p) {
			*last_rc = -1000 - errno;
			break;
		}
		if (fill >= 0)
			memset(p, fill, size);
		if (refs)
			refs[n] = ref;
		n++;
	}
	return n;
}

/* Distinct segment ids among n references. */
static int distinct_segments(const memc_ref *refs, int n)
{
	int count = 0;

	for (int i = 0; i < n; i++) {
		int seen = 0;

		for (int j = 0; j < i && !seen; j++)
			seen = memd_ref_seg(refs[j]) == memd_ref_seg(refs[i]);
		count += !seen;
	}
	return count;
}

Test(pool, grows_past_first_segment_and_stops_at_max_size, .fini = harness_fini)
{
	enum { BS = 4096 };
	memc_ref *refs = calloc(FILL_MAX, sizeof(*refs));
	uint64_t shm_bytes = 0;
	memc_ref again = 0;
	memc_client *c;
	int n, n2, rc, segs;

	cr_assert_not_null(refs);
	memd_start(&H, CONFIG_SMALL_POOL);
	c = must_connect();
	n = fill_pool(c, BS, 0, 0x5a, refs, FILL_MAX, &rc);
	cr_assert_eq(rc, -ENOMEM,
	             "filling the pool ended with %d (%s) after %d blocks, want -ENOMEM", rc,
	             memc_strerror(rc), n);
	cr_assert_gt((uint64_t)n * BS, SMALL_POOL_SEGMENT,
	             "only %d blocks of %d: the pool did not grow past its first segment", n, BS);
	cr_assert_leq((uint64_t)n * BS, SMALL_POOL_MAX, "%d blocks of %d exceed max_size %u", n, BS,
	              SMALL_POOL_MAX);
	cr_assert_geq((uint64_t)n * BS, SMALL_POOL_MAX / 2,
	              "only %d blocks of %d fit in a %u-byte pool", n, BS, SMALL_POOL_MAX);
	segs = distinct_segments(refs, n);
	cr_assert_geq(segs, 2, "all %d blocks are in one segment", n);
	{
		char pfx[128];
		int files;

		snprintf(pfx, sizeof(pfx), "%s-%s", H.prefix, SMALL_POOL);
		files = shm_count(pfx, &shm_bytes);
		cr_assert_geq(files, 2, "%d /dev/shm/%s-* objects, want >= 2", files, pfx);
		cr_assert_leq(shm_bytes, SMALL_POOL_MAX, "segments of the pool total %llu > %u",
		              (unsigned long long)shm_bytes, SMALL_POOL_MAX);
	}
	/* Still full for everyone, and a single block larger than the pool
	 * is refused the same way. */
	rc = memc_alloc(c, SMALL_POOL, BS, 0, &again);
	cr_assert_eq(rc, -ENOMEM, "alloc in a full pool: %d (%s)", rc, memc_strerror(rc));
	rc = memc_alloc(c, SMALL_POOL, 2 * SMALL_POOL_MAX, 0, &again);
	cr_assert_eq(rc, -ENOMEM, "alloc larger than max_size: %d (%s)", rc, memc_strerror(rc));

	/* One free makes room for one block. */
	cr_assert_eq(memc_free(c, refs[n / 2]), 0);
	rc = memc_alloc(c, SMALL_POOL, BS, 0, &refs[n / 2]);
	cr_assert_eq(rc, 0, "alloc after a free in a full pool: %d (%s)", rc, memc_strerror(rc));

	/* Freeing everything makes room for everything. */
	for (int i = 0; i < n; i++)
		cr_assert_eq(memc_free(c, refs[i]), 0, "free of block %d", i);
	n2 = fill_pool(c, BS, 0, 0x33, refs, FILL_MAX, &rc);
	cr_assert_eq(rc, -ENOMEM);
	cr_assert_geq(n2, n, "after freeing all, only %d of %d blocks fit again", n2, n);
	for (int i = 0; i < n2; i++)
		cr_assert_eq(memc_free(c, refs[i]), 0, "free of block %d", i);
	memc_close(c);
	free(refs);
	memd_stop_clean(&H, SIGTERM);
}

Test(pool, block_larger_than_first_segment_is_served, .fini = harness_fini)
{
	/* Page multiples and odd sizes, all well below max_size, each asked
	 * of a fresh daemon whose pool has only its first segment: the pool
	 * must grow by a segment that can hold the block, at the first
	 * attempt. */
	static const size_t sizes[] = {3 * SMALL_POOL_SEGMENT, 100000, 200000, 300000,
	                               SMALL_POOL_SEGMENT + 1};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memc_client *c;
		memc_ref ref = 0;
		size_t sz = 0;
		int rc;

		memd_start(&H, CONFIG_SMALL_POOL);
		c = must_connect();
		rc = memc_alloc(c, SMALL_POOL, sizes[i], 0, &ref);
		cr_assert_eq(rc, 0,
		             "a %zu-byte block in an empty %u-byte pool with a %u-byte first "
		             "segment: %d (%s)",
		             sizes[i], SMALL_POOL_MAX, SMALL_POOL_SEGMENT, rc, memc_strerror(rc));
		cr_assert_eq(memc_size(c, ref, &sz), 0);
		cr_assert_geq(sz, sizes[i]);
		pattern_fill(memc_ptr(c, ref), sz, 9);
		cr_assert_eq(pattern_check(memc_ptr(c, ref), sz, 9), -1);
		cr_assert_eq(memc_free(c, ref), 0);
		memc_close(c);
		memd_stop_clean(&H, SIGTERM);
	}
}

Test(pool, zero_flag_gives_zeros_when_every_byte_was_used_before, .fini = harness_fini)
{
	static const size_t sizes[] = {64, 4096};
	memc_ref *refs = calloc(FILL_MAX, sizeof(*refs));
	memc_client *c;

	cr_assert_not_null(refs);
	memd_start(&H, CONFIG_SMALL_POOL);
	c = must_connect();
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		int n, n2, rc;

		/* Every byte the pool can hand out is written 0xff... */
		n = fill_pool(c, sizes[s], 0, 0xff, refs, FILL_MAX, &rc);
		cr_assert_eq(rc, -ENOMEM, "fill with %zu-byte blocks: %d after %d", sizes[s], rc,
		             n);
		for (int i = 0; i < n; i++)
			cr_assert_eq(memc_free(c, refs[i]), 0);
		/* ...so every MEMC_ZERO block now is reused memory. */
		n2 = fill_pool(c, sizes[s], MEMC_ZERO, -1, refs, FILL_MAX, &rc);
		cr_assert_eq(rc, -ENOMEM);
		cr_assert_geq(n2, n / 2, "only %d zeroed blocks after %d dirty ones", n2, n);
		for (int i = 0; i < n2; i++) {
			const uint8_t *p = memc_ptr(c, refs[i]);

			cr_assert_not_null(p);
			for (size_t b = 0; b < sizes[s]; b++)
				cr_assert_eq(p[b], 0,
				             "MEMC_ZERO block %d (%zu bytes) has %#x at %zu", i,
				             sizes[s], p[b], b);
		}
		for (int i = 0; i < n2; i++)
			cr_assert_eq(memc_free(c, refs[i]), 0);
	}
	memc_close(c);
	free(refs);
	memd_stop_clean(&H, SIGTERM);
}

/* What the hog child reports back. */
struct hog_arg {
	const char *sock; /* daemon socket */
	int report_fd;    /* pipe: the child writes its block count here */
	size_t bs;        /* block size */
};

/* Child: fill the small pool, report the count, then wait to be killed. */
static int hog_child(void *argp)
{
	struct hog_arg *a = argp;
	memc_client *c = NULL;
	int n, rc;

	if (memc_connect(a->sock, &c) != 0)
		return 10;
	n = fill_pool(c, a->bs, 0, 0x77, NULL, FILL_MAX, &rc);
	if (rc != -ENOMEM)
		n = -1;
	if (write(a->report_fd, &n, sizeof(n)) != sizeof(n))
		return 11;
	for (;;)
		pause();
}

Test(pool, client_killed_with_sigkill_gives_all_its_memory_back, .fini = harness_fini)
{
	struct hog_arg a = {.bs = 4096};
	memc_ref *refs = calloc(FILL_MAX, sizeof(*refs));
	int pfd[2], held = 0, n2 = 0, rc, st;
	memc_client *c;
	memc_ref ref = 0;
	char why[64];
	int64_t deadline;
	pid_t pid;

	cr_assert_not_null(refs);
	memd_start(&H, CONFIG_SMALL_POOL);
	cr_assert_eq(pipe(pfd), 0);
	a.sock = H.sock;
	a.report_fd = pfd[1];
	pid = child_fork(hog_child, &a);
	close(pfd[1]);
	cr_assert_eq(read(pfd[0], &held, sizeof(held)), (ssize_t)sizeof(held),
	             "hog child died before reporting");
	close(pfd[0]);
	cr_assert_gt(held, 0, "hog child could not fill the pool to -ENOMEM");

	/* While the hog lives, the pool is full for everyone else too. */
	c = must_connect();
	rc = memc_alloc(c, SMALL_POOL, a.bs, 0, &ref);
	cr_assert_eq(rc, -ENOMEM, "pool held by the hog still gave a block: %d", rc);

	st = child_kill(pid);
	cr_assert_eq(st, 1000 + SIGKILL, "hog: %s", child_status_str(st, why, sizeof(why)));

	/* The daemon sees the EOF asynchronously; give it a moment, but the
	 * whole amount must come back. */
	deadline = now_ms() + 3000;
	while (n2 < held && now_ms() < deadline) {
		n2 += fill_pool(c, a.bs, 0, 0x11, refs + n2, FILL_MAX - n2, &rc);
		if (n2 < held)
			sleep_ms(20);
	}
	cr_assert_geq(n2, held, "after SIGKILL of a client holding %d blocks, only %d came back",
	              held, n2);
	for (int i = 0; i < n2; i++)
		cr_assert_eq(memc_free(c, refs[i]), 0);
	memc_close(c);
	free(refs);
	memd_stop_clean(&H, SIGTERM);
}

Test(pool, closed_client_gives_its_memory_back, .fini = harness_fini)
{
	memc_client *a, *b;
	int n, n2, rc;

	memd_start(&H, CONFIG_SMALL_POOL);
	a = must_connect();
	n = fill_pool(a, 8192, 0, 1, NULL, FILL_MAX, &rc);
	cr_assert_eq(rc, -ENOMEM);
	memc_close(a);
	b = must_connect();
	n2 = fill_pool(b, 8192, 0, 2, NULL, FILL_MAX, &rc);
	cr_assert_eq(rc, -ENOMEM);
	cr_assert_geq(n2, n, "after memc_close of a client holding %d blocks, %d came back", n, n2);
	memc_close(b);
	memd_stop_clean(&H, SIGTERM);
}

Test(pool, freed_pages_go_back_to_the_os, .fini = harness_fini)
{
	static const size_t sizes[] = {2u << 20, 12u << 20}; /* in the first segment; a new one */
	memc_client *c;

	memd_start(&H, NULL); /* default pool: 4 MiB first segment, 256 KiB trim threshold */
	c = must_connect();
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t before, after;
		memc_ref ref = 0;
		int64_t deadline;
		int rc;

		rc = memc_alloc(c, NULL, sizes[i], 0, &ref);
		cr_assert_eq(rc, 0, "alloc %zu: %d", sizes[i], rc);
		memset(memc_ptr(c, ref), 0x6b, sizes[i]);
		before = shm_resident(H.prefix);
		cr_assert_geq(before, sizes[i], "segments occupy %llu bytes with a %zu-byte block",
		              (unsigned long long)before, sizes[i]);
		cr_assert_eq(memc_free(c, ref), 0);
		/* Trimming may lag the free a little; it must not lag forever. */
		deadline = now_ms() + 3000;
		do {
			after = shm_resident(H.prefix);
			if (before - after >= sizes[i] - sizes[i] / 8 || after > before)
				break;
			sleep_ms(20);
		} while (now_ms() < deadline);
		cr_assert_geq(before - after, sizes[i] - sizes[i] / 8,
		              "freeing a %zu-byte block gave back only %lld bytes (%llu -> %llu)",
		              sizes[i], (long long)(before - after), (unsigned long long)before,
		              (unsigned long long)after);
	}
	/* The memory is still usable after being punched. */
	{
		memc_ref ref = 0;

		cr_assert_eq(memc_alloc(c, NULL, 2u << 20, 0, &ref), 0);
		pattern_fill(memc_ptr(c, ref), 2u << 20, 17);
		cr_assert_eq(pattern_check(memc_ptr(c, ref), 2u << 20, 17), -1);
		cr_assert_eq(memc_free(c, ref), 0);
	}
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

/* One raw request and its reply (status 0 and exactly rep_len bytes). */
static void raw_exchange(int fd, uint16_t op, uint32_t id, const void *req, size_t req_len,
                         void *rep, size_t rep_len)
{
	struct memd_hdr h;
	size_t blen = 0;

	cr_assert_eq(raw_send_frame(fd, op, id, req, req_len), 0);
	cr_assert_eq(raw_recv_frame(fd, &h, rep, rep_len, &blen, 5000), RAW_FRAME);
	cr_assert_eq(h.status, 0, "op %u: status %d", (unsigned)op, (int)h.status);
	cr_assert_eq(blen, rep_len);
}

/* memd answers a free before it punches the pages (the trim runs after
 * the round of requests), but a STATS request in the same round still sees
 * them punched: memctl never shows a trim that is only due. */
Test(pool, stats_in_the_same_round_as_a_free_see_its_trim, .fini = harness_fini)
{
	struct memd_pool_req preq = {.name = "default"};
	struct memd_pool_rep prep;
	struct memd_alloc_req areq = {.size = 2u << 20};
	struct memd_alloc_rep arep;
	struct memd_stats_req sreq = {0};
	struct memd_stats_pool_detail st;
	struct memd_ref_req freq;
	struct memd_hdr h, hs;
	uint8_t frames[2 * MEMD_HDR_SIZE + sizeof(freq) + sizeof(sreq)], body[4096];
	uint64_t before;
	size_t blen = 0;
	int fd;

	memd_start(&H, NULL); /* default pool: 4 MiB first segment, 256 KiB trim threshold */
	fd = raw_connect(H.sock);
	cr_assert_geq(fd, 0);
	cr_assert_eq(raw_hello(fd, MEMD_PROTO_VERSION, &h, NULL), RAW_FRAME);
	raw_exchange(fd, MEMD_OP_POOL, 2, &preq, sizeof(preq), &prep, sizeof(prep));
	areq.pool_id = prep.pool_id;
	raw_exchange(fd, MEMD_OP_ALLOC, 3, &areq, sizeof(areq), &arep, sizeof(arep));
	sreq.pool_id = prep.pool_id;
	cr_assert_eq(raw_send_frame(fd, MEMD_OP_STATS_POOL, 4, &sreq, sizeof(sreq)), 0);
	cr_assert_eq(raw_recv_frame(fd, &hs, body, sizeof(body), &blen, 5000), RAW_FRAME);
	cr_assert_eq(hs.status, 0);
	memcpy(&st, body, sizeof(st));
	before = st.pool.punched_total;

	/* FREE and STATS_POOL in one write: one round. */
	freq.ref = arep.ref;
	proto_hdr_init(&h, MEMD_OP_FREE, 5, 0, sizeof(freq));
	memcpy(frames, &h, MEMD_HDR_SIZE);
	memcpy(frames + MEMD_HDR_SIZE, &freq, sizeof(freq));
	proto_hdr_init(&hs, MEMD_OP_STATS_POOL, 6, 0, sizeof(sreq));
	memcpy(frames + MEMD_HDR_SIZE + sizeof(freq), &hs, MEMD_HDR_SIZE);
	memcpy(frames + 2 * MEMD_HDR_SIZE + sizeof(freq), &sreq, sizeof(sreq));
	cr_assert_eq(raw_send(fd, frames, sizeof(frames)), 0);
	cr_assert_eq(raw_recv_frame(fd, &h, body, sizeof(body), &blen, 5000), RAW_FRAME);
	cr_assert_eq(h.id, 5);
	cr_assert_eq(h.status, 0);
	cr_assert_eq(raw_recv_frame(fd, &hs, body, sizeof(body), &blen, 5000), RAW_FRAME);
	cr_assert_eq(hs.id, 6);
	cr_assert_eq(hs.status, 0);
	memcpy(&st, body, sizeof(st));
	cr_assert_geq(st.pool.punched_total - before, (2u << 20) - (2u << 20) / 8,
	              "STATS in the free's round saw %llu bytes punched",
	              (unsigned long long)(st.pool.punched_total - before));
	close(fd);
	memd_stop_clean(&H, SIGTERM);
}

/* Child: allocate and free in a tight loop, keeping some blocks, until
 * killed. */
static int churn_child(void *argp)
{
	const char *sock = argp;
	memc_client *c = NULL;
	memc_ref keep[64] = {0};

	if (memc_connect(sock, &c) != 0)
		return 10;
	for (unsigned i = 0;; i++) {
		memc_ref ref = 0;
		unsigned slot = i % 64;

		if (keep[slot]) {
			memc_free(c, keep[slot]);
			keep[slot] = 0;
		}
		if (memc_alloc(c, SMALL_POOL, 64 + (i * 977) % 20000, 0, &ref) == 0) {
			memset(memc_ptr(c, ref), 1, 64);
			keep[slot] = ref;
		}
	}
}

Test(pool, clients_killed_mid_request_leak_nothing, .fini = harness_fini)
{
	memc_ref *refs = calloc(FILL_MAX, sizeof(*refs));
	memc_client *c;
	int base, n = 0, rc;
	int64_t deadline;

	cr_assert_not_null(refs);
	memd_start(&H, CONFIG_SMALL_POOL);
	c = must_connect();
	base = fill_pool(c, 4096, 0, 0, refs, FILL_MAX, &rc);
	cr_assert_eq(rc, -ENOMEM);
	for (int i = 0; i < base; i++)
		cr_assert_eq(memc_free(c, refs[i]), 0);

	/* Kill churning clients at varied moments, two at a time. */
	for (int round = 0; round < 15; round++) {
		pid_t a = child_fork(churn_child, H.sock);
		pid_t b = child_fork(churn_child, H.sock);
		char why[64];
		int st;

		sleep_ms(5 + (round * 7) % 40);
		st = child_kill(a);
		cr_assert_eq(st, 1000 + SIGKILL, "churn child: %s",
		             child_status_str(st, why, sizeof(why)));
		st = child_kill(b);
		cr_assert_eq(st, 1000 + SIGKILL, "churn child: %s",
		             child_status_str(st, why, sizeof(why)));
	}
	deadline = now_ms() + 3000;
	while (n < base && now_ms() < deadline) {
		n += fill_pool(c, 4096, 0, 0, refs + n, FILL_MAX - n, &rc);
		if (n < base)
			sleep_ms(20);
	}
	cr_assert_geq(n, base, "after 30 clients killed mid-request only %d of %d blocks fit", n,
	              base);
	for (int i = 0; i < n; i++)
		cr_assert_eq(memc_free(c, refs[i]), 0);
	memc_close(c);
	free(refs);
	memd_stop_clean(&H, SIGTERM);
}

/* In a fresh daemon: allocate and free one block of first_size (0: none),
 * then count the 4 KiB blocks the small pool holds.  Stops the daemon. */
static int capacity_after_one_block(size_t first_size)
{
	memc_ref *refs = calloc(FILL_MAX, sizeof(*refs));
	memc_client *c;
	int n, rc;

	cr_assert_not_null(refs);
	memd_start(&H, CONFIG_SMALL_POOL);
	c = must_connect();
	if (first_size) {
		memc_ref ref = 0;

		rc = memc_alloc(c, SMALL_POOL, first_size, 0, &ref);
		cr_assert_eq(rc, 0, "alloc %zu: %d", first_size, rc);
		cr_assert_eq(memc_free(c, ref), 0);
	}
	n = fill_pool(c, 4096, 0, -1, refs, FILL_MAX, &rc);
	cr_assert_eq(rc, -ENOMEM);
	for (int i = 0; i < n; i++)
		cr_assert_eq(memc_free(c, refs[i]), 0);
	memc_close(c);
	free(refs);
	memd_stop_clean(&H, SIGTERM);
	return n;
}

Test(pool, one_freed_block_does_not_shrink_the_pool, .fini = harness_fini)
{
	static const size_t sizes[] = {64, 1000, 4096, 8192, 12288, 20000, 65536};
	char report[512] = "";
	int base, bad = 0;

	harness_cache_off(); /* the daemon's heap is under test, not the cache */
	base = capacity_after_one_block(0);
	cr_assert_geq(base, (int)(SMALL_POOL_MAX / 4096) * 3 / 4);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int n = capacity_after_one_block(sizes[i]);
		size_t used = strlen(report);

		if (n < base) {
			bad++;
			snprintf(report + used, sizeof(report) - used,
			         " after a %zu-byte block: %d;", sizes[i], n);
		}
	}
	cr_assert_eq(bad, 0,
	             "a fresh small pool holds %d 4 KiB blocks, but after allocating and freeing "
	             "one block it holds fewer:%s",
	             base, report);
}

Test(pool, scribbling_over_whole_segments_does_not_corrupt_the_heap, .fini = harness_fini)
{
	memc_ref *refs = calloc(FILL_MAX, sizeof(*refs));
	memc_client *c;
	int n, n2, rc, segs_seen = 0;

	cr_assert_not_null(refs);
	memd_start(&H, CONFIG_SMALL_POOL);
	c = must_connect();
	n = fill_pool(c, 4096, 0, 0, refs, FILL_MAX, &rc);
	cr_assert_eq(rc, -ENOMEM);
	/* Free every other block, so there are free runs and live blocks
	 * interleaved, then overwrite every byte of every mapped segment:
	 * headers, free lists, anything that lived in shared memory is gone. */
	for (int i = 0; i < n; i += 2)
		cr_assert_eq(memc_free(c, refs[i]), 0);
	for (int i = 1; i < n; i++) {
		uint32_t seg = memd_ref_seg(refs[i]);
		char path[PATH_MAX];
		struct stat st;
		uint8_t *p;
		int seen = 0;

		for (int j = 1; j < i && !seen; j++)
			seen = memd_ref_seg(refs[j]) == seg;
		if (seen)
			continue;
		snprintf(path, sizeof(path), "/dev/shm/%s-%s-%u", H.prefix, SMALL_POOL, seg);
		cr_assert_eq(stat(path, &st), 0, "segment %u is not %s", seg, path);
		p = (uint8_t *)memc_ptr(c, refs[i]) - memd_ref_off(refs[i]);
		memset(p, 0xee, (size_t)st.st_size);
		segs_seen++;
	}
	cr_assert_geq(segs_seen, 2);
	/* The heap does not notice: the free half can be allocated again and
	 * everything freed and reallocated. */
	for (int i = 0; i < n; i += 2) {
		rc = memc_alloc(c, SMALL_POOL, 4096, 0, &refs[i]);
		cr_assert_eq(rc, 0, "realloc of slot %d after the scribble: %d", i, rc);
	}
	for (int i = 0; i < n; i++)
		cr_assert_eq(memc_free(c, refs[i]), 0, "free of block %d after the scribble", i);
	n2 = fill_pool(c, 4096, 0, 0, refs, FILL_MAX, &rc);
	cr_assert_eq(rc, -ENOMEM);
	cr_assert_geq(n2, n, "after the scribble only %d of %d blocks fit", n2, n);
	for (int i = 0; i < n2; i++)
		cr_assert_eq(memc_free(c, refs[i]), 0);
	memc_close(c);
	free(refs);
	memd_stop_clean(&H, SIGTERM);
}
