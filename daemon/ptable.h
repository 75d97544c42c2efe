/*
 * ptable.h - an open-addressing hash table of entry pointers.
 *
 * The daemon's keyed tables (shared blocks by reference, names by bytes)
 * keep malloc'd entries whose key lives inside the entry; this is the one
 * table they share.  Linear probing over a power-of-two slot array, load at
 * most 3/4, deletion by backward shift (Knuth's algorithm R) so there are
 * no tombstones: between an entry's home slot and its actual slot there is
 * never an empty slot.  holds.c keeps a table of bare references with the
 * same discipline and shares ptable_may_shift() and ptable_mix64().
 *
 * The table owns its slot array only; entries belong to the caller.
 */
#ifndef MEMD_PTABLE_H
#define MEMD_PTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ptable {
	void **slots;                      /* cap slots, NULL = empty; NULL until first reserve */
	size_t cap;                        /* 0 or a power of two >= 16 */
	size_t count;                      /* entries */
	uint64_t (*hash)(const void *ent); /* hash of an entry's key */
};

/* splitmix64's finalizer: a bijective, well-avalanching 64-bit mix (block
 * references have poor low bits: 16-byte aligned offsets). */
static inline uint64_t ptable_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

/* Is home slot k outside the cyclic interval (hole, j]?  Then the member
 * at j may move back into the hole without leaving its probe run. */
static inline bool ptable_may_shift(size_t k, size_t hole, size_t j)
{
	if (hole <= j)
		return k <= hole || k > j;
	return k <= hole && k > j;
}

/* An empty table whose entries hash with hash. */
void ptable_init(struct ptable *t, uint64_t (*hash)(const void *ent));

/* Free the slot array (not the entries); t is empty afterwards. */
void ptable_fini(struct ptable *t);

/* Make room for one more entry.  0, -ENOMEM (t unchanged). */
int ptable_reserve(struct ptable *t);

/* Insert ent, whose key is absent, after ptable_reserve() succeeded. */
void ptable_insert(struct ptable *t, void *ent);

/* The entry for which match(ent, key) holds, looked up from key hash h
 * (the value t->hash gives for such an entry), or NULL. */
void *ptable_find(const struct ptable *t, uint64_t h,
                  bool (*match)(const void *ent, const void *key), const void *key);

/* Remove ent, which is in t (asserted). */
void ptable_remove(struct ptable *t, const void *ent);

/* Iterate: start with *cursor = 0; each call stores the next entry in *ent
 * and returns true, or returns false at the end.  *cursor is the entry's
 * slot + 1, a stable key while the table does not change.  No insertions
 * or removals during an iteration. */
bool ptable_next(const struct ptable *t, size_t *cursor, void **ent);

#endif /* MEMD_PTABLE_H */
