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
	/* Sharing and names (9..13): */
	MEMD_OP_SHARE = 9,      /* ref_req -> empty: make a held block shared */
	MEMD_OP_RETAIN = 10,    /* ref_req -> empty: one more hold on a shared block */
	MEMD_OP_PUBLISH = 11,   /* publish_req -> empty: bind a name to a block */
	MEMD_OP_LOOKUP = 12,    /* name_req -> lookup_rep: a hold and the ref */
	MEMD_OP_UNPUBLISH = 13, /* name_req -> empty: drop a name's hold */
	/* The client cache (issue 7): */
	MEMD_OP_CACHE_PAGE = 14, /* cache_page_req -> cache_page_rep + SCM_RIGHTS fd */
	MEMD_OP_RING = 15,       /* ring_req -> ring_rep + SCM_RIGHTS fd */
	MEMD_OP_RING_KICK = 16,  /* empty -> no reply at all: look at the ring */
	/* 32.. for stats. */
	MEMD_OP_MAX_ = 17
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

/* ---- Sharing and names (issue 4) ----
 *
 * SHARE and RETAIN carry a struct memd_ref_req.  Errors: -EINVAL (not a
 * live block), -EPERM (SHARE: the session holds no hold on it; RETAIN: the
 * block is private), -EACCES (RETAIN: no access to its pool), -EDQUOT
 * (RETAIN: over a quota).
 *
 * Names travel in a fixed 256-byte field with an explicit length: len
 * (1..MEMD_NAME_MAX) bytes, each printable ASCII (0x20..0x7e), then zero
 * bytes up to the end of the field.  Anything else is -EINVAL. */

#define MEMD_NAME_MAX 255 /* bytes of a published name */

/* LOOKUP and UNPUBLISH request. */
struct memd_name_req {
	uint32_t len;                 /* bytes of name, 1..MEMD_NAME_MAX */
	uint32_t pad;                 /* 0 */
	char name[MEMD_NAME_MAX + 1]; /* len printable bytes, then zeros */
};
_Static_assert(sizeof(struct memd_name_req) == 264, "name_req size");

/* PUBLISH request.  Errors: -EINVAL (not a live block), -EPERM (the
 * session holds no hold on it), -EACCES (no write access to its pool),
 * -EEXIST (name taken), -ENOSPC (max_names reached). */
struct memd_publish_req {
	uint64_t ref;                 /* the block, non-zero */
	uint32_t len;                 /* bytes of name, 1..MEMD_NAME_MAX */
	uint32_t pad;                 /* 0 */
	char name[MEMD_NAME_MAX + 1]; /* len printable bytes, then zeros */
};
_Static_assert(sizeof(struct memd_publish_req) == 272, "publish_req size");

/* LOOKUP reply.  Errors: -ENOENT (no such name), -EACCES (no access to the
 * block's pool), -EDQUOT (over a quota). */
struct memd_lookup_rep {
	uint64_t ref;  /* the named block; the caller now holds it once more */
	uint64_t size; /* its usable size */
};
_Static_assert(sizeof(struct memd_lookup_rep) == 16, "lookup_rep size");

/* UNPUBLISH: errors -ENOENT (no such name), -EACCES (no write access to the
 * block's pool). */

/* ---- The client cache's counters (issue 7) ----
 *
 * libmemclient keeps per-thread caches of private blocks it holds (leased
 * with ALLOC_BATCH, returned with FREE_BATCH).  To the daemon those blocks
 * are simply held by the session; only the client knows which of them sit
 * in a cache and which are in use.  CACHE_PAGE gives the client a page to
 * say so: the daemon creates a sealed memfd (MFD_ALLOW_SEALING; size fixed
 * by F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL, so the client can neither
 * shrink it under the daemon's mapping nor remove the seals), maps it
 * read-only, and sends the fd with the reply.  The client maps it shared
 * and keeps, in its slots, how many blocks and bytes each of its caches
 * holds right now.  The daemon reads the slots only to report them
 * (memctl's "cached" columns, clamped to what the session really holds);
 * nothing it decides depends on them, so a lying client fools only its
 * own statistics.  One page per session: a second request gets -EEXIST.
 * The page goes away with the session.
 *
 * Page layout: MEMD_CACHE_SLOTS slots of struct memd_cache_slot (each on
 * its own 64-byte line, so threads writing their own slots do not share a
 * line).  A slot's counters are the client's to write (plain stores by the
 * thread owning the slot, or atomic adds when threads share one); the
 * daemon sums every slot. */

#define MEMD_CACHE_SLOTS 256u /* slots in a cache page */

/* One slot of the cache page. */
struct memd_cache_slot {
	uint64_t blocks; /* blocks in the caches that write this slot */
	uint64_t bytes;  /* their usable bytes */
	uint64_t pad[6]; /* to 64 bytes */
};
_Static_assert(sizeof(struct memd_cache_slot) == 64, "cache_slot size");

#define MEMD_CACHE_PAGE_SIZE (MEMD_CACHE_SLOTS * sizeof(struct memd_cache_slot))

/* CACHE_PAGE request. */
struct memd_cache_page_req {
	uint32_t flags; /* reserved, 0 */
	uint32_t pad;   /* 0 */
};
_Static_assert(sizeof(struct memd_cache_page_req) == 8, "cache_page_req size");

/* CACHE_PAGE reply; with status 0 the memfd rides along as SCM_RIGHTS.
 * Errors: -EEXIST (the session has its page already), -ENOMEM, -EMFILE. */
struct memd_cache_page_rep {
	uint64_t size;  /* bytes of the page: MEMD_CACHE_PAGE_SIZE */
	uint32_t slots; /* MEMD_CACHE_SLOTS */
	uint32_t pad;   /* 0 */
};
_Static_assert(sizeof(struct memd_cache_page_rep) == 16, "cache_page_rep size");

/* ---- The request ring (issue 7) ----
 *
 * A client may send its allocation requests (ALLOC, FREE, ALLOC_BATCH and
 * FREE_BATCH, nothing else: none of them answers with an fd) through a
 * ring in shared memory instead of the socket, and get their replies
 * there, so that a request and its reply cost no system call.  RING gives the
 * client its ring: the daemon creates a memfd of MEMD_RING_SIZE bytes,
 * seals its size (F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL: the client
 * can never make the daemon's mapping fault), maps it read-write and
 * sends the fd with the reply; the client maps it read-write too.  One
 * ring per session (a second RING gets -EEXIST); it goes with the session.
 *
 * Layout: struct memd_ring_ctl at the start, then from
 * MEMD_RING_SLOTS_OFFSET MEMD_RING_SLOTS slots of MEMD_RING_SLOT_SIZE
 * bytes.  Frame i (counting from 0, uint32 arithmetic, so it wraps) lives
 * in slot i % MEMD_RING_SLOTS, first its request, then its reply.
 *
 * Requests.  The client writes a request frame (header and body exactly
 * as on the socket; len at most MEMD_RING_SLOT_SIZE; a FREE_BATCH of up to
 * MEMD_RING_BATCH_MAX refs fits) into the slot of frame tail and then
 * publishes tail + 1 (a release store).  The daemon keeps its own count of
 * frames taken: it reads tail (acquire), copies each frame out before it
 * looks at it, and runs the copy as if it had come on the socket.
 *
 * Replies.  The reply to a ring frame does not come on the socket: the
 * daemon writes it (header and body as on the socket, len at most
 * MEMD_RING_SLOT_SIZE) into the frame's own slot, over the request, and
 * then publishes head = i + 1 (a release store): head counts the frames
 * answered.  The client reads a reply once head has passed its frame
 * (acquire), copies it out, and may write that slot again only after
 * that.  An ALLOC_BATCH in the ring may ask for at most
 * MEMD_RING_ALLOC_MAX blocks, so that its reply fits the slot; one that
 * asks for more is answered -EINVAL (in its slot).
 *
 * Order.  The daemon runs every published frame before it runs a frame
 * that arrives on the socket, and answers a ring frame before it runs the
 * next frame of any kind, so replies keep the client's order: a client
 * reads its replies in the order it sent the requests, from the slot or
 * from the socket.  The other way round the daemon cannot tell: a frame
 * published after a request was sent on the socket may run first.  So a
 * client publishes nothing while any request it sent on the socket is
 * unanswered, also one it does not wait for (a batch sent on the socket
 * because the ring was full).
 *
 * Protocol errors.  A tail more than MEMD_RING_SLOTS ahead of the frames
 * taken, a frame longer than a slot or with a bad header, or an opcode
 * other than ALLOC, FREE, ALLOC_BATCH and FREE_BATCH in the ring is a protocol error:
 * the daemon closes the connection.  The client must never trust head
 * beyond "these replies are written"; the daemon never trusts anything it
 * reads here beyond the frame it copied, and never reads a reply back.
 *
 * Waking the daemon: it reads the ring whenever it reads the socket and
 * while it polls after a request (busy_poll_us).  Before it may sleep it
 * stores sleeping = 1, makes that visible (a full fence), and reads tail
 * once more; when it wakes it stores sleeping = 0.  A client that
 * published a frame fences too, then reads sleeping: if it is 1, it sends
 * RING_KICK on the socket, a frame with no body (len MEMD_HDR_SIZE) that
 * the daemon answers with nothing at all: the only request without a
 * reply.  Either the daemon's last look sees the frame or the client sees
 * sleeping; a kick too many costs one wake-up.  A full ring (tail minus
 * the replies read == MEMD_RING_SLOTS) just means the client sends on the
 * socket.
 *
 * Waking the client: a client that wants to sleep until head passes its
 * frame stores waiting = 1, fences, reads head once more and, if its
 * reply is still not there, waits on head with FUTEX_WAIT (a shared
 * futex: not FUTEX_PRIVATE_FLAG), with a timeout after which it checks
 * its socket for a hang-up; it stores waiting = 0 when it is done.  The
 * daemon, after it publishes head, fences and reads waiting: if it is not
 * 0 it does FUTEX_WAKE on head for every waiter.  Either the client's
 * last look sees head or the daemon sees waiting. */

#define MEMD_RING_SLOTS     8u    /* request slots: as many as a client has pending */
#define MEMD_RING_SLOT_SIZE 4096u /* bytes per slot, page-aligned */

/* The largest FREE_BATCH a slot holds; a larger one goes on the socket. */
#define MEMD_RING_BATCH_MAX ((MEMD_RING_SLOT_SIZE - MEMD_HDR_SIZE - 8u) / 8u)

/* The largest ALLOC_BATCH a ring frame may ask for: its reply fits a slot. */
#define MEMD_RING_ALLOC_MAX                                                                        \
	((MEMD_RING_SLOT_SIZE - MEMD_HDR_SIZE - sizeof(struct memd_alloc_batch_rep)) / 8u)

/* The head of a ring: the client's words and the daemon's on cache lines
 * of their own.  Accessed with atomic builtins. */
struct memd_ring_ctl {
	uint32_t tail;     /* client: frames published (wraps) */
	uint32_t pad0[15]; /* 0 */
	uint32_t head;     /* daemon: frames answered (wraps); the client's futex */
	uint32_t sleeping; /* daemon: 1 while it may sleep; a client kicks */
	uint32_t pad1[14]; /* 0 */
	uint32_t waiting;  /* client: not 0 while it may sleep on head */
	uint32_t pad2[15]; /* 0 */
};
_Static_assert(sizeof(struct memd_ring_ctl) == 192, "ring_ctl size");

/* The slots start on the page after the head's, each on pages of its own,
 * so a client touches (makes resident) one page per slot for a small
 * request and the whole ring is 36 KiB. */
#define MEMD_RING_SLOTS_OFFSET 4096u
#define MEMD_RING_SIZE         (MEMD_RING_SLOTS_OFFSET + MEMD_RING_SLOTS * MEMD_RING_SLOT_SIZE)
_Static_assert(MEMD_RING_SLOT_SIZE % 4096 == 0 && MEMD_RING_BATCH_MAX >= 256 &&
                       MEMD_RING_ALLOC_MAX >= 256,
               "ring slots are whole pages and hold a good batch");

/* The slot of frame number i in a ring mapped at base. */
#define MEMD_RING_SLOT(base, i)                                                                    \
	((unsigned char *)(base) + MEMD_RING_SLOTS_OFFSET +                                        \
	 (size_t)((i) % MEMD_RING_SLOTS) * MEMD_RING_SLOT_SIZE)

/* RING request. */
struct memd_ring_req {
	uint32_t flags; /* reserved, 0 */
	uint32_t pad;   /* 0 */
};
_Static_assert(sizeof(struct memd_ring_req) == 8, "ring_req size");

/* RING reply; with status 0 the memfd rides along as SCM_RIGHTS.  Errors:
 * -EEXIST (the session has its ring already), -ENOMEM, -EMFILE. */
struct memd_ring_rep {
	uint64_t size;      /* bytes of the ring: MEMD_RING_SIZE */
	uint32_t slots;     /* MEMD_RING_SLOTS */
	uint32_t slot_size; /* MEMD_RING_SLOT_SIZE */
};
_Static_assert(sizeof(struct memd_ring_rep) == 16, "ring_rep size");

/* Is name[0..cap) a valid wire name of len bytes (1..MEMD_NAME_MAX
 * printable bytes, zeros after)?  Pure; cap must be MEMD_NAME_MAX + 1. */
int proto_name_valid(const char *name, uint32_t len);

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

/* ---- STATS: the operator's view (memctl) --------------------------------
 *
 * Opcodes 32 and up read the daemon's state; one (TRIM) changes it.  Every
 * stats request has the same body, struct memd_stats_req; fields an opcode
 * does not use must be 0.  Reading is open to every session that said
 * HELLO; TRIM needs the daemon's uid, root, or the [memd] admin list
 * (-EPERM otherwise).
 *
 * Lists are paged so that every reply fits one frame and every request
 * still gets exactly one reply: a list reply starts with struct
 * memd_stats_page, then count records of rec_size bytes each.  Records
 * come in ascending key order starting at the request's cursor (0: from
 * the start); next is the key to send as the cursor of the following
 * request, 0 when the list is complete.  Keys: pools by pool id, clients
 * by session id, blocks by reference, map runs by memd_ref_make(segment,
 * offset), names by position + 1.  A list that changes between pages may
 * show an entry twice or miss one that moved; each page is consistent.
 * rec_size may grow in later versions (fields are only appended): readers
 * use the first sizeof(record) bytes of each record.
 *
 * Sizes are bytes; times are CLOCK_REALTIME nanoseconds; ratios are parts
 * per million.
 */
enum memd_stats_op {
	MEMD_OP_STATS_STATUS = 32,  /* stats_req -> stats_status */
	MEMD_OP_STATS_POOLS = 33,   /* stats_req{cursor} -> page of stats_pool */
	MEMD_OP_STATS_POOL = 34,    /* stats_req{pool_id} -> stats_pool_detail + classes + text */
	MEMD_OP_STATS_CLIENTS = 35, /* stats_req{cursor} -> page of stats_client */
	MEMD_OP_STATS_BLOCKS = 36,  /* stats_req{cursor, pool_id?, pid?} -> page of stats_block */
	MEMD_OP_STATS_NAMES = 37,   /* stats_req{cursor} -> page of stats_name */
	MEMD_OP_STATS_MAP = 38,     /* stats_req{cursor, pool_id} -> page of stats_run */
	MEMD_OP_STATS_CHECK = 39,   /* stats_req{pool_id?} -> stats_check + text */
	MEMD_OP_STATS_TRIM = 40,    /* stats_req{pool_id?} -> stats_trim */
	MEMD_OP_STATS_END_ = 41
};

#define MEMD_OP_STATS_FIRST MEMD_OP_STATS_STATUS
_Static_assert((int)MEMD_OP_MAX_ <= (int)MEMD_OP_STATS_FIRST,
               "core opcodes stay below the stats range");
/* Size of an opcode-indexed table that covers every opcode, stats too. */
#define MEMD_OP_TABLE_SIZE MEMD_OP_STATS_END_

/* Every stats request. */
struct memd_stats_req {
	uint64_t cursor;  /* lists: first key wanted (0: start); else 0 */
	uint32_t pool_id; /* POOL, MAP: the pool (required); BLOCKS, CHECK,
	                     TRIM: only this pool (0: all); else 0 */
	uint32_t pid;     /* BLOCKS: only blocks a session of this pid holds
	                     (0: all); else 0 */
	uint32_t flags;   /* reserved, 0 */
	uint32_t pad;     /* 0 */
};
_Static_assert(sizeof(struct memd_stats_req) == 24, "stats_req size");

#define MEMD_STATS_SOCKET_MAX 108 /* sun_path's size */

/* STATUS reply: the daemon as a whole. */
struct memd_stats_status {
	uint32_t version;                   /* MEMD_PROTO_VERSION */
	uint32_t pid;                       /* daemon's pid */
	uint32_t uid;                       /* daemon's effective uid */
	uint32_t flags;                     /* MEMD_STATUS_* */
	uint64_t start_ns;                  /* when the daemon started */
	uint64_t now_ns;                    /* when this reply was made */
	uint32_t pools;                     /* configured pools */
	uint32_t clients;                   /* connected sessions (the asker included) */
	uint64_t segments;                  /* live segments over all pools */
	uint64_t blocks;                    /* live blocks */
	uint64_t in_use_bytes;              /* usable bytes of live blocks */
	uint64_t reserved_bytes;            /* bytes of all segments */
	uint64_t free_bytes;                /* reserved - in use */
	uint64_t punched_bytes;             /* bytes of segments not backed by memory now */
	uint64_t punched_total;             /* bytes punched since start */
	uint64_t resident_bytes;            /* bytes of segments backed by memory now */
	uint64_t names;                     /* published names */
	uint64_t shared_blocks;             /* blocks shared (held by count) */
	char socket[MEMD_STATS_SOCKET_MAX]; /* the socket path, NUL-terminated */
	uint32_t pad;                       /* 0 */
};
_Static_assert(sizeof(struct memd_stats_status) == 232, "stats_status size");

#define MEMD_STATUS_ADMIN   1u /* the asking session may TRIM */
#define MEMD_STATUS_SHARING 2u /* the daemon tracks sharing and names */

/* Head of every list reply. */
struct memd_stats_page {
	uint64_t next;     /* cursor for the next page; 0: the list is complete */
	uint32_t count;    /* records that follow */
	uint32_t rec_size; /* bytes of each record (>= the struct's size, multiple of 8) */
};
_Static_assert(sizeof(struct memd_stats_page) == 16, "stats_page size");

/* One pool (POOLS records; the head of a POOL reply). */
struct memd_stats_pool {
	char name[MEMD_POOL_NAME_MAX]; /* pool name */
	uint32_t id;                   /* pool id */
	uint32_t flags;                /* MEMD_POOL_* */
	uint64_t max_size;             /* configured limit */
	uint64_t segment_size;         /* configured first segment size */
	uint64_t trim_threshold;       /* configured punch threshold */
	uint64_t client_quota;         /* bytes one session may hold; 0: none */
	uint64_t uid_quota;            /* bytes one uid's sessions may hold; 0: none */
	uint64_t segments;             /* live segments */
	uint64_t reserved_bytes;       /* bytes of the live segments */
	uint64_t in_use_bytes;         /* usable bytes of live blocks */
	uint64_t used_bytes;           /* pages held by slabs and large blocks */
	uint64_t free_bytes;           /* reserved - in use */
	uint64_t free_run_bytes;       /* bytes in free page runs */
	uint64_t free_runs;            /* number of free page runs */
	uint64_t largest_free_run;     /* bytes of the largest free run */
	uint64_t punched_bytes;        /* segment bytes not backed by memory now (holes) */
	uint64_t punched_total;        /* bytes punched since start */
	uint64_t resident_bytes;       /* segment bytes backed by memory now (st_blocks) */
	uint64_t blocks;               /* live blocks */
	uint64_t shared_blocks;        /* blocks that are shared */
	uint64_t meta_bytes;           /* the heap's private metadata */
	uint64_t segments_created;     /* segments ever created */
	uint64_t segments_released;    /* empty segments given back */
	uint64_t trims;                /* trim passes */
	uint64_t enomem;               /* allocations refused for lack of room */
	uint32_t fragmentation_ppm;    /* 1 - largest free run / free run bytes */
	uint32_t utilization_ppm;      /* in use / used pages */
};
_Static_assert(sizeof(struct memd_stats_pool) == 264, "stats_pool size");

#define MEMD_POOL_OPEN  1u /* no read/write lists: open to every client */
#define MEMD_POOL_READ  2u /* the asking session may read the pool */
#define MEMD_POOL_WRITE 4u /* the asking session may write the pool */

/* POOL reply: the pool, its size classes, then text_len bytes of text
 * (access rules and quotas, lines ending in '\n', NUL-terminated, then
 * zero padding to a multiple of 8). */
struct memd_stats_pool_detail {
	struct memd_stats_pool pool; /* as in POOLS */
	uint32_t class_count;        /* struct memd_stats_class records that follow */
	uint32_t text_len;           /* bytes of text after the classes, incl. NUL and padding */
};
_Static_assert(sizeof(struct memd_stats_pool_detail) == 272, "stats_pool_detail size");

/* One size class of a pool. */
struct memd_stats_class {
	uint32_t size;       /* slot size */
	uint32_t slab_bytes; /* bytes of one slab */
	uint64_t slabs;      /* slabs of this class */
	uint64_t slots;      /* slots in them */
	uint64_t used;       /* slots holding live blocks */
};
_Static_assert(sizeof(struct memd_stats_class) == 32, "stats_class size");

#define MEMD_STATS_COMM_MAX 16 /* /proc/PID/comm, NUL-terminated */

/* One session. */
struct memd_stats_client {
	uint64_t session;                /* session id */
	uint32_t pid;                    /* SO_PEERCRED pid */
	uint32_t uid;                    /* SO_PEERCRED uid */
	uint32_t gid;                    /* SO_PEERCRED gid */
	uint32_t flags;                  /* MEMD_CLIENT_* */
	uint64_t blocks;                 /* blocks held */
	uint64_t bytes;                  /* usable bytes of the blocks held */
	uint64_t cached_blocks;          /* of those, in the client's cache (0: no cache) */
	uint64_t cached_bytes;           /* bytes of the cached blocks */
	uint64_t since_ns;               /* connected since (see MEMD_CLIENT_SINCE_APPROX) */
	char name[MEMD_CLIENT_NAME_MAX]; /* name from HELLO */
	char comm[MEMD_STATS_COMM_MAX];  /* /proc/PID/comm, "" if unreadable */
};
_Static_assert(sizeof(struct memd_stats_client) == 112, "stats_client size");

#define MEMD_CLIENT_SELF         1u /* the session that asked */
#define MEMD_CLIENT_SINCE_APPROX 2u /* since_ns is a lower bound (process start) */

#define MEMD_STATS_HOLDERS_INLINE 8 /* holder pids carried in a block record */

/* One live block. */
struct memd_stats_block {
	uint64_t ref;                             /* the block */
	uint64_t size;                            /* usable size */
	uint32_t pool_id;                         /* its pool */
	uint32_t flags;                           /* MEMD_BLOCK_* */
	uint32_t holders;                         /* sessions holding it */
	uint32_t names;                           /* names bound to it */
	uint32_t pids[MEMD_STATS_HOLDERS_INLINE]; /* first holders' pids */
};
_Static_assert(sizeof(struct memd_stats_block) == 64, "stats_block size");

#define MEMD_BLOCK_SHARED 1u /* shared (holds counted), else private */

#define MEMD_STATS_NAME_MAX 256 /* published names, NUL-terminated */

/* One published name. */
struct memd_stats_name {
	uint64_t ref;                   /* the block it names */
	uint64_t size;                  /* the block's usable size */
	uint32_t pool_id;               /* the block's pool */
	uint32_t pad;                   /* 0 */
	char name[MEMD_STATS_NAME_MAX]; /* the name */
};
_Static_assert(sizeof(struct memd_stats_name) == 280, "stats_name size");

/* Kinds of map runs (heap_walk's, plus who holds the blocks). */
enum memd_run_kind {
	MEMD_RUN_FREE = 0,    /* free pages still backed by memory (reserved) */
	MEMD_RUN_PUNCHED = 1, /* free pages punched out: returned to the OS */
	MEMD_RUN_SLAB = 2,    /* small blocks: used of slots, shared of used */
	MEMD_RUN_LARGE = 3,   /* one large block (shared = 1 if shared) */
	MEMD_RUN_KIND_MAX_ = 4
};

/* One run of pages of one segment; a segment's runs tile it. */
struct memd_stats_run {
	uint32_t seg_id;    /* segment */
	uint32_t kind;      /* enum memd_run_kind */
	uint64_t off;       /* byte offset in the segment */
	uint64_t len;       /* bytes */
	uint32_t slot_size; /* slabs: slot size; else 0 */
	uint32_t slots;     /* slabs: slots; large: 1; free: 0 */
	uint32_t used;      /* live blocks in the run */
	uint32_t shared;    /* of those, shared blocks */
};
_Static_assert(sizeof(struct memd_stats_run) == 40, "stats_run size");

/* CHECK reply, followed by text_len bytes of text: one line per problem
 * ("pool NAME: what"), NUL-terminated, zero-padded to a multiple of 8;
 * text_len is 0 when every pool is consistent. */
struct memd_stats_check {
	uint32_t pools;    /* pools checked */
	uint32_t failed;   /* pools with a problem */
	uint32_t text_len; /* bytes of text that follow */
	uint32_t pad;      /* 0 */
};
_Static_assert(sizeof(struct memd_stats_check) == 16, "stats_check size");

/* TRIM reply. */
struct memd_stats_trim {
	uint64_t punched; /* bytes returned to the OS by this trim */
	uint32_t pools;   /* pools trimmed */
	uint32_t pad;     /* 0 */
};
_Static_assert(sizeof(struct memd_stats_trim) == 16, "stats_trim size");

/* Is op (reply bit ignored) a stats opcode? */
static inline int proto_is_stats_op(uint16_t op)
{
	uint16_t base = op & (uint16_t)~MEMD_OP_REPLY;

	return base >= MEMD_OP_STATS_FIRST && base < MEMD_OP_STATS_END_;
}

/* proto_req_validate for a stats opcode: -EINVAL for a body other than
 * one struct memd_stats_req, a non-zero flags or pad, or a field the
 * opcode does not use set (POOL and MAP need pool_id). */
int proto_stats_req_validate(const struct memd_hdr *h, const void *body, size_t body_len);

/* proto_rep_validate's check of a status-0 stats reply body for req_op:
 * the page head matches the length, rec_size is at least the record's
 * size and a multiple of 8, texts are NUL-terminated.  0, -EPROTO. */
int proto_stats_rep_body_check(uint16_t req_op, const void *body, size_t body_len);

#endif /* MEMD_PROTO_H */
