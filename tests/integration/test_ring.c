/*
 * test_ring.c - the request ring (RING, RING_KICK; proto.h "The request
 * ring") against the real memd, spoken by hand: a raw socket, and the
 * ring's memfd mapped here and written slot by slot.
 *
 * What proto.h promises and these tests check:
 *  - RING answers with a memfd of MEMD_RING_SIZE bytes that reads as
 *    zeros, is writable, and can neither be resized nor have its seals
 *    changed; a second RING is -EEXIST and changes nothing;
 *  - a frame published in the ring is run as if it had come on the
 *    socket: its reply, with its id, is written into its slot and head
 *    passes it, and nothing comes on the socket; ALLOC and FREE come
 *    through too; an ALLOC_BATCH whose reply would not fit its slot is
 *    -EINVAL; RING_KICK is never answered, not even before HELLO (the
 *    next frame on the socket is the reply to the next request), and one
 *    with a body is -EINVAL;
 *  - order: frames published before a socket frame run before it, and
 *    their replies are in their slots before the socket frame's comes;
 *  - waking the client: one that sleeps on head (FUTEX_WAIT, waiting =
 *    1) is woken by the reply;
 *  - waking: with busy_poll_us = 0 memd sleeps with sleeping = 1 and a
 *    frame published without a kick waits, a kick runs it, and a client
 *    that kicks whenever it reads sleeping = 1 never waits for a reply;
 *    while memd polls (busy_poll_us = 10000) a frame needs no kick, is
 *    run at once, keeps memd polling, and sleeping reads 0.
 *
 * Malformed rings and clients that go away are test_ring_bad.c's.  The
 * client's side of the protocol is ring_util.c's, written from proto.h
 * alone.  Every test ends with memd_stop_clean().
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
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
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "proto.h"
#include "rawconn.h"
#include "ring_util.h"

/* ---- tests ---------------------------------------------------------- */

Test(ring, reply_carries_a_sealed_zeroed_memfd_and_a_second_ring_is_eexist, .fini = harness_fini)
{
	static const unsigned char zeros[MEMD_RING_SIZE];
	struct memd_ring_req req = {0}, bad = {.flags = 1};
	struct ring_reply r, again;
	struct rconn rc;
	struct stat st;
	int seals;

	memd_start(&H, NULL);
	rc.fd = raw_ready();
	rc.pool_id = pool_default(rc.fd);
	r = ring_request(rc.fd, 7, &req, sizeof(req));
	cr_assert_eq(r.h.status, 0, "RING: status %d", r.h.status);
	cr_assert_geq(r.fd, 0, "no fd came with the RING reply");
	cr_assert_eq(r.blen, sizeof(r.rep), "RING reply body of %zu bytes", r.blen);
	cr_expect_eq(r.rep.size, MEMD_RING_SIZE, "size %llu", (unsigned long long)r.rep.size);
	cr_expect_eq(r.rep.slots, MEMD_RING_SLOTS, "slots %u", r.rep.slots);
	cr_expect_eq(r.rep.slot_size, MEMD_RING_SLOT_SIZE, "slot_size %u", r.rep.slot_size);

	cr_assert_eq(fstat(r.fd, &st), 0);
	cr_expect_eq((uint64_t)st.st_size, MEMD_RING_SIZE, "fd size %lld", (long long)st.st_size);
	seals = fcntl(r.fd, F_GET_SEALS);
	cr_assert_geq(seals, 0, "F_GET_SEALS: %s (not a sealable memfd?)", strerror(errno));
	cr_expect_eq(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
	             F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, "seals %#x", seals);
	cr_expect_eq(seals & F_SEAL_WRITE, 0, "the ring must stay writable");
	errno = 0;
	cr_expect_eq(ftruncate(r.fd, 0), -1, "the ring could be shrunk");
	cr_expect_eq(errno, EPERM, "ftruncate to 0: %s", strerror(errno));
	errno = 0;
	cr_expect_eq(ftruncate(r.fd, 2 * (off_t)MEMD_RING_SIZE), -1, "the ring could be grown");
	cr_expect_eq(errno, EPERM, "ftruncate up: %s", strerror(errno));
	errno = 0;
	cr_expect_eq(fcntl(r.fd, F_ADD_SEALS, F_SEAL_WRITE), -1, "a client could add seals");
	cr_expect_eq(errno, EPERM, "F_ADD_SEALS: %s", strerror(errno));

	rc.ctl = ring_map(r.fd);
	close(r.fd);
	/* All zeros, but sleeping: memd may have gone to sleep already. */
	cr_expect_leq(rc.ctl->sleeping, 1, "sleeping %u", rc.ctl->sleeping);
	cr_expect_eq(memcmp(rc.ctl, zeros, offsetof(struct memd_ring_ctl, sleeping)), 0,
	             "a fresh ring's tail or head is not 0");
	cr_expect_eq(memcmp((char *)rc.ctl + offsetof(struct memd_ring_ctl, pad1), zeros,
	                    MEMD_RING_SIZE - offsetof(struct memd_ring_ctl, pad1)),
	             0, "a fresh ring is not all zeros");
	rc.tail = 0;
	rc.answered = 0;

	/* A second RING, well-formed or not, gets no ring and no fd. */
	again = ring_request(rc.fd, 8, &req, sizeof(req));
	cr_expect_eq(again.h.status, -EEXIST, "second RING: status %d", again.h.status);
	cr_expect_eq(again.blen, 0, "second RING: a body of %zu bytes", again.blen);
	cr_expect_eq(again.fd, -1, "second RING: an fd came");
	if (again.fd >= 0)
		close(again.fd);
	again = ring_request(rc.fd, 9, &bad, sizeof(bad));
	cr_expect_eq(again.h.status, -EINVAL, "RING with flags 1: status %d", again.h.status);
	cr_expect_eq(again.fd, -1, "refused RING: an fd came");
	if (again.fd >= 0)
		close(again.fd);
	cr_expect_eq(proc_maps_count(H.pid, "memd-ring"), 1, "memd maps %d rings, want 1",
	             proc_maps_count(H.pid, "memd-ring"));

	/* The connection, and its first ring, still work. */
	ring_put_alloc(&rc, 10, 3);
	send_kick(rc.fd);
	expect_alloc_reply(&rc, 10, 3, NULL, "through the first ring");
	cr_expect_eq(live_blocks(rc.fd), 3);
	rconn_close(&rc);
	memd_stop_clean(&H, SIGTERM);
}

Test(ring, a_frame_is_answered_in_its_slot_and_a_kick_never_is, .fini = harness_fini)
{
	uint64_t refs[8];
	int32_t results[8];
	struct memd_free_batch_rep frep;
	struct memd_ref_req sreq;
	struct memd_hdr h;
	struct rconn r;
	size_t blen = 0;
	uint64_t junk = 0;
	int fd;

	memd_start(&H, CONFIG_ASLEEP);
	rconn_open(&r);
	ring_put_alloc(&r, 10, 8);
	send_kick(r.fd);
	expect_alloc_reply(&r, 10, 8, refs, "ring ALLOC_BATCH");
	cr_expect_eq(ring_head(&r), 1, "head %u after one frame", ring_head(&r));
	expect_quiet(r.fd, QUIET_MS, "a ring frame's reply on the socket");
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < i; j++)
			cr_assert_neq(refs[i], refs[j], "refs %d and %d are the same", i, j);

	/* Kicks, with nothing in the ring: no frame in answer. */
	send_kick(r.fd);
	send_kick(r.fd);
	send_kick(r.fd);
	sreq.ref = refs[0];
	h = call(r.fd, MEMD_OP_SIZE, 11, &sreq, sizeof(sreq), &blen);
	cr_expect_eq(h.status, 0, "SIZE of a block leased through the ring: %d", h.status);
	expect_quiet(r.fd, QUIET_MS, "after kicks and a SIZE");

	/* A kick with a body is not a kick: -EINVAL, like any bad body. */
	cr_assert_eq(raw_send_frame(r.fd, MEMD_OP_RING_KICK, 12, &junk, sizeof(junk)), 0);
	h = recv_reply(r.fd, MEMD_OP_RING_KICK, 12, &blen, "RING_KICK with a body");
	cr_expect_eq(h.status, -EINVAL, "RING_KICK with a body: status %d", h.status);
	cr_expect_eq(blen, 0);

	/* The blocks go back through the ring too. */
	ring_put_free(&r, 13, refs, 8);
	send_kick(r.fd);
	h = ring_recv(&r, MEMD_OP_FREE_BATCH, 13, &blen, "ring FREE_BATCH");
	cr_expect_eq(h.status, 0, "FREE_BATCH: status %d", h.status);
	cr_assert_eq(blen, sizeof(frep) + sizeof(results));
	memcpy(&frep, rx, sizeof(frep));
	memcpy(results, rx + sizeof(frep), sizeof(results));
	cr_expect_eq(frep.count, 8);
	for (int i = 0; i < 8; i++)
		cr_expect_eq(results[i], 0, "FREE_BATCH result %d: %d", i, results[i]);
	cr_expect_eq(live_blocks(r.fd), 0, "blocks left after the ring's FREE_BATCH");
	expect_quiet(r.fd, QUIET_MS, "at the end");
	rconn_close(&r);

	/* Not even before HELLO: the kick is ignored, HELLO's is the first reply. */
	fd = raw_connect(H.sock);
	cr_assert_geq(fd, 0);
	send_kick(fd);
	cr_assert_eq(raw_hello(fd, MEMD_PROTO_VERSION, &h, NULL), RAW_FRAME);
	cr_expect_eq(h.op, MEMD_OP_HELLO | MEMD_OP_REPLY, "first reply: op %#x", h.op);
	cr_expect_eq(h.status, 0, "HELLO after a kick: %d", h.status);
	close(fd);
	memd_stop_clean(&H, SIGTERM);
}

Test(ring, frames_published_before_a_socket_frame_run_before_it, .fini = harness_fini)
{
	struct memd_stats_req sreq = {0};
	struct memd_stats_status st;
	struct memd_hdr h;
	struct rconn r;
	size_t blen = 0;

	/* memd asleep: only the socket frame wakes it, so the ring's frames
	 * run because memd looks at the ring before it runs a socket frame. */
	memd_start(&H, CONFIG_ASLEEP);
	rconn_open(&r);
	for (int round = 0; round < 3; round++) {
		uint32_t id = 100 * (uint32_t)(round + 1);

		wait_sleeping(&r, 1, "before publishing");
		ring_put_alloc(&r, id, 4);
		ring_put_alloc(&r, id + 1, 2);
		/* No kick: a socket request right away. */
		cr_assert_eq(
		        raw_send_frame(r.fd, MEMD_OP_STATS_STATUS, id + 2, &sreq, sizeof(sreq)), 0);
		h = recv_reply(r.fd, MEMD_OP_STATS_STATUS, id + 2, &blen, "the socket frame");
		cr_assert_eq(h.status, 0);
		cr_expect_eq(ring_head(&r) - r.answered, 2,
		             "round %d: %u ring replies in place when the socket's came, want 2",
		             round, ring_head(&r) - r.answered);
		memcpy(&st, rx, sizeof(st));
		expect_alloc_reply(&r, id, 4, NULL, "first ring frame");
		expect_alloc_reply(&r, id + 1, 2, NULL, "second ring frame");
		cr_expect_eq(
		        st.blocks, 6u * (uint64_t)(round + 1),
		        "round %d: STATS_STATUS saw %llu blocks: the ring's frames had not run",
		        round, (unsigned long long)st.blocks);
	}
	rconn_close(&r);
	memd_stop_clean(&H, SIGTERM);
}

Test(ring, alloc_and_free_come_through_the_ring_too, .fini = harness_fini)
{
	struct memd_alloc_req areq = {.size = 100000};
	struct memd_alloc_rep arep;
	struct memd_ref_req freq;
	struct memd_hdr h;
	struct rconn r;
	size_t blen = 0;

	memd_start(&H, CONFIG_ASLEEP);
	rconn_open(&r);
	areq.pool_id = r.pool_id;
	ring_put(&r, MEMD_OP_ALLOC, 1, &areq, sizeof(areq));
	send_kick(r.fd);
	h = ring_recv(&r, MEMD_OP_ALLOC, 1, &blen, "ring ALLOC");
	cr_assert_eq(h.status, 0, "ALLOC: status %d", h.status);
	cr_assert_eq(blen, sizeof(arep));
	memcpy(&arep, rx, sizeof(arep));
	cr_expect_geq(arep.size, areq.size, "a block of %llu bytes", (unsigned long long)arep.size);
	cr_expect_eq(live_blocks(r.fd), 1);

	/* Freed twice: the second is -EINVAL, answered in its slot too. */
	freq.ref = arep.ref;
	ring_put(&r, MEMD_OP_FREE, 2, &freq, sizeof(freq));
	ring_put(&r, MEMD_OP_FREE, 3, &freq, sizeof(freq));
	send_kick(r.fd);
	h = ring_recv(&r, MEMD_OP_FREE, 2, &blen, "ring FREE");
	cr_expect_eq(h.status, 0, "FREE: status %d", h.status);
	cr_expect_eq(blen, 0);
	h = ring_recv(&r, MEMD_OP_FREE, 3, &blen, "ring FREE again");
	cr_expect_eq(h.status, -EINVAL, "second FREE: status %d", h.status);
	cr_expect_eq(live_blocks(r.fd), 0);
	expect_quiet(r.fd, QUIET_MS, "ring replies on the socket");
	rconn_close(&r);
	memd_stop_clean(&H, SIGTERM);
}

/* A reply of MEMD_RING_ALLOC_MAX refs is the most a slot holds: one more
 * is refused before it runs, so no block is handed out for it. */
Test(ring, an_alloc_batch_whose_reply_would_not_fit_its_slot_is_einval, .fini = harness_fini)
{
	struct memd_alloc_batch_req req = {.size = BLOCK_SIZE, .count = MEMD_RING_ALLOC_MAX + 1};
	struct memd_hdr h;
	struct rconn r;
	size_t blen = 0;

	memd_start(&H, CONFIG_ASLEEP);
	rconn_open(&r);
	req.pool_id = r.pool_id;
	ring_put(&r, MEMD_OP_ALLOC_BATCH, 1, &req, sizeof(req));
	req.count = UINT32_MAX;
	ring_put(&r, MEMD_OP_ALLOC_BATCH, 2, &req, sizeof(req));
	ring_put_alloc(&r, 3, MEMD_RING_ALLOC_MAX);
	send_kick(r.fd);
	for (uint32_t id = 1; id <= 2; id++) {
		h = ring_recv(&r, MEMD_OP_ALLOC_BATCH, id, &blen, "too many for a slot");
		cr_expect_eq(h.status, -EINVAL, "id %u: status %d", id, h.status);
		cr_expect_eq(blen, 0);
	}
	expect_alloc_reply(&r, 3, MEMD_RING_ALLOC_MAX, NULL, "as many as a slot holds");
	cr_expect_eq(live_blocks(r.fd), MEMD_RING_ALLOC_MAX);
	rconn_close(&r);
	memd_stop_clean(&H, SIGTERM);
}

/* The kick a thread sends while the test sleeps on head. */
static void *kick_later(void *arg)
{
	sleep_ms(50);
	send_kick(*(int *)arg);
	return NULL;
}

/* proto.h's client wake-up: a client that stored waiting = 1 and sleeps
 * on head with FUTEX_WAIT is woken by the reply (FUTEX_WAKE), not left to
 * its timeout.  memd sleeps and the kick comes 50 ms after the wait
 * began, so the wait has begun before the reply is written. */
Test(ring, a_client_sleeping_on_head_is_woken_by_the_reply, .fini = harness_fini)
{
	const struct timespec five_s = {.tv_sec = 5};
	struct rconn r;
	pthread_t t;

	memd_start(&H, CONFIG_ASLEEP);
	rconn_open(&r);
	for (uint32_t id = 1; id <= 5; id++) {
		int64_t t0;
		long rc;

		wait_sleeping(&r, 1, "memd idle");
		ring_put_alloc(&r, id, 1);
		__atomic_store_n(&r.ctl->waiting, 1, __ATOMIC_RELAXED);
		atomic_thread_fence(memory_order_seq_cst);
		cr_assert_eq(ring_head(&r), id - 1, "memd ran the frame without a kick");
		cr_assert_eq(pthread_create(&t, NULL, kick_later, &r.fd), 0);
		t0 = now_ms();
		do
			rc = syscall(SYS_futex, &r.ctl->head, FUTEX_WAIT, id - 1, &five_s, NULL, 0);
		while (rc < 0 && errno == EINTR);
		cr_assert_eq(pthread_join(t, NULL), 0);
		cr_assert(rc == 0 || errno == EAGAIN, "FUTEX_WAIT: %s", strerror(errno));
		cr_assert_lt(now_ms() - t0, 2500, "woken after %lld ms: by the timeout?",
		             (long long)(now_ms() - t0));
		__atomic_store_n(&r.ctl->waiting, 0, __ATOMIC_RELAXED);
		expect_alloc_reply(&r, id, 1, NULL, "after the wake-up");
	}
	rconn_close(&r);
	memd_stop_clean(&H, SIGTERM);
}

Test(ring, a_sleeping_memd_runs_a_frame_on_a_kick_and_not_before, .fini = harness_fini)
{
	struct rconn r;

	memd_start(&H, CONFIG_ASLEEP);
	rconn_open(&r);
	wait_sleeping(&r, 1, "memd idle with busy_poll_us = 0");
	ring_put_alloc(&r, 20, 5);
	expect_quiet(r.fd, QUIET_MS, "a frame published without a kick");
	cr_expect_eq(ring_head(&r), 0, "memd took the frame without being woken");
	cr_expect(ring_memd_asleep(&r), "sleeping went to 0 while memd slept");
	send_kick(r.fd);
	expect_alloc_reply(&r, 20, 5, NULL, "after the kick");
	cr_expect_eq(ring_head(&r), 1);
	wait_sleeping(&r, 1, "memd back to sleep");
	rconn_close(&r);
	memd_stop_clean(&H, SIGTERM);
}

/* Busy-wait us microseconds (usleep would round up to a wake-up). */
static void spin_us(unsigned us)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < (long)us * 1000L);
}

/* A client that kicks exactly when it reads sleeping = 1 must never wait
 * for a reply, however its frames fall against memd going to sleep. */
Test(ring, a_client_that_kicks_when_memd_sleeps_never_waits, .fini = harness_fini)
{
	enum { ROUNDS = 4000 };
	uint64_t bogus[1] = {1};
	struct rconn r;
	uint32_t id = 0, got = 0, kicks = 0;
	unsigned seed = 12345;

	memd_start(&H, CONFIG_ASLEEP);
	rconn_open(&r);
	for (int round = 0; round < ROUNDS; round++) {
		uint32_t burst = 1 + (seed >> 16) % MEMD_RING_SLOTS;

		seed = seed * 1103515245u + 12345u;
		for (uint32_t i = 0; i < burst; i++) {
			ring_put_free(&r, id++, bogus, 1); /* answered -EINVAL: no state */
			if (ring_memd_asleep(&r)) {
				send_kick(r.fd);
				kicks++;
			}
			spin_us((seed >> 12) % 80); /* land anywhere in memd's cycle */
			seed = seed * 1103515245u + 12345u;
		}
		while (got < id) {
			struct memd_hdr h;
			size_t blen = 0;

			cr_assert(ring_answered_within(&r, 2000),
			          "round %d: reply %u of %u never came (head %u): a lost wake-up",
			          round, got, id, ring_head(&r));
			h = ring_recv(&r, MEMD_OP_FREE_BATCH, got, &blen, "burst");
			cr_assert_eq(h.status, -EINVAL, "FREE_BATCH of a bogus ref: %d", h.status);
			got++;
		}
	}
	cr_log_info("%u frames, %u kicks", id, kicks);
	cr_expect_gt(kicks, 0, "memd never slept?");
	expect_quiet(r.fd, QUIET_MS, "after the last reply (kicks are never answered)");
	rconn_close(&r);
	memd_stop_clean(&H, SIGTERM);
}

/* While memd polls (busy_poll_us = 10000 after a request), frames in the
 * ring need no kick: memd looks at the ring after every poll, at once
 * (not only when it stops polling), and each frame it finds keeps it
 * polling, like a request on the socket.  A chain: one socket request,
 * then ring frames only, CHAIN_GAP_MS apart, never a kick.  The bounds
 * are far from what a loaded machine blurs: one frame of all must be
 * answered within FAST_MS (a memd that waits for its window to close
 * answers after ~10 ms), and one chain must outlast LONG_MS (a memd whose
 * window only requests on the socket open stops polling 10 ms after the
 * chain's request, and then the frame waits for a kick).  And while memd
 * polls, sleeping reads 0 (memd clears it after each poll). */
#define CHAINS       10
#define CHAIN_FRAMES 12
#define CHAIN_GAP_MS 3
#define FAST_MS      4
#define LONG_MS      25

Test(ring, while_memd_polls_frames_need_no_kick, .fini = harness_fini)
{
	int fast = 0, late = 0, frames = 0, awake = 0;
	int64_t longest = 0;
	struct rconn r;
	uint32_t id = 1000;

	memd_start(&H, CONFIG_POLLING);
	rconn_open(&r);
	for (int chain = 0; chain < CHAINS && (fast == 0 || longest < LONG_MS); chain++) {
		int64_t begin;

		wait_sleeping(&r, 1, "memd idle"); /* 10 ms after the last request */
		(void)live_blocks(r.fd);           /* a request: memd polls for 10 ms now */
		begin = now_ms();
		for (int k = 0; k < CHAIN_FRAMES; k++, id++) {
			struct memd_hdr h;
			size_t blen = 0;
			int64_t t0 = now_ms();

			ring_put_alloc(&r, id, 1); /* never a kick here, whatever sleeping says */
			if (ring_answered_within(&r, 500)) {
				h = ring_recv(&r, MEMD_OP_ALLOC_BATCH, id, &blen, "chain");
				cr_assert_eq(h.status, 0, "ALLOC_BATCH: %d", h.status);
				fast += now_ms() - t0 <= FAST_MS;
				awake += !ring_memd_asleep(&r); /* polling: it says so */
				frames++;
				if (now_ms() - begin > longest)
					longest = now_ms() - begin;
				sleep_ms(CHAIN_GAP_MS);
				continue;
			}
			/* memd stopped polling before it saw the frame (this
			 * process was late, or memd is broken): it must say so. */
			cr_assert(ring_memd_asleep(&r),
			          "no reply, and memd does not say it sleeps");
			late++;
			send_kick(r.fd);
			expect_alloc_reply(&r, id++, 1, NULL, "kicked after all");
			break;
		}
	}
	cr_log_info("%d frames without a kick, %d fast, %d with sleeping = 0; longest chain %lld "
	            "ms; %d kicked",
	            frames, fast, awake, (long long)longest, late);
	cr_expect_gt(fast, 0, "no frame was run while memd polled: only when it stopped");
	cr_expect_gt(awake, 0, "sleeping never read 0 while memd polled");
	cr_expect_geq(longest, LONG_MS,
	              "frames in the ring did not keep memd polling (longest chain %lld ms)",
	              (long long)longest);
	rconn_close(&r);
	memd_stop_clean(&H, SIGTERM);
}
