/*
 * names.c - the published-name table.
 *
 * What it does: a hash table of name entries (FNV-1a over the name's bytes,
 * linear probing, backward-shift deletion as in holds.c, load at most 3/4).
 * Entries are malloc'd one by one and hold their name inline.
 *
 * Invariants: no two entries have the same name; count <= max; each entry
 * names a shared block whose `names` count includes it (dispatch.c keeps
 * both sides in step).
 *
 * Ownership: the table owns its slots and entries.
 */
#include "names.h"

#include "debug.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NAMES_MIN_CAP 16

/* FNV-1a, 64-bit. */
static uint64_t names_hash(const char *s, size_t len)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

void names_init(struct names *t, uint32_t max)
{
	t->slots = NULL;
	t->cap = 0;
	t->count = 0;
	t->max = max;
}

void names_fini(struct names *t)
{
	for (size_t i = 0; i < t->cap; i++)
		free(t->slots[i]);
	free(t->slots);
	names_init(t, t->max);
}

static void names_place(struct name_entry **slots, size_t cap, struct name_entry *e)
{
	size_t mask = cap - 1;
	size_t i = (size_t)names_hash(e->name, e->len) & mask;

	while (slots[i] != NULL)
		i = (i + 1) & mask;
	slots[i] = e;
}

/* Make room for one more entry.  0, -ENOMEM (t unchanged). */
static int names_grow(struct names *t)
{
	size_t cap = t->cap ? t->cap : NAMES_MIN_CAP;
	struct name_entry **slots;

	while (t->count + 1 > cap / 4 * 3)
		cap *= 2;
	if (cap == t->cap)
		return 0;
	slots = calloc(cap, sizeof(*slots));
	if (slots == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i] != NULL)
			names_place(slots, cap, t->slots[i]);
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	return 0;
}

/* Slot of name[0..len), or SIZE_MAX. */
static size_t names_slot(const struct names *t, const char *name, size_t len)
{
	size_t mask, i;

	if (t->cap == 0)
		return SIZE_MAX;
	mask = t->cap - 1;
	for (i = (size_t)names_hash(name, len) & mask; t->slots[i] != NULL; i = (i + 1) & mask)
		if (t->slots[i]->len == len && memcmp(t->slots[i]->name, name, len) == 0)
			return i;
	return SIZE_MAX;
}

struct name_entry *names_find(const struct names *t, const char *name, size_t len)
{
	size_t i = names_slot(t, name, len);

	return i == SIZE_MAX ? NULL : t->slots[i];
}

int names_add(struct names *t, const char *name, size_t len, uint64_t ref, struct name_entry **out)
{
	struct name_entry *e;
	int err;

	memd_assert(len >= 1 && len <= MEMD_NAME_MAX);
	if (names_find(t, name, len) != NULL)
		return -EEXIST;
	if (t->count >= t->max)
		return -ENOSPC;
	err = names_grow(t);
	if (err < 0)
		return err;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	e->ref = ref;
	e->len = (uint32_t)len;
	memcpy(e->name, name, len);
	names_place(t->slots, t->cap, e);
	t->count++;
	if (out != NULL)
		*out = e;
	return 0;
}

/* Is home slot k outside the cyclic interval (hole, j]? (holds.c) */
static inline bool names_may_shift(size_t k, size_t hole, size_t j)
{
	if (hole <= j)
		return k <= hole || k > j;
	return k <= hole && k > j;
}

void names_remove(struct names *t, struct name_entry *e)
{
	size_t hole = names_slot(t, e->name, e->len), mask, j, k;

	memd_assert(hole != SIZE_MAX && t->slots[hole] == e);
	mask = t->cap - 1;
	t->slots[hole] = NULL;
	t->count--;
	for (j = (hole + 1) & mask; t->slots[j] != NULL; j = (j + 1) & mask) {
		k = (size_t)names_hash(t->slots[j]->name, t->slots[j]->len) & mask;
		if (names_may_shift(k, hole, j)) {
			t->slots[hole] = t->slots[j];
			t->slots[j] = NULL;
			hole = j;
		}
	}
	free(e);
}

bool names_next(const struct names *t, size_t *cursor, struct name_entry **e)
{
	for (size_t i = *cursor; i < t->cap; i++) {
		if (t->slots[i] != NULL) {
			*e = t->slots[i];
			*cursor = i + 1;
			return true;
		}
	}
	*cursor = t->cap;
	return false;
}
