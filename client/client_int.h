/*
 * client_int.h - libmemclient internals shared by client.c and map.c.
 *
 * struct memc_client is the connection (socket, request lock, pool cache,
 * reply buffer) plus the segment table of map.c.  Nothing here is exported:
 * memclient.sym keeps every symbol but memc_* local to the library.
 */
#ifndef MEMCLIENT_INT_H
#define MEMCLIENT_INT_H

#include "memclient.h"
#include "proto.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SEGTAB_LEAF_BITS 12 /* low bits of a segment id: index in a leaf */
#define SEGTAB_DIR_BITS  12 /* high bits: index in the directory */
#define SEGTAB_LEAF_SIZE (1u << SEGTAB_LEAF_BITS)
#define SEGTAB_DIR_SIZE  (1u << SEGTAB_DIR_BITS)

/* One mapped segment.  Written once before it is published, then immutable
 * until memc_close(). */
struct memc_seg {
	uint32_t id;     /* segment id */
	uint32_t access; /* MEMD_ACCESS_* the mapping was made with */
	char *base;      /* start of this process's mapping */
	uint64_t size;   /* mapped bytes (the segment's size) */
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
struct memc_segtab {
	_Atomic(struct memc_seg_leaf *) dir[SEGTAB_DIR_SIZE]; /* by id >> LEAF_BITS */
	_Atomic(struct memc_addr_index *) index;              /* current address index */
	_Atomic unsigned seq; /* index seqlock: odd while a writer changes it */
};

/* A cached POOL reply. */
struct memc_pool {
	char name[MEMD_POOL_NAME_MAX]; /* pool name, NUL-terminated */
	uint32_t id;                   /* pool id for ALLOC */
	uint32_t access;               /* MEMD_ACCESS_* granted */
};

struct memc_client {
	int fd;                      /* connected socket, owned */
	pthread_mutex_t lock;        /* serializes requests; guards the fields below it */
	_Atomic int broken;          /* 0, or the sticky -errno of a dead connection */
	uint32_t next_id;            /* id of the next request */
	struct memc_pool *pools;     /* pool name cache */
	size_t npools;               /* entries in pools */
	size_t pools_cap;            /* capacity of pools */
	unsigned char *rx;           /* reply buffer, MEMD_FRAME_MAX bytes */
	struct memd_hello_rep hello; /* the daemon's HELLO reply */
	struct memc_segtab segs;     /* segment table; written under lock, read without */
};

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

/* The caller found a reply that is valid on the wire but wrong for its
 * request (e.g. a MAP reply for another segment): mark the connection
 * broken.  c->lock held.  Returns -EPROTO. */
int client_protocol_error(memc_client *c);

/* Initialise an empty segment table.  0 or -ENOMEM. */
int segtab_init(struct memc_segtab *t);

/* Unmap every segment and free the table.  No reader may be running. */
void segtab_destroy(struct memc_segtab *t);

/* The published mapping of seg_id, or NULL.  Lock-free, O(1). */
struct memc_seg *segtab_find(struct memc_segtab *t, uint32_t seg_id);

/* Map seg_id by asking the daemon (MAP) if it is not mapped yet; takes
 * c->lock.  0 and *out set, or -EINVAL (unknown segment), -EACCES, -EPIPE,
 * -ECONNRESET, -EPROTO, -ENOMEM. */
int segtab_map(memc_client *c, uint32_t seg_id, struct memc_seg **out);

#endif /* MEMCLIENT_INT_H */
