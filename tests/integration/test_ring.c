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
 *    socket: its reply comes on the socket with its id; RING_KICK is
 *    never answered, not even before HELLO (the next frame on the socket
 *    is the reply to the next request), and one with a body is -EINVAL;
 *  - order: frames published before a socket frame run before it;
 *  - waking: with busy_poll_us = 0 memd sleeps with sleeping = 1 and a
 *    frame published without a kick waits, a kick runs it, and a client
 *    that kicks whenever it reads sleeping = 1 never waits for a reply;
 *    while memd polls (busy_poll_us = 10000) a frame needs no kick, is
 *    run at once, keeps memd polling, and sleeping reads 0;
 *  - malformed rings (tail too far ahead, a bad header, a frame longer
 *    than a slot, any opcode but ALLOC_BATCH and FREE_BATCH) close that
 *    connection after the replies already due; a sound frame with a bad
 *    body gets -EINVAL like on the socket and the connection stays; a
 *    bystander is served throughout;
 *  - a client that dies with frames in its ring loses every block, and
 *    memd keeps no mapping of the ring; frames published before a
 *    half-close still run;
 *  - a client that feeds the ring and never reads its replies is
 *    throttled: memd stops taking frames, its memory stays bounded, and
 *    every reply arrives, in order, once the client reads.
 *
 * The client's side of the protocol is written here from proto.h alone
 * (publish: release store of tail; then a full fence and a read of
 * sleeping), not with libmemclient, so these tests do not share a bug
 * with the client.  Every test ends with memd_stop_clean().
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

#define REPLY_MS      5000            /* how long memd has to answer (or close) */
#define QUIET_MS      200             /* "not answered": nothing arrives for this long */
#define WAIT_MS       5000            /* how long memd has to tidy up after a client */
#define STALL_MS      300             /* the ring full and head still this long: memd stopped */
#define FEED_MS       20000           /* a deaf client that never stalls fails after this */
#define FEED_MAX      5000            /* ... or after publishing this many frames */
#define OUT_HIGH      (1024u * 1024u) /* conn.c's CONN_OUT_HIGH */
#define RSS_GROWTH_KB (32 * 1024)     /* memd may grow this much for one deaf client */
#define BLOCK_SIZE    100u            /* bytes of each block the tests ask for */

#define POOL_INI       "[pool default]\nmax_size = 64M\nsegment_size = 1M\n"
#define CONFIG_ASLEEP  "[memd]\nbusy_poll_us = 0\n" POOL_INI     /* memd sleeps at once */
#define CONFIG_POLLING "[memd]\nbusy_poll_us = 10000\n" POOL_INI /* memd polls 10 ms */

static unsigned char rx[MEMD_FRAME_MAX]; /* the body of the last frame read */

/* ---- the socket ----------------------------------------------------- */

/* A raw connection to H that said HELLO. */
static int raw_ready(void)
{
	struct memd_hdr h;
	int fd = raw_connect(H.sock);
	int r;

	cr_assert_geq(fd, 0, "connect: %s", strerror(-fd));
	r = raw_hello(fd, MEMD_PROTO_VERSION, &h, NULL);
	cr_assert_eq(r, RAW_FRAME, "HELLO: no reply (%d)", r);
	cr_assert_eq(h.status, 0, "HELLO: status %d", h.status);
	return fd;
}

/* Read the next frame on fd (body in rx) and check it answers op id. */
static struct memd_hdr recv_reply(int fd, uint16_t op, uint32_t id, size_t *blen, const char *what)
{
	struct memd_hdr h;
	int r = raw_recv_frame(fd, &h, rx, sizeof(rx), blen, REPLY_MS);

	cr_assert_eq(r, RAW_FRAME, "%s: no reply to %s id %u (%d)", what, proto_op_name(op), id, r);
	cr_assert_eq(h.id, id, "%s: reply id %u (op %#x) where %u was due", what, h.id, h.op, id);
	cr_assert_eq(h.op, op | MEMD_OP_REPLY, "%s: reply op %#x, want %#x", what, h.op,
	             op | MEMD_OP_REPLY);
	return h;
}

/* One request on the socket; the reply's header (body in rx). */
static struct memd_hdr call(int fd, uint16_t op, uint32_t id, const void *req, size_t len,
                            size_t *blen)
{
	cr_assert_eq(raw_send_frame(fd, op, id, req, len), 0, "send %s", proto_op_name(op));
	return recv_reply(fd, op, id, blen, "call");
}

/* POOL "default": its id. */
static uint32_t pool_default(int fd)
{
	struct memd_pool_req req = {.name = "default"};
	struct memd_pool_rep rep;
	struct memd_hdr h;
	size_t blen = 0;

	h = call(fd, MEMD_OP_POOL, 1, &req, sizeof(req), &blen);
	cr_assert_eq(h.status, 0, "POOL default: %d", h.status);
	memcpy(&rep, rx, sizeof(rep));
	return rep.pool_id;
}

/* Live blocks in every pool (STATS_STATUS). */
static uint64_t live_blocks(int fd)
{
	struct memd_stats_req req = {0};
	struct memd_stats_status st;
	struct memd_hdr h;
	size_t blen = 0;

	h = call(fd, MEMD_OP_STATS_STATUS, 3, &req, sizeof(req), &blen);
	cr_assert_eq(h.status, 0, "STATS_STATUS: %d", h.status);
	cr_assert_eq(blen, sizeof(st));
	memcpy(&st, rx, sizeof(st));
	return st.blocks;
}

/* Poll live_blocks on fd until it is want (up to WAIT_MS); the last value. */
static uint64_t wait_blocks(int fd, uint64_t want)
{
	int64_t end = now_ms() + WAIT_MS;
	uint64_t n;

	while ((n = live_blocks(fd)) != want && now_ms() < end)
		sleep_ms(20);
	return n;
}

/* Assert that nothing arrives on fd for ms. */
static void expect_quiet(int fd, int ms, const char *what)
{
	struct memd_hdr h = {0};
	size_t blen = 0;
	int r = raw_recv_frame(fd, &h, rx, sizeof(rx), &blen, ms);

	cr_assert_eq(r, -ETIMEDOUT, "%s: a frame came (%d: op %#x id %u status %d)", what, r, h.op,
	             h.id, h.status);
}

/* Send RING_KICK (no body; id is whatever: nothing answers it). */
static void send_kick(int fd)
{
	cr_assert_eq(raw_send_frame(fd, MEMD_OP_RING_KICK, 0xdead, NULL, 0), 0, "send RING_KICK");
}

/* A fresh connection that must be served: HELLO, POOL, ALLOC, SIZE, FREE. */
static void bystander_check(const char *when)
{
	struct memd_alloc_req areq = {.size = 1000};
	struct memd_alloc_rep arep;
	struct memd_ref_req rreq;
	struct memd_hdr h;
	size_t blen = 0;
	int fd = raw_ready();

	areq.pool_id = pool_default(fd);
	h = call(fd, MEMD_OP_ALLOC, 2, &areq, sizeof(areq), &blen);
	cr_assert_eq(h.status, 0, "%s: bystander ALLOC: %d", when, h.status);
	memcpy(&arep, rx, sizeof(arep));
	rreq.ref = arep.ref;
	h = call(fd, MEMD_OP_SIZE, 3, &rreq, sizeof(rreq), &blen);
	cr_assert_eq(h.status, 0, "%s: bystander SIZE: %d", when, h.status);
	h = call(fd, MEMD_OP_FREE, 4, &rreq, sizeof(rreq), &blen);
	cr_assert_eq(h.status, 0, "%s: bystander FREE: %d", when, h.status);
	close(fd);
}

/* ---- the ring ------------------------------------------------------- */

/* A connection with its ring mapped here. */
struct rconn {
	int fd;                    /* the socket */
	uint32_t pool_id;          /* "default" */
	struct memd_ring_ctl *ctl; /* the ring, MEMD_RING_SIZE bytes, read-write */
	uint32_t tail;             /* frames published (our copy) */
};

/* What one RING request got back. */
struct ring_reply {
	struct memd_hdr h;        /* the reply's header */
	size_t blen;              /* its body's length */
	struct memd_ring_rep rep; /* the body, when it fits */
	int fd;                   /* the fd that came with it, or -1 */
};

static struct ring_reply ring_request(int fd, uint32_t id, const void *body, size_t len)
{
	struct ring_reply r = {.fd = -1};
	int rc;

	cr_assert_eq(raw_send_frame(fd, MEMD_OP_RING, id, body, len), 0, "send RING");
	rc = raw_recv_frame_fd(fd, &r.h, &r.rep, sizeof(r.rep), &r.blen, &r.fd, REPLY_MS);
	cr_assert_eq(rc, RAW_FRAME, "RING id %u: no reply (%d)", id, rc);
	cr_assert_eq(r.h.op, MEMD_OP_RING | MEMD_OP_REPLY, "RING reply op %#x", r.h.op);
	cr_assert_eq(r.h.id, id, "RING reply id %u, want %u", r.h.id, id);
	return r;
}

static struct memd_ring_ctl *ring_map(int rfd)
{
	void *m = mmap(NULL, MEMD_RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, 0);

	cr_assert_neq(m, MAP_FAILED, "mmap of the ring: %s", strerror(errno));
	return m;
}

/* Connect, HELLO, POOL, RING, and map the ring (its fd is closed again). */
static void rconn_open(struct rconn *r)
{
	struct memd_ring_req req = {0};
	struct ring_reply rep;

	r->fd = raw_ready();
	r->pool_id = pool_default(r->fd);
	rep = ring_request(r->fd, 2, &req, sizeof(req));
	cr_assert_eq(rep.h.status, 0, "RING: status %d", rep.h.status);
	cr_assert_geq(rep.fd, 0, "RING: no fd came with the reply");
	r->ctl = ring_map(rep.fd);
	close(rep.fd);
	r->tail = 0;
}

static void rconn_close(struct rconn *r)
{
	munmap(r->ctl, MEMD_RING_SIZE);
	close(r->fd);
}

/* Write a frame into the next free slot (not published): header fields
 * as given, then body_len bytes of body. */
static void ring_write(struct rconn *r, uint32_t len, uint16_t op, uint16_t flags, uint32_t id,
                       const void *body, size_t body_len)
{
	struct memd_hdr h = {.len = len, .op = op, .flags = flags, .id = id, .status = 0};
	unsigned char *slot = MEMD_RING_SLOT(r->ctl, r->tail);

	cr_assert_leq(MEMD_HDR_SIZE + body_len, MEMD_RING_SLOT_SIZE);
	memcpy(slot, &h, sizeof(h));
	if (body_len > 0)
		memcpy(slot + MEMD_HDR_SIZE, body, body_len);
}

/* Publish the slot written last: tail + 1, a release store. */
static void ring_publish(struct rconn *r)
{
	r->tail++;
	__atomic_store_n(&r->ctl->tail, r->tail, __ATOMIC_RELEASE);
}

/* The client's side of waking memd: after publishing, a full fence, then
 * a look at sleeping. */
static bool ring_memd_asleep(struct rconn *r)
{
	atomic_thread_fence(memory_order_seq_cst);
	return __atomic_load_n(&r->ctl->sleeping, __ATOMIC_RELAXED) != 0;
}

static uint32_t ring_head(struct rconn *r)
{
	return __atomic_load_n(&r->ctl->head, __ATOMIC_ACQUIRE);
}

/* Write and publish a well-formed request. */
static void ring_put(struct rconn *r, uint16_t op, uint32_t id, const void *body, size_t len)
{
	ring_write(r, (uint32_t)(MEMD_HDR_SIZE + len), op, 0, id, body, len);
	ring_publish(r);
}

/* Publish ALLOC_BATCH of count blocks of BLOCK_SIZE bytes. */
static void ring_put_alloc(struct rconn *r, uint32_t id, uint32_t count)
{
	struct memd_alloc_batch_req req = {
	        .pool_id = r->pool_id, .size = BLOCK_SIZE, .count = count};

	ring_put(r, MEMD_OP_ALLOC_BATCH, id, &req, sizeof(req));
}

/* Publish FREE_BATCH of refs[0..n). */
static void ring_put_free(struct rconn *r, uint32_t id, const uint64_t *refs, uint32_t n)
{
	static unsigned char body[MEMD_RING_SLOT_SIZE];
	struct memd_free_batch_req req = {.count = n};

	memcpy(body, &req, sizeof(req));
	memcpy(body + sizeof(req), refs, (size_t)n * sizeof(uint64_t));
	ring_put(r, MEMD_OP_FREE_BATCH, id, body, sizeof(req) + (size_t)n * sizeof(uint64_t));
}

/* Read the reply to ALLOC_BATCH id of count blocks: status 0, count
 * distinct non-zero refs, copied to refs (may be NULL). */
static void expect_alloc_reply(int fd, uint32_t id, uint32_t count, uint64_t *refs,
                               const char *what)
{
	struct memd_alloc_batch_rep rep;
	struct memd_hdr h;
	size_t blen = 0;
	uint64_t ref;

	h = recv_reply(fd, MEMD_OP_ALLOC_BATCH, id, &blen, what);
	cr_assert_eq(h.status, 0, "%s: ALLOC_BATCH id %u: status %d", what, id, h.status);
	cr_assert_eq(blen, sizeof(rep) + count * sizeof(uint64_t), "%s: body of %zu bytes", what,
	             blen);
	memcpy(&rep, rx, sizeof(rep));
	cr_assert_eq(rep.count, count, "%s: %u blocks, want %u", what, rep.count, count);
	cr_assert_geq(rep.size, BLOCK_SIZE);
	for (uint32_t i = 0; i < count; i++) {
		memcpy(&ref, rx + sizeof(rep) + i * sizeof(ref), sizeof(ref));
		cr_assert_neq(ref, 0, "%s: ref %u is 0", what, i);
		if (refs != NULL)
			refs[i] = ref;
	}
}

/* Wait (up to REPLY_MS) until sleeping reads want. */
static void wait_sleeping(struct rconn *r, uint32_t want, const char *when)
{
	int64_t end = now_ms() + REPLY_MS;
	uint32_t v;

	while ((v = __atomic_load_n(&r->ctl->sleeping, __ATOMIC_ACQUIRE)) != want && now_ms() < end)
		sleep_ms(1);
	cr_assert_eq(v, want, "%s: sleeping reads %u, want %u", when, v, want);
}

/* Mappings of request rings in process pid. */
static int ring_maps(pid_t pid)
{
	char path[64], line[1024];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, "memd-ring") != NULL;
	fclose(f);
	return n;
}

/* Occurrences of needle in memd's whole log. */
static int log_count(const char *needle)
{
	static char buf[1 << 20];
	size_t len, nlen = strlen(needle);
	FILE *f = fopen(H.log, "r");
	int n = 0;

	cr_assert_not_null(f, "%s: %s", H.log, strerror(errno));
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	for (const char *p = buf; (p = strstr(p, needle)) != NULL; p += nlen)
		n++;
	return n;
}

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
	cr_expect_eq(ring_maps(H.pid), 1, "memd maps %d rings, want 1", ring_maps(H.pid));

	/* The connection, and its first ring, still work. */
	ring_put_alloc(&rc, 10, 3);
	send_kick(rc.fd);
	expect_alloc_reply(rc.fd, 10, 3, NULL, "through the first ring");
	cr_expect_eq(live_blocks(rc.fd), 3);
	rconn_close(&rc);
	memd_stop_clean(&H, SIGTERM);
}

Test(ring, a_frame_is_answered_on_the_socket_and_a_kick_never_is, .fini = harness_fini)
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
	expect_alloc_reply(r.fd, 10, 8, refs, "ring ALLOC_BATCH");
	cr_expect_eq(ring_head(&r), 1, "head %u after one frame", ring_head(&r));
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
	h = recv_reply(r.fd, MEMD_OP_FREE_BATCH, 13, &blen, "ring FREE_BATCH");
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
		expect_alloc_reply(r.fd, id, 4, NULL, "first ring frame");
		expect_alloc_reply(r.fd, id + 1, 2, NULL, "second ring frame");
		h = recv_reply(r.fd, MEMD_OP_STATS_STATUS, id + 2, &blen, "the socket frame");
		cr_assert_eq(h.status, 0);
		memcpy(&st, rx, sizeof(st));
		cr_expect_eq(
		        st.blocks, 6u * (uint64_t)(round + 1),
		        "round %d: STATS_STATUS saw %llu blocks: the ring's frames had not run",
		        round, (unsigned long long)st.blocks);
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
	expect_alloc_reply(r.fd, 20, 5, NULL, "after the kick");
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
			int rc = raw_recv_frame(r.fd, &h, rx, sizeof(rx), &blen, 2000);

			cr_assert_eq(rc, RAW_FRAME,
			             "round %d: reply %u of %u never came (%d; head %u): a lost "
			             "wake-up",
			             round, got, id, rc, ring_head(&r));
			cr_assert_eq(h.id, got, "reply id %u where %u was due", h.id, got);
			cr_assert_eq(h.op, MEMD_OP_FREE_BATCH | MEMD_OP_REPLY);
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
			int rc;

			ring_put_alloc(&r, id, 1); /* never a kick here, whatever sleeping says */
			rc = raw_recv_frame(r.fd, &h, rx, sizeof(rx), &blen, 500);
			if (rc == RAW_FRAME) {
				cr_assert_eq(h.id, id, "reply id %u, want %u", h.id, id);
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
			cr_assert_eq(rc, -ETIMEDOUT, "%d", rc);
			cr_assert(ring_memd_asleep(&r),
			          "no reply, and memd does not say it sleeps");
			late++;
			send_kick(r.fd);
			expect_alloc_reply(r.fd, id++, 1, NULL, "kicked after all");
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
		expect_alloc_reply(r.fd, 1, 1, NULL, bc->what);
	rc = raw_drain_until_closed(r.fd, REPLY_MS, &frames, &ok);
	cr_assert_eq(rc, 0, "%s: the connection is still open (%d frames came)", bc->what, frames);
	cr_assert_eq(frames, 0, "%s: %d frame(s) came before the close", bc->what, frames);
	cr_expect_eq(log_count("request ring:"), warned_before + 1, "%s: memd did not log it",
	             bc->what);
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
	        {"op ALLOC", LEN_RIGHT, MEMD_OP_ALLOC, 0, 0},
	        {"op FREE", LEN_RIGHT, MEMD_OP_FREE, 0, 0},
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
		h = recv_reply(r.fd, MEMD_OP_ALLOC_BATCH, id, &blen, "bad ALLOC_BATCH body");
		cr_expect_eq(h.status, -EINVAL, "id %u: status %d", id, h.status);
		cr_expect_eq(blen, 0, "id %u: error reply with a body", id);
	}
	for (uint32_t id = 5; id <= 6; id++) {
		h = recv_reply(r.fd, MEMD_OP_FREE_BATCH, id, &blen, "bad FREE_BATCH body");
		cr_expect_eq(h.status, -EINVAL, "id %u: status %d", id, h.status);
		cr_expect_eq(blen, 0, "id %u: error reply with a body", id);
	}
	expect_alloc_reply(r.fd, 7, 2, NULL, "the good frame after the bad ones");
	cr_expect_eq(live_blocks(r.fd), 2, "the connection is still usable");
	cr_expect_eq(log_count("request ring:"), 0, "a bad body was treated as a protocol error");
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
		struct memd_hdr fh = {.len = MEMD_HDR_SIZE + sizeof(areq),
		                      .op = MEMD_OP_ALLOC_BATCH,
		                      .id = 10 + i};
		unsigned char *slot = MEMD_RING_SLOT(ctl, i);

		memcpy(slot, &fh, sizeof(fh));
		memcpy(slot + MEMD_HDR_SIZE, &areq, sizeof(areq));
		__atomic_store_n(&ctl->tail, i + 1, __ATOMIC_RELEASE);
		if (i > 0)
			continue; /* the rest: no kick, no reply read */
		if (raw_send_frame(fd, MEMD_OP_RING_KICK, 0, NULL, 0) != 0 ||
		    raw_recv_frame(fd, &h, NULL, 0, &blen, REPLY_MS) != RAW_FRAME || h.id != 10 ||
		    h.status != 0)
			return 14;
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
	cr_expect_eq(ring_maps(H.pid), 1, "memd maps %d rings", ring_maps(H.pid));

	st = child_kill(kid);
	cr_expect_eq(st, 1000 + SIGKILL, "child: %d", st);
	cr_expect_eq(wait_blocks(fd, 0), 0, "blocks still held after the client died");
	for (int64_t end = now_ms() + WAIT_MS; ring_maps(H.pid) != 0 && now_ms() < end;)
		sleep_ms(20);
	cr_expect_eq(ring_maps(H.pid), 0, "memd still maps the dead client's ring");
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
	expect_alloc_reply(r.fd, 5, 3, NULL, "published before EOF");
	expect_alloc_reply(r.fd, 6, 1, NULL, "published before EOF");
	cr_expect_eq(raw_drain_until_closed(r.fd, REPLY_MS, &frames, &ok), 0);
	cr_expect_eq(frames, 0);
	rconn_close(&r);
	memd_stop_clean(&H, SIGTERM);
}

/* ---- back-pressure -------------------------------------------------- */

/* A value from /proc/<pid>/status in kB ("VmRSS"), or -1. */
static long proc_status_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':')
			kb = strtol(line + klen + 1, NULL, 10);
	fclose(f);
	return kb;
}

/* A kick that never blocks: memd may not be reading (throttled). */
static void send_kick_nowait(int fd)
{
	struct memd_hdr h = {.len = MEMD_HDR_SIZE, .op = MEMD_OP_RING_KICK};
	ssize_t n = send(fd, &h, sizeof(h), MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0) {
		cr_assert(errno == EAGAIN || errno == EWOULDBLOCK, "kick: %s", strerror(errno));
		return; /* memd does not read: it will look at the ring when it does */
	}
	if ((size_t)n < sizeof(h)) /* never split a frame */
		cr_assert_eq(raw_send(fd, (const char *)&h + n, sizeof(h) - (size_t)n), 0);
}

#define DEAF_REFS MEMD_RING_BATCH_MAX /* refs per FREE_BATCH: the largest in a slot */
#define DEAF_REPLY_BODY                                                                            \
	(sizeof(struct memd_free_batch_rep) +                                                      \
	 ((DEAF_REFS + 1) & ~1u) * sizeof(int32_t)) /* padded to 8 */

/* Read the reply to the deaf client's frame id. */
static void deaf_reply(int fd, uint32_t id)
{
	size_t blen = 0;
	struct memd_hdr h = recv_reply(fd, MEMD_OP_FREE_BATCH, id, &blen, "deaf client");

	cr_assert_eq(h.status, -EINVAL, "id %u: status %d", id, h.status);
	cr_assert_eq(blen, DEAF_REPLY_BODY, "id %u: %zu-byte body", id, blen);
}

Test(ring, a_client_that_never_reads_is_throttled_and_then_gets_every_reply, .fini = harness_fini)
{
	static uint64_t refs[DEAF_REFS];
	struct rconn r;
	long rss0, rss1;
	int64_t start, moved;
	uint32_t head, last_head = 0, got = 0;
	int other;

	for (size_t i = 0; i < DEAF_REFS; i++)
		refs[i] =
		        1; /* never a block: each reply is MEMD_RING_BATCH_MAX results of -EINVAL */
	memd_start(&H, NULL);
	rconn_open(&r);
	other = raw_ready();
	bystander_check("before");
	rss0 = proc_status_kb(H.pid, "VmRSS");

	/* Feed the ring, kicking as a client does, never reading. */
	start = moved = now_ms();
	for (;;) {
		head = ring_head(&r);
		if (head != last_head) {
			last_head = head;
			moved = now_ms();
		}
		cr_assert_leq(r.tail - head, MEMD_RING_SLOTS, "head %u passed tail %u", head,
		              r.tail);
		if (r.tail - head < MEMD_RING_SLOTS) {
			ring_put_free(&r, r.tail, refs, DEAF_REFS);
			if (ring_memd_asleep(&r))
				send_kick_nowait(r.fd);
			moved = now_ms();
		} else if (now_ms() - moved >= STALL_MS) {
			break; /* full, and memd stopped taking frames */
		} else {
			/* Keep memd awake with another client's requests: it
			 * must not take frames from the throttled ring even
			 * so (it looks at the rings after every poll). */
			(void)live_blocks(other);
			sleep_ms(1);
		}
		cr_assert_lt(r.tail, FEED_MAX,
		             "%u frames published and memd still takes them: no back-pressure",
		             r.tail);
		cr_assert_lt(now_ms() - start, FEED_MS, "feeding never stalled (%u frames)",
		             r.tail);
	}
	rss1 = proc_status_kb(H.pid, "VmRSS");
	cr_log_info("deaf ring client: memd took %u frames, then stopped; RSS %ld -> %ld kB",
	            ring_head(&r), rss0, rss1);
	/* memd stopped because its queue passed the high mark, not for lack
	 * of a wake-up: it took at least that many bytes of replies. */
	cr_assert_geq((uint64_t)ring_head(&r) * (MEMD_HDR_SIZE + DEAF_REPLY_BODY), OUT_HIGH,
	              "memd stopped after %u frames, short of its queue's limit", ring_head(&r));
	cr_assert_lt(rss1 - rss0, RSS_GROWTH_KB, "memd grew by %ld kB for one deaf client",
	             rss1 - rss0);
	bystander_check("while a ring client does not read");

	/* Read everything: every reply, in order; memd resumes the ring. */
	while (got < r.tail)
		deaf_reply(r.fd, got++);
	cr_expect_eq(ring_head(&r), r.tail, "frames left in the ring");
	ring_put_free(&r, r.tail, refs, DEAF_REFS);
	send_kick(r.fd);
	deaf_reply(r.fd, got++);
	expect_quiet(r.fd, QUIET_MS, "after the last reply");
	rconn_close(&r);
	close(other);
	memd_stop_clean(&H, SIGTERM);
}
