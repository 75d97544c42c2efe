/*
 * ring.h - a session's request ring (RING, proto.h): requests a client
 * writes into shared memory instead of sending them on its socket, and
 * their replies, which the daemon writes back in their place.
 *
 * A connection has at most one ring, made by RING and gone with the
 * connection.  The daemon runs the frames published in it as if they had
 * come on the socket (ring_answer puts each one's reply in its slot), at
 * three moments: before each frame that does come
 * on the socket (conn.c: that keeps the client's order), after each round
 * of I/O (the server's check handle) and once more before the loop may
 * sleep, after telling the clients so (ring_before_sleep).  ring.c
 * explains the rules; this header is what the rest of the daemon uses.
 */
#ifndef MEMD_RING_H
#define MEMD_RING_H

#include <stdint.h>

#include "proto.h"

struct conn;
struct memd_server;

/* A connection's ring, in the daemon. */
struct ring {
	struct memd_ring_ctl *ctl; /* the shared mapping (MEMD_RING_SIZE bytes), or NULL */
	uint32_t head;             /* frames taken and answered (published as head) */
	unsigned char *answer;     /* the slot of the frame running now, or NULL */
	uint64_t frames;           /* frames run from the ring (debug log at the end) */
	struct conn *prev, *next;  /* links in the server's list of conns with a ring */
};

/* Give c its ring (RING): a sealed memfd of MEMD_RING_SIZE bytes, mapped
 * read-write (all zeros), and link c into the server's list of
 * connections with a ring.  0 with *fd set (the caller sends it and closes
 * it; the mapping stays with c); -EEXIST (c has its ring already),
 * -EMFILE, -ENOMEM or another -errno from the kernel, nothing changed. */
int ring_create(struct conn *c, int *fd);

/* Unlink c from the server's list and unmap its ring, if it has one (a
 * failed RING reply, and the connection's close callback).  Idempotent. */
void ring_destroy(struct conn *c);

/* Run the frames published in c's ring, in order, while c may still
 * process input (not closing, not closing after a flush, not throttled);
 * frames left then stay in the ring.  One pass: every frame published
 * before tail was read.  A protocol error in the ring (proto.h) logs a
 * warning and closes c after the replies already queued.  The caller
 * must have set c->in_dispatch (conn.c flushes afterwards).  Returns the
 * number of frames run; any opens the busy-poll window. */
unsigned ring_drain(struct conn *c);

/* Write the reply to the ring frame that is running (conn.c calls this in
 * place of queueing a reply when c->ring.answer is set) (header with req's op
 * | MEMD_OP_REPLY, id, status; then body_len bytes of body) into its slot,
 * publish head past it and wake the client if it waits.  The frame was
 * checked before it ran, so the reply fits the slot. */
void ring_answer(struct conn *c, const struct memd_hdr *req, int32_t status, const void *body,
                 size_t body_len);

/* After each round of I/O (the check handle): clear the sleeping flags
 * ring_before_sleep set, then drain every connection's ring. */
void ring_after_poll(struct memd_server *srv);

/* Before the loop polls (the prepare handle): if the loop may sleep (no
 * busy-poll window open) and some connection has a ring, store sleeping
 * = 1 in every ring, fence, and drain every ring once more.  Nothing when
 * no connection has a ring. */
void ring_before_sleep(struct memd_server *srv);

#endif /* MEMD_RING_H */
