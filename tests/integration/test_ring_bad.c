/*
 * test_ring_bad.c - the request ring against clients that break it or go
 * away (test_ring.c has the ring working): malformed rings (tail too far
 * ahead, a bad header, a frame longer than a slot, any opcode but ALLOC,
 * FREE, ALLOC_BATCH and FREE_BATCH) close that connection after the
 * replies already due, while a sound frame with a bad body gets -EINVAL
 * as on the socket (an ALLOC_BATCH whose reply would not fit its slot
 * too) and the connection stays, a bystander served throughout; a client
 * that dies with frames in its ring loses every block and memd keeps no
 * mapping of the ring; frames published before a half-close still run; a
 * client that feeds the ring and never reads its replies costs memd no
 * memory (the replies are in the slots, nothing queues) and is served
 * all along.  Every test ends with memd_stop_clean().
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "proto.h"
#include "rawconn.h"
#include "ring_util.h"

/* ---- malformed rings ------------------------------------------------ */

#define LEN_RIGHT (-1) /* bad_case.len: what the body needs */

/* One way to break the ring. */
struct bad_case {
	const char *what; /* description */
	int64_t len;      /* header len (LEN_RIGHT: the right one for the body) */
	uint16_t op;      /* header op */
	uint16_t flags;   /* header flags */
	uint32_t tail;    /* >0: publish this tail instead of the frames */
};

/* The well-formed ALLOC_BATCH body, used by every case. */
static struct memd_alloc_batch_req bad_body(uint32_t pool_id)
{
	return (struct memd_alloc_batch_req){.pool_id = pool_id, .size = BLOCK_SIZE, .count = 1};
}

/* Run one case on a fresh connection: a good frame, then the bad one,
 * both published at once, and a kick.  The good frame's reply must come,
 * then the close; memd must log it, and a bystander must be served. */
static void bad_case_run(const struct bad_case *bc, int warned_before)
{
	struct memd_alloc_batch_req body;
	struct rconn r;
	int frames = 0, ok = 0, rc;

	rconn_open(&r);
	body = bad_body(r.pool_id);
	if (bc->tail > 0) {
		ring_write(&r, MEMD_HDR_SIZE + sizeof(body), MEMD_OP_ALLOC_BATCH, 0, 1, &body,
		           sizeof(body));
		r.tail = bc->tail - 1;
		ring_publish(&r);
	} else {
		ring_put(&r, MEMD_OP_ALLOC_BATCH, 1, &body, sizeof(body));
		ring_write(&r,
		           bc->len == LEN_RIGHT ? MEMD_HDR_SIZE + sizeof(body) : (uint32_t)bc->len,
		           bc->op, bc->flags, 2, &body, sizeof(body));
		ring_publish(&r);
	}
	send_kick(r.fd);
	if (bc->tail == 0)
		expect_alloc_reply(&r, 1, 1, NULL, bc->what);
	rc = raw_drain_until_closed(r.fd, REPLY_MS, &frames, &ok);
	cr_assert_eq(rc, 0, "%s: the connection is still open (%d frames came)", bc->what, frames);
	cr_assert_eq(frames, 0, "%s: %d frame(s) came before the close", bc->what, frames);
	cr_expect_eq(file_count(H.log, "request ring:"), warned_before + 1,
	             "%s: memd did not log it", bc->what);
	rconn_close(&r);
	bystander_check(bc->what);
}

Test(ring, a_malformed_ring_closes_that_connection_only, .fini = harness_fini)
{
	static const struct bad_case cases[] = {
	        {"tail a ring and one ahead", LEN_RIGHT, 0, 0, MEMD_RING_SLOTS + 1},
	        {"tail behind head (wrapped)", LEN_RIGHT, 0, 0, UINT32_MAX},
	        {"tail far ahead", LEN_RIGHT, 0, 0, 1u << 31},
	        {"len a slot and 8", MEMD_RING_SLOT_SIZE + 8, MEMD_OP_ALLOC_BATCH, 0, 0},
	        {"len MEMD_FRAME_MAX", MEMD_FRAME_MAX, MEMD_OP_FREE_BATCH, 0, 0},
	        {"len MEMD_FRAME_MAX + 1", MEMD_FRAME_MAX + 1, MEMD_OP_ALLOC_BATCH, 0, 0},
	        {"len 0xffffffff", UINT32_MAX, MEMD_OP_ALLOC_BATCH, 0, 0},
	        {"len 8 (below a header)", 8, MEMD_OP_ALLOC_BATCH, 0, 0},
	        {"len 0", 0, MEMD_OP_ALLOC_BATCH, 0, 0},
	        {"flags 1", LEN_RIGHT, MEMD_OP_ALLOC_BATCH, 1, 0},
	        {"op HELLO", LEN_RIGHT, MEMD_OP_HELLO, 0, 0},
	        {"op POOL", LEN_RIGHT, MEMD_OP_POOL, 0, 0},
	        {"op SIZE", LEN_RIGHT, MEMD_OP_SIZE, 0, 0},
	        {"op MAP", LEN_RIGHT, MEMD_OP_MAP, 0, 0},
	        {"op SHARE", LEN_RIGHT, MEMD_OP_SHARE, 0, 0},
	        {"op CACHE_PAGE", LEN_RIGHT, MEMD_OP_CACHE_PAGE, 0, 0},
	        {"op RING", LEN_RIGHT, MEMD_OP_RING, 0, 0},
	        {"op RING_KICK", MEMD_HDR_SIZE, MEMD_OP_RING_KICK, 0, 0},
	        {"op STATS_STATUS", LEN_RIGHT, MEMD_OP_STATS_STATUS, 0, 0},
	        {"op STATS_TRIM", LEN_RIGHT, MEMD_OP_STATS_TRIM, 0, 0},
	        {"a reply opcode", LEN_RIGHT, MEMD_OP_ALLOC_BATCH | MEMD_OP_REPLY, 0, 0},
	        {"op 0", LEN_RIGHT, 0, 0, 0},
	        {"an unknown opcode", LEN_RIGHT, 999, 0, 0},
	};
	int fd;

	memd_start(&H, NULL);
	bystander_check("at the start");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		bad_case_run(&cases[i], (int)i);
	/* Every block the closed connections leased went back. */
	fd = raw_ready();
	cr_expect_eq(wait_blocks(fd, 0), 0, "blocks left after the closes");
	close(fd);
	memd_stop_clean(&H, SIGTERM);
}

Test(ring, a_sound_frame_with_a_bad_body_gets_einval_and_the_connection_stays, .fini = harness_fini)
{
	struct memd_alloc_batch_req zero, pad, flags;
	struct memd_alloc_req areq;
	struct memd_free_batch_req fshort = {.count = 2};
	unsigned char fbody[sizeof(fshort) + 8] = {0};
	struct memd_hdr h;
	struct rconn r;
	size_t blen = 0;

	memd_start(&H, NULL);
	rconn_open(&r);
	zero = (struct memd_alloc_batch_req){.pool_id = r.pool_id, .size = BLOCK_SIZE};
	pad = zero;
	pad.count = 1;
	pad.pad = 1;
	flags = pad;
	flags.pad = 0;
	flags.flags = 0x80;
	memcpy(fbody, &fshort, sizeof(fshort)); /* count 2, one ref */

	ring_put(&r, MEMD_OP_ALLOC_BATCH, 1, &zero, sizeof(zero));
	ring_put(&r, MEMD_OP_ALLOC_BATCH, 2, &pad, sizeof(pad));
	ring_put(&r, MEMD_OP_ALLOC_BATCH, 3, &flags, sizeof(flags));
	ring_put(&r, MEMD_OP_ALLOC_BATCH, 4, &pad, 8); /* short body */
	ring_put(&r, MEMD_OP_FREE_BATCH, 5, fbody, sizeof(fbody));
	ring_put(&r, MEMD_OP_FREE_BATCH, 6, NULL, 0); /* no body */
	ring_put_alloc(&r, 7, 2);                     /* and a good one */
	send_kick(r.fd);
	for (uint32_t id = 1; id <= 4; id++) {
		h = ring_recv(&r, MEMD_OP_ALLOC_BATCH, id, &blen, "bad ALLOC_BATCH body");
		cr_expect_eq(h.status, -EINVAL, "id %u: status %d", id, h.status);
		cr_expect_eq(blen, 0, "id %u: error reply with a body", id);
	}
	for (uint32_t id = 5; id <= 6; id++) {
		h = ring_recv(&r, MEMD_OP_FREE_BATCH, id, &blen, "bad FREE_BATCH body");
		cr_expect_eq(h.status, -EINVAL, "id %u: status %d", id, h.status);
		cr_expect_eq(blen, 0, "id %u: error reply with a body", id);
	}
	expect_alloc_reply(&r, 7, 2, NULL, "the good frame after the bad ones");

	/* ALLOC and FREE with bad bodies: the same. */
	areq = (struct memd_alloc_req){.pool_id = r.pool_id, .size = 0};
	ring_put(&r, MEMD_OP_ALLOC, 8, &areq, sizeof(areq)); /* size 0 */
	areq.size = 100;
	areq.align = 3;
	ring_put(&r, MEMD_OP_ALLOC, 9, &areq, sizeof(areq)); /* not a power of two */
	ring_put(&r, MEMD_OP_ALLOC, 10, &areq, 8);           /* short body */
	ring_put(&r, MEMD_OP_FREE, 11, &areq, 4);            /* short body */
	ring_put(&r, MEMD_OP_FREE, 12, NULL, 0);             /* no body */
	send_kick(r.fd);
	for (uint32_t id = 8; id <= 12; id++) {
		uint16_t op = id <= 10 ? MEMD_OP_ALLOC : MEMD_OP_FREE;

		h = ring_recv(&r, op, id, &blen, "bad ALLOC or FREE body");
		cr_expect_eq(h.status, -EINVAL, "id %u: status %d", id, h.status);
		cr_expect_eq(blen, 0, "id %u: error reply with a body", id);
	}
	cr_expect_eq(live_blocks(r.fd), 2, "the connection is still usable");
	expect_quiet(r.fd, QUIET_MS, "ring replies on the socket");
	cr_expect_eq(file_count(H.log, "request ring:"), 0,
	             "a bad body was treated as a protocol error");
	rconn_close(&r);
	bystander_check("after bad bodies");
	memd_stop_clean(&H, SIGTERM);
}

/* ---- clients that go ------------------------------------------------ */

/* The child of a_client_that_dies_with_frames_in_its_ring...: lease
 * through the ring, publish more without a kick, tell the parent, wait to
 * be killed.  Exit codes say what failed. */
static int dying_client(void *arg)
{
	int tell = *(int *)arg;
	struct memd_alloc_batch_req areq = {.size = BLOCK_SIZE, .count = 50};
	struct memd_pool_req preq = {.name = "default"};
	struct memd_ring_req rreq = {0};
	struct memd_pool_rep prep;
	struct memd_ring_ctl *ctl;
	struct memd_hdr h;
	size_t blen = 0;
	int fd, rfd = -1;

	fd = raw_connect(H.sock);
	if (fd < 0 || raw_hello(fd, MEMD_PROTO_VERSION, &h, NULL) != RAW_FRAME || h.status != 0)
		return 10;
	if (raw_send_frame(fd, MEMD_OP_POOL, 1, &preq, sizeof(preq)) != 0 ||
	    raw_recv_frame(fd, &h, &prep, sizeof(prep), &blen, REPLY_MS) != RAW_FRAME ||
	    h.status != 0)
		return 11;
	areq.pool_id = prep.pool_id;
	if (raw_send_frame(fd, MEMD_OP_RING, 2, &rreq, sizeof(rreq)) != 0 ||
	    raw_recv_frame_fd(fd, &h, NULL, 0, &blen, &rfd, REPLY_MS) != RAW_FRAME ||
	    h.status != 0 || rfd < 0)
		return 12;
	ctl = mmap(NULL, MEMD_RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, 0);
	if (ctl == MAP_FAILED)
		return 13;
	for (uint32_t i = 0; i < 6; i++) {
		int64_t end = now_ms() + REPLY_MS;

		struct memd_hdr fh = {.len = MEMD_HDR_SIZE + sizeof(areq),
		                      .op = MEMD_OP_ALLOC_BATCH,
		                      .id = 10 + i};
		unsigned char *slot = MEMD_RING_SLOT(ctl, i);

		memcpy(slot, &fh, sizeof(fh));
		memcpy(slot + MEMD_HDR_SIZE, &areq, sizeof(areq));
		__atomic_store_n(&ctl->tail, i + 1, __ATOMIC_RELEASE);
		if (i > 0)
			continue; /* the rest: no kick, no reply read */
		if (raw_send_frame(fd, MEMD_OP_RING_KICK, 0, NULL, 0) != 0)
			return 14;
		while (__atomic_load_n(&ctl->head, __ATOMIC_ACQUIRE) == 0 && now_ms() < end)
			usleep(100);
		memcpy(&h, slot, sizeof(h)); /* the reply, in the frame's slot */
		if (__atomic_load_n(&ctl->head, __ATOMIC_ACQUIRE) != 1 || h.id != 10 ||
		    h.op != (MEMD_OP_ALLOC_BATCH | MEMD_OP_REPLY) || h.status != 0)
			return 16;
	}
	if (write(tell, "x", 1) != 1)
		return 15;
	for (;;)
		pause();
}

Test(ring, a_client_that_dies_with_frames_in_its_ring_leaves_nothing, .fini = harness_fini)
{
	struct pollfd pfd;
	char byte;
	int p[2], fd, st;
	pid_t kid;

	memd_start(&H, CONFIG_ASLEEP);
	fd = raw_ready();
	cr_assert_eq(pipe(p), 0);
	kid = child_fork(dying_client, &p[1]);
	pfd = (struct pollfd){.fd = p[0], .events = POLLIN};
	if (poll(&pfd, 1, REPLY_MS) != 1) {
		char why[64];

		cr_assert_fail("the child did not get its lease (%s)",
		               child_status_str(child_wait(kid, 1), why, sizeof(why)));
	}
	cr_assert_eq(read(p[0], &byte, 1), 1);
	cr_assert_geq(live_blocks(fd), 50, "the child's lease is not held");
	cr_expect_eq(proc_maps_count(H.pid, "memd-ring"), 1, "memd maps %d rings",
	             proc_maps_count(H.pid, "memd-ring"));

	st = child_kill(kid);
	cr_expect_eq(st, 1000 + SIGKILL, "child: %d", st);
	cr_expect_eq(wait_blocks(fd, 0), 0, "blocks still held after the client died");
	for (int64_t end = now_ms() + WAIT_MS;
	     proc_maps_count(H.pid, "memd-ring") != 0 && now_ms() < end;)
		sleep_ms(20);
	cr_expect_eq(proc_maps_count(H.pid, "memd-ring"), 0,
	             "memd still maps the dead client's ring");
	close(p[0]);
	close(p[1]);
	bystander_check("after the client died");
	close(fd);
	memd_stop_clean(&H, SIGTERM);
}

Test(ring, frames_published_before_a_half_close_still_run, .fini = harness_fini)
{
	int frames = 0, ok = 0;
	struct rconn r;

	memd_start(&H, CONFIG_ASLEEP);
	rconn_open(&r);
	wait_sleeping(&r, 1, "memd idle");
	ring_put_alloc(&r, 5, 3);
	ring_put_alloc(&r, 6, 1);
	cr_assert_eq(shutdown(r.fd, SHUT_WR), 0); /* EOF, and no kick */
	expect_alloc_reply(&r, 5, 3, NULL, "published before EOF");
	expect_alloc_reply(&r, 6, 1, NULL, "published before EOF");
	cr_expect_eq(raw_drain_until_closed(r.fd, REPLY_MS, &frames, &ok), 0);
	cr_expect_eq(frames, 0);
	rconn_close(&r);
	memd_stop_clean(&H, SIGTERM);
}

/* ---- a client that never reads ------------------------------------ */

#define DEAF_REFS   MEMD_RING_BATCH_MAX /* refs per FREE_BATCH: the largest in a slot */
#define DEAF_FRAMES 3000u               /* frames the deaf client publishes */

/* The reply to the deaf client's frame id, if it is still in its slot
 * (the client writes slots again without reading them). */
static void deaf_reply(struct rconn *r, uint32_t id)
{
	size_t blen = 0;
	struct memd_hdr h = ring_recv(r, MEMD_OP_FREE_BATCH, id, &blen, "deaf client");

	cr_assert_eq(h.status, -EINVAL, "id %u: status %d", id, h.status);
	cr_assert_eq(blen, sizeof(struct memd_free_batch_rep) + ((DEAF_REFS + 1) & ~1u) * 4,
	             "id %u: %zu-byte body", id, blen);
}

/* A ring client that publishes frames as fast as slots come free and
 * never reads a reply: memd answers into the slots, so nothing queues
 * for it; memd keeps serving it and everyone else, and stays small. */
Test(ring, a_client_that_never_reads_its_replies_costs_memd_nothing, .fini = harness_fini)
{
	static uint64_t refs[DEAF_REFS];
	struct rconn r;
	long rss0, rss1;
	int64_t start = now_ms();
	int other;

	for (size_t i = 0; i < DEAF_REFS; i++)
		refs[i] = 1; /* never a block: each reply is DEAF_REFS results of -EINVAL */
	memd_start(&H, NULL);
	rconn_open(&r);
	other = raw_ready();
	bystander_check("before");
	rss0 = proc_status_kb(H.pid, "VmRSS");

	while (r.tail < DEAF_FRAMES) {
		uint32_t head = ring_head(&r);

		cr_assert_leq(r.tail - head, MEMD_RING_SLOTS, "head %u passed tail %u", head,
		              r.tail);
		if (r.tail - head < MEMD_RING_SLOTS) {
			ring_put_free(&r, r.tail, refs, DEAF_REFS);
			if (ring_memd_asleep(&r))
				send_kick(r.fd);
			if (r.tail % 500 == 0)
				(void)live_blocks(other); /* another client, served meanwhile */
		} else {
			usleep(100);
		}
		cr_assert_lt(now_ms() - start, FEED_MS,
		             "memd stopped taking frames at %u (head %u)", r.tail, head);
	}
	for (int64_t end = now_ms() + REPLY_MS; ring_head(&r) != r.tail && now_ms() < end;)
		usleep(100);
	cr_expect_eq(ring_head(&r), r.tail, "frames left in the ring");
	rss1 = proc_status_kb(H.pid, "VmRSS");
	cr_log_info("deaf ring client: %u frames; memd RSS %ld -> %ld kB", r.tail, rss0, rss1);
	cr_assert_lt(rss1 - rss0, RSS_GROWTH_KB, "memd grew by %ld kB for one deaf client",
	             rss1 - rss0);
	bystander_check("while a ring client does not read");

	/* The last ring's worth of replies is still in the slots. */
	r.answered = r.tail - MEMD_RING_SLOTS;
	while (r.answered != r.tail)
		deaf_reply(&r, r.answered);
	expect_quiet(r.fd, QUIET_MS, "ring replies on the socket");
	rconn_close(&r);
	close(other);
	memd_stop_clean(&H, SIGTERM);
}
