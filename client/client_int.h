/*
 * client_int.h - libmemclient internals shared by client.c and map.c.
 *
 * struct memc_client is the connection (socket, request lock, pool cache,
 * reply buffer) plus the segment table of map.c.  Nothing here is exported:
 * memclient.sym keeps every symbol but memc_* local to the library.
 */
#ifndef MEMCLIENT_INT_H
#define MEMCLIENT_INT_H

#include "debug.h"
#include "memclient.h"
#include "proto.h"
#include "ref.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEGTAB_LEAF_BITS 12 /* low bits of a segment id: index in a leaf */
#define SEGTAB_DIR_BITS  12 /* high bits: index in the directory */
#define SEGTAB_LEAF_SIZE (1u << SEGTAB_LEAF_BITS)
#define SEGTAB_DIR_SIZE  (1u << SEGTAB_DIR_BITS)

/* Largest request body the client sends: a full FREE_BATCH. */
#define MEMC_REQ_MAX (sizeof(struct memd_free_batch_req) + MEMD_BATCH_MAX * sizeof(uint64_t))

/* The cache's record of one 256 KiB chunk of a segment (cache.c): two bits
 * per 16-byte granule, set only at the start of a block this client holds
 * through its caches (CMAP_HELD) and, of those, the ones handed to the
 * application (CMAP_USED); and the size class of the slab on each page. */
#define CMAP_CHUNK_SHIFT 18
#define CMAP_GRAN_SHIFT  4
#define CMAP_PAGE_SHIFT  12
#define CMAP_GRANULES    (1u << (CMAP_CHUNK_SHIFT - CMAP_GRAN_SHIFT))
#define CMAP_WORDS       (CMAP_GRANULES / 32)
#define CMAP_PAGES       (1u << (CMAP_CHUNK_SHIFT - CMAP_PAGE_SHIFT))

struct cmap_chunk {
	_Atomic uint64_t w[CMAP_WORDS];  /* bit 2g: granule g held; 2g+1: in use */
	_Atomic uint8_t cls[CMAP_PAGES]; /* size class of each page's slab */
};

/* One mapped segment.  Written once before it is published, then immutable
 * until memc_close(). */
struct memc_seg {
	uint32_t id;                        /* segment id */
	uint32_t access;                    /* MEMD_ACCESS_* the mapping was made with */
	char *base;                         /* start of this process's mapping */
	uint64_t size;                      /* mapped bytes (the segment's size) */
	_Atomic(struct cmap_chunk *) *cmap; /* ceil(size / 256 KiB) chunk records, NULL
	                                     * until the cache leases a block there */
	_Atomic uint32_t cache_pool;        /* pool id of the segment (0: not yet known) */
};

/* A leaf of the segment table: SEGTAB_LEAF_SIZE publish-once slots. */
struct memc_seg_leaf {
	_Atomic(struct memc_seg *) slot[SEGTAB_LEAF_SIZE]; /* NULL: not mapped */
};

/* One entry of the address index, all fields read racily by memc_ref_of
 * under the seqlock and therefore atomic. */
struct memc_addr_ent {
	_Atomic uintptr_t base;  /* mapping start */
	_Atomic uint64_t size;   /* mapping length */
	_Atomic uint32_t seg_id; /* its segment */
};

/* The address index: mappings sorted by base.  Grown by replacement; old
 * arrays are kept (on the retired list) until memc_close(). */
struct memc_addr_index {
	struct memc_addr_index *retired; /* older, replaced index (free at close) */
	size_t cap;                      /* entries allocated */
	_Atomic size_t n;                /* entries in use, <= cap */
	struct memc_addr_ent ent[];      /* sorted by base, ascending */
};

/* Segment table and address index of one client (map.c). */
#define REFOF_MEMO_SIZE  1024u /* entries of memc_ref_of's address memo */
#define REFOF_GRAN_SHIFT 20    /* the memo remembers 1 MiB granules of addresses */

struct memc_segtab {
	_Atomic(struct memc_seg_leaf *) dir[SEGTAB_DIR_SIZE]; /* by id >> LEAF_BITS */
	_Atomic(struct memc_addr_index *) index;              /* current address index */
	_Atomic unsigned seq;                   /* index seqlock: odd while a writer changes it */
	_Atomic uint64_t memo[REFOF_MEMO_SIZE]; /* granule << 24 | segment id, or 0: where
	                                         * memc_ref_of last found an address of it */
};

/* A cached POOL reply. */
struct memc_pool {
	char name[MEMD_POOL_NAME_MAX]; /* pool name, NUL-terminated */
	uint32_t id;                   /* pool id for ALLOC */
	uint32_t access;               /* MEMD_ACCESS_* granted */
};

struct memc_tcache;
struct cache_lease;

/* The client-wide part of the cache (cache.c). */
struct memc_cache {
	int enabled;                  /* 0: every call is a round trip */
	uint64_t max;                 /* bytes all threads' caches may hold */
	uint64_t thread_max;          /* bytes one thread's cache may hold */
	_Atomic int64_t credit;       /* bytes of max not taken by a thread */
	_Atomic unsigned pressure;    /* bumped when credit ran out: threads shrink */
	struct memc_tcache *threads;  /* every thread's cache (registry lock) */
	struct cache_lease *unreg;    /* leases arrived but not recorded yet (c->lock) */
	struct memd_cache_slot *page; /* the daemon's counters page, or NULL */
	int page_state;               /* 0: not asked yet, 1: mapped, < 0: none */
	uint64_t slot_used[MEMD_CACHE_SLOTS / 64]; /* exclusive slots given out (c->lock) */
};

/* Handler of the reply to a request sent with client_send_async(), called
 * with c->lock held by whichever call reads that reply: h is its header,
 * body/len its body.  Returns 0 or an error, which the reading call
 * returns (break the connection with client_protocol_error() if the reply
 * is wrong). */
typedef int memc_reply_fn(memc_client *c, void *arg, const struct memd_hdr *h, const void *body,
                          size_t len);

#define MEMC_PENDING_MAX 8                    /* requests sent, replies not read yet */
#define MEMC_RBUF_SIZE   (2 * MEMD_FRAME_MAX) /* stream buffer: a frame always fits */

/* A request whose reply is still to be read. */
struct memc_pending {
	uint32_t id;       /* request id */
	uint16_t op;       /* its opcode */
	bool on_socket;    /* sent on the socket, not through the ring */
	uint32_t frame;    /* through the ring: its frame number (the reply's slot) */
	memc_reply_fn *fn; /* handler of the reply, or NULL */
	void *arg;         /* the handler's argument */
};

/* The request ring of a client (ring.c); guarded by c->lock. */
struct memc_ring {
	unsigned char *base; /* the mapping, MEMD_RING_SIZE bytes; NULL: none */
	uint32_t tail;       /* frames published (our copy of the ring's tail) */
	uint32_t answered;   /* replies read from their slots: slots below are free */
	int state;           /* 0: not asked yet, 1: on, -1: off for good */
	unsigned on_socket;  /* pending requests sent on the socket: while any
	                      * is unanswered nothing goes into the ring */
	uint64_t frames;     /* requests sent through the ring */
	uint64_t kicks;      /* RING_KICKs sent */
};

struct memc_client {
	int fd;                      /* connected socket, owned */
	pthread_mutex_t lock;        /* serializes requests; guards the fields below it */
	_Atomic int broken;          /* 0, or the sticky -errno of a dead connection */
	uint32_t next_id;            /* id of the next request */
	struct memc_pool *pools;     /* pool name cache */
	size_t npools;               /* entries in pools */
	size_t pools_cap;            /* capacity of pools */
	unsigned char *rx;           /* body of the reply just read, MEMD_FRAME_MAX bytes */
	unsigned char *rbuf;         /* bytes read off the socket, MEMC_RBUF_SIZE */
	size_t rb_start;             /* first unconsumed byte of rbuf */
	size_t rb_end;               /* end of the bytes read into rbuf */
	int rx_fd;                   /* an fd received, not yet claimed by its reply, or -1 */
	struct memd_hello_rep hello; /* the daemon's HELLO reply */
	struct memc_pending pending[MEMC_PENDING_MAX]; /* ring of requests awaiting replies */
	unsigned pend_head;                            /* oldest entry of pending */
	unsigned pend_n;                               /* entries in pending */
	struct memc_segtab segs; /* segment table; written under lock, read without */
	struct memc_cache cache; /* per-thread caches of private blocks (cache.c) */
	uint64_t spin_ns;        /* poll this long for a reply before sleeping */
	struct memc_ring ring;   /* the request ring (ring.c) */
};

#define MEMC_SPIN_DEFAULT_US 50u    /* $MEMC_SPIN_US unset */
#define MEMC_SPIN_MAX_US     10000u /* the largest $MEMC_SPIN_US */

/* Write one request frame on the socket; c->lock held.  0, or the sticky
 * error. */
int client_send(memc_client *c, uint16_t op, uint32_t id, const void *req, size_t req_len);

/* ---- ring.c: the request ring ------------------------------------------ */

/* Set c's ring up as off ($MEMC_RING=0) or not asked for yet. */
void client_ring_init(memc_client *c);

/* Ask the daemon for the ring and map it, if not asked yet; c->lock held.
 * Any failure leaves it off for good. */
void client_ring_get(memc_client *c);

/* Put request op (id, body) into the ring, waking the daemon if it may
 * sleep; c->lock held.  true with *frame its frame number (its reply will
 * be in its slot: client_ring_reply), or false if it must go on the
 * socket instead (no ring, a request the ring does not take, no free
 * slot, or a request sent on the socket still unanswered: the daemon
 * could run a frame of the ring before it, and its reply would come
 * first). */
bool client_ring_put(memc_client *c, uint16_t op, uint32_t id, const void *req, size_t req_len,
                     uint32_t *frame);

/* Has the daemon answered ring frame frame?  (One load, no system call.) */
bool client_ring_answered(const memc_client *c, uint32_t frame);

/* Wait for the reply to ring frame frame, the oldest one unread (spinning
 * for up to c->spin_ns, then sleeping on the ring's head), and take it:
 * its header to *h, its body to the start of c->rx; the slot is free
 * again.  c->lock held.  0, or the sticky error (the daemon hung up, or
 * the header is bad). */
int client_ring_reply(memc_client *c, uint32_t frame, struct memd_hdr *h);

/* Requests sent through c's ring so far, and RING_KICKs sent on the
 * socket (memd-bench counts the requests, not the kicks, as round trips,
 * whichever way they went). */
uint64_t client_ring_frames(const memc_client *c);
uint64_t client_ring_kicks(const memc_client *c);

/* Unmap the ring (memc_close). */
void client_ring_fini(memc_client *c);

/* Send one request (op, body) and wait for its reply, under c->lock unless
 * the caller already holds it (locked != 0).  The reply body (validated by
 * proto_rep_validate, id checked) is copied to rep (rep_cap bytes; a longer
 * body is truncated, *rep_len gets the full length if rep_len != NULL).  If
 * fd_out is non-NULL, a status-0 reply must carry an fd, which *fd_out
 * receives (the caller owns it; -1 otherwise); if fd_out is NULL an fd
 * arriving is a protocol error.  Returns the reply status
 * (0 or the daemon's -errno), or the connection's sticky error (-EPIPE,
 * -ECONNRESET, -EPROTO) when the transport or the reply is bad. */
int client_call(memc_client *c, int locked, uint16_t op, const void *req, size_t req_len, void *rep,
                size_t rep_cap, size_t *rep_len, int *fd_out);

/* Send a request without waiting for its reply, c->lock held: the reply
 * is read, and given to fn, by the next call that reads replies (replies
 * come in request order), or when MEMC_PENDING_MAX requests are pending.
 * Keeps the number of unread replies bounded, so the daemon's writes never
 * block on us.  0, or the connection's sticky error. */
int client_send_async(memc_client *c, uint16_t op, const void *req, size_t req_len,
                      memc_reply_fn *fn, void *arg);

/* Read the reply to the oldest request sent by client_send_async() and
 * give it to that request's handler; c->lock held, c->pend_n > 0.  0, or
 * the sticky error (or the handler's). */
int client_pending_one(memc_client *c);

/* Has (the start of) the oldest pending reply come: is it in its ring
 * slot (one load), or in the stream buffer, or is the socket readable?
 * c->lock held.  Never blocks (a poll with no timeout); an error or
 * hang-up on the socket counts as ready, so that the read that follows
 * reports it. */
bool client_reply_ready(memc_client *c);

/* Read and handle every pending reply; c->lock held.  0 or an error. */
int client_drain(memc_client *c);

/* The caller found a reply that is valid on the wire but wrong for its
 * request (e.g. a MAP reply for another segment): mark the connection
 * broken.  c->lock held.  Returns -EPROTO. */
int client_protocol_error(memc_client *c);

/* Mark the connection dead with err (-ECONNRESET or -EPROTO; anything
 * else counts as -EPIPE), keeping the first reason, and return the sticky
 * error.  c->lock held. */
int client_break(memc_client *c, int err);

/* Pool id of name: from the client's pool cache, else by a POOL request
 * (cached on success); takes c->lock.  0 and *id set, or -EINVAL (bad
 * name), -ENOENT, -EACCES, or a connection error. */
int client_pool_id(memc_client *c, const char *name, uint32_t *id);

/* Initialise an empty segment table.  0 or -ENOMEM. */
int segtab_init(struct memc_segtab *t);

/* Unmap every segment and free the table.  No reader may be running. */
void segtab_destroy(struct memc_segtab *t);

/* The published mapping of seg_id, or NULL.  Lock-free, O(1); inline,
 * because memc_ptr and both cache fast paths start with it. */
static inline struct memc_seg *segtab_find(struct memc_segtab *t, uint32_t seg_id)
{
	struct memc_seg_leaf *leaf;

	memd_assert(seg_id <= MEMD_SEG_ID_MAX);
	leaf = atomic_load_explicit(&t->dir[seg_id >> SEGTAB_LEAF_BITS], memory_order_acquire);
	if (leaf == NULL)
		return NULL;
	return atomic_load_explicit(&leaf->slot[seg_id & (SEGTAB_LEAF_SIZE - 1)],
	                            memory_order_acquire);
}

/* Map seg_id by asking the daemon (MAP) if it is not mapped yet; takes
 * c->lock.  0 and *out set, or -EINVAL (unknown segment), -EACCES, -EPIPE,
 * -ECONNRESET, -EPROTO, -ENOMEM. */
int segtab_map(memc_client *c, uint32_t seg_id, struct memc_seg **out);

/* segtab_map() for a caller that holds c->lock already. */
int segtab_map_held(memc_client *c, uint32_t seg_id, struct memc_seg **out);

/* ---- cache.c, cache_lease.c, cache_thread.c: the fast path ---- */

/* Read the cache's bounds ($MEMC_CACHE_BYTES, $MEMC_THREAD_CACHE_BYTES) and
 * set up c->cache.  Never fails: a bad setting disables the cache. */
void cache_init(memc_client *c);

/* Free every thread's cache of c (the caller's own ones at once, other
 * threads' when they next look or exit) and the counters page.  The
 * blocks themselves go back when the connection closes. */
void cache_fini(memc_client *c);

/* Serve a private allocation of class cls from the calling thread's cache
 * of pool (refilling it with one ALLOC_BATCH when empty).  0 and *out set,
 * a negative errno, or 1: not served, use the plain ALLOC. */
int cache_alloc(memc_client *c, const char *pool, uint32_t cls, memc_ref *out);

/* Give every block every thread caches for c back to the daemon (after a
 * refusal for -EDQUOT or -ENOMEM, which those blocks may cause).  Returns
 * how many went back: 0 means a retry cannot help. */
size_t cache_reclaim(memc_client *c);

/* Before a request about one reference reaches the daemon (c->lock held):
 * read every pending reply and record every lease that arrived, so the
 * cache's record is complete and cache_query() tells whether ref is a
 * cached block.  0 or the connection's error. */
int cache_settle(memc_client *c);

/* Before SHARE or PUBLISH of ref: a cache block in use leaves the cache's
 * care for good (0), a cached one is refused (-EINVAL); 1: not a cache
 * block. */
int cache_claim(memc_client *c, memc_ref ref);

/* What the cache knows of ref: 0 and *size (a block in use), -EINVAL (a
 * cached block: freed), or 1: not a cache block. */
int cache_query(memc_client *c, memc_ref ref, size_t *size);

/* Free the chunk records of a segment (segtab_destroy). */
void cache_seg_free(struct memc_seg *s);

#endif /* MEMCLIENT_INT_H */
