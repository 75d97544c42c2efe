/*
 * holds.h - the set of block references one session holds.
 *
 * An open-addressing hash set of non-zero uint64_t references with linear
 * probing and backward-shift deletion (no tombstones): insert, remove and
 * contains are O(1) expected.  The table doubles when it passes 3/4 full and
 * never shrinks (a session that once held many blocks keeps the table until
 * it ends).  The value 0 marks an empty slot, which is why the null
 * reference can never be a member.
 *
 * Not thread-safe: a session's holds are touched by the loop thread only.
 */
#ifndef MEMD_HOLDS_H
#define MEMD_HOLDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ptable.h"

struct holds {
	uint64_t *slots; /* cap slots; 0 = empty; NULL until the first insert */
	size_t cap;      /* number of slots: 0 or a power of two >= 16 */
	size_t count;    /* members */
};

/* Make h an empty set.  Allocates nothing; cannot fail. */
void holds_init(struct holds *h);

/* Free the table.  h is empty afterwards and may be reused. */
void holds_fini(struct holds *h);

/* Make sure n more inserts cannot fail for lack of memory.  0, -ENOMEM. */
int holds_reserve(struct holds *h, size_t n);

/* Add ref (non-zero, asserted).  0, -EEXIST (already a member; nothing
 * changes), -ENOMEM (the table could not grow; nothing changes). */
int holds_insert(struct holds *h, uint64_t ref);

/* Remove ref.  0, or -ENOENT when it is not a member. */
int holds_remove(struct holds *h, uint64_t ref);

/* Is ref a member?  ref 0 is never a member. */
bool holds_contains(const struct holds *h, uint64_t ref);

/* Hash of a reference.  References are (segment << 40 | offset) with
 * 16-byte aligned offsets: the low bits are poor hash input, hence a
 * 64-bit finalizer mix. */
static inline uint64_t holds_hash(uint64_t ref)
{
	return ptable_mix64(ref);
}

/* Start loading the slot where ref would live, for a batch that will look
 * ref up soon: the table is larger than the caches, so a lookup is a
 * cache miss, and prefetching a few refs ahead overlaps them.  Inline: a
 * batch calls it once per block. */
static inline void holds_prefetch(const struct holds *h, uint64_t ref)
{
	if (h->cap != 0)
		__builtin_prefetch(&h->slots[(size_t)holds_hash(ref) & (h->cap - 1)]);
}

/* Number of members. */
static inline size_t holds_count(const struct holds *h)
{
	return h->count;
}

/* Iterate: start with *cursor = 0; each call stores the next member in
 * *ref and returns true, or returns false when every member was visited.
 * The set must not be modified during an iteration. */
bool holds_next(const struct holds *h, size_t *cursor, uint64_t *ref);

#endif /* MEMD_HOLDS_H */
