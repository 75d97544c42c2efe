/*
 * ptable.c - the open-addressing pointer table of ptable.h.
 *
 * Invariants: cap is 0 or a power of two; count <= 3/4 cap after every
 * reserve; every entry sits in its probe run (no empty slot between its
 * home slot, hash & (cap - 1), and its slot).  Growth rehashes every entry
 * into a fresh array; removal shifts later members of the run back.
 */
#include "ptable.h"

#include "debug.h"

#include <errno.h>
#include <stdlib.h>

#define PTABLE_MIN_CAP 16

void ptable_init(struct ptable *t, uint64_t (*hash)(const void *ent))
{
	t->slots = NULL;
	t->cap = 0;
	t->count = 0;
	t->hash = hash;
}

void ptable_fini(struct ptable *t)
{
	free(t->slots);
	ptable_init(t, t->hash);
}

/* Put ent into the first free slot of its probe run in slots/cap. */
static void ptable_place(void **slots, size_t cap, uint64_t h, void *ent)
{
	size_t mask = cap - 1, i = (size_t)h & mask;

	while (slots[i] != NULL)
		i = (i + 1) & mask;
	slots[i] = ent;
}

int ptable_reserve(struct ptable *t)
{
	size_t cap = t->cap ? t->cap : PTABLE_MIN_CAP;
	void **slots;

	while (t->count + 1 > cap / 4 * 3)
		cap *= 2;
	if (cap == t->cap)
		return 0;
	slots = calloc(cap, sizeof(*slots));
	if (slots == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i] != NULL)
			ptable_place(slots, cap, t->hash(t->slots[i]), t->slots[i]);
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	return 0;
}

void ptable_insert(struct ptable *t, void *ent)
{
	memd_assert(t->count + 1 <= t->cap / 4 * 3);
	ptable_place(t->slots, t->cap, t->hash(ent), ent);
	t->count++;
}

void *ptable_find(const struct ptable *t, uint64_t h,
                  bool (*match)(const void *ent, const void *key), const void *key)
{
	size_t mask, i;

	if (t->cap == 0)
		return NULL;
	mask = t->cap - 1;
	for (i = (size_t)h & mask; t->slots[i] != NULL; i = (i + 1) & mask)
		if (match(t->slots[i], key))
			return t->slots[i];
	return NULL;
}

void ptable_remove(struct ptable *t, const void *ent)
{
	size_t mask = t->cap - 1, hole, j, k;

	memd_assert(t->cap != 0);
	for (hole = (size_t)t->hash(ent) & mask; t->slots[hole] != ent; hole = (hole + 1) & mask)
		memd_assert(t->slots[hole] != NULL);
	t->slots[hole] = NULL;
	t->count--;
	for (j = (hole + 1) & mask; t->slots[j] != NULL; j = (j + 1) & mask) {
		k = (size_t)t->hash(t->slots[j]) & mask;
		if (ptable_may_shift(k, hole, j)) {
			t->slots[hole] = t->slots[j];
			t->slots[j] = NULL;
			hole = j;
		}
	}
}

bool ptable_next(const struct ptable *t, size_t *cursor, void **ent)
{
	for (size_t i = *cursor; i < t->cap; i++) {
		if (t->slots[i] != NULL) {
			*ent = t->slots[i];
			*cursor = i + 1;
			return true;
		}
	}
	*cursor = t->cap;
	return false;
}
