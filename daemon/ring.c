/*
 * ring.c - a session's request ring: ALLOC, FREE, ALLOC_BATCH and
 * FREE_BATCH frames a client writes into shared memory instead of sending
 * them, answered in the same place, so that a request costs it no system
 * call (proto.h, "The request ring").
 *
 * The ring.  RING makes a memfd of MEMD_RING_SIZE bytes, reserved and
 * sealed against resizing (shm_sealed_rw_create: the client can never
 * make the daemon's mapping fault), mapped read-write into the daemon;
 * its fd goes to the client with the reply and the daemon keeps only the
 * mapping.  The daemon writes two words there, head and sleeping; it
 * reads one, tail, and the slots.  The connection is linked into the
 * server's list of connections with a ring (srv->rings), so that the
 * loop's per-iteration work is proportional to the rings, and nothing
 * when there are none.
 *
 * Taking frames (ring_drain).  The daemon keeps its own count of frames
 * taken (r->head) and never reads head back.  It reads tail with an
 * acquire load; n = tail - head (uint32 arithmetic, so it wraps) must be
 * at most MEMD_RING_SLOTS.  For each frame it copies the 16-byte header
 * out of the slot first, decodes and checks the copy (proto_hdr_decode;
 * len at most MEMD_RING_SLOT_SIZE; one of the four opcodes), then
 * copies the body into a private buffer and runs the copy through
 * dispatch_request(), exactly as a frame from the socket.  The client may
 * rewrite the slot at any moment, so nothing is ever read from a slot
 * twice and nothing is checked in place; a compiler barrier after each
 * copy keeps the compiler from re-reading the slot in place of the copy.
 *
 * Answering (ring_answer).  While a frame runs, r->answer points at its
 * slot, and conn.c hands the frame's one reply to ring_answer instead of
 * queueing it on the socket: the reply is written over the request, head
 * + 1 is published (release store), and after a full fence the client's
 * waiting word is read: if it is set, FUTEX_WAKE on head.  So a ring
 * frame's reply costs the daemon no system call unless the client sleeps,
 * and it is in place before the next frame of any kind runs, which keeps
 * the client's order.  An ALLOC_BATCH asking for more than
 * MEMD_RING_ALLOC_MAX blocks (its reply would not fit) is answered
 * -EINVAL without running.  Nothing the client writes is ever read back.
 *
 * What closes the connection, and what is an error reply.  A tail more
 * than MEMD_RING_SLOTS ahead, a header proto_hdr_decode refuses (len
 * below MEMD_HDR_SIZE or above MEMD_FRAME_MAX, non-zero flags), a len
 * above MEMD_RING_SLOT_SIZE, or any opcode but ALLOC, FREE, ALLOC_BATCH
 * and FREE_BATCH
 * (replies, RING_KICK and stats included) is a protocol error: a warning
 * is logged and the connection closes with conn_close_after_flush(), as
 * conn.c closes it for a malformed socket header: the replies to the
 * frames that came before (ring and socket) still go out, nothing after
 * is run, and the ring is not read again.  A frame whose header is sound
 * but whose body fails proto_req_validate (a count of 0, a wrong body
 * length, a non-zero pad) is answered with -EINVAL like the same frame on
 * the socket and the connection stays: the frame's extent was known and
 * nothing is out of step.
 *
 * When.  One pass takes the frames published when tail was read, never
 * more, so one client can never keep the loop for itself.  conn.c runs a
 * pass before each frame that comes on the socket (RING_KICK too: that
 * is all a kick does): every frame the client published before it sent
 * that one runs first, which keeps the client's order.  ring_after_poll
 * runs a pass on every ring after each round of I/O (the check handle,
 * so while memd busy-polls it also reads the rings), and each frame run
 * reopens the busy-poll window like a request from the socket.  A
 * throttled or closing connection is not drained: its frames stay in the
 * ring until it reads its replies again (conn.c's back-pressure), and the
 * client, finding the ring full, waits or uses the socket, which the
 * daemon is not reading either.
 *
 * Sleeping.  The loop may block in epoll only when no busy-poll window is
 * open.  Then ring_before_sleep (a prepare handle: libuv runs it just
 * before it computes the poll's timeout) stores sleeping = 1 in every
 * ring, issues a full fence, and runs one more pass on each ring.  A
 * client publishes (release store of tail), fences, and reads sleeping:
 * if it reads 1 it sends RING_KICK.  With both fences either the last
 * pass sees the frame or the client sees sleeping = 1 and kicks, so a
 * published frame never waits for an unrelated wake-up.  If that pass ran
 * frames, it opened the busy-poll window, and libuv then polls without
 * blocking.  ring_after_poll clears the flags again (a stale 1 costs a
 * client one needless kick, a wrong 0 would cost a lost wake-up, so 1 is
 * set before the last look and cleared only after the poll).
 *
 * Ownership: the connection owns its ring (struct ring in struct conn):
 * the mapping, unmapped by ring_destroy from the connection's close
 * callback.  The daemon keeps no fd of the ring.  The server owns the
 * list head; the links live in the rings.
 */
#include "ring.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "busy_poll.h"
#include "conn.h"
#include "debug.h"
#include "dispatch.h"
#include "log.h"
#include "server.h"
#include "shm.h"

/* Link c at the front of srv's list of connections with a ring. */
static void ring_link(struct memd_server *srv, struct conn *c)
{
	c->ring.prev = NULL;
	c->ring.next = srv->rings;
	if (srv->rings != NULL)
		srv->rings->ring.prev = c;
	srv->rings = c;
}

static void ring_unlink(struct memd_server *srv, struct conn *c)
{
	if (c->ring.prev != NULL)
		c->ring.prev->ring.next = c->ring.next;
	else
		srv->rings = c->ring.next;
	if (c->ring.next != NULL)
		c->ring.next->ring.prev = c->ring.prev;
	c->ring.prev = c->ring.next = NULL;
}

int ring_create(struct conn *c, int *fd)
{
	struct ring *r = &c->ring;
	char name[40];
	void *map;
	int err;

	if (r->ctl != NULL)
		return -EEXIST;
	snprintf(name, sizeof(name), "memd-ring-%llu", (unsigned long long)c->session.id);
	err = shm_sealed_rw_create(name, MEMD_RING_SIZE, fd, &map);
	if (err < 0)
		return err;
	/* A fresh memfd reads as zeros: tail = head = sleeping = 0. */
	r->ctl = map;
	r->head = 0;
	r->answer = NULL;
	r->frames = 0;
	ring_link(c->srv, c);
	return 0;
}

void ring_destroy(struct conn *c)
{
	struct ring *r = &c->ring;

	if (r->ctl == NULL)
		return;
	ring_unlink(c->srv, c);
	shm_sealed_page_unmap(r->ctl, MEMD_RING_SIZE);
	r->ctl = NULL;
	log_debug("session %llu: %llu frame(s) came through its ring",
	          (unsigned long long)c->session.id, (unsigned long long)r->frames);
}

/* May c run more input now? (conn_process's condition) */
static bool ring_conn_open(const struct conn *c)
{
	return !c->closing && !c->close_requested && !c->throttled;
}

/* A protocol error in c's ring: log it (what: printf format), and close c
 * once the replies already queued are out (the ring is not read again). */
static void ring_refuse(struct conn *c, const char *what, ...)
        __attribute__((format(printf, 2, 3)));

static void ring_refuse(struct conn *c, const char *what, ...)
{
	char msg[128];
	va_list ap;

	va_start(ap, what);
	vsnprintf(msg, sizeof(msg), what, ap);
	va_end(ap);
	log_warn("session %llu (pid %d): request ring: %s; closing",
	         (unsigned long long)c->session.id, (int)c->session.pid, msg);
	conn_close_after_flush(c);
}

/* Copy the frame in slot i of c's ring into buf (MEMD_RING_SLOT_SIZE
 * bytes) and check it; *h gets its decoded header.  0, or -EPROTO after
 * ring_refuse. */
static int ring_copy_frame(struct conn *c, uint32_t i, uint8_t *buf, struct memd_hdr *h)
{
	const unsigned char *slot = MEMD_RING_SLOT(c->ring.ctl, i);
	int err;

	memcpy(buf, slot, MEMD_HDR_SIZE);
	atomic_signal_fence(memory_order_seq_cst); /* decide on the copy only */
	err = proto_hdr_decode(buf, h);
	if (err < 0) {
		ring_refuse(c, "frame %u: bad header (len %u, flags %#x)", (unsigned)i,
		            (unsigned)h->len, (unsigned)h->flags);
		return -EPROTO;
	}
	if (h->len > MEMD_RING_SLOT_SIZE) {
		ring_refuse(c, "frame %u: %u bytes, longer than a slot", (unsigned)i,
		            (unsigned)h->len);
		return -EPROTO;
	}
	if (h->op != MEMD_OP_ALLOC && h->op != MEMD_OP_FREE && h->op != MEMD_OP_ALLOC_BATCH &&
	    h->op != MEMD_OP_FREE_BATCH) {
		ring_refuse(c, "frame %u: opcode %#x (%s) may not come through the ring",
		            (unsigned)i, (unsigned)h->op, proto_op_name(h->op));
		return -EPROTO;
	}
	memcpy(buf + MEMD_HDR_SIZE, slot + MEMD_HDR_SIZE, h->len - MEMD_HDR_SIZE);
	atomic_signal_fence(memory_order_seq_cst);
	return 0;
}

/* An ALLOC_BATCH (body buf, blen bytes) asking for more blocks than a
 * slot can hold the refs of?  (A body of the wrong length is left to
 * dispatch, which answers it -EINVAL.) */
static bool ring_alloc_too_big(const struct memd_hdr *h, const uint8_t *body, size_t blen)
{
	struct memd_alloc_batch_req req;

	if (h->op != MEMD_OP_ALLOC_BATCH || blen != sizeof(req))
		return false;
	memcpy(&req, body, sizeof(req));
	return req.count > MEMD_RING_ALLOC_MAX;
}

unsigned ring_drain(struct conn *c)
{
	struct ring *r = &c->ring;
	uint64_t frame[MEMD_RING_SLOT_SIZE / sizeof(uint64_t)]; /* private copy of one frame */
	uint8_t *buf = (uint8_t *)frame;
	struct memd_hdr h;
	uint32_t tail, n;
	size_t blen;
	unsigned ran = 0;

	memd_assert(c->in_dispatch);
	if (r->ctl == NULL || !ring_conn_open(c))
		return 0;
	tail = __atomic_load_n(&r->ctl->tail, __ATOMIC_ACQUIRE);
	n = tail - r->head;
	if (n > MEMD_RING_SLOTS) {
		ring_refuse(c, "tail %u is more than a ring ahead of head %u", (unsigned)tail,
		            (unsigned)r->head);
		return 0;
	}
	for (; n > 0 && ring_conn_open(c); n--) {
		if (ring_copy_frame(c, r->head, buf, &h) < 0)
			break;
		r->frames++;
		ran++;
		blen = h.len - MEMD_HDR_SIZE;
		r->answer = MEMD_RING_SLOT(r->ctl, r->head);
		if (ring_alloc_too_big(&h, buf + MEMD_HDR_SIZE, blen))
			conn_reply(c, &h, -EINVAL, NULL, 0);
		else
			dispatch_request(c, &h, buf + MEMD_HDR_SIZE, blen);
		if (r->answer != NULL) { /* every request has its reply: never */
			log_error("session %llu: ring frame %u (%s) went unanswered",
			          (unsigned long long)c->session.id, (unsigned)r->head,
			          proto_op_name(h.op));
			ring_answer(c, &h, -EIO, NULL, 0);
		}
	}
	if (ran > 0)
		busy_poll_note(&c->srv->busy);
	return ran;
}

void ring_answer(struct conn *c, const struct memd_hdr *req, int32_t status, const void *body,
                 size_t body_len)
{
	struct ring *r = &c->ring;
	unsigned char *slot = r->answer;
	struct memd_hdr h;

	memd_assert(slot != NULL);
	r->answer = NULL;
	if (MEMD_HDR_SIZE + body_len > MEMD_RING_SLOT_SIZE) { /* checked before: never */
		log_error("session %llu: a %zu-byte reply does not fit a ring slot",
		          (unsigned long long)c->session.id, body_len);
		status = -EIO;
		body_len = 0;
	}
	proto_hdr_init(&h, (uint16_t)(req->op | MEMD_OP_REPLY), req->id, status, body_len);
	memcpy(slot, &h, MEMD_HDR_SIZE);
	if (body_len > 0)
		memcpy(slot + MEMD_HDR_SIZE, body, body_len);
	r->head++;
	__atomic_store_n(&r->ctl->head, r->head, __ATOMIC_RELEASE);
	/* Either the client's last look before it sleeps sees head, or
	 * this load sees its waiting (proto.h). */
	atomic_thread_fence(memory_order_seq_cst);
	if (__atomic_load_n(&r->ctl->waiting, __ATOMIC_RELAXED) != 0)
		syscall(SYS_futex, &r->ctl->head, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* A pass on every ring; the number of frames run. */
static unsigned ring_drain_all(struct memd_server *srv)
{
	struct conn *c, *next;
	unsigned ran = 0;

	/* A pass may close a connection, but it is unlinked only in its
	 * close callback, after this loop. */
	for (c = srv->rings; c != NULL; c = next) {
		next = c->ring.next;
		ran += conn_drain_ring(c);
	}
	return ran;
}

void ring_after_poll(struct memd_server *srv)
{
	struct conn *c;

	if (srv->rings_asleep) {
		for (c = srv->rings; c != NULL; c = c->ring.next)
			__atomic_store_n(&c->ring.ctl->sleeping, 0, __ATOMIC_RELAXED);
		srv->rings_asleep = false;
	}
	ring_drain_all(srv);
}

void ring_before_sleep(struct memd_server *srv)
{
	struct conn *c;

	if (srv->rings == NULL || busy_poll_active(&srv->busy))
		return; /* nobody to tell, or the poll will not block */
	for (c = srv->rings; c != NULL; c = c->ring.next)
		__atomic_store_n(&c->ring.ctl->sleeping, 1, __ATOMIC_RELAXED);
	srv->rings_asleep = true;
	atomic_thread_fence(memory_order_seq_cst);
	/* Frames run here opened the busy-poll window (if there is one):
	 * libuv computes the poll's timeout after this callback. */
	ring_drain_all(srv);
}
