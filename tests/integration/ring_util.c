/*
 * ring_util.c - the raw session and the hand-written client side of the
 * request ring that the ring tests share (ring_util.h).
 */
#include "ring_util.h"

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

unsigned char rx[MEMD_FRAME_MAX];

/* ---- the socket ----------------------------------------------------- */

/* A raw connection to H that said HELLO. */
int raw_ready(void)
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
struct memd_hdr recv_reply(int fd, uint16_t op, uint32_t id, size_t *blen, const char *what)
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
struct memd_hdr call(int fd, uint16_t op, uint32_t id, const void *req, size_t len, size_t *blen)
{
	cr_assert_eq(raw_send_frame(fd, op, id, req, len), 0, "send %s", proto_op_name(op));
	return recv_reply(fd, op, id, blen, "call");
}

/* POOL "default": its id. */
uint32_t pool_default(int fd)
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
uint64_t live_blocks(int fd)
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
uint64_t wait_blocks(int fd, uint64_t want)
{
	int64_t end = now_ms() + WAIT_MS;
	uint64_t n;

	while ((n = live_blocks(fd)) != want && now_ms() < end)
		sleep_ms(20);
	return n;
}

/* Assert that nothing arrives on fd for ms. */
void expect_quiet(int fd, int ms, const char *what)
{
	struct memd_hdr h = {0};
	size_t blen = 0;
	int r = raw_recv_frame(fd, &h, rx, sizeof(rx), &blen, ms);

	cr_assert_eq(r, -ETIMEDOUT, "%s: a frame came (%d: op %#x id %u status %d)", what, r, h.op,
	             h.id, h.status);
}

/* Send RING_KICK (no body; id is whatever: nothing answers it). */
void send_kick(int fd)
{
	cr_assert_eq(raw_send_frame(fd, MEMD_OP_RING_KICK, 0xdead, NULL, 0), 0, "send RING_KICK");
}

/* A fresh connection that must be served: HELLO, POOL, ALLOC, SIZE, FREE. */
void bystander_check(const char *when)
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

/* Send RING (id, body) on fd and take its reply and fd. */
struct ring_reply ring_request(int fd, uint32_t id, const void *body, size_t len)
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

/* Map the ring of fd rfd read-write. */
struct memd_ring_ctl *ring_map(int rfd)
{
	void *m = mmap(NULL, MEMD_RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, 0);

	cr_assert_neq(m, MAP_FAILED, "mmap of the ring: %s", strerror(errno));
	return m;
}

/* Connect, HELLO, POOL, RING, and map the ring (its fd is closed again). */
void rconn_open(struct rconn *r)
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
	r->answered = 0;
}

/* Unmap r's ring and close its socket. */
void rconn_close(struct rconn *r)
{
	munmap(r->ctl, MEMD_RING_SIZE);
	close(r->fd);
}

/* Write a frame into the next free slot (not published): header fields
 * as given, then body_len bytes of body. */
void ring_write(struct rconn *r, uint32_t len, uint16_t op, uint16_t flags, uint32_t id,
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
void ring_publish(struct rconn *r)
{
	r->tail++;
	__atomic_store_n(&r->ctl->tail, r->tail, __ATOMIC_RELEASE);
}

/* The client's side of waking memd: after publishing, a full fence, then
 * a look at sleeping. */
bool ring_memd_asleep(struct rconn *r)
{
	atomic_thread_fence(memory_order_seq_cst);
	return __atomic_load_n(&r->ctl->sleeping, __ATOMIC_RELAXED) != 0;
}

/* memd's head, as it published it (acquire). */
uint32_t ring_head(struct rconn *r)
{
	return __atomic_load_n(&r->ctl->head, __ATOMIC_ACQUIRE);
}

/* Write and publish a well-formed request. */
void ring_put(struct rconn *r, uint16_t op, uint32_t id, const void *body, size_t len)
{
	ring_write(r, (uint32_t)(MEMD_HDR_SIZE + len), op, 0, id, body, len);
	ring_publish(r);
}

/* Publish ALLOC_BATCH of count blocks of BLOCK_SIZE bytes. */
void ring_put_alloc(struct rconn *r, uint32_t id, uint32_t count)
{
	struct memd_alloc_batch_req req = {
	        .pool_id = r->pool_id, .size = BLOCK_SIZE, .count = count};

	ring_put(r, MEMD_OP_ALLOC_BATCH, id, &req, sizeof(req));
}

/* Publish FREE_BATCH of refs[0..n). */
void ring_put_free(struct rconn *r, uint32_t id, const uint64_t *refs, uint32_t n)
{
	static unsigned char body[MEMD_RING_SLOT_SIZE];
	struct memd_free_batch_req req = {.count = n};

	memcpy(body, &req, sizeof(req));
	memcpy(body + sizeof(req), refs, (size_t)n * sizeof(uint64_t));
	ring_put(r, MEMD_OP_FREE_BATCH, id, body, sizeof(req) + (size_t)n * sizeof(uint64_t));
}

bool ring_answered_within(struct rconn *r, int ms)
{
	int64_t end = now_ms() + ms;

	for (;;) {
		if ((int32_t)(ring_head(r) - r->answered) > 0)
			return true;
		if (now_ms() >= end)
			return false;
		usleep(100);
	}
}

struct memd_hdr ring_recv(struct rconn *r, uint16_t op, uint32_t id, size_t *blen, const char *what)
{
	const unsigned char *slot = MEMD_RING_SLOT(r->ctl, r->answered);
	struct memd_hdr h;

	cr_assert(ring_answered_within(r, REPLY_MS), "%s: no reply to %s id %u (head %u)", what,
	          proto_op_name(op), id, ring_head(r));
	memcpy(&h, slot, sizeof(h));
	cr_assert_geq(h.len, MEMD_HDR_SIZE, "%s: reply len %u", what, h.len);
	cr_assert_leq(h.len, MEMD_RING_SLOT_SIZE, "%s: reply len %u", what, h.len);
	cr_assert_eq(h.flags, 0, "%s: reply flags %#x", what, h.flags);
	memcpy(rx, slot + MEMD_HDR_SIZE, h.len - MEMD_HDR_SIZE);
	*blen = h.len - MEMD_HDR_SIZE;
	r->answered++;
	cr_assert_eq(h.id, id, "%s: reply id %u (op %#x) where %u was due", what, h.id, h.op, id);
	cr_assert_eq(h.op, op | MEMD_OP_REPLY, "%s: reply op %#x, want %#x", what, h.op,
	             op | MEMD_OP_REPLY);
	return h;
}

void expect_alloc_reply(struct rconn *r, uint32_t id, uint32_t count, uint64_t *refs,
                        const char *what)
{
	struct memd_alloc_batch_rep rep;
	struct memd_hdr h;
	size_t blen = 0;
	uint64_t ref;

	h = ring_recv(r, MEMD_OP_ALLOC_BATCH, id, &blen, what);
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
void wait_sleeping(struct rconn *r, uint32_t want, const char *when)
{
	int64_t end = now_ms() + REPLY_MS;
	uint32_t v;

	while ((v = __atomic_load_n(&r->ctl->sleeping, __ATOMIC_ACQUIRE)) != want && now_ms() < end)
		sleep_ms(1);
	cr_assert_eq(v, want, "%s: sleeping reads %u, want %u", when, v, want);
}
