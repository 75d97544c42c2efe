/*
 * blocks.c - the shared-block table: ref -> holders and names.
 *
 * What it does: keeps one entry per shared block (blocks.h) in a hash
 * table of entry pointers with linear probing and backward-shift deletion,
 * the scheme of holds.c (no tombstones, load at most 3/4, splitmix64 mix of
 * the reference).  Entries are malloc'd one by one so their addresses stay
 * put while the table grows.
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

#define BLOCKS_MIN_CAP 16

/* splitmix64's finalizer. */
static inline uint64_t blocks_hash(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

void blocks_init(struct blocks *t)
{
	t->slots = NULL;
	t->cap = 0;
	t->count = 0;
}

static void blocks_entry_free(struct shared_block *b)
{
	free(b->holders);
	free(b);
}

void blocks_fini(struct blocks *t)
{
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i] != NULL)
			blocks_entry_free(t->slots[i]);
	free(t->slots);
	blocks_init(t);
}

/* Place b (known absent) without growing. */
static void blocks_place(struct shared_block **slots, size_t cap, struct shared_block *b)
{
	size_t mask = cap - 1;
	size_t i = (size_t)blocks_hash(b->ref) & mask;

	while (slots[i] != NULL)
		i = (i + 1) & mask;
	slots[i] = b;
}

/* Make room for one more entry.  0, -ENOMEM (t unchanged). */
static int blocks_grow(struct blocks *t)
{
	size_t cap = t->cap ? t->cap : BLOCKS_MIN_CAP;
	struct shared_block **slots;

	while (t->count + 1 > cap / 4 * 3)
		cap *= 2;
	if (cap == t->cap)
		return 0;
	slots = calloc(cap, sizeof(*slots));
	if (slots == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i] != NULL)
			blocks_place(slots, cap, t->slots[i]);
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	return 0;
}

/* Slot of ref, or SIZE_MAX. */
static size_t blocks_slot(const struct blocks *t, uint64_t ref)
{
	size_t mask, i;

	if (t->cap == 0 || ref == 0)
		return SIZE_MAX;
	mask = t->cap - 1;
	for (i = (size_t)blocks_hash(ref) & mask; t->slots[i] != NULL; i = (i + 1) & mask)
		if (t->slots[i]->ref == ref)
			return i;
	return SIZE_MAX;
}

struct shared_block *blocks_find(const struct blocks *t, uint64_t ref)
{
	size_t i = blocks_slot(t, ref);

	return i == SIZE_MAX ? NULL : t->slots[i];
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
	err = blocks_grow(t);
	if (err < 0)
		return err;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	b->ref = ref;
	b->size = size;
	b->pool = pool;
	blocks_place(t->slots, t->cap, b);
	t->count++;
	*out = b;
	return 0;
}

/* Is home slot k outside the cyclic interval (hole, j]? (holds.c) */
static inline bool blocks_may_shift(size_t k, size_t hole, size_t j)
{
	if (hole <= j)
		return k <= hole || k > j;
	return k <= hole && k > j;
}

void blocks_remove(struct blocks *t, struct shared_block *b)
{
	size_t hole = blocks_slot(t, b->ref), mask, j, k;

	memd_assert(hole != SIZE_MAX && t->slots[hole] == b);
	mask = t->cap - 1;
	t->slots[hole] = NULL;
	t->count--;
	for (j = (hole + 1) & mask; t->slots[j] != NULL; j = (j + 1) & mask) {
		k = (size_t)blocks_hash(t->slots[j]->ref) & mask;
		if (blocks_may_shift(k, hole, j)) {
			t->slots[hole] = t->slots[j];
			t->slots[j] = NULL;
			hole = j;
		}
	}
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
	for (size_t i = *cursor; i < t->cap; i++) {
		if (t->slots[i] != NULL) {
			*b = t->slots[i];
			*cursor = i + 1;
			return true;
		}
	}
	*cursor = t->cap;
	return false;
}
