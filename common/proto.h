/*
 * proto.h - the memd wire protocol: frames, opcodes, bodies, validation.
 *
 * Transport: a SOCK_STREAM Unix socket.  Every message is one frame: a
 * 16-byte header (struct memd_hdr) followed by a body whose layout the
 * opcode fixes.  Integers are in host byte order (client and daemon share a
 * host).  Every struct here has a _Static_assert'ed size and no implicit
 * padding, so encoding is memcpy and decoding is length validation.
 *
 * Conversation: the client's first request is HELLO; any other first
 * request is answered -EPROTO and the connection is closed.  Every request
 * gets exactly one reply, with the request's id and opcode | MEMD_OP_REPLY
 * and a status (0 or -errno); requests may be pipelined and replies come in
 * request order.  A reply with a non-zero status has an empty body, except
 * HELLO (always carries the daemon's version) and FREE_BATCH (per-ref
 * results).
 *
 * Segment fds travel with the MAP reply as SCM_RIGHTS ancillary data,
 * attached to the first byte of the reply frame.
 *
 * Malformed input: a header whose length is below MEMD_HDR_SIZE or above
 * MEMD_FRAME_MAX, or a reply opcode sent as a request, cannot be resynced
 * and closes the connection.  An unknown opcode is answered -EOPNOTSUPP; a
 * body of the wrong length or with invalid fields is answered -EINVAL.  The
 * connection stays open in those two cases.
 *
 * This module is pure (no I/O) so the fuzzer, the daemon and the client all
 * use the same decoder.
 */
#ifndef MEMD_PROTO_H
#define MEMD_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define MEMD_PROTO_VERSION   1
#define MEMD_HDR_SIZE        16
#define MEMD_FRAME_MAX       (64u * 1024u) /* header + body, bytes */
#define MEMD_BATCH_MAX       1024u         /* refs in one batch request */
#define MEMD_POOL_NAME_MAX   64            /* bytes incl. NUL */
#define MEMD_CLIENT_NAME_MAX 32            /* bytes incl. NUL */
#define MEMD_OP_REPLY        0x8000u       /* set in a reply's opcode */

/* Opcodes.  Values are stable; new ones are only ever added. */
enum memd_op {
	MEMD_OP_HELLO = 1,       /* hello_req -> hello_rep */
	MEMD_OP_POOL = 2,        /* pool_req -> pool_rep: resolve a pool name */
	MEMD_OP_ALLOC = 3,       /* alloc_req -> alloc_rep */
	MEMD_OP_ALLOC_BATCH = 4, /* alloc_batch_req -> alloc_batch_rep + refs */
	MEMD_OP_FREE = 5,        /* ref_req -> empty */
	MEMD_OP_FREE_BATCH = 6,  /* free_batch_req + refs -> free_batch_rep + results */
	MEMD_OP_SIZE = 7,        /* ref_req -> size_rep */
	MEMD_OP_MAP = 8,         /* map_req -> map_rep + SCM_RIGHTS fd */
	/* 9..15 reserved for sharing and names (share, retain, publish,
	 * lookup, unpublish); 32.. for stats. */
	MEMD_OP_MAX_ = 9
};

/* Frame header.  len counts the header and the body. */
struct memd_hdr {
	uint32_t len;   /* total frame length, MEMD_HDR_SIZE..MEMD_FRAME_MAX */
	uint16_t op;    /* enum memd_op, | MEMD_OP_REPLY in replies */
	uint16_t flags; /* reserved, 0 */
	uint32_t id;    /* request id chosen by the client, echoed in reply */
	int32_t status; /* replies: 0 or -errno; requests: 0 */
};
_Static_assert(sizeof(struct memd_hdr) == MEMD_HDR_SIZE, "memd_hdr size");

/* HELLO request. */
struct memd_hello_req {
	uint32_t version;                /* MEMD_PROTO_VERSION of the client */
	uint32_t flags;                  /* reserved, 0 */
	char name[MEMD_CLIENT_NAME_MAX]; /* client's name, NUL-terminated */
};
_Static_assert(sizeof(struct memd_hello_req) == 40, "hello_req size");

/* HELLO reply; sent even when status is -EPROTO (version mismatch). */
struct memd_hello_rep {
	uint32_t version;   /* daemon's MEMD_PROTO_VERSION */
	uint32_t pid;       /* daemon's pid */
	uint32_t frame_max; /* MEMD_FRAME_MAX of the daemon */
	uint32_t batch_max; /* MEMD_BATCH_MAX of the daemon */
	uint64_t session;   /* this connection's session id */
};
_Static_assert(sizeof(struct memd_hello_rep) == 24, "hello_rep size");

/* POOL request: look a pool up by name. */
struct memd_pool_req {
	char name[MEMD_POOL_NAME_MAX]; /* NUL-terminated, 1..63 bytes */
};
_Static_assert(sizeof(struct memd_pool_req) == 64, "pool_req size");

#define MEMD_ACCESS_READ  1u
#define MEMD_ACCESS_WRITE 2u

/* POOL reply.  Errors: -ENOENT (no such pool), -EACCES (no access). */
struct memd_pool_rep {
	uint32_t pool_id;  /* handle for ALLOC requests on this connection */
	uint32_t access;   /* MEMD_ACCESS_* bits granted to this client */
	uint64_t max_size; /* the pool's size limit in bytes */
};
_Static_assert(sizeof(struct memd_pool_rep) == 16, "pool_rep size");

#define MEMD_ALLOC_SHARED    1u /* allocate the block shared (issue 4) */
#define MEMD_ALLOC_FLAGS_ALL MEMD_ALLOC_SHARED

/* ALLOC request.  Errors: -EINVAL (size 0, bad align or flags, unknown
 * pool id), -ENOMEM (pool full), -EACCES (no write access). */
struct memd_alloc_req {
	uint32_t pool_id; /* from a POOL reply */
	uint32_t flags;   /* MEMD_ALLOC_* */
	uint64_t size;    /* bytes, > 0 */
	uint64_t align;   /* 0, or a power of two */
};
_Static_assert(sizeof(struct memd_alloc_req) == 24, "alloc_req size");

/* ALLOC reply. */
struct memd_alloc_rep {
	uint64_t ref;  /* the new block */
	uint64_t size; /* its usable size */
};
_Static_assert(sizeof(struct memd_alloc_rep) == 16, "alloc_rep size");

/* ALLOC_BATCH request: count blocks of one size. */
struct memd_alloc_batch_req {
	uint32_t pool_id; /* from a POOL reply */
	uint32_t flags;   /* MEMD_ALLOC_* */
	uint64_t size;    /* bytes of each block, > 0 */
	uint32_t count;   /* 1..MEMD_BATCH_MAX */
	uint32_t pad;     /* 0 */
};
_Static_assert(sizeof(struct memd_alloc_batch_req) == 24, "alloc_batch_req size");

/* ALLOC_BATCH reply, followed by count uint64_t refs.  With status 0 the
 * daemon delivered 1..requested blocks (fewer when the pool ran out). */
struct memd_alloc_batch_rep {
	uint64_t size;  /* usable size of each block */
	uint32_t count; /* refs that follow */
	uint32_t pad;   /* 0 */
};
_Static_assert(sizeof(struct memd_alloc_batch_rep) == 16, "alloc_batch_rep size");

/* FREE and SIZE request. */
struct memd_ref_req {
	uint64_t ref; /* the block */
};
_Static_assert(sizeof(struct memd_ref_req) == 8, "ref_req size");

/* SIZE reply. */
struct memd_size_rep {
	uint64_t size; /* usable size of the block */
};
_Static_assert(sizeof(struct memd_size_rep) == 8, "size_rep size");

/* FREE_BATCH request, followed by count uint64_t refs. */
struct memd_free_batch_req {
	uint32_t count; /* 1..MEMD_BATCH_MAX */
	uint32_t pad;   /* 0 */
};
_Static_assert(sizeof(struct memd_free_batch_req) == 8, "free_batch_req size");

/* FREE_BATCH reply, followed by count int32_t results (0 or -errno, one per
 * ref in request order), padded with one zero int32 when count is odd.
 * The reply status is 0 if every free succeeded, else the first error.
 * A request refused as a whole (e.g. -EINVAL from validation) is answered
 * with that status and an empty body. */
struct memd_free_batch_rep {
	uint32_t count; /* results that follow */
	uint32_t pad;   /* 0 */
};
_Static_assert(sizeof(struct memd_free_batch_rep) == 8, "free_batch_rep size");

/* MAP request: ask for a segment's fd. */
struct memd_map_req {
	uint32_t seg_id; /* segment id (high 24 bits of a ref) */
	uint32_t pad;    /* 0 */
};
_Static_assert(sizeof(struct memd_map_req) == 8, "map_req size");

/* MAP reply; with status 0 one fd rides along as SCM_RIGHTS.  Errors:
 * -EINVAL (unknown segment), -EACCES (no access to its pool). */
struct memd_map_rep {
	uint32_t seg_id; /* echoed */
	uint32_t access; /* MEMD_ACCESS_*: read-only fds carry READ only */
	uint64_t size;   /* segment size in bytes */
};
_Static_assert(sizeof(struct memd_map_rep) == 16, "map_rep size");

/* Fill a header.  body_len is the body's length in bytes. */
void proto_hdr_init(struct memd_hdr *h, uint16_t op, uint32_t id, int32_t status, size_t body_len);

/* Decode and check a header from buf (at least MEMD_HDR_SIZE bytes).
 * 0, or -EMSGSIZE (len outside MEMD_HDR_SIZE..MEMD_FRAME_MAX: the stream
 * cannot be resynced, close it), -EPROTO (non-zero flags). */
int proto_hdr_decode(const void *buf, struct memd_hdr *out);

/* Validate a request body for h->op (h already decoded).  0, -EOPNOTSUPP
 * (unknown opcode, or a reply opcode), -EINVAL (wrong body length or an
 * invalid field: unterminated or empty name, count out of range, non-zero
 * pad, unknown flags, align not a power of two, size 0). */
int proto_req_validate(const struct memd_hdr *h, const void *body, size_t body_len);

/* Validate a reply body for the request opcode req_op.  0, -EPROTO when the
 * reply does not match (wrong opcode, length, count). */
int proto_rep_validate(uint16_t req_op, const struct memd_hdr *h, const void *body,
                       size_t body_len);

/* Human name of an opcode ("ALLOC"; the reply bit is ignored), or "?" for
 * an unknown one. */
const char *proto_op_name(uint16_t op);

#endif /* MEMD_PROTO_H */
