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

int proto_req_validate(const struct memd_hdr *h, const void *body, size_t body_len)
{
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
		return body_len == sizeof(struct memd_ref_req) ? 0 : -EINVAL;
	case MEMD_OP_FREE_BATCH:
		return proto_free_batch_req_check(body, body_len);
	case MEMD_OP_MAP:
		return proto_map_req_check(body, body_len);
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
		return len == 0 ? 0 : -EPROTO;
	case MEMD_OP_FREE_BATCH:
		return proto_free_batch_rep_check(status, body, len);
	case MEMD_OP_SIZE:
		return proto_size_rep_check(body, len);
	case MEMD_OP_MAP:
		return proto_map_rep_check(body, len);
	case MEMD_OP_MAX_:
		break;
	}
	return -EPROTO;
}

int proto_rep_validate(uint16_t req_op, const struct memd_hdr *h, const void *body, size_t body_len)
{
	if (req_op == 0 || req_op >= MEMD_OP_MAX_)
		return -EPROTO;
	if (h->op != (req_op | MEMD_OP_REPLY) || h->len != MEMD_HDR_SIZE + body_len)
		return -EPROTO;
	if (!proto_status_ok(h->status))
		return -EPROTO;
	if (h->status != 0 && req_op != MEMD_OP_HELLO && req_op != MEMD_OP_FREE_BATCH)
		return body_len == 0 ? 0 : -EPROTO;
	return proto_rep_body_check(req_op, h->status, body, body_len);
}

const char *proto_op_name(uint16_t op)
{
	static const char *const names[MEMD_OP_MAX_] = {
	        [MEMD_OP_HELLO] = "HELLO", [MEMD_OP_POOL] = "POOL",
	        [MEMD_OP_ALLOC] = "ALLOC", [MEMD_OP_ALLOC_BATCH] = "ALLOC_BATCH",
	        [MEMD_OP_FREE] = "FREE",   [MEMD_OP_FREE_BATCH] = "FREE_BATCH",
	        [MEMD_OP_SIZE] = "SIZE",   [MEMD_OP_MAP] = "MAP",
	};
	uint16_t base = op & (uint16_t)~MEMD_OP_REPLY;

	if (base == 0 || base >= MEMD_OP_MAX_)
		return "?";
	return names[base];
}
