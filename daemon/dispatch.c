/*
 * dispatch.c - opcode -> handler, and the handlers themselves.
 *
 * Every request but RING_KICK gets exactly one reply, queued on its
 * connection in request order.  The rules, in the order they are applied
 * (after RING_KICK, see "Request ring" below):
 *
 *   1. Before a successful HELLO, any other opcode is answered -EPROTO and
 *      the connection closes once that reply is flushed.
 *   2. HELLO's version is checked before its body is validated, so a
 *      future client whose HELLO grew still learns "-EPROTO, daemon speaks
 *      version N" (the reply body always carries the daemon's version).  A
 *      mismatch is logged with the client's pid and both versions, and the
 *      connection closes after the reply.
 *   3. proto_req_validate(): -EOPNOTSUPP for an opcode we do not know,
 *      -EINVAL for a bad body; the connection stays open.
 *   4. The handler.  Errors it returns become the reply's status with an
 *      empty body (HELLO and FREE_BATCH excepted, see proto.h).
 *
 * Holds: every block ALLOC or ALLOC_BATCH hands out is recorded in the
 * session before the reply is queued (room is reserved first, so the
 * record cannot fail after the pool gave the block out).  FREE drops one
 * of the session's holds; a live block the session does not hold is
 * -EPERM, anything else -EINVAL, and nothing changes in either case.
 * SHARE, RETAIN, PUBLISH, LOOKUP and UNPUBLISH are thin wrappers of the
 * session_* calls that implement DESIGN.md section 3 (session.h has the
 * rules: counted holds per session, names hold blocks, quotas).
 *
 * Limits: HELLO is where max_clients ([memd]) applies: a client that would
 * make more than max_clients sessions past HELLO at once is answered
 * -EUSERS (with the usual HELLO body) and its connection closes after the
 * reply; the refusal is logged with its pid.  Connections that have not
 * said HELLO yet, and ones already closing, do not count.
 *
 * Access: POOL computes the client's MEMD_ACCESS_* bits from the pool's
 * read/write lists (access.h) and the session's kernel-verified uid/gid,
 * and records them in the session; ALLOC needs WRITE (-EACCES).  MAP
 * computes the bits for the segment's pool afresh (a client may map a
 * segment it met through a reference without having opened the pool) and
 * sends a read-only fd to a client without WRITE, whose mapping is then
 * PROT_READ: writing through it faults.
 *
 * Cache page: CACHE_PAGE asks session.c for the session's sealed counters
 * page and sends its memfd with the reply, the way MAP sends a segment
 * fd; the daemon then closes its copy of the fd (conn_reply_fd queued a
 * dup) and keeps only the mapping, in the session.  If the reply cannot
 * be queued the page is dropped again, so the client may ask anew.
 *
 * Request ring: RING asks ring.c for the connection's ring and sends its
 * memfd with the reply, as CACHE_PAGE does (the daemon keeps only the
 * mapping; a reply that cannot be queued drops the ring again).  Frames
 * from the ring come through dispatch_request() like frames from the
 * socket (ring.c checks first that they are ALLOC, FREE, ALLOC_BATCH or
 * FREE_BATCH with a sound header, and conn_reply() puts their replies in
 * their slots); from here on nothing tells them apart, so a bad
 * body in the ring gets -EINVAL as it would on the socket, and the
 * connection stays.  RING_KICK with no body
 * is the one request without a reply: it is taken before every rule
 * above (even before HELLO, where it can do nothing: there is no ring
 * yet) and does nothing, because what it asks for, a look at the ring,
 * conn.c did before it handed the kick over.  A RING_KICK with a body is
 * not a kick: it goes the general way and gets -EINVAL (-EPROTO and a
 * close before HELLO).
 *
 * The handlers own nothing: batch bodies are built in the server's scratch
 * buffer (one loop thread, one request at a time) and copied into the
 * reply queue by conn_reply().
 */
#include "dispatch.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "debug.h"
#include "log.h"
#include "pool.h"
#include "ring.h"
#include "server.h"
#include "session.h"
#include "stats.h"

/* A handler: 0 or -errno; 0 means it queued its own reply. */
typedef int (*dispatch_fn)(struct conn *c, const struct memd_hdr *h, const void *body,
                           size_t body_len);

static void dispatch_hello_reply(struct conn *c, const struct memd_hdr *h, int32_t status)
{
	struct memd_hello_rep rep = {
	        .version = MEMD_PROTO_VERSION,
	        .pid = (uint32_t)c->srv->pid,
	        .frame_max = MEMD_FRAME_MAX,
	        .batch_max = MEMD_BATCH_MAX,
	        .session = c->session.id,
	};

	conn_reply(c, h, status, &rep, sizeof(rep));
}

/* Would one more session past HELLO exceed max_clients? */
static bool dispatch_too_many_clients(const struct conn *c)
{
	uint32_t max = c->srv->cfg->max_clients;
	uint32_t n = 0;

	if (max == 0)
		return false;
	for (const struct conn *o = c->srv->conns; o != NULL; o = o->next)
		if (o != c && o->session.hello_done && !o->closing && !o->close_requested)
			n++;
	return n >= max;
}

/* HELLO goes through here in full: its reply always has a body. */
static void dispatch_hello(struct conn *c, const struct memd_hdr *h, const void *body,
                           size_t body_len)
{
	struct session *s = &c->session;
	struct memd_hello_req req;
	uint32_t version;
	int err;

	if (body_len >= sizeof(version)) {
		memcpy(&version, body, sizeof(version));
		if (version != MEMD_PROTO_VERSION) {
			log_warn("session %llu: client pid %d speaks protocol version %u, this "
			         "memd speaks version %u: refused (-EPROTO), closing",
			         (unsigned long long)s->id, (int)s->pid, (unsigned)version,
			         (unsigned)MEMD_PROTO_VERSION);
			dispatch_hello_reply(c, h, -EPROTO);
			conn_close_after_flush(c);
			return;
		}
	}
	err = proto_req_validate(h, body, body_len);
	if (err == 0 && s->hello_done)
		err = -EINVAL; /* a second HELLO */
	if (err < 0) {
		dispatch_hello_reply(c, h, err);
		if (!s->hello_done)
			conn_close_after_flush(c);
		return;
	}
	if (dispatch_too_many_clients(c)) {
		log_warn("session %llu: client pid %d refused: max_clients (%u) sessions already "
		         "(-EUSERS), closing",
		         (unsigned long long)s->id, (int)s->pid,
		         (unsigned)c->srv->cfg->max_clients);
		dispatch_hello_reply(c, h, -EUSERS);
		conn_close_after_flush(c);
		return;
	}
	memcpy(&req, body, sizeof(req));
	memcpy(s->name, req.name, sizeof(s->name));
	s->name[sizeof(s->name) - 1] = '\0';
	s->hello_done = true;
	log_info("session %llu: hello from '%s' (pid %d)", (unsigned long long)s->id, s->name,
	         (int)s->pid);
	dispatch_hello_reply(c, h, 0);
}

static int dispatch_pool(struct conn *c, const struct memd_hdr *h, const void *body,
                         size_t body_len)
{
	struct session *s = &c->session;
	struct memd_pool_req req;
	struct memd_pool_rep rep;
	struct pool *pool;
	uint32_t access;
	int err;

	(void)body_len;
	memcpy(&req, body, sizeof(req));
	pool = pool_set_find(s->pools, req.name);
	if (pool == NULL)
		return -ENOENT;
	access = pool_access(pool, s->uid, s->gid);
	if (access == 0)
		return -EACCES;
	err = session_open_pool(s, pool->id, access);
	if (err < 0)
		return err;
	rep = (struct memd_pool_rep){
	        .pool_id = pool->id,
	        .access = access,
	        .max_size = pool->cfg.max_size,
	};
	return conn_reply(c, h, 0, &rep, sizeof(rep));
}

/* The pool an ALLOC names, checked for write access.  0 or -errno. */
static int dispatch_alloc_pool(struct session *s, uint32_t pool_id, struct pool **out)
{
	uint32_t access;

	*out = session_pool(s, pool_id, &access);
	if (*out == NULL)
		return -EINVAL;
	if (!(access & MEMD_ACCESS_WRITE))
		return -EACCES;
	return 0;
}

static int dispatch_alloc(struct conn *c, const struct memd_hdr *h, const void *body,
                          size_t body_len)
{
	struct session *s = &c->session;
	struct memd_alloc_req req;
	struct memd_alloc_rep rep;
	struct pool *pool;
	uint64_t ref, usable;
	int err;

	(void)body_len;
	memcpy(&req, body, sizeof(req));
	err = dispatch_alloc_pool(s, req.pool_id, &pool);
	if (err < 0)
		return err;
	err = session_alloc(s, pool, req.size, req.align, (req.flags & MEMD_ALLOC_SHARED) != 0,
	                    &ref, &usable);
	if (err < 0)
		return err;
	rep = (struct memd_alloc_rep){.ref = ref, .size = usable};
	return conn_reply(c, h, 0, &rep, sizeof(rep));
}

static int dispatch_alloc_batch(struct conn *c, const struct memd_hdr *h, const void *body,
                                size_t body_len)
{
	struct session *s = &c->session;
	uint8_t *out = (uint8_t *)c->srv->scratch;
	uint64_t *refs = (uint64_t *)(out + sizeof(struct memd_alloc_batch_rep));
	struct memd_alloc_batch_req req;
	struct memd_alloc_batch_rep rep;
	struct pool *pool;
	uint64_t usable = 0;
	uint32_t got = 0;
	int err;

	(void)body_len;
	memcpy(&req, body, sizeof(req));
	memd_assert(req.count >= 1 && req.count <= MEMD_BATCH_MAX);
	err = dispatch_alloc_pool(s, req.pool_id, &pool);
	if (err < 0)
		return err;
	err = session_alloc_batch(s, pool, req.size, req.count,
	                          (req.flags & MEMD_ALLOC_SHARED) != 0, refs, &got, &usable);
	if (err < 0)
		return err;
	rep = (struct memd_alloc_batch_rep){.size = usable, .count = got, .pad = 0};
	memcpy(out, &rep, sizeof(rep));
	return conn_reply(c, h, 0, out, sizeof(rep) + (size_t)got * sizeof(uint64_t));
}

static int dispatch_free(struct conn *c, const struct memd_hdr *h, const void *body,
                         size_t body_len)
{
	struct memd_ref_req req;
	int err;

	(void)body_len;
	memcpy(&req, body, sizeof(req));
	err = session_free(&c->session, req.ref);
	if (err < 0)
		return err;
	return conn_reply(c, h, 0, NULL, 0);
}

/* FREE_BATCH replies with per-ref results even when some failed. */
static int dispatch_free_batch(struct conn *c, const struct memd_hdr *h, const void *body,
                               size_t body_len)
{
	const uint8_t *in = (const uint8_t *)body + sizeof(struct memd_free_batch_req);
	uint8_t *out = (uint8_t *)c->srv->scratch;
	int32_t *results = (int32_t *)(out + sizeof(struct memd_free_batch_rep));
	struct memd_free_batch_req req;
	struct memd_free_batch_rep rep;
	int32_t status;
	uint32_t n;

	(void)body_len;
	memcpy(&req, body, sizeof(req));
	memd_assert(req.count >= 1 && req.count <= MEMD_BATCH_MAX);
	status = session_free_batch(&c->session, in, req.count, results);
	n = req.count;
	if (n % 2 != 0)
		results[n++] = 0; /* pad to 8 bytes */
	rep = (struct memd_free_batch_rep){.count = req.count, .pad = 0};
	memcpy(out, &rep, sizeof(rep));
	return conn_reply(c, h, status, out, sizeof(rep) + (size_t)n * sizeof(int32_t));
}

static int dispatch_size(struct conn *c, const struct memd_hdr *h, const void *body,
                         size_t body_len)
{
	struct memd_ref_req req;
	struct memd_size_rep rep;
	struct pool *pool;
	uint64_t usable;
	int err;

	(void)body_len;
	memcpy(&req, body, sizeof(req));
	pool = pool_set_pool_of_ref(c->session.pools, req.ref);
	if (pool == NULL)
		return -EINVAL;
	err = pool_block_size(pool, req.ref, &usable);
	if (err < 0)
		return err;
	rep = (struct memd_size_rep){.size = usable};
	return conn_reply(c, h, 0, &rep, sizeof(rep));
}

static int dispatch_map(struct conn *c, const struct memd_hdr *h, const void *body, size_t body_len)
{
	struct session *s = &c->session;
	struct pool_segment *seg;
	struct memd_map_req req;
	struct memd_map_rep rep;
	struct pool *pool;
	uint32_t access;
	int err, fd;

	(void)body_len;
	memcpy(&req, body, sizeof(req));
	err = pool_segment_lookup(s->pools, req.seg_id, &pool, &seg);
	if (err < 0)
		return err;
	access = pool_access(pool, s->uid, s->gid);
	if (access == 0)
		return -EACCES;
	fd = pool_segment_fd(seg, !(access & MEMD_ACCESS_WRITE));
	if (fd < 0)
		return fd;
	rep = (struct memd_map_rep){.seg_id = seg->id, .access = access, .size = seg->size};
	return conn_reply_fd(c, h, 0, &rep, sizeof(rep), fd);
}

static int dispatch_share(struct conn *c, const struct memd_hdr *h, const void *body,
                          size_t body_len)
{
	struct memd_ref_req req;
	int err;

	(void)body_len;
	memcpy(&req, body, sizeof(req));
	err = session_share(&c->session, req.ref);
	if (err < 0)
		return err;
	return conn_reply(c, h, 0, NULL, 0);
}

static int dispatch_retain(struct conn *c, const struct memd_hdr *h, const void *body,
                           size_t body_len)
{
	struct memd_ref_req req;
	int err;

	(void)body_len;
	memcpy(&req, body, sizeof(req));
	err = session_retain(&c->session, req.ref, NULL);
	if (err < 0)
		return err;
	return conn_reply(c, h, 0, NULL, 0);
}

static int dispatch_publish(struct conn *c, const struct memd_hdr *h, const void *body,
                            size_t body_len)
{
	struct memd_publish_req req;
	int err;

	(void)body_len;
	memcpy(&req, body, sizeof(req));
	err = session_publish(&c->session, req.name, req.len, req.ref);
	if (err < 0)
		return err;
	log_debug("session %llu: published '%s' -> %#llx", (unsigned long long)c->session.id,
	          req.name, (unsigned long long)req.ref);
	return conn_reply(c, h, 0, NULL, 0);
}

static int dispatch_lookup(struct conn *c, const struct memd_hdr *h, const void *body,
                           size_t body_len)
{
	struct memd_name_req req;
	struct memd_lookup_rep rep;
	uint64_t ref, usable;
	int err;

	(void)body_len;
	memcpy(&req, body, sizeof(req));
	err = session_lookup(&c->session, req.name, req.len, &ref, &usable);
	if (err < 0)
		return err;
	rep = (struct memd_lookup_rep){.ref = ref, .size = usable};
	return conn_reply(c, h, 0, &rep, sizeof(rep));
}

static int dispatch_unpublish(struct conn *c, const struct memd_hdr *h, const void *body,
                              size_t body_len)
{
	struct memd_name_req req;
	int err;

	(void)body_len;
	memcpy(&req, body, sizeof(req));
	err = session_unpublish(&c->session, req.name, req.len);
	if (err < 0)
		return err;
	return conn_reply(c, h, 0, NULL, 0);
}

static int dispatch_cache_page(struct conn *c, const struct memd_hdr *h, const void *body,
                               size_t body_len)
{
	struct memd_cache_page_rep rep = {.size = MEMD_CACHE_PAGE_SIZE, .slots = MEMD_CACHE_SLOTS};
	int err, fd;

	(void)body;
	(void)body_len;
	err = session_cache_page_create(&c->session, &fd);
	if (err < 0)
		return err;
	err = conn_reply_fd(c, h, 0, &rep, sizeof(rep), fd);
	close(fd);
	if (err < 0) {
		session_cache_page_drop(&c->session);
		return err;
	}
	log_debug("session %llu: cache page sent", (unsigned long long)c->session.id);
	return 0;
}

static int dispatch_ring(struct conn *c, const struct memd_hdr *h, const void *body,
                         size_t body_len)
{
	struct memd_ring_rep rep = {
	        .size = MEMD_RING_SIZE,
	        .slots = MEMD_RING_SLOTS,
	        .slot_size = MEMD_RING_SLOT_SIZE,
	};
	int err, fd;

	(void)body;
	(void)body_len;
	err = ring_create(c, &fd);
	if (err < 0)
		return err;
	err = conn_reply_fd(c, h, 0, &rep, sizeof(rep), fd);
	close(fd);
	if (err < 0) {
		ring_destroy(c);
		return err;
	}
	log_debug("session %llu: request ring sent", (unsigned long long)c->session.id);
	return 0;
}

/* Handlers by opcode; NULL: no such opcode (-EOPNOTSUPP).  HELLO is
 * handled before the table is consulted. */
static const dispatch_fn dispatch_table[MEMD_OP_TABLE_SIZE] = {
        [MEMD_OP_POOL] = dispatch_pool,
        [MEMD_OP_ALLOC] = dispatch_alloc,
        [MEMD_OP_ALLOC_BATCH] = dispatch_alloc_batch,
        [MEMD_OP_FREE] = dispatch_free,
        [MEMD_OP_FREE_BATCH] = dispatch_free_batch,
        [MEMD_OP_SIZE] = dispatch_size,
        [MEMD_OP_MAP] = dispatch_map,
        [MEMD_OP_SHARE] = dispatch_share,
        [MEMD_OP_RETAIN] = dispatch_retain,
        [MEMD_OP_PUBLISH] = dispatch_publish,
        [MEMD_OP_LOOKUP] = dispatch_lookup,
        [MEMD_OP_UNPUBLISH] = dispatch_unpublish,
        [MEMD_OP_CACHE_PAGE] = dispatch_cache_page,
        [MEMD_OP_RING] = dispatch_ring,
        /* memctl's operator view (stats.c) */
        [MEMD_OP_STATS_STATUS] = stats_status,
        [MEMD_OP_STATS_POOLS] = stats_pools,
        [MEMD_OP_STATS_POOL] = stats_pool,
        [MEMD_OP_STATS_CLIENTS] = stats_clients,
        [MEMD_OP_STATS_BLOCKS] = stats_blocks,
        [MEMD_OP_STATS_NAMES] = stats_names,
        [MEMD_OP_STATS_MAP] = stats_map,
        [MEMD_OP_STATS_CHECK] = stats_check,
        [MEMD_OP_STATS_TRIM] = stats_trim,
};

void dispatch_request(struct conn *c, const struct memd_hdr *h, const void *body, size_t body_len)
{
	struct session *s = &c->session;
	dispatch_fn fn = NULL;
	int err;

	memd_assert(!(h->op & MEMD_OP_REPLY));
	if (h->op == MEMD_OP_RING_KICK && body_len == 0)
		return; /* never answered; conn.c drained the ring already */
	if (h->op == MEMD_OP_HELLO) {
		dispatch_hello(c, h, body, body_len);
		return;
	}
	if (!s->hello_done) {
		log_warn("session %llu (pid %d): %s request before HELLO: -EPROTO, closing",
		         (unsigned long long)s->id, (int)s->pid, proto_op_name(h->op));
		conn_reply(c, h, -EPROTO, NULL, 0);
		conn_close_after_flush(c);
		return;
	}
	err = proto_req_validate(h, body, body_len);
	if (err == 0 && h->op >= MEMD_OP_STATS_STATUS && h->op < MEMD_OP_STATS_END_)
		pool_set_trim_due(&c->srv->pools); /* memctl sees the pools settled */
	if (err == 0) {
		if (h->op < MEMD_OP_TABLE_SIZE)
			fn = dispatch_table[h->op];
		err = fn != NULL ? fn(c, h, body, body_len) : -EOPNOTSUPP;
	}
	if (err < 0) {
		log_debug("session %llu: %s id %u: %s", (unsigned long long)s->id,
		          proto_op_name(h->op), (unsigned)h->id, strerror(-err));
		conn_reply(c, h, err, NULL, 0);
	}
}
