/*
 * test_cache_lease.c - how libmemclient's cache records the blocks of a
 * lease (client/cache_lease.c: lease_prepare, lease_register), with a
 * scripted fake daemon in front of it that sends what memd never does.
 *
 * The cache records a whole ALLOC_BATCH reply at once: a segment looked
 * up once per run of blocks in it, a chunk record made once per chunk, a
 * page's class noted once, the HELD bits of blocks sharing a word of the
 * record set with one atomic OR.  These tests hold it to what recording
 * block by block promised.  A reply with a block twice (next to each
 * other in one word of the record, or far apart), with a block the client
 * holds already, with a misaligned block, one past its segment's end, or
 * one in a segment of another pool is refused: the call gets -EPROTO, the
 * connection stays broken, and no block of that reply is left recorded as
 * ours (a free of one is not the cache's -EINVAL but reaches for the
 * broken connection: -EPROTO), while blocks ours from before stay ours.
 * The same holds for a lease sent ahead, whose reply is recorded by
 * whichever call reads it, or after its segment is mapped.  A reply whose
 * blocks lie out of order over two segments and several chunks, some
 * straddling a chunk boundary, is recorded whole: each block is handed
 * out once with its size, frees once, and a second free is -EINVAL.  And
 * a lease whose segment cannot be mapped goes back whole, as it came.
 *
 * The fake daemon (fake_daemon.h, with the client cache left on) answers
 * HELLO and POOL as memd would ("default" is pool 1, any other name pool 2),
 * refuses CACHE_PAGE (the counters stay local), maps every segment to a
 * fresh memfd of FAKE_SEG_SIZE bytes (but one it may be told to refuse),
 * answers the ALLOC_BATCHes with the test's replies in order (then with
 * -ENOMEM), accepts FREE_BATCHes (and checks them against what the test
 * expects back), and refuses single FREEs with -EPERM, which no cache
 * gives, so that a test can tell a block the cache calls its own from one
 * it does not.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fake_daemon.h"
#include "harness.h"
#include "memclient.h"
#include "proto.h"
#include "ref.h"
#include "sizeclass.h"

#define FAKE_SEG_SIZE (1024u * 1024u) /* the fake's segments: four chunk records each */
#define CHUNK         (256u * 1024u)  /* the span of one chunk record */
#define ODD_SEG_SIZE  (CHUNK + 0x800) /* a segment ending early in its second chunk */
#define LEASES_MAX    4               /* ALLOC_BATCH replies one test scripts */
#define REFS_MAX      64              /* blocks in one of them */
#define FAKE_RX_MAX   (MEMD_HDR_SIZE + 8 + MEMD_BATCH_MAX * 8) /* largest request: FREE_BATCH */

/* One scripted ALLOC_BATCH reply. */
struct lease {
	uint32_t n;              /* refs delivered */
	uint64_t refs[REFS_MAX]; /* the refs, as sent */
};

/* What the fake daemon of the current test answers. */
struct lease_script {
	struct lease leases[LEASES_MAX]; /* ALLOC_BATCH replies, in order */
	unsigned nleases;                /* entries in leases */
	uint32_t refuse_map;             /* a segment whose MAP gets -EACCES (0: none) */
	uint32_t odd_seg;                /* a segment of ODD_SEG_SIZE bytes (0: none) */
	uint64_t back[REFS_MAX];         /* refs a FREE_BATCH must bring back, in order */
	unsigned nback;                  /* entries in back (0: no FREE_BATCH expected) */
};

static struct lease_script S;

/* ---- the fake daemon (the child) ---- */

static int serve_pool(int cfd, const struct memd_hdr *h, const uint8_t *body)
{
	struct memd_pool_rep rep = {.access = MEMD_ACCESS_READ | MEMD_ACCESS_WRITE,
	                            .max_size = 64u * FAKE_SEG_SIZE};
	struct memd_pool_req req;

	memcpy(&req, body, sizeof(req));
	rep.pool_id = strcmp(req.name, "default") == 0 ? 1 : 2;
	return fake_answer(cfd, h, 0, &rep, sizeof(rep), -1);
}

/* The next scripted lease (*next of them answered so far), or -ENOMEM. */
static int serve_alloc_batch(int cfd, const struct memd_hdr *h, const uint8_t *body, unsigned *next)
{
	uint8_t rep[sizeof(struct memd_alloc_batch_rep) + REFS_MAX * sizeof(uint64_t)];
	struct memd_alloc_batch_req req;
	struct memd_alloc_batch_rep br = {.pad = 0};
	const struct lease *l;

	memcpy(&req, body, sizeof(req));
	if (*next == S.nleases)
		return fake_answer(cfd, h, -ENOMEM, NULL, 0, -1);
	l = &S.leases[(*next)++];
	if (l->n > req.count)
		return -1; /* the test asked for more than the client wants */
	br.size = req.size;
	br.count = l->n;
	memcpy(rep, &br, sizeof(br));
	memcpy(rep + sizeof(br), l->refs, l->n * sizeof(uint64_t));
	return fake_answer(cfd, h, 0, rep, sizeof(br) + l->n * sizeof(uint64_t), -1);
}

/* A fresh memfd of FAKE_SEG_SIZE bytes (or ODD_SEG_SIZE) for the segment
 * asked for. */
static int serve_map(int cfd, const struct memd_hdr *h, const uint8_t *body)
{
	struct memd_map_rep rep = {.access = MEMD_ACCESS_READ | MEMD_ACCESS_WRITE,
	                           .size = FAKE_SEG_SIZE};
	struct memd_map_req req;
	int fd, err;

	memcpy(&req, body, sizeof(req));
	if (req.seg_id == S.refuse_map)
		return fake_answer(cfd, h, -EACCES, NULL, 0, -1);
	if (req.seg_id == S.odd_seg)
		rep.size = ODD_SEG_SIZE;
	fd = memfd_create("memd-fake-seg", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)rep.size) < 0)
		return -1;
	rep.seg_id = req.seg_id;
	err = fake_answer(cfd, h, 0, &rep, sizeof(rep), fd);
	close(fd);
	return err;
}

/* Take a FREE_BATCH: it must bring back exactly S.back, in order. */
static int serve_free_batch(int cfd, const struct memd_hdr *h, const uint8_t *body, bool *back)
{
	uint8_t rep[sizeof(struct memd_free_batch_rep) + (MEMD_BATCH_MAX + 1) * sizeof(int32_t)];
	struct memd_free_batch_rep fr = {.pad = 0};
	struct memd_free_batch_req req;

	memcpy(&req, body, sizeof(req));
	if (*back || req.count != S.nback ||
	    memcmp(body + sizeof(req), S.back, S.nback * sizeof(uint64_t)) != 0)
		return -1;
	*back = true;
	fr.count = req.count;
	memset(rep, 0, sizeof(rep));
	memcpy(rep, &fr, sizeof(fr));
	return fake_answer(cfd, h, 0, rep,
	                   sizeof(fr) + (fr.count + (fr.count & 1)) * sizeof(int32_t), -1);
}

/* The fake daemon's script (fake_daemon.h answered HELLO): answer the
 * client until it hangs up.  Exit 0, or 10 + the opcode answered wrongly,
 * 91 on a bad or missing request, 92 if the FREE_BATCH expected never
 * came. */
static int serve(int cfd)
{
	static uint8_t body[FAKE_RX_MAX];
	unsigned next = 0;
	bool back = false;
	int err, r;

	for (;;) {
		struct memd_hdr h;

		r = fake_next(cfd, &h, body, sizeof(body));
		if (r < 0)
			return 91;
		if (r > 0)
			break;
		switch (h.op) {
		case MEMD_OP_POOL:
			err = serve_pool(cfd, &h, body);
			break;
		case MEMD_OP_ALLOC_BATCH:
			err = serve_alloc_batch(cfd, &h, body, &next);
			break;
		case MEMD_OP_MAP:
			err = serve_map(cfd, &h, body);
			break;
		case MEMD_OP_FREE_BATCH:
			err = serve_free_batch(cfd, &h, body, &back);
			break;
		case MEMD_OP_FREE:
			err = fake_answer(cfd, &h, -EPERM, NULL, 0, -1);
			break;
		default: /* CACHE_PAGE, and anything else */
			err = fake_answer(cfd, &h, -ENOMEM, NULL, 0, -1);
			break;
		}
		if (err < 0)
			return 10 + h.op;
		if (err > 0)
			break;
	}
	return back || S.nback == 0 ? 0 : 92;
}

/* ---- the test's side ---- */

/* Script the next ALLOC_BATCH reply: n refs. */
static void lease_add(const uint64_t *refs, uint32_t n)
{
	struct lease *l;

	cr_assert_lt(S.nleases, LEASES_MAX);
	cr_assert_leq(n, REFS_MAX);
	l = &S.leases[S.nleases++];
	l->n = n;
	memcpy(l->refs, refs, n * sizeof(uint64_t));
}

/* Start the fake daemon with the replies scripted so far and connect a
 * client (its cache on) to it. */
static memc_client *lease_start(void)
{
	memc_client *c = NULL;
	int rc;

	fake_listen(serve);
	rc = memc_connect(F.sock, &c);
	cr_assert_eq(rc, 0, "connect to the fake daemon: %d (%s)", rc, memc_strerror(rc));
	return c;
}

/* Close c and assert the fake daemon got what it expected. */
static void lease_done(memc_client *c)
{
	char why[64];
	int st;

	memc_close(c);
	st = child_wait(F.pid, FAKE_REPLY_MS);
	cr_assert_eq(st, 0, "fake daemon: %s", child_status_str(st, why, sizeof(why)));
}

/* A ref in the fake's segment seg at off. */
static uint64_t R(uint32_t seg, uint64_t off)
{
	return memd_ref_make(seg, off);
}

/* Allocate size bytes through the cache; the block must be want. */
static void alloc_is(memc_client *c, const char *pool, size_t size, uint64_t want)
{
	memc_ref ref = 0;
	int rc = memc_alloc(c, pool, size, 0, &ref);

	cr_assert_eq(rc, 0, "alloc: %d (%s)", rc, memc_strerror(rc));
	cr_assert_eq(ref, want, "alloc handed out %#llx, the lease's next block is %#llx",
	             (unsigned long long)ref, (unsigned long long)want);
}

/* An allocation of size bytes must fail with want. */
static void alloc_fails(memc_client *c, const char *pool, size_t size, int want)
{
	memc_ref ref = 0;
	int rc = memc_alloc(c, pool, size, 0, &ref);

	cr_assert_eq(rc, want, "alloc: %d (%s), want %d; block %#llx", rc, memc_strerror(rc), want,
	             (unsigned long long)ref);
}

/* The cache must not take refs[0..n) for its own: a free of each goes
 * past it (to the daemon, which says want, or to a broken connection).
 * A block recorded as ours would be the cache's -EINVAL instead. */
static void none_ours(memc_client *c, const uint64_t *refs, uint32_t n, int want)
{
	for (uint32_t i = 0; i < n; i++) {
		int rc = memc_free(c, refs[i]);

		cr_assert_eq(rc, want,
		             "free of block %u (%#llx) of a refused lease: %d (%s), want %d", i,
		             (unsigned long long)refs[i], rc, memc_strerror(rc), want);
	}
}

/* ---- refused leases leave nothing recorded ---- */

/* The client's first lease (64-byte blocks) is refs[0..n): refused with
 * -EPROTO, none of it recorded, and the connection stays broken. */
static void first_lease_refused(const uint64_t *refs, uint32_t n)
{
	memc_client *c;

	lease_add(refs, n);
	c = lease_start();
	alloc_fails(c, NULL, 64, -EPROTO);
	none_ours(c, refs, n, -EPROTO);
	alloc_fails(c, NULL, 64, -EPROTO);
	lease_done(c);
}

Test(cache_lease, a_block_twice_in_one_word_is_refused_and_nothing_recorded, .fini = fake_fini)
{
	/* 0x100 and 0x140 share a word of the record; the third is the first again. */
	const uint64_t refs[] = {R(5, 0x100), R(5, 0x140), R(5, 0x100)};

	first_lease_refused(refs, 3);
}

Test(cache_lease, a_block_twice_far_apart_is_refused_and_nothing_recorded, .fini = fake_fini)
{
	/* Other words, another chunk and another segment in between; the
	 * block twice comes after a block of its own word. */
	const uint64_t refs[] = {R(5, 0x100), R(5, 0x1000), R(5, CHUNK + 0x40), R(6, 0x40),
	                         R(5, 0x180), R(5, 0x100),  R(5, 0x2000)};

	first_lease_refused(refs, 7);
}

Test(cache_lease, a_block_twice_at_the_end_is_refused_and_nothing_recorded, .fini = fake_fini)
{
	/* The last OR of the batch finds it. */
	const uint64_t refs[] = {R(5, 0x100), R(5, 0x140), R(5, 0x800), R(5, 0x100)};

	first_lease_refused(refs, 4);
}

Test(cache_lease, a_misaligned_block_is_refused_and_nothing_recorded, .fini = fake_fini)
{
	const uint64_t refs[] = {R(5, 0x100), R(5, 0x140), R(5, 0x188)};

	first_lease_refused(refs, 3);
}

Test(cache_lease, a_block_past_its_segment_is_refused_and_nothing_recorded, .fini = fake_fini)
{
	/* The last block would end 32 bytes past the segment. */
	const uint64_t refs[] = {R(5, 0x100), R(5, 0x140), R(5, FAKE_SEG_SIZE - 32)};

	first_lease_refused(refs, 3);
}

Test(cache_lease, a_block_at_its_segment_end_is_refused_and_nothing_recorded, .fini = fake_fini)
{
	const uint64_t refs[] = {R(5, 0x100), R(6, 0x140), R(6, FAKE_SEG_SIZE)};

	first_lease_refused(refs, 3);
}

Test(cache_lease, a_block_past_the_end_after_one_ending_there_is_refused, .fini = fake_fini)
{
	/* Segment 8 ends 2 KiB into its second chunk; the first 6 KiB block
	 * straddles into that chunk and ends the segment, the next (in the
	 * same chunk) lies past the end. */
	const uint64_t refs[] = {R(8, ODD_SEG_SIZE - 6144), R(8, ODD_SEG_SIZE)};
	memc_client *c;

	S.odd_seg = 8;
	lease_add(refs, 2);
	c = lease_start();
	alloc_fails(c, NULL, 6144, -EPROTO);
	none_ours(c, refs, 2, -EPROTO);
	lease_done(c);
}

Test(cache_lease, a_block_in_segment_zero_is_refused_and_nothing_recorded, .fini = fake_fini)
{
	/* The reply's decoder (common/proto.c) refuses it first. */
	const uint64_t refs[] = {R(5, 0x100), R(5, 0x140), R(0, 0x180)};

	first_lease_refused(refs, 3);
}

Test(cache_lease, a_block_held_already_is_refused_and_stays_ours, .fini = fake_fini)
{
	/* The second lease repeats the block of the first, in use now, in
	 * the word of a new one. */
	const uint64_t first[] = {R(5, 0x100)};
	const uint64_t second[] = {R(5, 0x140), R(5, 0x100), R(5, 0x1000)};
	memc_client *c;

	lease_add(first, 1);
	lease_add(second, 3);
	c = lease_start();
	alloc_is(c, NULL, 64, first[0]);
	alloc_fails(c, NULL, 64, -EPROTO);
	none_ours(c, (const uint64_t[]){second[0], second[2]}, 2, -EPROTO);
	cr_assert_eq(memc_free(c, first[0]), 0, "the block of the first lease is still ours");
	cr_assert_eq(memc_free(c, first[0]), -EINVAL, "and cached: a second free is a double free");
	lease_done(c);
}

Test(cache_lease, a_block_in_a_segment_of_another_pool_is_refused, .fini = fake_fini)
{
	/* Segment 5 holds the default pool's blocks; pool "other" leases
	 * one there too, after one in a segment of its own. */
	const uint64_t first[] = {R(5, 0x100)};
	const uint64_t second[] = {R(7, 0x100), R(5, 0x140)};
	memc_client *c;

	lease_add(first, 1);
	lease_add(second, 2);
	c = lease_start();
	alloc_is(c, NULL, 64, first[0]);
	alloc_fails(c, "other", 64, -EPROTO);
	none_ours(c, second, 2, -EPROTO);
	cr_assert_eq(memc_free(c, first[0]), 0, "the default pool's block is still ours");
	lease_done(c);
}

/* The client's first lease is first[0..4) (64-byte blocks); the second
 * allocation sends the next lease ahead, answered with ahead[0..n), which
 * must be refused when the bin runs dry and collects it. */
static void ahead_refused(const uint64_t *ahead, uint32_t n)
{
	const uint64_t first[] = {R(5, 0x100), R(5, 0x140), R(5, 0x180), R(5, 0x1c0)};
	memc_client *c;

	lease_add(first, 4);
	lease_add(ahead, n);
	c = lease_start();
	for (uint32_t i = 0; i < 4; i++)
		alloc_is(c, NULL, 64, first[i]);
	alloc_fails(c, NULL, 64, -EPROTO);
	none_ours(c, ahead, n, -EPROTO);
	for (uint32_t i = 0; i < 4; i++)
		cr_assert_eq(memc_free(c, first[i]), 0, "block %u of the first lease", i);
	lease_done(c);
}

Test(cache_lease, a_lease_ahead_with_a_block_twice_is_refused_and_nothing_recorded,
     .fini = fake_fini)
{
	/* Its segment is mapped: the reply is recorded as soon as it is read. */
	const uint64_t ahead[] = {R(5, 0x200), R(5, 0x240), R(5, CHUNK), R(5, 0x240)};

	ahead_refused(ahead, 4);
}

Test(cache_lease, a_lease_ahead_in_a_new_segment_with_a_block_twice_is_refused, .fini = fake_fini)
{
	/* Its segment is not mapped yet: the reply waits for the bin to
	 * collect it, which maps the segment and records it then. */
	const uint64_t ahead[] = {R(6, 0x200), R(6, 0x240), R(6, 0x200)};

	ahead_refused(ahead, 3);
}

/* ---- leases over several segments and chunks ---- */

/* The client's first lease of size-byte blocks is refs[0..n): each block
 * is handed out, in the lease's order, with its size, and freed once;
 * freed twice, -EINVAL. */
static void lease_recorded(size_t size, const uint64_t *refs, uint32_t n)
{
	size_t usable = memd_class_size(memd_size_class(size));
	memc_client *c;

	lease_add(refs, n);
	c = lease_start();
	for (uint32_t i = 0; i < n; i++) {
		size_t sz = 0;
		void *p;

		alloc_is(c, NULL, size, refs[i]);
		cr_assert_eq(memc_size(c, refs[i], &sz), 0, "size of block %u", i);
		cr_assert_eq(sz, usable, "block %u: size %zu, want %zu", i, sz, usable);
		p = memc_ptr(c, refs[i]);
		cr_assert_not_null(p, "block %u not mapped", i);
		memset(p, 0xa5, usable);
	}
	for (uint32_t i = 0; i < n; i++)
		cr_assert_eq(memc_free(c, refs[i]), 0, "free of block %u (%#llx)", i,
		             (unsigned long long)refs[i]);
	for (uint32_t i = 0; i < n; i++)
		cr_assert_eq(memc_free(c, refs[i]), -EINVAL, "second free of block %u (%#llx)", i,
		             (unsigned long long)refs[i]);
	lease_done(c);
}

Test(cache_lease, blocks_out_of_order_over_segments_and_chunks_are_all_recorded, .fini = fake_fini)
{
	/* Runs in one word and over a word's end, pages of one chunk, four
	 * chunks of segment 5 (the first met after the second) and one of
	 * segment 6, coming back to segment 5 (in the page and chunk of the
	 * same number as segment 6's last) and to a word met before; the
	 * last block of segment 5 ends it; segment 7's lie in a page of a
	 * chunk, then in the first page of that chunk, then in a chunk
	 * before it. */
	const uint64_t refs[] = {
	        R(5, CHUNK),
	        R(5, 0x3ffc0),
	        R(5, CHUNK + 0x40),
	        R(6, 0x100),
	        R(6, 0x140),
	        R(5, 0x40),
	        R(5, 0x80),
	        R(5, 0x0),
	        R(5, 0x3ff80),
	        R(5, 3 * CHUNK),
	        R(6, 0x400),
	        R(5, 0xc0),
	        R(5, 0x11c0),
	        R(5, 0x1200),
	        R(5, 0x1240),
	        R(5, 2 * CHUNK - 64),
	        R(6, 0xc0),
	        R(5, FAKE_SEG_SIZE - 64),
	        R(7, 2 * CHUNK + 0x2000),
	        R(7, 2 * CHUNK + 0x40),
	        R(7, 0x100),
	};

	lease_recorded(64, refs, sizeof(refs) / sizeof(refs[0]));
}

Test(cache_lease, blocks_over_pages_and_chunk_boundaries_are_all_recorded, .fini = fake_fini)
{
	/* 6 KiB blocks cover two pages each; the first two straddle the
	 * boundary of chunks 0 and 1, the third that of chunks 2 and 3. */
	const uint64_t refs[] = {R(5, CHUNK - 0x1000), R(5, CHUNK + 0x800), R(5, 3 * CHUNK - 0x800),
	                         R(6, FAKE_SEG_SIZE - 0x1800), R(5, 0x3000)};

	lease_recorded(6144, refs, 5);
}

Test(cache_lease, blocks_straddling_pages_in_any_order_are_all_recorded, .fini = fake_fini)
{
	/* 48-byte blocks: the second ends in the page of the first but
	 * starts in the page before, as does the fourth in segment 6. */
	const uint64_t refs[] = {R(5, 0x2020), R(5, 0x1ff0), R(6, 0x1020), R(6, 0xff0),
	                         R(5, 0x1fc0)};

	lease_recorded(48, refs, 5);
}

/* ---- a lease that cannot be mapped goes back ---- */

Test(cache_lease, a_lease_whose_segment_cannot_be_mapped_goes_back_as_it_came, .fini = fake_fini)
{
	/* Segment 7 cannot be mapped (-EACCES): every block of the lease goes
	 * back with one FREE_BATCH, in the order it came (the fake checks),
	 * and none is recorded: a free reaches the daemon (-EPERM). */
	const uint64_t refs[] = {R(5, 0x100), R(5, 0x140), R(7, 0x100), R(5, CHUNK)};
	memc_client *c;

	lease_add(refs, 4);
	S.refuse_map = 7;
	memcpy(S.back, refs, sizeof(refs));
	S.nback = 4;
	c = lease_start();
	alloc_fails(c, NULL, 64, -EACCES);
	none_ours(c, (const uint64_t[]){refs[0], refs[1], refs[3]}, 3, -EPERM);
	lease_done(c);
}
