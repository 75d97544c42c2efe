/*
 * holds.c - per-session hash set of held block references.
 *
 * Every block a session allocated and has not freed is recorded here, so
 * that the session's end (exit, crash, kill -9) can give each one back
 * (DESIGN.md invariant 8), and so that a FREE can tell "you hold this"
 * from "somebody else does".
 *
 * The table is an array of cap slots (a power of two), each either 0
 * (empty) or a member.  A member lives at its home slot (hash & mask) or in
 * the first free slot after it, wrapping around (linear probing).
 * Invariant: between a member's home slot and its actual slot there is no
 * empty slot.  Deletion keeps that invariant without tombstones by shifting
 * later members of the same probe run back into the hole (Knuth's
 * algorithm R), so lookups never scan past a run that deletions left
 * behind and the table never needs a cleaning rehash.  Load stays at most
 * 3/4, so runs are short.
 *
 * References are (segment << 40 | offset) with 16-byte aligned offsets:
 * the low bits are poor hash input, hence the 64-bit finalizer mix
 * (holds_hash, in holds.h for holds_prefetch).
 *
 * Ownership: the set owns its slot array, nothing else.
 */
#include "holds.h"

#include <errno.h>
#include <stdlib.h>

#include "debug.h"
#include "ptable.h"

#define HOLDS_MIN_CAP 16

void holds_init(struct holds *h)
{
	h->slots = NULL;
	h->cap = 0;
	h->count = 0;
}

void holds_fini(struct holds *h)
{
	free(h->slots);
	holds_init(h);
}

/* Place ref (known absent) into slots/cap without growing. */
static void holds_place(uint64_t *slots, size_t cap, uint64_t ref)
{
	size_t mask = cap - 1;
	size_t i = (size_t)holds_hash(ref) & mask;

	while (slots[i] != 0)
		i = (i + 1) & mask;
	slots[i] = ref;
}

/* Rehash into a table of new_cap slots.  0, -ENOMEM (h unchanged). */
static int holds_rehash(struct holds *h, size_t new_cap)
{
	uint64_t *slots = calloc(new_cap, sizeof(*slots));
	size_t i;

	if (slots == NULL)
		return -ENOMEM;
	for (i = 0; i < h->cap; i++)
		if (h->slots[i] != 0)
			holds_place(slots, new_cap, h->slots[i]);
	free(h->slots);
	h->slots = slots;
	h->cap = new_cap;
	return 0;
}

int holds_reserve(struct holds *h, size_t n)
{
	size_t need = h->count + n;
	size_t cap = h->cap ? h->cap : HOLDS_MIN_CAP;

	if (need < h->count)
		return -ENOMEM;
	/* Keep count <= 3/4 cap. */
	while (need > cap / 4 * 3) {
		if (cap > SIZE_MAX / 2 / sizeof(uint64_t))
			return -ENOMEM;
		cap *= 2;
	}
	if (cap == h->cap)
		return 0;
	return holds_rehash(h, cap);
}

/* Slot index holding ref, or SIZE_MAX. */
static size_t holds_find(const struct holds *h, uint64_t ref)
{
	size_t mask, i;

	if (h->cap == 0 || ref == 0)
		return SIZE_MAX;
	mask = h->cap - 1;
	for (i = (size_t)holds_hash(ref) & mask; h->slots[i] != 0; i = (i + 1) & mask)
		if (h->slots[i] == ref)
			return i;
	return SIZE_MAX;
}

int holds_insert(struct holds *h, uint64_t ref)
{
	size_t mask, i;
	int err;

	memd_assert(ref != 0);
	/* holds_reserve(h, 1) is a no-op unless the table is missing or
	 * full; a batch of inserts after holds_reserve(n) skips the call. */
	if (h->cap == 0 || h->count >= h->cap / 4 * 3) {
		err = holds_reserve(h, 1);
		if (err < 0)
			return err;
	}
	/* One probe both looks for ref and finds its place. */
	mask = h->cap - 1;
	for (i = (size_t)holds_hash(ref) & mask; h->slots[i] != 0; i = (i + 1) & mask)
		if (h->slots[i] == ref)
			return -EEXIST;
	h->slots[i] = ref;
	h->count++;
	return 0;
}

int holds_remove(struct holds *h, uint64_t ref)
{
	size_t mask, hole, j, k;

	hole = holds_find(h, ref);
	if (hole == SIZE_MAX)
		return -ENOENT;
	mask = h->cap - 1;
	h->slots[hole] = 0;
	h->count--;
	for (j = (hole + 1) & mask; h->slots[j] != 0; j = (j + 1) & mask) {
		k = (size_t)holds_hash(h->slots[j]) & mask;
		if (ptable_may_shift(k, hole, j)) {
			h->slots[hole] = h->slots[j];
			h->slots[j] = 0;
			hole = j;
		}
	}
	return 0;
}

bool holds_contains(const struct holds *h, uint64_t ref)
{
	return holds_find(h, ref) != SIZE_MAX;
}

bool holds_next(const struct holds *h, size_t *cursor, uint64_t *ref)
{
	size_t i;

	for (i = *cursor; i < h->cap; i++) {
		if (h->slots[i] != 0) {
			*ref = h->slots[i];
			*cursor = i + 1;
			return true;
		}
	}
	*cursor = h->cap;
	return false;
}
