/*
 * conn.c - one client connection: framing, the outbound queue, closing.
 *
 * Input.  Bytes accumulate in rbuf.  conn_process() walks the complete
 * frames in it: proto_hdr_decode() checks the header (a length outside
 * MEMD_HDR_SIZE..MEMD_FRAME_MAX or a reply opcode cannot be resynced: the
 * connection is closed after the replies already queued are flushed), and
 * a frame whose bytes have all arrived goes to dispatch_request(), which
 * enforces HELLO-first, validates the body (proto_req_validate: an error
 * reply, the connection stays) and runs the handler.  The unconsumed tail
 * (a partial frame) is moved to the front; rbuf grows to hold the largest
 * frame announced, so it never exceeds MEMD_FRAME_MAX.
 *
 * The request ring.  A connection may also have a ring (ring.c) through
 * which its client sends ALLOC, FREE, ALLOC_BATCH and FREE_BATCH, and
 * gets their replies, without a system call: while a ring frame runs
 * (c->ring.answer set), conn_enqueue() hands its reply to ring_answer()
 * instead of queueing it.  conn_process() runs a pass on the ring before
 * it dispatches each frame from the socket (a RING_KICK too), so that
 * what the client published before it sent that frame runs first: the
 * client's order.  The loop also drains the rings between rounds of I/O
 * (ring.c), through conn_drain_ring(), which brackets the pass like
 * conn_process (in_dispatch set: socket replies are only queued; flushed
 * at the end).  At EOF one last pass runs what the client published
 * before it went.  A throttled or closing connection's ring is not
 * drained, like its buffered input.
 *
 * Output.  Replies are appended to an ordered queue of entries (struct
 * conn_out).  An entry is either plain bytes, written with uv_write, or
 * bytes whose first byte carries a file descriptor (a MAP reply).  libuv
 * cannot send arbitrary fds, so such an entry goes out with sendmsg() on
 * uv_fileno() of the pipe, and only when it is the oldest entry, no
 * uv_write is pending and libuv's write queue is empty: that is the only
 * moment when bytes written outside libuv cannot overtake or interleave
 * with bytes libuv still holds.  Entries are processed strictly in order;
 * an fd entry blocks the entries behind it until it has gone.  If sendmsg
 * sends only part of the entry, the fd went with the first byte and the
 * rest is handed to uv_write.  If sendmsg hits EAGAIN (the peer's buffer
 * is full) nothing was sent; libuv offers no "tell me when writable" for a
 * stream with nothing queued, and a second poller on the fd libuv owns is
 * not allowed, so a timer retries with backoff (1 ms doubling to 64 ms).
 * Small replies produced by one read are coalesced into one entry, so a
 * pipelined burst costs one write; when nothing is inside libuv, a plain
 * entry is first tried with uv_try_write (no request, no deferred
 * callback: the common request/response path costs one write(2)).
 *
 * Entry reuse.  An entry that has been written is not freed but kept on
 * the connection's spare list (at most CONN_SPARE_MAX entries, each of at
 * most CONN_SPARE_CAP bytes; a bigger one is freed) and taken again for
 * the next replies, so in the steady state a reply costs no malloc and no
 * free (a fresh entry and 4 KiB buffer per reply used to be some 40 % of
 * the daemon's instructions per request).  Spares hold no fd and are
 * freed with the connection.
 *
 * Back-pressure.  out_bytes counts queued, unwritten bytes.  Past
 * CONN_OUT_HIGH the connection is "throttled": it stops reading and stops
 * processing frames already buffered, until the queue drains below
 * CONN_OUT_LOW.  A client that pipelines without reading replies therefore
 * costs at most about CONN_OUT_HIGH plus one frame of daemon memory (and
 * the spare entries, CONN_SPARE_MAX * CONN_SPARE_CAP at most).
 *
 * Closing.  conn_close_after_flush() stops input and closes once the queue
 * is empty; conn_close() closes at once.  Either way uv_close is called on
 * both handles (pipe and retry timer) and the conn is freed only in the
 * close callback of the last one, which also drops unsent replies (closing
 * their fds) and the spare entries, unmaps the ring (unlinking the conn
 * from the server's rings), releases the session (every held block
 * returns to its pool) and unlinks the conn from the server.  Closing
 * stops input from the ring as from the socket.
 *
 * Ownership: the conn owns its handles, rbuf, every queued and spare entry
 * and the dup'd fds inside queued ones, its session and its ring's
 * mapping (unmapped in the close callback, just before the session is
 * released).  The server owns the lists the conn is linked into.
 */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "debug.h"
#include "dispatch.h"
#include "log.h"
#include "server.h"
#include "sock.h"

#define CONN_RBUF_INIT    (16u * 1024u) /* initial read buffer */
#define CONN_COALESCE_MAX (64u * 1024u) /* largest coalesced entry */
#define CONN_OUT_INIT     4096u         /* initial capacity of an entry */
#define CONN_SPARE_MAX    2u            /* spare entries kept per connection */
#define CONN_SPARE_CAP    (16u * 1024u) /* largest entry kept as a spare */
#define CONN_RETRY_MIN_MS 1u            /* first EAGAIN retry delay */
#define CONN_RETRY_MAX_MS 64u           /* longest EAGAIN retry delay */

/* One queued outbound entry: one or more reply frames. */
struct conn_out {
	struct conn_out *next; /* next entry in queue order */
	uv_write_t req;        /* the write once submitted; req.data = this */
	uint8_t *buf;          /* frame bytes (malloc'd) */
	size_t len;            /* bytes in buf */
	size_t cap;            /* capacity of buf */
	size_t off;            /* bytes sent outside uv_write (sendmsg, try_write) */
	int fd;                /* dup'd fd to send on byte 0, or -1 (owned) */
	bool submitted;        /* handed to uv_write; no more appends */
};

static void conn_flush(struct conn *c);
static void conn_process(struct conn *c);
static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* A fresh entry of capacity CONN_OUT_INIT: malloc'd, not yet linked. */
static struct conn_out *conn_out_alloc(void)
{
	struct conn_out *o = malloc(sizeof(*o));

	if (o == NULL)
		return NULL;
	o->buf = malloc(CONN_OUT_INIT);
	if (o->buf == NULL) {
		free(o);
		return NULL;
	}
	o->cap = CONN_OUT_INIT;
	return o;
}

/* An empty entry carrying fd (owned by the entry from now on; -1 for
 * none): a spare of c when there is one, else a new one.  NULL when out
 * of memory (fd not taken). */
static struct conn_out *conn_out_new(struct conn *c, int fd)
{
	struct conn_out *o = c->spare;

	if (o != NULL) {
		c->spare = o->next;
		c->nspare--;
	} else {
		o = conn_out_alloc();
		if (o == NULL)
			return NULL;
	}
	o->next = NULL;
	o->req.data = o;
	o->len = 0;
	o->off = 0;
	o->fd = fd;
	o->submitted = false;
	return o;
}

static void conn_out_free(struct conn_out *o)
{
	if (o->fd >= 0)
		close(o->fd);
	free(o->buf);
	free(o);
}

/* Done with o (unlinked): keep it as a spare of c unless it grew past
 * CONN_SPARE_CAP or the spare list is full, else free it.  Its fd, if
 * still unsent, is closed either way. */
static void conn_out_recycle(struct conn *c, struct conn_out *o)
{
	if (o->cap > CONN_SPARE_CAP || c->nspare >= CONN_SPARE_MAX) {
		conn_out_free(o);
		return;
	}
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	o->next = c->spare;
	c->spare = o;
	c->nspare++;
}

/* Free every spare entry of c. */
static void conn_spares_free(struct conn *c)
{
	struct conn_out *o;

	while ((o = c->spare) != NULL) {
		c->spare = o->next;
		conn_out_free(o);
	}
	c->nspare = 0;
}

/* Remove the oldest entry (which must be o) and recycle it. */
static void conn_out_pop(struct conn *c, struct conn_out *o)
{
	memd_assert(c->out_head == o);
	c->out_head = o->next;
	if (c->out_head == NULL)
		c->out_tail = NULL;
	memd_assert(c->out_bytes >= o->len);
	c->out_bytes -= o->len;
	conn_out_recycle(c, o);
}

/* Start or stop reading to match the connection's state. */
static void conn_update_reading(struct conn *c)
{
	bool want = !c->closing && !c->close_requested && !c->throttled;

	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->pipe, conn_alloc_cb, conn_read_cb) == 0)
			c->reading = true;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->pipe);
		c->reading = false;
	}
}

static void conn_close_cb(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct memd_server *srv = c->srv;
	uint64_t freed;

	memd_assert(c->handles_open > 0);
	if (--c->handles_open > 0)
		return;
	while (c->out_head != NULL)
		conn_out_pop(c, c->out_head);
	conn_spares_free(c);
	ring_destroy(c);
	freed = session_release(&c->session);
	log_info("session %llu closed (pid %d, '%s'): %llu block(s) returned",
	         (unsigned long long)c->session.id, (int)c->session.pid, c->session.name,
	         (unsigned long long)freed);
	free(c->rbuf);
	server_conn_unlink(srv, c);
	free(c);
}

void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	conn_update_reading(c);
	uv_close((uv_handle_t *)&c->retry, conn_close_cb);
	uv_close((uv_handle_t *)&c->pipe, conn_close_cb);
}

void conn_close_after_flush(struct conn *c)
{
	if (c->closing || c->close_requested)
		return;
	c->close_requested = true;
	conn_update_reading(c);
	if (!c->in_dispatch)
		conn_flush(c);
}

static void conn_write_cb(uv_write_t *req, int status)
{
	struct conn_out *o = req->data;
	struct conn *c = req->handle->data;

	memd_assert(c->writes_pending > 0);
	c->writes_pending--;
	conn_out_pop(c, o);
	if (c->closing)
		return;
	if (status < 0) {
		log_debug("session %llu: write failed: %s", (unsigned long long)c->session.id,
		          uv_strerror(status));
		conn_close(c);
		return;
	}
	conn_flush(c);
}

static void conn_retry_cb(uv_timer_t *t)
{
	struct conn *c = t->data;

	c->retry_armed = false;
	conn_flush(c);
}

/* Hand bytes [o->off, o->len) of o to uv_write.  0 or a libuv error. */
static int conn_submit(struct conn *c, struct conn_out *o)
{
	uv_buf_t b = uv_buf_init((char *)o->buf + o->off, (unsigned)(o->len - o->off));
	int err;

	memd_assert(o->fd < 0 && !o->submitted);
	err = uv_write(&o->req, (uv_stream_t *)&c->pipe, &b, 1, conn_write_cb);
	if (err < 0)
		return err;
	o->submitted = true;
	c->writes_pending++;
	return 0;
}

/* Send the oldest entry o (which carries an fd) with sendmsg.  1 when o
 * was completely sent and popped, 0 when it went partly (rest submitted),
 * -EAGAIN (retry timer armed), or another -errno. */
static int conn_send_fd(struct conn *c, struct conn_out *o)
{
	uv_os_fd_t fd;
	ssize_t n;
	int err;

	err = uv_fileno((uv_handle_t *)&c->pipe, &fd);
	if (err < 0)
		return err;
	n = sock_sendmsg_fd(fd, o->buf, o->len, o->fd);
	/* ETOOMANYREFS: the peer has too many of our fds unread in flight;
	 * like a full buffer, it clears when the peer reads. */
	if (n == -EAGAIN || n == -ETOOMANYREFS) {
		if (!c->retry_armed) {
			c->retry_ms = c->retry_ms ? c->retry_ms * 2 : CONN_RETRY_MIN_MS;
			if (c->retry_ms > CONN_RETRY_MAX_MS)
				c->retry_ms = CONN_RETRY_MAX_MS;
			uv_timer_start(&c->retry, conn_retry_cb, c->retry_ms, 0);
			c->retry_armed = true;
			log_debug("session %llu: fd reply deferred (%s), retry in %u ms",
			          (unsigned long long)c->session.id, strerror((int)-n),
			          c->retry_ms);
		}
		return -EAGAIN;
	}
	if (n < 0)
		return (int)n;
	c->retry_ms = 0;
	close(o->fd);
	o->fd = -1;
	o->off = (size_t)n;
	if (o->off == o->len) {
		conn_out_pop(c, o);
		return 1;
	}
	err = conn_submit(c, o);
	return err < 0 ? err : 0;
}

/* Is nothing of ours inside libuv (no write pending or queued)?  Only
 * then may bytes leave without going through uv_write. */
static bool conn_libuv_idle(struct conn *c)
{
	return c->writes_pending == 0 &&
	       uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) == 0;
}

/* Send the oldest entry o (plain bytes) at once with uv_try_write, which
 * saves the request and its deferred callback on the common path; what
 * does not fit goes to uv_write.  1 when o was sent and popped, 0 when
 * the rest was submitted, or a negative errno. */
static int conn_try_send(struct conn *c, struct conn_out *o)
{
	uv_buf_t b = uv_buf_init((char *)o->buf, (unsigned)o->len);
	int n = uv_try_write((uv_stream_t *)&c->pipe, &b, 1);

	if (n == UV_EAGAIN)
		n = 0;
	if (n < 0)
		return n;
	o->off = (size_t)n;
	if (o->off == o->len) {
		conn_out_pop(c, o);
		return 1;
	}
	return conn_submit(c, o);
}

/* The oldest entry not yet submitted to libuv, or NULL. */
static struct conn_out *conn_first_unsent(struct conn *c)
{
	struct conn_out *o;

	for (o = c->out_head; o != NULL && o->submitted; o = o->next)
		;
	return o;
}

/* Move queued entries out, strictly in order, as far as possible now. */
static void conn_flush_entries(struct conn *c)
{
	struct conn_out *o;
	bool first_idle;
	int err;

	while (!c->closing && !c->retry_armed && (o = conn_first_unsent(c)) != NULL) {
		first_idle = o == c->out_head && conn_libuv_idle(c);
		if (o->fd < 0) {
			err = first_idle ? conn_try_send(c, o) : conn_submit(c, o);
		} else {
			if (!first_idle)
				return; /* wait for conn_write_cb */
			err = conn_send_fd(c, o);
			if (err == -EAGAIN)
				return; /* wait for conn_retry_cb */
		}
		if (err < 0) {
			log_debug("session %llu: send failed: %s",
			          (unsigned long long)c->session.id, strerror(-err));
			conn_close(c);
			return;
		}
	}
}

/* Flush, then act on what draining allows: resume a throttled connection,
 * or finish a requested close. */
static void conn_flush(struct conn *c)
{
	if (c->in_dispatch || c->closing)
		return;
	conn_flush_entries(c);
	if (c->closing)
		return;
	if (c->close_requested) {
		if (c->out_head == NULL)
			conn_close(c);
		return;
	}
	if (c->throttled && c->out_bytes < CONN_OUT_LOW) {
		c->throttled = false;
		conn_process(c);
	}
}

/* Make o's buffer hold at least need bytes.  0, -ENOMEM. */
static int conn_out_reserve(struct conn_out *o, size_t need)
{
	size_t cap = o->cap * 2 >= need ? o->cap * 2 : need;
	uint8_t *buf;

	if (o->cap >= need)
		return 0;
	buf = realloc(o->buf, cap);
	if (buf == NULL)
		return -ENOMEM;
	o->buf = buf;
	o->cap = cap;
	return 0;
}

/* The entry a frame of flen bytes is appended to: the newest one if it can
 * take more, else a new one linked at the tail.  fd (owned by the entry
 * from now on) >= 0 always starts a new entry, so that the fd rides on the
 * frame's first byte.  NULL when out of memory (fd not taken). */
static struct conn_out *conn_out_for(struct conn *c, size_t flen, int fd)
{
	struct conn_out *o = c->out_tail;

	if (fd < 0 && o != NULL && !o->submitted && o->len + flen <= CONN_COALESCE_MAX)
		return o;
	o = conn_out_new(c, fd);
	if (o == NULL)
		return NULL;
	if (c->out_tail != NULL)
		c->out_tail->next = o;
	else
		c->out_head = o;
	c->out_tail = o;
	return o;
}

/* Append one reply frame to the queue.  fd (owned from now on) >= 0 makes
 * it start a new entry so the fd rides on the frame's first byte. */
static int conn_enqueue(struct conn *c, const struct memd_hdr *req, int32_t status,
                        const void *body, size_t body_len, int fd)
{
	size_t flen = MEMD_HDR_SIZE + body_len;
	struct conn_out *o;
	struct memd_hdr h;

	memd_assert(flen <= MEMD_FRAME_MAX);
	if (c->ring.answer != NULL) {
		memd_assert(fd < 0); /* no ring opcode answers with an fd */
		ring_answer(c, req, status, body, body_len);
		return 0;
	}
	if (c->closing) {
		if (fd >= 0)
			close(fd);
		return 0; /* nobody will read it */
	}
	o = conn_out_for(c, flen, fd);
	if (o == NULL)
		goto fail_close_fd;
	/* On failure o stays queued (maybe empty, owning fd): the close
	 * callback frees it. */
	if (conn_out_reserve(o, o->len + flen) < 0)
		goto fail_close_conn;
	proto_hdr_init(&h, (uint16_t)(req->op | MEMD_OP_REPLY), req->id, status, body_len);
	memcpy(o->buf + o->len, &h, MEMD_HDR_SIZE);
	if (body_len > 0)
		memcpy(o->buf + o->len + MEMD_HDR_SIZE, body, body_len);
	o->len += flen;
	c->out_bytes += flen;
	if (c->out_bytes > CONN_OUT_HIGH && !c->throttled) {
		c->throttled = true;
		conn_update_reading(c);
	}
	conn_flush(c);
	return 0;

fail_close_fd:
	if (fd >= 0)
		close(fd);
fail_close_conn:
	log_error("session %llu: out of memory queueing a reply; closing",
	          (unsigned long long)c->session.id);
	conn_close(c);
	return -ENOMEM;
}

int conn_reply(struct conn *c, const struct memd_hdr *req, int32_t status, const void *body,
               size_t body_len)
{
	return conn_enqueue(c, req, status, body, body_len, -1);
}

int conn_reply_fd(struct conn *c, const struct memd_hdr *req, int32_t status, const void *body,
                  size_t body_len, int fd_pass)
{
	int fd;

	memd_assert(fd_pass >= 0);
	fd = fcntl(fd_pass, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	return conn_enqueue(c, req, status, body, body_len, fd);
}

/* Make rbuf hold at least need bytes.  0, -ENOMEM. */
static int conn_rbuf_reserve(struct conn *c, size_t need)
{
	size_t cap = c->rcap ? c->rcap : CONN_RBUF_INIT;
	uint8_t *buf;

	while (cap < need)
		cap *= 2;
	if (cap == c->rcap)
		return 0;
	buf = realloc(c->rbuf, cap);
	if (buf == NULL)
		return -ENOMEM;
	c->rbuf = buf;
	c->rcap = cap;
	return 0;
}

/* Handle every complete frame in rbuf (while allowed), then compact. */
static void conn_process(struct conn *c)
{
	struct memd_hdr h;
	size_t pos = 0;
	int err;

	c->in_dispatch = true;
	while (!c->closing && !c->close_requested && !c->throttled) {
		if (c->rlen - pos < MEMD_HDR_SIZE)
			break;
		err = proto_hdr_decode(c->rbuf + pos, &h);
		if (err == 0 && (h.op & MEMD_OP_REPLY))
			err = -EPROTO;
		if (err < 0) {
			log_warn("session %llu (pid %d): malformed frame header (%s); closing",
			         (unsigned long long)c->session.id, (int)c->session.pid,
			         strerror(-err));
			pos = c->rlen;
			conn_close_after_flush(c); /* finished by the flush below */
			break;
		}
		if (h.len > c->rlen - pos) {
			if (conn_rbuf_reserve(c, h.len) < 0) {
				log_error("session %llu: out of memory for a frame; closing",
				          (unsigned long long)c->session.id);
				conn_close(c);
			}
			break;
		}
		if (c->ring.ctl != NULL) {
			ring_drain(c); /* what was published before this frame came */
			if (c->closing || c->close_requested || c->throttled)
				break;
		}
		dispatch_request(c, &h, c->rbuf + pos + MEMD_HDR_SIZE, h.len - MEMD_HDR_SIZE);
		pos += h.len;
	}
	if (!c->closing && pos > 0) {
		memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
		c->rlen -= pos;
	}
	c->in_dispatch = false;
	if (c->closing)
		return;
	conn_update_reading(c);
	conn_flush(c);
}

unsigned conn_drain_ring(struct conn *c)
{
	unsigned ran;

	memd_assert(!c->in_dispatch);
	if (c->ring.ctl == NULL || c->closing || c->close_requested || c->throttled)
		return 0;
	c->in_dispatch = true;
	ran = ring_drain(c);
	c->in_dispatch = false;
	if (c->closing || (ran == 0 && !c->close_requested))
		return ran; /* nothing queued, nothing to finish */
	conn_update_reading(c);
	conn_flush(c);
	return ran;
}

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)suggested;
	/* rcap > rlen always holds while reading: a partial frame is smaller
	 * than the capacity reserved for it. */
	memd_assert(c->rcap > c->rlen);
	*buf = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(c->rcap - c->rlen));
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	(void)buf;
	if (nread < 0) {
		if (nread != UV_EOF)
			log_debug("session %llu: read: %s", (unsigned long long)c->session.id,
			          uv_strerror((int)nread));
		/* EOF: the peer is gone or half-closed; replies already
		 * queued still go out if it reads them. */
		if (nread == UV_EOF) {
			conn_drain_ring(c); /* published before it went */
			conn_close_after_flush(c);
		} else {
			conn_close(c);
		}
		return;
	}
	if (nread == 0)
		return;
	busy_poll_note(&c->srv->busy);
	c->rlen += (size_t)nread;
	conn_process(c);
}

int conn_accept(struct memd_server *srv)
{
	struct sock_peer peer;
	struct conn *c;
	uv_os_fd_t fd;
	int err;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->srv = srv;
	session_init(&c->session, srv->next_session_id++, &srv->pools, 0, (uid_t)-1, (gid_t)-1);
	err = conn_rbuf_reserve(c, CONN_RBUF_INIT);
	if (err < 0)
		goto fail_free_conn;
	err = uv_pipe_init(&srv->loop, &c->pipe, 0);
	if (err < 0)
		goto fail_free_rbuf;
	c->pipe.data = c;
	c->handles_open++;
	err = uv_timer_init(&srv->loop, &c->retry);
	memd_assert(err == 0); /* uv_timer_init cannot fail */
	c->retry.data = c;
	c->handles_open++;
	/* From here on the conn is freed by conn_close's callbacks. */
	server_conn_link(srv, c);
	err = uv_accept((uv_stream_t *)&srv->listener, (uv_stream_t *)&c->pipe);
	if (err < 0)
		goto fail_close_conn;
	err = uv_fileno((uv_handle_t *)&c->pipe, &fd);
	if (err < 0)
		goto fail_close_conn;
	err = sock_peercred(fd, &peer);
	if (err < 0)
		goto fail_close_conn;
	c->session.pid = peer.pid;
	c->session.uid = peer.uid;
	c->session.gid = peer.gid;
	log_info("session %llu: connected pid %d uid %u gid %u", (unsigned long long)c->session.id,
	         (int)peer.pid, (unsigned)peer.uid, (unsigned)peer.gid);
	conn_update_reading(c);
	if (!c->reading) {
		err = -EIO;
		goto fail_close_conn;
	}
	return 0;

fail_close_conn:
	conn_close(c);
	return err;
fail_free_rbuf:
	free(c->rbuf);
fail_free_conn:
	free(c);
	return err;
}
