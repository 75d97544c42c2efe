/*
 * conn.h - one client connection: framing, the reply queue, deferred close.
 *
 * A connection owns its uv_pipe_t, a retry timer, its read buffer, its
 * ordered queue of outbound replies and its session.  It is created by
 * conn_accept() and freed only in the close callback of its last handle,
 * which also releases the session (every held block goes back to its pool).
 *
 * Requests are decoded here and handed to dispatch_request() one complete,
 * validated frame at a time; handlers answer through conn_reply() or
 * conn_reply_fd() and may ask for conn_close_after_flush().  Requests
 * that come through the connection's request ring (ring.h) take the same
 * way, and their replies the same queue.
 */
#ifndef MEMD_CONN_H
#define MEMD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "proto.h"
#include "ring.h"
#include "session.h"

struct memd_server;
struct conn_out;

/* Outbound bytes above which a connection stops reading and stops
 * processing buffered requests, and below which it resumes. */
#define CONN_OUT_HIGH (1024u * 1024u)
#define CONN_OUT_LOW  (256u * 1024u)

struct conn {
	uv_pipe_t pipe;            /* the client's socket; data = this conn */
	uv_timer_t retry;          /* re-attempts a sendmsg that hit EAGAIN */
	struct memd_server *srv;   /* the server this connection belongs to */
	struct conn *prev, *next;  /* links in srv->conns */
	struct session session;    /* peer identity, holds, pool table */
	struct ring ring;          /* the request ring (RING), ring.ctl NULL if none */
	uint8_t *rbuf;             /* read buffer (malloc'd) */
	size_t rlen;               /* bytes of rbuf holding unprocessed input */
	size_t rcap;               /* capacity of rbuf */
	struct conn_out *out_head; /* oldest queued reply (maybe in libuv) */
	struct conn_out *out_tail; /* newest queued reply */
	struct conn_out *spare;    /* written entries kept for reuse (a list) */
	unsigned nspare;           /* entries on the spare list */
	size_t out_bytes;          /* bytes queued and not yet written */
	unsigned writes_pending;   /* uv_write requests not yet completed */
	unsigned retry_ms;         /* current EAGAIN retry delay; 0 = none yet */
	unsigned handles_open;     /* handles still to close before freeing */
	bool reading;              /* uv_read_start is in effect */
	bool throttled;            /* paused: out_bytes passed CONN_OUT_HIGH */
	bool retry_armed;          /* the retry timer is running */
	bool in_dispatch;          /* inside conn_process(): flush at its end */
	bool close_requested;      /* close once the queue drains */
	bool closing;              /* uv_close was called */
};

/* Accept a pending connection on srv's listener: allocate a conn, read the
 * peer's credentials (SO_PEERCRED), set up its session, link it into
 * srv->conns and start reading.  0, or -errno (the pending connection is
 * then closed and nothing is leaked). */
int conn_accept(struct memd_server *srv);

/* Queue a reply to the request req: header with req->id, req->op |
 * MEMD_OP_REPLY and status, then body_len bytes of body (body may be NULL
 * when body_len is 0).  Replies go out in the order they were queued.
 * 0, -ENOMEM (the connection is then closed: a request without its reply
 * would break the stream's order). */
int conn_reply(struct conn *c, const struct memd_hdr *req, int32_t status, const void *body,
               size_t body_len);

/* As conn_reply, with fd_pass (>= 0) sent as SCM_RIGHTS on the reply's
 * first byte.  The caller keeps its fd: the connection sends a dup of it,
 * so the original may be closed before the reply goes out.  0, -ENOMEM,
 * -EMFILE (dup failed; no reply was queued: answer with an error). */
int conn_reply_fd(struct conn *c, const struct memd_hdr *req, int32_t status, const void *body,
                  size_t body_len, int fd_pass);

/* Run the frames published in c's request ring (ring_drain) from outside
 * the processing of its socket input, then write the replies out (and
 * resume or close as the queue allows), as after frames read from the
 * socket.  Nothing for a connection that may not process input now.  The
 * number of frames run. */
unsigned conn_drain_ring(struct conn *c);

/* Close the connection once every queued reply has been written; no more
 * requests are read or processed.  Idempotent. */
void conn_close_after_flush(struct conn *c);

/* Close the connection now, dropping unsent replies.  The conn is freed
 * (and its session released) in the close callback.  Idempotent. */
void conn_close(struct conn *c);

#endif /* MEMD_CONN_H */
