/*
 * blocks.c - the shared-block table: ref -> holders and names.
 *
 * What it does: keeps one entry per shared block (blocks.h) in a pointer
 * table (ptable.h) keyed by the reference.  Entries are malloc'd one by one
 * so their addresses stay put while the table grows.
 *
 * Invariants:
 *  - every entry names a live block of entry->pool;
 *  - every listed holder has count >= 1 and is a live session that has
 *    entry->ref in its hold set (session.c keeps both sides in step);
 *  - an entry with no holder and no name does not outlive the request that
 *    made it so: blocks_release_if_unheld() frees the block.
 *
 * Ownership: the table owns its slot array and every entry (and each
 * entry's holder array).  Sessions are borrowed.
 */
#include "blocks.h"

#include "debug.h"
#include "log.h"
#include "pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t blocks_entry_hash(const void *ent)
{
	return ptable_mix64(((const struct shared_block *)ent)->ref);
}

static bool blocks_match(const void *ent, const void *key)
{
	return ((const struct shared_block *)ent)->ref == *(const uint64_t *)key;
}

void blocks_init(struct blocks *t)
{
	ptable_init(&t->tab, blocks_entry_hash);
}

static void blocks_entry_free(struct shared_block *b)
{
	free(b->holders);
	free(b);
}

void blocks_fini(struct blocks *t)
{
	for (size_t i = 0; i < t->tab.cap; i++)
		if (t->tab.slots[i] != NULL)
			blocks_entry_free(t->tab.slots[i]);
	ptable_fini(&t->tab);
}

struct shared_block *blocks_find(const struct blocks *t, uint64_t ref)
{
	if (ref == 0)
		return NULL;
	return ptable_find(&t->tab, ptable_mix64(ref), blocks_match, &ref);
}

int blocks_add(struct blocks *t, uint64_t ref, uint64_t size, struct pool *pool,
               struct shared_block **out)
{
	struct shared_block *b = blocks_find(t, ref);
	int err;

	memd_assert(ref != 0 && pool != NULL);
	if (b != NULL) {
		*out = b;
		return -EEXIST;
	}
	err = ptable_reserve(&t->tab);
	if (err < 0)
		return err;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	b->ref = ref;
	b->size = size;
	b->pool = pool;
	ptable_insert(&t->tab, b);
	*out = b;
	return 0;
}

void blocks_remove(struct blocks *t, struct shared_block *b)
{
	ptable_remove(&t->tab, b);
	blocks_entry_free(b);
}

bool blocks_release_if_unheld(struct blocks *t, struct shared_block *b)
{
	int err;

	if (b->nholders != 0 || b->names != 0)
		return false;
	err = pool_free(b->pool, b->ref);
	if (err < 0)
		log_error("shared block %#llx was not live when its last hold went: %s",
		          (unsigned long long)b->ref, strerror(-err));
	blocks_remove(t, b);
	return true;
}

struct block_holder *block_holder_find(const struct shared_block *b, const struct session *s)
{
	for (uint32_t i = 0; i < b->nholders; i++)
		if (b->holders[i].s == s)
			return &b->holders[i];
	return NULL;
}

int block_holder_add(struct shared_block *b, struct session *s)
{
	struct block_holder *h = block_holder_find(b, s);

	if (h != NULL) {
		if (h->count == UINT32_MAX)
			return -EOVERFLOW;
		h->count++;
		return 0;
	}
	if (b->nholders == b->holders_cap) {
		uint32_t cap = b->holders_cap ? 2 * b->holders_cap : 2;
		struct block_holder *v;

		if (cap < b->holders_cap)
			return -ENOMEM;
		v = realloc(b->holders, (size_t)cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		b->holders = v;
		b->holders_cap = cap;
	}
	b->holders[b->nholders++] = (struct block_holder){.s = s, .count = 1};
	return 0;
}

int block_holder_drop(struct shared_block *b, const struct session *s, bool all)
{
	struct block_holder *h = block_holder_find(b, s);

	if (h == NULL)
		return -ENOENT;
	if (!all && h->count > 1) {
		h->count--;
		return h->count > INT32_MAX ? INT32_MAX : (int)h->count;
	}
	*h = b->holders[--b->nholders];
	return 0;
}

bool blocks_next(const struct blocks *t, size_t *cursor, struct shared_block **b)
{
	void *ent;

	if (!ptable_next(&t->tab, cursor, &ent))
		return false;
	*b = ent;
	return true;
}
