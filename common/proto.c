/*
 * proto.c - encoding and validation of memd wire frames.
 *
 * What it does: fills frame headers and decides whether a header, a request
 * body or a reply body is well formed, following proto.h to the letter.
 * Bodies are copied into their fixed-layout structs with memcpy, so input
 * buffers may have any alignment; a body is only read after its length has
 * been checked against the opcode's layout.
 *
 * Invariants: every function is pure (no I/O, no allocation, no globals);
 * nothing here trusts any byte it is given.  Semantic checks that need the
 * daemon's state (does this pool, segment or block exist?) or the request a
 * reply answers (was the batch as large as asked?) are left to the callers;
 * everything the bytes alone decide is checked here, so the fuzzer covers it.
 *
 * Ownership: callers own every buffer; nothing is retained across calls.
 */
#include "proto.h"

#include "debug.h"
#include "ref.h"

#include <errno.h>
#include <string.h>

#define PROTO_ERRNO_MAX 4095 /* largest errno a status may carry, as the kernel's */

static const char *proto_stats_op_name(uint16_t op);

void proto_hdr_init(struct memd_hdr *h, uint16_t op, uint32_t id, int32_t status, size_t body_len)
{
	memd_assert(body_len <= MEMD_FRAME_MAX - MEMD_HDR_SIZE);
	h->len = (uint32_t)(MEMD_HDR_SIZE + body_len);
	h->op = op;
	h->flags = 0;
	h->id = id;
	h->status = status;
}

int proto_hdr_decode(const void *buf, struct memd_hdr *out)
{
	memcpy(out, buf, sizeof(*out));
	if (out->len < MEMD_HDR_SIZE || out->len > MEMD_FRAME_MAX)
		return -EMSGSIZE;
	if (out->flags != 0)
		return -EPROTO;
	return 0;
}

/* Is the name in buf[0..cap) NUL-terminated and non-empty? */
static int proto_name_ok(const char *buf, size_t cap)
{
	return buf[0] != '\0' && memchr(buf, '\0', cap) != NULL;
}

/* Is a batch count inside 1..MEMD_BATCH_MAX? */
static int proto_count_ok(uint32_t count)
{
	return count >= 1 && count <= MEMD_BATCH_MAX;
}

/* Is status 0 or a plausible -errno? */
static int proto_status_ok(int32_t status)
{
	return status <= 0 && status >= -PROTO_ERRNO_MAX;
}

/* Is access a non-empty set of MEMD_ACCESS_* bits? */
static int proto_access_ok(uint32_t access)
{
	return access != 0 && (access & ~(MEMD_ACCESS_READ | MEMD_ACCESS_WRITE)) == 0;
}

static int proto_hello_req_check(const void *body, size_t len)
{
	struct memd_hello_req r;

	if (len != sizeof(r))
		return -EINVAL;
	memcpy(&r, body, sizeof(r));
	if (r.flags != 0 || !proto_name_ok(r.name, sizeof(r.name)))
		return -EINVAL;
	return 0;
}

static int proto_pool_req_check(const void *body, size_t len)
{
	struct memd_pool_req r;

	if (len != sizeof(r))
		return -EINVAL;
	memcpy(&r, body, sizeof(r));
	return proto_name_ok(r.name, sizeof(r.name)) ? 0 : -EINVAL;
}

static int proto_alloc_req_check(const void *body, size_t len)
{
	struct memd_alloc_req r;

	if (len != sizeof(r))
		return -EINVAL;
	memcpy(&r, body, sizeof(r));
	if ((r.flags & ~MEMD_ALLOC_FLAGS_ALL) != 0 || r.size == 0)
		return -EINVAL;
	if ((r.align & (r.align - 1)) != 0)
		return -EINVAL;
	return 0;
}

static int proto_alloc_batch_req_check(const void *body, size_t len)
{
	struct memd_alloc_batch_req r;

	if (len != sizeof(r))
		return -EINVAL;
	memcpy(&r, body, sizeof(r));
	if ((r.flags & ~MEMD_ALLOC_FLAGS_ALL) != 0 || r.size == 0)
		return -EINVAL;
	if (!proto_count_ok(r.count) || r.pad != 0)
		return -EINVAL;
	return 0;
}

static int proto_free_batch_req_check(const void *body, size_t len)
{
	struct memd_free_batch_req r;

	if (len < sizeof(r))
		return -EINVAL;
	memcpy(&r, body, sizeof(r));
	if (!proto_count_ok(r.count) || r.pad != 0)
		return -EINVAL;
	if (len != sizeof(r) + (size_t)r.count * sizeof(uint64_t))
		return -EINVAL;
	return 0;
}

static int proto_map_req_check(const void *body, size_t len)
{
	struct memd_map_req r;

	if (len != sizeof(r))
		return -EINVAL;
	memcpy(&r, body, sizeof(r));
	if (r.seg_id == 0 || r.seg_id > MEMD_SEG_ID_MAX || r.pad != 0)
		return -EINVAL;
	return 0;
}

static int proto_cache_page_req_check(const void *body, size_t len)
{
	struct memd_cache_page_req r;

	if (len != sizeof(r))
		return -EINVAL;
	memcpy(&r, body, sizeof(r));
	return r.flags == 0 && r.pad == 0 ? 0 : -EINVAL;
}

static int proto_ring_req_check(const void *body, size_t len)
{
	struct memd_ring_req r;

	if (len != sizeof(r))
		return -EINVAL;
	memcpy(&r, body, sizeof(r));
	return r.flags == 0 && r.pad == 0 ? 0 : -EINVAL;
}

int proto_name_valid(const char *name, uint32_t len)
{
	if (len < 1 || len > MEMD_NAME_MAX)
		return 0;
	for (uint32_t i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || (unsigned char)name[i] > 0x7e)
			return 0;
	for (uint32_t i = len; i <= MEMD_NAME_MAX; i++)
		if (name[i] != '\0')
			return 0;
	return 1;
}

static int proto_name_req_check(const void *body, size_t len)
{
	struct memd_name_req r;

	if (len != sizeof(r))
		return -EINVAL;
	memcpy(&r, body, sizeof(r));
	if (r.pad != 0 || !proto_name_valid(r.name, r.len))
		return -EINVAL;
	return 0;
}

static int proto_publish_req_check(const void *body, size_t len)
{
	struct memd_publish_req r;

	if (len != sizeof(r))
		return -EINVAL;
	memcpy(&r, body, sizeof(r));
	if (r.ref == 0 || r.pad != 0 || !proto_name_valid(r.name, r.len))
		return -EINVAL;
	return 0;
}

int proto_req_validate(const struct memd_hdr *h, const void *body, size_t body_len)
{
	if (proto_is_stats_op(h->op) && !(h->op & MEMD_OP_REPLY))
		return proto_stats_req_validate(h, body, body_len);
	if ((h->op & MEMD_OP_REPLY) != 0 || h->op == 0 || h->op >= MEMD_OP_MAX_)
		return -EOPNOTSUPP;
	if (h->len != MEMD_HDR_SIZE + body_len || h->status != 0)
		return -EINVAL;
	switch ((enum memd_op)h->op) {
	case MEMD_OP_HELLO:
		return proto_hello_req_check(body, body_len);
	case MEMD_OP_POOL:
		return proto_pool_req_check(body, body_len);
	case MEMD_OP_ALLOC:
		return proto_alloc_req_check(body, body_len);
	case MEMD_OP_ALLOC_BATCH:
		return proto_alloc_batch_req_check(body, body_len);
	case MEMD_OP_FREE:
	case MEMD_OP_SIZE:
	case MEMD_OP_SHARE:
	case MEMD_OP_RETAIN:
		return body_len == sizeof(struct memd_ref_req) ? 0 : -EINVAL;
	case MEMD_OP_PUBLISH:
		return proto_publish_req_check(body, body_len);
	case MEMD_OP_LOOKUP:
	case MEMD_OP_UNPUBLISH:
		return proto_name_req_check(body, body_len);
	case MEMD_OP_FREE_BATCH:
		return proto_free_batch_req_check(body, body_len);
	case MEMD_OP_MAP:
		return proto_map_req_check(body, body_len);
	case MEMD_OP_CACHE_PAGE:
		return proto_cache_page_req_check(body, body_len);
	case MEMD_OP_RING:
		return proto_ring_req_check(body, body_len);
	case MEMD_OP_RING_KICK:
		return body_len == 0 ? 0 : -EINVAL;
	case MEMD_OP_MAX_:
		break;
	}
	return -EOPNOTSUPP;
}

static int proto_pool_rep_check(const void *body, size_t len)
{
	struct memd_pool_rep r;

	if (len != sizeof(r))
		return -EPROTO;
	memcpy(&r, body, sizeof(r));
	return proto_access_ok(r.access) ? 0 : -EPROTO;
}

static int proto_alloc_rep_check(const void *body, size_t len)
{
	struct memd_alloc_rep r;

	if (len != sizeof(r))
		return -EPROTO;
	memcpy(&r, body, sizeof(r));
	if (memd_ref_seg(r.ref) == 0 || r.size == 0)
		return -EPROTO;
	return 0;
}

static int proto_alloc_batch_rep_check(const void *body, size_t len)
{
	struct memd_alloc_batch_rep r;
	const unsigned char *refs = (const unsigned char *)body + sizeof(r);

	if (len < sizeof(r))
		return -EPROTO;
	memcpy(&r, body, sizeof(r));
	if (r.size == 0 || !proto_count_ok(r.count) || r.pad != 0)
		return -EPROTO;
	if (len != sizeof(r) + (size_t)r.count * sizeof(uint64_t))
		return -EPROTO;
	for (uint32_t i = 0; i < r.count; i++) {
		uint64_t ref;

		memcpy(&ref, refs + (size_t)i * sizeof(ref), sizeof(ref));
		if (memd_ref_seg(ref) == 0)
			return -EPROTO;
	}
	return 0;
}

/* FREE_BATCH replies: count results, one zero int32 of padding when count
 * is odd, and a status equal to the first non-zero result (0 if none).  A
 * refused request (status < 0) may come back with an empty body. */
static int proto_free_batch_rep_check(int32_t status, const void *body, size_t len)
{
	struct memd_free_batch_rep r;
	const unsigned char *res = (const unsigned char *)body + sizeof(r);
	int32_t first = 0;
	int32_t v;

	if (len == 0 && status < 0)
		return 0;
	if (len < sizeof(r))
		return -EPROTO;
	memcpy(&r, body, sizeof(r));
	if (!proto_count_ok(r.count) || r.pad != 0)
		return -EPROTO;
	if (len != sizeof(r) + ((size_t)r.count + (r.count & 1)) * sizeof(int32_t))
		return -EPROTO;
	for (uint32_t i = 0; i < r.count; i++) {
		memcpy(&v, res + (size_t)i * sizeof(v), sizeof(v));
		if (!proto_status_ok(v))
			return -EPROTO;
		if (first == 0)
			first = v;
	}
	if (r.count & 1) {
		memcpy(&v, res + (size_t)r.count * sizeof(v), sizeof(v));
		if (v != 0)
			return -EPROTO;
	}
	return status == first ? 0 : -EPROTO;
}

static int proto_size_rep_check(const void *body, size_t len)
{
	struct memd_size_rep r;

	if (len != sizeof(r))
		return -EPROTO;
	memcpy(&r, body, sizeof(r));
	return r.size != 0 ? 0 : -EPROTO;
}

static int proto_map_rep_check(const void *body, size_t len)
{
	struct memd_map_rep r;

	if (len != sizeof(r))
		return -EPROTO;
	memcpy(&r, body, sizeof(r));
	if (r.seg_id == 0 || r.seg_id > MEMD_SEG_ID_MAX || !proto_access_ok(r.access))
		return -EPROTO;
	if (r.size == 0 || r.size > MEMD_SEG_SIZE_MAX)
		return -EPROTO;
	return 0;
}

/* The page must be exactly the one proto.h describes: a client maps
 * rep.size bytes and indexes rep.slots slots, so neither may differ. */
static int proto_cache_page_rep_check(const void *body, size_t len)
{
	struct memd_cache_page_rep r;

	if (len != sizeof(r))
		return -EPROTO;
	memcpy(&r, body, sizeof(r));
	if (r.size != MEMD_CACHE_PAGE_SIZE || r.slots != MEMD_CACHE_SLOTS || r.pad != 0)
		return -EPROTO;
	return 0;
}

/* The ring must be exactly the one proto.h describes, as the cache page. */
static int proto_ring_rep_check(const void *body, size_t len)
{
	struct memd_ring_rep r;

	if (len != sizeof(r))
		return -EPROTO;
	memcpy(&r, body, sizeof(r));
	if (r.size != MEMD_RING_SIZE || r.slots != MEMD_RING_SLOTS ||
	    r.slot_size != MEMD_RING_SLOT_SIZE)
		return -EPROTO;
	return 0;
}

/* Check a status-0 reply body (or any FREE_BATCH body) for req_op. */
static int proto_rep_body_check(uint16_t req_op, int32_t status, const void *body, size_t len)
{
	switch ((enum memd_op)req_op) {
	case MEMD_OP_HELLO:
		return len == sizeof(struct memd_hello_rep) ? 0 : -EPROTO;
	case MEMD_OP_POOL:
		return proto_pool_rep_check(body, len);
	case MEMD_OP_ALLOC:
		return proto_alloc_rep_check(body, len);
	case MEMD_OP_ALLOC_BATCH:
		return proto_alloc_batch_rep_check(body, len);
	case MEMD_OP_FREE:
	case MEMD_OP_SHARE:
	case MEMD_OP_RETAIN:
	case MEMD_OP_PUBLISH:
	case MEMD_OP_UNPUBLISH:
		return len == 0 ? 0 : -EPROTO;
	case MEMD_OP_LOOKUP:
		return proto_alloc_rep_check(body, len); /* same layout: ref, size */
	case MEMD_OP_FREE_BATCH:
		return proto_free_batch_rep_check(status, body, len);
	case MEMD_OP_SIZE:
		return proto_size_rep_check(body, len);
	case MEMD_OP_MAP:
		return proto_map_rep_check(body, len);
	case MEMD_OP_CACHE_PAGE:
		return proto_cache_page_rep_check(body, len);
	case MEMD_OP_RING:
		return proto_ring_rep_check(body, len);
	case MEMD_OP_RING_KICK: /* never answered */
	case MEMD_OP_MAX_:
		break;
	}
	return -EPROTO;
}

int proto_rep_validate(uint16_t req_op, const struct memd_hdr *h, const void *body, size_t body_len)
{
	if (req_op == 0 || req_op == MEMD_OP_RING_KICK ||
	    (req_op >= MEMD_OP_MAX_ && !proto_is_stats_op(req_op)))
		return -EPROTO; /* RING_KICK is never answered */
	if (h->op != (req_op | MEMD_OP_REPLY) || h->len != MEMD_HDR_SIZE + body_len)
		return -EPROTO;
	if (!proto_status_ok(h->status))
		return -EPROTO;
	if (h->status != 0 && req_op != MEMD_OP_HELLO && req_op != MEMD_OP_FREE_BATCH)
		return body_len == 0 ? 0 : -EPROTO;
	if (proto_is_stats_op(req_op))
		return proto_stats_rep_body_check(req_op, body, body_len);
	return proto_rep_body_check(req_op, h->status, body, body_len);
}

const char *proto_op_name(uint16_t op)
{
	static const char *const names[MEMD_OP_MAX_] = {
	        [MEMD_OP_HELLO] = "HELLO",         [MEMD_OP_POOL] = "POOL",
	        [MEMD_OP_ALLOC] = "ALLOC",         [MEMD_OP_ALLOC_BATCH] = "ALLOC_BATCH",
	        [MEMD_OP_FREE] = "FREE",           [MEMD_OP_FREE_BATCH] = "FREE_BATCH",
	        [MEMD_OP_SIZE] = "SIZE",           [MEMD_OP_MAP] = "MAP",
	        [MEMD_OP_SHARE] = "SHARE",         [MEMD_OP_RETAIN] = "RETAIN",
	        [MEMD_OP_PUBLISH] = "PUBLISH",     [MEMD_OP_LOOKUP] = "LOOKUP",
	        [MEMD_OP_UNPUBLISH] = "UNPUBLISH", [MEMD_OP_CACHE_PAGE] = "CACHE_PAGE",
	        [MEMD_OP_RING] = "RING",           [MEMD_OP_RING_KICK] = "RING_KICK",
	};
	uint16_t base = op & (uint16_t)~MEMD_OP_REPLY;

	if (proto_is_stats_op(base))
		return proto_stats_op_name(base);
	if (base == 0 || base >= MEMD_OP_MAX_)
		return "?";
	return names[base];
}

/* ---- STATS ------------------------------------------------------------
 *
 * Every stats request is one struct memd_stats_req; which of its fields an
 * opcode may use is decided by the table below.  Replies are either one
 * fixed struct (STATUS, TRIM), a fixed head followed by records and a
 * text (POOL, CHECK), or a page: struct memd_stats_page then count
 * records of rec_size bytes.  The checks here are the byte-level ones; the
 * caller matches cursors and pool ids with what it asked.
 */

/* Which request fields an opcode uses. */
#define STATS_F_CURSOR   1u /* cursor may be non-zero */
#define STATS_F_POOL     2u /* pool_id may be non-zero */
#define STATS_F_POOL_REQ 4u /* pool_id must be non-zero */
#define STATS_F_PID      8u /* pid may be non-zero */

struct proto_stats_op {
	const char *name; /* for proto_op_name */
	unsigned fields;  /* STATS_F_* */
	size_t rec_size;  /* list replies: the record's size; 0: not a list */
};

static const struct proto_stats_op proto_stats_ops[MEMD_OP_STATS_END_ - MEMD_OP_STATS_FIRST] = {
        [MEMD_OP_STATS_STATUS - MEMD_OP_STATS_FIRST] = {"STATS_STATUS", 0, 0},
        [MEMD_OP_STATS_POOLS - MEMD_OP_STATS_FIRST] = {"STATS_POOLS", STATS_F_CURSOR,
                                                       sizeof(struct memd_stats_pool)},
        [MEMD_OP_STATS_POOL -
                MEMD_OP_STATS_FIRST] = {"STATS_POOL", STATS_F_POOL | STATS_F_POOL_REQ, 0},
        [MEMD_OP_STATS_CLIENTS - MEMD_OP_STATS_FIRST] = {"STATS_CLIENTS", STATS_F_CURSOR,
                                                         sizeof(struct memd_stats_client)},
        [MEMD_OP_STATS_BLOCKS - MEMD_OP_STATS_FIRST] = {"STATS_BLOCKS",
                                                        STATS_F_CURSOR | STATS_F_POOL | STATS_F_PID,
                                                        sizeof(struct memd_stats_block)},
        [MEMD_OP_STATS_NAMES - MEMD_OP_STATS_FIRST] = {"STATS_NAMES", STATS_F_CURSOR,
                                                       sizeof(struct memd_stats_name)},
        [MEMD_OP_STATS_MAP -
                MEMD_OP_STATS_FIRST] = {"STATS_MAP",
                                        STATS_F_CURSOR | STATS_F_POOL | STATS_F_POOL_REQ,
                                        sizeof(struct memd_stats_run)},
        [MEMD_OP_STATS_CHECK - MEMD_OP_STATS_FIRST] = {"STATS_CHECK", STATS_F_POOL, 0},
        [MEMD_OP_STATS_TRIM - MEMD_OP_STATS_FIRST] = {"STATS_TRIM", STATS_F_POOL, 0},
};

static const struct proto_stats_op *proto_stats_op_get(uint16_t op)
{
	memd_assert(proto_is_stats_op(op));
	return &proto_stats_ops[(op & (uint16_t)~MEMD_OP_REPLY) - MEMD_OP_STATS_FIRST];
}

static const char *proto_stats_op_name(uint16_t op)
{
	return proto_stats_op_get(op)->name;
}

int proto_stats_req_validate(const struct memd_hdr *h, const void *body, size_t body_len)
{
	const struct proto_stats_op *o = proto_stats_op_get(h->op);
	struct memd_stats_req r;

	if (h->len != MEMD_HDR_SIZE + body_len || h->status != 0 || body_len != sizeof(r))
		return -EINVAL;
	memcpy(&r, body, sizeof(r));
	if (r.flags != 0 || r.pad != 0)
		return -EINVAL;
	if (r.cursor != 0 && !(o->fields & STATS_F_CURSOR))
		return -EINVAL;
	if (r.pool_id != 0 && !(o->fields & STATS_F_POOL))
		return -EINVAL;
	if (r.pool_id == 0 && (o->fields & STATS_F_POOL_REQ))
		return -EINVAL;
	if (r.pid != 0 && !(o->fields & STATS_F_PID))
		return -EINVAL;
	return 0;
}

/* Is text[0..len) a NUL-terminated string padded with zeros to a multiple
 * of 8 (len 0: no text)? */
static int proto_stats_text_ok(const unsigned char *text, size_t len)
{
	const unsigned char *nul;

	if (len == 0)
		return 1;
	if (len % 8 != 0)
		return 0;
	nul = memchr(text, '\0', len);
	if (nul == NULL)
		return 0;
	for (; nul < text + len; nul++)
		if (*nul != '\0')
			return 0;
	return 1;
}

static int proto_stats_page_check(size_t rec_min, const void *body, size_t len)
{
	struct memd_stats_page p;

	if (len < sizeof(p))
		return -EPROTO;
	memcpy(&p, body, sizeof(p));
	if (p.rec_size < rec_min || p.rec_size % 8 != 0 || p.rec_size > MEMD_FRAME_MAX)
		return -EPROTO;
	if (len != sizeof(p) + (size_t)p.count * p.rec_size)
		return -EPROTO;
	return 0;
}

static int proto_stats_pool_check(const void *body, size_t len)
{
	const unsigned char *b = body;
	struct memd_stats_pool_detail d;
	size_t classes;

	if (len < sizeof(d))
		return -EPROTO;
	memcpy(&d, body, sizeof(d));
	classes = (size_t)d.class_count * sizeof(struct memd_stats_class);
	if (classes > len - sizeof(d) || len - sizeof(d) - classes != d.text_len)
		return -EPROTO;
	if (memchr(d.pool.name, '\0', sizeof(d.pool.name)) == NULL)
		return -EPROTO;
	return proto_stats_text_ok(b + sizeof(d) + classes, d.text_len) ? 0 : -EPROTO;
}

static int proto_stats_check_check(const void *body, size_t len)
{
	struct memd_stats_check c;

	if (len < sizeof(c))
		return -EPROTO;
	memcpy(&c, body, sizeof(c));
	if (c.pad != 0 || c.failed > c.pools || len - sizeof(c) != c.text_len)
		return -EPROTO;
	if ((c.failed != 0) != (c.text_len != 0))
		return -EPROTO;
	return proto_stats_text_ok((const unsigned char *)body + sizeof(c), c.text_len) ? 0
	                                                                                : -EPROTO;
}

int proto_stats_rep_body_check(uint16_t req_op, const void *body, size_t body_len)
{
	const struct proto_stats_op *o = proto_stats_op_get(req_op);
	struct memd_stats_status st;

	if (o->rec_size != 0)
		return proto_stats_page_check(o->rec_size, body, body_len);
	switch ((enum memd_stats_op)req_op) {
	case MEMD_OP_STATS_STATUS:
		if (body_len != sizeof(st))
			return -EPROTO;
		memcpy(&st, body, sizeof(st));
		return memchr(st.socket, '\0', sizeof(st.socket)) != NULL ? 0 : -EPROTO;
	case MEMD_OP_STATS_POOL:
		return proto_stats_pool_check(body, body_len);
	case MEMD_OP_STATS_CHECK:
		return proto_stats_check_check(body, body_len);
	case MEMD_OP_STATS_TRIM:
		return body_len == sizeof(struct memd_stats_trim) ? 0 : -EPROTO;
	default:
		break;
	}
	return -EPROTO;
}
