/*
 * names.c - the published-name table.
 *
 * What it does: a table of name entries (ptable.h, FNV-1a over the name's
 * bytes).  Entries are malloc'd one by one and hold their name inline.
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

static uint64_t names_entry_hash(const void *ent)
{
	const struct name_entry *e = ent;

	return names_hash(e->name, e->len);
}

/* A name being looked up. */
struct names_key {
	const char *name; /* its bytes */
	size_t len;       /* their count */
};

static bool names_match(const void *ent, const void *key)
{
	const struct name_entry *e = ent;
	const struct names_key *k = key;

	return e->len == k->len && memcmp(e->name, k->name, k->len) == 0;
}

void names_init(struct names *t, uint32_t max)
{
	ptable_init(&t->tab, names_entry_hash);
	t->max = max;
}

void names_fini(struct names *t)
{
	for (size_t i = 0; i < t->tab.cap; i++)
		free(t->tab.slots[i]);
	ptable_fini(&t->tab);
}

struct name_entry *names_find(const struct names *t, const char *name, size_t len)
{
	struct names_key k = {name, len};

	return ptable_find(&t->tab, names_hash(name, len), names_match, &k);
}

int names_add(struct names *t, const char *name, size_t len, uint64_t ref, struct name_entry **out)
{
	struct name_entry *e;
	int err;

	memd_assert(len >= 1 && len <= MEMD_NAME_MAX);
	if (names_find(t, name, len) != NULL)
		return -EEXIST;
	if (t->tab.count >= t->max)
		return -ENOSPC;
	err = ptable_reserve(&t->tab);
	if (err < 0)
		return err;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	e->ref = ref;
	e->len = (uint32_t)len;
	memcpy(e->name, name, len);
	ptable_insert(&t->tab, e);
	if (out != NULL)
		*out = e;
	return 0;
}

void names_remove(struct names *t, struct name_entry *e)
{
	ptable_remove(&t->tab, e);
	free(e);
}

bool names_next(const struct names *t, size_t *cursor, struct name_entry **e)
{
	void *ent;

	if (!ptable_next(&t->tab, cursor, &ent))
		return false;
	*e = ent;
	return true;
}
