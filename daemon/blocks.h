/*
 * blocks.h - the daemon's table of shared blocks and their holders.
 *
 * A block is private until it is shared (SHARE, PUBLISH, or ALLOC with
 * MEMD_ALLOC_SHARED); then it gets an entry here, keyed by its reference,
 * that lives until the block is freed.  The entry says who keeps the block
 * alive: the sessions that hold it (each with a count: a session may hold
 * a block several times, one hold per ALLOC, RETAIN or LOOKUP, and drops
 * one per FREE) and the number of published names bound to it.  A block
 * with no holder and no name is freed (blocks_release_if_unheld).
 *
 * A private block is not in this table; its only holder is the session that
 * allocated it (recorded in that session's hold set, session.h).
 *
 * Holder lists are unsorted arrays searched linearly: a block is shared by
 * a handful of processes in the workloads memd serves.  memctl reads them
 * to show holders' pids.
 *
 * Thread safety: none; the loop thread owns the table.
 */
#ifndef MEMD_BLOCKS_H
#define MEMD_BLOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ptable.h"

struct pool;
struct session;

/* One session's holds on a shared block. */
struct block_holder {
	struct session *s; /* the holding session (alive while listed) */
	uint32_t count;    /* holds it has on the block, >= 1 */
};

/* A shared block. */
struct shared_block {
	uint64_t ref;                 /* the block's reference, the table key */
	uint64_t size;                /* its usable bytes */
	struct pool *pool;            /* the pool that owns it (an element of the
	                                 pool set's array: stable while that array
	                                 is not reallocated) */
	uint32_t names;               /* published names bound to it */
	uint32_t nholders;            /* entries in holders */
	uint32_t holders_cap;         /* capacity of holders */
	struct block_holder *holders; /* sessions holding it (malloc'd), any order */
};

/* The table: open addressing over entry pointers, keyed by ref. */
struct blocks {
	struct ptable tab; /* the entries, keyed by ref (ptable.h) */
};

/* Make t empty.  Allocates nothing. */
void blocks_init(struct blocks *t);

/* Free every entry and the table (the blocks themselves are not freed in
 * their pools: this is for shutdown, when the pools go too). */
void blocks_fini(struct blocks *t);

/* The entry of ref, or NULL if ref is not a shared block. */
struct shared_block *blocks_find(const struct blocks *t, uint64_t ref);

/* Add an entry for the live block ref (size usable bytes, in pool) with no
 * holder and no name.  0 and *out set, -EEXIST (already shared; *out set
 * to the entry), -ENOMEM (nothing changed). */
int blocks_add(struct blocks *t, uint64_t ref, uint64_t size, struct pool *pool,
               struct shared_block **out);

/* Remove b from t and free it (not the block in its pool). */
void blocks_remove(struct blocks *t, struct shared_block *b);

/* If b has no holder and no name, free the block in its pool, remove and
 * free the entry, and return true; else false.  b is invalid after true. */
bool blocks_release_if_unheld(struct blocks *t, struct shared_block *b);

/* s's entry in b's holder list, or NULL. */
struct block_holder *block_holder_find(const struct shared_block *b, const struct session *s);

/* Add one hold of s on b (a new entry with count 1, or count + 1).  0,
 * -ENOMEM (new entry needed and no memory), -EOVERFLOW (count at
 * UINT32_MAX); nothing changes on error. */
int block_holder_add(struct shared_block *b, struct session *s);

/* Drop one hold of s (all of them if all is true).  Returns the holds s
 * has left on b (0: s is no longer listed), or -ENOENT if s holds none. */
int block_holder_drop(struct shared_block *b, const struct session *s, bool all);

/* Iterate: start with *cursor = 0; each call stores the next entry in *b
 * and returns true, or returns false at the end.  The table must not change
 * during an iteration. */
bool blocks_next(const struct blocks *t, size_t *cursor, struct shared_block **b);

#endif /* MEMD_BLOCKS_H */
