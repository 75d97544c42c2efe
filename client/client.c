/*
 * client.c - libmemclient's connection: connect, HELLO, request/reply,
 * pools, alloc/free/size, error texts.
 *
 * What it does: one memc_client is one SOCK_STREAM connection to memd.
 * Every call that needs the daemon goes through client_call(), which holds
 * c->lock while it writes the request frame and reads the matching reply,
 * so a client may be shared by many threads; requests carry increasing ids
 * and a reply whose id, opcode or body does not match (proto_rep_validate)
 * is a protocol error.  The pool name -> pool id cache lives here too, and
 * the sharing calls (share, retain, publish, lookup, unpublish), which are
 * one round trip each: names are checked here (1..MEMD_NAME_MAX printable
 * bytes) before they are sent, and again by the daemon.
 *
 * Invariants:
 *  - At most one request is in flight per client (the lock is held from
 *    the first byte written to the last byte read), so the stream is always
 *    at a frame boundary when the lock is free.
 *  - c->broken is 0 while the stream is healthy.  The first transport error
 *    (write or read failure, end of file) or malformed reply sets it, for
 *    good, to -ECONNRESET (peer reset / EOF), -EPIPE (any other transport
 *    failure) or -EPROTO (the daemon broke the protocol); that call and
 *    every later call needing the daemon return it.  The socket is then
 *    shut down so the daemon sees EOF and drops our holds.
 *  - A daemon error status (-ENOMEM, -EINVAL, ...) is an answer, not a
 *    transport error: the connection stays usable.
 *
 * Ownership: the client owns its socket fd, reply buffer, pool cache and
 * segment table (map.c), all released by memc_close().  memc_ptr and
 * memc_ref_of (map.c) read the segment table without taking c->lock.
 */
#include "cache_int.h"
#include "client_int.h"

#include "debug.h"
#include "ref.h"
#include "sizeclass.h"
#include "sock.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MEMC_DEFAULT_POOL "default"
#define MEMC_FLAGS_ALL    (MEMC_ZERO | MEMC_SHARED)

int client_break(memc_client *c, int err)
{
	int expected = 0;

	if (err != -ECONNRESET && err != -EPROTO)
		err = -EPIPE;
	if (atomic_compare_exchange_strong(&c->broken, &expected, err))
		shutdown(c->fd, SHUT_RDWR);
	return atomic_load(&c->broken);
}

int client_send(memc_client *c, uint16_t op, uint32_t id, const void *req, size_t req_len)
{
	unsigned char frame[MEMD_HDR_SIZE + MEMC_REQ_MAX];
	struct memd_hdr h;
	int err;

	memd_assert(req_len <= sizeof(frame) - MEMD_HDR_SIZE);
	proto_hdr_init(&h, op, id, 0, req_len);
	memcpy(frame, &h, sizeof(h));
	if (req_len > 0)
		memcpy(frame + MEMD_HDR_SIZE, req, req_len);
	err = sock_write_all(c->fd, frame, MEMD_HDR_SIZE + req_len);
	return err < 0 ? client_break(c, err) : 0;
}

/* Before sleeping in recvmsg for a reply, poll for it without sleeping for
 * up to c->spin_ns: a reply that comes within that time is read without
 * the wake-up of an idle CPU (memd polls likewise after a request:
 * daemon/busy_poll.c; together they took memd-bench's rtt from 14.8 to
 * 6.6 us).  The thread waits for memd either way; this spends the wait on
 * its own CPU. */
static void client_spin(memc_client *c)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN};
	struct timespec t0, t;

	if (c->spin_ns == 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		if (poll(&p, 1, 0) != 0)
			return;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((uint64_t)(t.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)t.tv_nsec -
	                 (uint64_t)t0.tv_nsec <
	         c->spin_ns);
}

/* $MEMC_SPIN_US (0..MEMC_SPIN_MAX_US microseconds, default
 * MEMC_SPIN_DEFAULT_US; anything else: 0) in nanoseconds, or 0 with one
 * CPU online: there the reply needs the CPU a spin would hold.  (Not this
 * process's affinity: a client pinned to a core of its own is where
 * polling serves best.) */
static uint64_t client_spin_ns(void)
{
	const char *s = getenv("MEMC_SPIN_US");
	unsigned long v = MEMC_SPIN_DEFAULT_US;
	char *end;

	if (s != NULL && s[0] != '\0') {
		errno = 0;
		v = s[0] >= '0' && s[0] <= '9' ? strtoul(s, &end, 10) : ULONG_MAX;
		if (v == ULONG_MAX || errno != 0 || *end != '\0' || v > MEMC_SPIN_MAX_US)
			return 0;
	}
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return 0;
	return (uint64_t)v * 1000u;
}

/* Have at least need bytes (<= MEMD_FRAME_MAX) of the stream buffered at
 * c->rbuf + c->rb_start.  Each recvmsg asks for all the room left, so
 * replies that are already there (pipelined ones too) come in one system
 * call.  An fd that arrives waits in c->rx_fd for the call whose reply
 * carries it (see client_call_locked); a second one is a protocol error.
 * 0, or the sticky error. */
static int client_fill(memc_client *c, size_t need)
{
	size_t have = c->rb_end - c->rb_start;
	ssize_t n;

	if (have >= need)
		return 0;
	if (c->rb_start > 0 && MEMC_RBUF_SIZE - c->rb_start < need) {
		memmove(c->rbuf, c->rbuf + c->rb_start, have);
		c->rb_start = 0;
		c->rb_end = have;
	}
	client_spin(c);
	n = sock_read_min_fd(c->fd, c->rbuf + c->rb_end, need - have, MEMC_RBUF_SIZE - c->rb_end,
	                     &c->rx_fd);
	if (n < 0)
		return client_break(c, (int)n); /* c->rx_fd closed and -1 */
	c->rb_end += (size_t)n;
	return 0;
}

/* Take the next reply frame off the stream: its body goes to the start of
 * c->rx, *h gets its header.  0, or the sticky error. */
static int client_recv(memc_client *c, struct memd_hdr *h)
{
	size_t body;
	int err;

	err = client_fill(c, MEMD_HDR_SIZE);
	if (err < 0)
		return err;
	if (proto_hdr_decode(c->rbuf + c->rb_start, h) < 0)
		return client_break(c, -EPROTO);
	err = client_fill(c, h->len);
	if (err < 0)
		return err;
	body = h->len - MEMD_HDR_SIZE;
	memcpy(c->rx, c->rbuf + c->rb_start + MEMD_HDR_SIZE, body);
	c->rb_start += h->len;
	if (c->rb_start == c->rb_end)
		c->rb_start = c->rb_end = 0; /* keep reusing the buffer's first pages */
	return 0;
}

/* Read the next reply frame and check that it answers request id (op):
 * c->lock held.  0 with *h and the body in c->rx, or the sticky error. */
static int client_read_reply(memc_client *c, uint32_t id, uint16_t op, struct memd_hdr *h)
{
	int err = client_recv(c, h);

	if (err < 0)
		return err;
	if (h->id == id && proto_rep_validate(op, h, c->rx, h->len - MEMD_HDR_SIZE) == 0)
		return 0;
	return client_break(c, -EPROTO);
}

/* As client_read_reply, for the reply to ring frame frame. */
static int client_read_slot_reply(memc_client *c, uint32_t frame, uint32_t id, uint16_t op,
                                  struct memd_hdr *h)
{
	int err = client_ring_reply(c, frame, h);

	if (err < 0)
		return err;
	if (h->id == id && proto_rep_validate(op, h, c->rx, h->len - MEMD_HDR_SIZE) == 0)
		return 0;
	return client_break(c, -EPROTO);
}

int client_pending_one(memc_client *c)
{
	struct memc_pending p = c->pending[c->pend_head];
	struct memd_hdr h;
	int err;

	c->pend_head = (c->pend_head + 1) % MEMC_PENDING_MAX;
	c->pend_n--;
	if (p.on_socket) {
		c->ring.on_socket--;
		err = client_read_reply(c, p.id, p.op, &h);
	} else {
		err = client_read_slot_reply(c, p.frame, p.id, p.op, &h);
	}
	if (err < 0)
		return err;
	return p.fn != NULL ? p.fn(c, p.arg, &h, c->rx, h.len - MEMD_HDR_SIZE) : 0;
}

bool client_reply_ready(memc_client *c)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN};

	if (c->pend_n > 0 && !c->pending[c->pend_head].on_socket)
		return client_ring_answered(c, c->pending[c->pend_head].frame);
	if (c->rb_end - c->rb_start >= MEMD_HDR_SIZE)
		return true;
	return poll(&p, 1, 0) != 0;
}

int client_drain(memc_client *c)
{
	int err = 0;

	while (c->pend_n > 0 && err == 0)
		err = client_pending_one(c);
	return err < 0 ? err : atomic_load(&c->broken);
}

int client_send_async(memc_client *c, uint16_t op, const void *req, size_t req_len,
                      memc_reply_fn *fn, void *arg)
{
	struct memc_pending *p;
	uint32_t id, frame = 0;
	bool on_socket;
	int err;

	err = atomic_load(&c->broken);
	if (err < 0)
		return err;
	if (c->pend_n == MEMC_PENDING_MAX) {
		err = client_pending_one(c);
		if (err < 0)
			return err;
	}
	id = c->next_id++;
	on_socket = !client_ring_put(c, op, id, req, req_len, &frame);
	if (on_socket) {
		err = client_send(c, op, id, req, req_len);
		if (err < 0)
			return err;
	}
	err = atomic_load(&c->broken); /* a kick that failed */
	if (err < 0)
		return err;
	p = &c->pending[(c->pend_head + c->pend_n) % MEMC_PENDING_MAX];
	*p = (struct memc_pending){
	        .id = id, .op = op, .on_socket = on_socket, .frame = frame, .fn = fn, .arg = arg};
	c->pend_n++;
	c->ring.on_socket += on_socket;
	return 0;
}

/* The request/reply exchange proper; c->lock held.  Replies come in
 * request order, so the replies to requests still pending are read (and
 * handled) first.  Only replies to these synchronous calls carry fds. */
static int client_call_locked(memc_client *c, uint16_t op, const void *req, size_t req_len,
                              void *rep, size_t rep_cap, size_t *rep_len, int *fd_out)
{
	struct memd_hdr h;
	uint32_t id, frame;
	size_t body_len;
	int fd = -1;
	int err;

	err = atomic_load(&c->broken);
	if (err < 0)
		return err;
	id = c->next_id++;
	if (fd_out == NULL && client_ring_put(c, op, id, req, req_len, &frame)) {
		/* The replies before it, then its own from its slot. */
		err = client_drain(c);
		if (err == 0)
			err = client_read_slot_reply(c, frame, id, op, &h);
		if (err < 0)
			return err;
		goto out_reply;
	}
	err = client_send(c, op, id, req, req_len);
	if (err < 0)
		return err;
	err = client_drain(c);
	if (err < 0)
		return err;
	err = client_read_reply(c, id, op, &h);
	if (err < 0)
		return err;
	/* Every request sent is answered now: an fd that came belongs to
	 * this reply, and bytes past it are a protocol error. */
	fd = c->rx_fd;
	c->rx_fd = -1;
	if (c->rb_end != c->rb_start)
		goto fail_protocol;
	if ((fd >= 0 && fd_out == NULL) || (fd < 0 && fd_out != NULL && h.status == 0))
		goto fail_protocol;
	if (fd_out != NULL)
		*fd_out = fd;
out_reply:
	body_len = h.len - MEMD_HDR_SIZE;
	if (rep != NULL)
		memcpy(rep, c->rx, body_len < rep_cap ? body_len : rep_cap);
	if (rep_len != NULL)
		*rep_len = body_len;
	return h.status;

fail_protocol:
	if (fd >= 0)
		close(fd);
	return client_break(c, -EPROTO);
}

int client_protocol_error(memc_client *c)
{
	return client_break(c, -EPROTO);
}

int client_call(memc_client *c, int locked, uint16_t op, const void *req, size_t req_len, void *rep,
                size_t rep_cap, size_t *rep_len, int *fd_out)
{
	int ret;

	if (fd_out != NULL)
		*fd_out = -1;
	if (locked)
		return client_call_locked(c, op, req, req_len, rep, rep_cap, rep_len, fd_out);
	pthread_mutex_lock(&c->lock);
	ret = client_call_locked(c, op, req, req_len, rep, rep_cap, rep_len, fd_out);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

/* The socket path memc_connect() uses for path. */
static const char *client_socket_path(const char *path)
{
	const char *env;

	if (path != NULL)
		return path;
	env = getenv("MEMD_SOCKET");
	if (env != NULL && env[0] != '\0')
		return env;
	return MEMC_DEFAULT_SOCKET;
}

/* Send HELLO and check the daemon's version.  0, -EPROTO on a version
 * mismatch, or another error. */
static int client_hello(memc_client *c)
{
	struct memd_hello_req req = {.version = MEMD_PROTO_VERSION};
	const char *name = program_invocation_short_name;
	int status;

	if (name == NULL || name[0] == '\0')
		name = "memclient";
	strncpy(req.name, name, sizeof(req.name) - 1);
	status = client_call(c, 0, MEMD_OP_HELLO, &req, sizeof(req), &c->hello, sizeof(c->hello),
	                     NULL, NULL);
	if (status == -EPROTO || (status == 0 && c->hello.version != MEMD_PROTO_VERSION))
		return -EPROTO;
	return status;
}

int memc_connect(const char *socket_path, memc_client **out)
{
	memc_client *c;
	int err;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->rx = malloc(MEMD_FRAME_MAX);
	if (c->rx == NULL) {
		err = -ENOMEM;
		goto fail_free_client;
	}
	c->rbuf = malloc(MEMC_RBUF_SIZE);
	if (c->rbuf == NULL) {
		err = -ENOMEM;
		goto fail_free_rx;
	}
	c->rx_fd = -1;
	err = -pthread_mutex_init(&c->lock, NULL);
	if (err < 0)
		goto fail_free_rbuf;
	err = segtab_init(&c->segs);
	if (err < 0)
		goto fail_destroy_lock;
	c->next_id = 1;
	cache_init(c);
	client_ring_init(c);
	c->spin_ns = client_spin_ns();
	c->fd = sock_connect_unix(client_socket_path(socket_path));
	if (c->fd < 0) {
		err = c->fd;
		goto fail_destroy_segtab;
	}
	err = client_hello(c);
	if (err < 0)
		goto fail_close_fd;
	*out = c;
	return 0;

fail_close_fd:
	close(c->fd);
	if (c->rx_fd >= 0)
		close(c->rx_fd);
fail_destroy_segtab:
	segtab_destroy(&c->segs);
fail_destroy_lock:
	pthread_mutex_destroy(&c->lock);
fail_free_rbuf:
	free(c->rbuf);
fail_free_rx:
	free(c->rx);
fail_free_client:
	free(c);
	return err;
}

void memc_close(memc_client *c)
{
	if (c == NULL)
		return;
	cache_fini(c);
	client_ring_fini(c);
	close(c->fd);
	if (c->rx_fd >= 0)
		close(c->rx_fd);
	segtab_destroy(&c->segs);
	pthread_mutex_destroy(&c->lock);
	free(c->pools);
	free(c->rbuf);
	free(c->rx);
	free(c);
}

/* Remember a resolved pool; failure to grow the cache only costs a
 * later round trip.  c->lock held. */
static void client_pool_remember(memc_client *c, const char *name, const struct memd_pool_rep *r)
{
	if (c->npools == c->pools_cap) {
		size_t cap = c->pools_cap ? 2 * c->pools_cap : 4;
		struct memc_pool *p = realloc(c->pools, cap * sizeof(*p));

		if (p == NULL)
			return;
		c->pools = p;
		c->pools_cap = cap;
	}
	memset(&c->pools[c->npools], 0, sizeof(c->pools[0]));
	strcpy(c->pools[c->npools].name, name);
	c->pools[c->npools].id = r->pool_id;
	c->pools[c->npools].access = r->access;
	c->npools++;
}

int client_pool_id(memc_client *c, const char *name, uint32_t *id)
{
	struct memd_pool_req req;
	struct memd_pool_rep rep;
	size_t len = strnlen(name, MEMD_POOL_NAME_MAX);
	int status;

	if (len == 0 || len >= MEMD_POOL_NAME_MAX)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->npools; i++) {
		if (strcmp(c->pools[i].name, name) == 0) {
			*id = c->pools[i].id;
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
	}
	memset(&req, 0, sizeof(req));
	memcpy(req.name, name, len);
	status = client_call(c, 1, MEMD_OP_POOL, &req, sizeof(req), &rep, sizeof(rep), NULL, NULL);
	if (status == 0) {
		client_pool_remember(c, name, &rep);
		*id = rep.pool_id;
	}
	pthread_mutex_unlock(&c->lock);
	return status;
}

/* Zero the usable bytes of a fresh block through our mapping.  0 or the
 * memc_ptr error. */
static int client_zero(memc_client *c, memc_ref ref, uint64_t size)
{
	void *p = memc_ptr(c, ref);

	if (p == NULL)
		return -errno;
	memset(p, 0, size);
	return 0;
}

/* Is err a refusal that blocks sitting in this client's caches may cause
 * (they count as held), so that cache_reclaim() and one retry can help? */
static bool client_reclaim_helps(memc_client *c, int err)
{
	return (err == -EDQUOT || err == -ENOMEM) && cache_reclaim(c) > 0;
}

/* A private block from the calling thread's cache.  0, an error, or 1:
 * the cache does not serve this request. */
static int client_alloc_cached(memc_client *c, const char *pool, size_t size, unsigned flags,
                               memc_ref *out)
{
	uint32_t cls = memd_size_class(size);
	int err;

	if (size > MEMD_SMALL_MAX || (flags & MEMC_SHARED))
		return 1;
	err = cache_alloc(c, pool, cls, out);
	if (err == 0 && (flags & MEMC_ZERO)) {
		err = client_zero(c, *out, memd_class_size(cls));
		if (err < 0)
			memc_free(c, *out);
	}
	return err;
}

/* memc_alloc through the cache or one ALLOC round trip. */
static int client_alloc(memc_client *c, const char *pool, size_t size, unsigned flags,
                        memc_ref *out)
{
	struct memd_alloc_req req = {.size = size};
	struct memd_alloc_rep rep;
	int err;

	err = client_alloc_cached(c, pool, size, flags, out);
	if (err <= 0)
		return err;
	err = client_pool_id(c, pool != NULL ? pool : MEMC_DEFAULT_POOL, &req.pool_id);
	if (err < 0)
		return err;
	if (flags & MEMC_SHARED)
		req.flags |= MEMD_ALLOC_SHARED;
	err = client_call(c, 0, MEMD_OP_ALLOC, &req, sizeof(req), &rep, sizeof(rep), NULL, NULL);
	if (err < 0)
		return err;
	if (flags & MEMC_ZERO) {
		err = client_zero(c, rep.ref, rep.size);
		if (err < 0)
			goto fail_free_block;
	}
	*out = rep.ref;
	return 0;

fail_free_block:
	memc_free(c, rep.ref);
	return err;
}

/* memc_alloc past its fast path. */
static __attribute__((noinline)) int client_alloc_slow(memc_client *c, const char *pool,
                                                       size_t size, unsigned flags, memc_ref *out)
{
	int err;

	if (c == NULL || out == NULL || size == 0 || (flags & ~MEMC_FLAGS_ALL) != 0)
		return -EINVAL;
	err = client_alloc(c, pool, size, flags, out);
	if (err < 0 && client_reclaim_helps(c, err))
		err = client_alloc(c, pool, size, flags, out);
	return err;
}

int memc_alloc(memc_client *c, const char *pool, size_t size, unsigned flags, memc_ref *out)
{
	if (memd_likely(pool == NULL && flags == 0 && c != NULL && out != NULL &&
	                size - 1 < MEMD_SMALL_MAX) &&
	    cache_alloc_fast(c, size, out) == 0)
		return 0;
	return client_alloc_slow(c, pool, size, flags, out);
}

/* A request about ref that the cache did not answer: under c->lock, first
 * let the cache settle (every pending reply read, every arrived lease
 * recorded), because a block of a lease whose reply was still unread is a
 * cached block, which the daemon must not be asked about (it would free or
 * share it under the cache's feet): such a block counts as freed
 * (-EINVAL).  Then one round trip. */
static int client_call_ref(memc_client *c, uint16_t op, memc_ref ref, const void *req,
                           size_t req_len, void *rep, size_t rep_cap)
{
	size_t size;
	int err;

	pthread_mutex_lock(&c->lock);
	err = cache_settle(c);
	if (err == 0 && cache_query(c, ref, &size) <= 0)
		err = -EINVAL; /* in a lease that just arrived: never handed out */
	if (err == 0)
		err = client_call(c, 1, op, req, req_len, rep, rep_cap, NULL, NULL);
	pthread_mutex_unlock(&c->lock);
	return err;
}

/* memc_free of a block the cache does not answer for: the daemon's. */
static __attribute__((noinline)) int client_free_remote(memc_client *c, memc_ref ref)
{
	struct memd_ref_req req = {.ref = ref};

	return client_call_ref(c, MEMD_OP_FREE, ref, &req, sizeof(req), NULL, 0);
}

int memc_free(memc_client *c, memc_ref ref)
{
	struct cmap_chunk *ch;
	struct memc_seg *s;
	int err;

	if (c == NULL || ref == 0)
		return -EINVAL;
	err = cache_free_fast(c, ref, &s, &ch);
	if (memd_likely(err <= 0))
		return err;
	if (err == 2)
		return cache_keep(c, s, ch, ref);
	return client_free_remote(c, ref);
}

int memc_size(memc_client *c, memc_ref ref, size_t *out)
{
	struct memd_ref_req req = {.ref = ref};
	struct memd_size_rep rep;
	int err;

	if (c == NULL || out == NULL || ref == 0)
		return -EINVAL;
	err = cache_query(c, ref, out);
	if (err <= 0)
		return err;
	err = client_call_ref(c, MEMD_OP_SIZE, ref, &req, sizeof(req), &rep, sizeof(rep));
	if (err < 0)
		return err;
	*out = rep.size;
	return 0;
}

int memc_share(memc_client *c, memc_ref ref)
{
	struct memd_ref_req req = {.ref = ref};
	int err;

	if (c == NULL || ref == 0)
		return -EINVAL;
	err = cache_claim(c, ref);
	if (err < 0)
		return err;
	return client_call_ref(c, MEMD_OP_SHARE, ref, &req, sizeof(req), NULL, 0);
}

int memc_retain(memc_client *c, memc_ref ref)
{
	struct memd_ref_req req = {.ref = ref};
	size_t size;
	int err;

	if (c == NULL || ref == 0)
		return -EINVAL;
	err = cache_query(c, ref, &size);
	if (err <= 0)
		return err == 0 ? -EPERM : err; /* a cache block is private */
	err = client_call_ref(c, MEMD_OP_RETAIN, ref, &req, sizeof(req), NULL, 0);
	if (err < 0 && client_reclaim_helps(c, err))
		err = client_call_ref(c, MEMD_OP_RETAIN, ref, &req, sizeof(req), NULL, 0);
	return err;
}

/* Copy a published name into its wire field (len bytes, zeros after).
 * 0, or -EINVAL (NULL, empty, longer than MEMD_NAME_MAX, or a byte that is
 * not printable ASCII). */
static int client_name(const char *name, char field[MEMD_NAME_MAX + 1], uint32_t *len)
{
	size_t n;

	if (name == NULL)
		return -EINVAL;
	n = strnlen(name, MEMD_NAME_MAX + 1);
	if (n == 0 || n > MEMD_NAME_MAX)
		return -EINVAL;
	memset(field, 0, MEMD_NAME_MAX + 1);
	memcpy(field, name, n);
	*len = (uint32_t)n;
	return proto_name_valid(field, *len) ? 0 : -EINVAL;
}

int memc_publish(memc_client *c, const char *name, memc_ref ref)
{
	struct memd_publish_req req = {.ref = ref};
	int err;

	if (c == NULL || ref == 0)
		return -EINVAL;
	err = client_name(name, req.name, &req.len);
	if (err < 0)
		return err;
	err = cache_claim(c, ref);
	if (err < 0)
		return err;
	return client_call_ref(c, MEMD_OP_PUBLISH, ref, &req, sizeof(req), NULL, 0);
}

int memc_lookup(memc_client *c, const char *name, memc_ref *out)
{
	struct memd_name_req req = {.pad = 0};
	struct memd_lookup_rep rep;
	int err;

	if (c == NULL || out == NULL)
		return -EINVAL;
	err = client_name(name, req.name, &req.len);
	if (err < 0)
		return err;
	err = client_call(c, 0, MEMD_OP_LOOKUP, &req, sizeof(req), &rep, sizeof(rep), NULL, NULL);
	if (err < 0 && client_reclaim_helps(c, err))
		err = client_call(c, 0, MEMD_OP_LOOKUP, &req, sizeof(req), &rep, sizeof(rep), NULL,
		                  NULL);
	if (err < 0)
		return err;
	*out = rep.ref;
	return 0;
}

int memc_unpublish(memc_client *c, const char *name)
{
	struct memd_name_req req = {.pad = 0};
	int err;

	if (c == NULL)
		return -EINVAL;
	err = client_name(name, req.name, &req.len);
	if (err < 0)
		return err;
	return client_call(c, 0, MEMD_OP_UNPUBLISH, &req, sizeof(req), NULL, 0, NULL, NULL);
}

const char *memc_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case -ENOMEM:
		return "out of memory: the pool or quota is exhausted";
	case -EACCES:
		return "permission denied: no access to the pool";
	case -EINVAL:
		return "invalid argument, or not a live block";
	case -EPERM:
		return "operation not permitted on this block (private, or not held by this "
		       "client)";
	case -EDQUOT:
		return "quota exceeded: this client or its user holds too many bytes in the pool";
	case -EUSERS:
		return "too many clients: memd's max_clients is reached";
	case -ENOSPC:
		return "too many names: memd's max_names is reached";
	case -EOVERFLOW:
		return "too many holds on one block";
	case -ENOENT:
		return "no such pool, published name or daemon socket";
	case -EEXIST:
		return "name already published";
	case -EPIPE:
		return "connection to memd lost";
	case -ECONNRESET:
		return "connection reset by memd";
	case -ECONNREFUSED:
		return "memd is not accepting connections";
	case -EPROTO:
		return "protocol error: memd speaks another version or sent a malformed reply";
	case -ENAMETOOLONG:
		return "socket path too long";
	case -EOPNOTSUPP:
		return "operation not supported by this memd";
	case -EMSGSIZE:
		return "message too large";
	default:
		return "unknown error";
	}
}
