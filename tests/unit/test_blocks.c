/*
 * test_blocks.c - the shared-block and name tables (daemon/blocks.c,
 * daemon/names.c) as data structures: many entries through growth and
 * deletion, counted holders, limits.
 */
#include "blocks.h"
#include "names.h"
#include "ref.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* A fake pool pointer: the table only stores it. */
#define FAKE_POOL ((struct pool *)(uintptr_t)0x1000)

Test(blocks, entries_survive_growth_and_deletion_in_any_order)
{
	struct blocks t;
	struct shared_block *b;
	size_t cursor = 0, seen = 0;

	blocks_init(&t);
	for (uint32_t i = 1; i <= 5000; i++)
		cr_assert_eq(blocks_add(&t, memd_ref_make(1 + i % 7, (uint64_t)i * 16), i,
		                        FAKE_POOL, &b),
		             0);
	cr_assert_eq(t.tab.count, 5000);
	cr_assert_eq(blocks_add(&t, memd_ref_make(1 + 3 % 7, 3 * 16), 3, FAKE_POOL, &b), -EEXIST);
	cr_assert_eq(b->size, 3);
	for (uint32_t i = 1; i <= 5000; i += 2)
		blocks_remove(&t, blocks_find(&t, memd_ref_make(1 + i % 7, (uint64_t)i * 16)));
	for (uint32_t i = 1; i <= 5000; i++) {
		b = blocks_find(&t, memd_ref_make(1 + i % 7, (uint64_t)i * 16));
		if (i % 2)
			cr_assert_null(b, "%u", i);
		else
			cr_assert(b != NULL && b->size == i, "%u", i);
	}
	while (blocks_next(&t, &cursor, &b))
		seen++;
	cr_expect_eq(seen, 2500);
	cr_expect_null(blocks_find(&t, 0));
	blocks_fini(&t);
}

Test(blocks, holders_are_counted_and_dropped_one_or_all)
{
	struct session *s1 = (struct session *)(uintptr_t)0x10;
	struct session *s2 = (struct session *)(uintptr_t)0x20;
	struct blocks t;
	struct shared_block *b;

	blocks_init(&t);
	cr_assert_eq(blocks_add(&t, memd_ref_make(1, 0), 64, FAKE_POOL, &b), 0);
	cr_assert_eq(block_holder_add(b, s1), 0);
	cr_assert_eq(block_holder_add(b, s1), 0);
	cr_assert_eq(block_holder_add(b, s2), 0);
	cr_expect_eq(b->nholders, 2);
	cr_expect_eq(block_holder_find(b, s1)->count, 2);
	cr_expect_eq(block_holder_drop(b, s1, false), 1);
	cr_expect_eq(block_holder_drop(b, s1, false), 0);
	cr_expect_null(block_holder_find(b, s1));
	cr_expect_eq(block_holder_drop(b, s1, false), -ENOENT);
	cr_assert_eq(block_holder_add(b, s2), 0);
	cr_expect_eq(block_holder_drop(b, s2, true), 0);
	cr_expect_eq(b->nholders, 0);
	blocks_fini(&t);
}

Test(names, names_are_found_by_exact_bytes_and_limited_to_max)
{
	struct names t;
	struct name_entry *e;
	char name[32];
	size_t cursor = 0, seen = 0;

	names_init(&t, 3000);
	for (int i = 0; i < 3000; i++) {
		int n = snprintf(name, sizeof(name), "name %d", i);
		cr_assert_eq(names_add(&t, name, (size_t)n, (uint64_t)i + 1, NULL), 0);
	}
	cr_expect_eq(names_add(&t, "name 1", 6, 99, NULL), -EEXIST);
	cr_expect_eq(names_add(&t, "one more", 8, 99, NULL), -ENOSPC);
	e = names_find(&t, "name 17", 7);
	cr_assert_not_null(e);
	cr_expect_eq(e->ref, 18);
	cr_expect_null(names_find(&t, "name 1", 5)); /* a prefix is another name */
	cr_expect_null(names_find(&t, "Name 17", 7));
	for (int i = 0; i < 3000; i += 3) {
		int n = snprintf(name, sizeof(name), "name %d", i);
		names_remove(&t, names_find(&t, name, (size_t)n));
	}
	for (int i = 0; i < 3000; i++) {
		int n = snprintf(name, sizeof(name), "name %d", i);
		e = names_find(&t, name, (size_t)n);
		if (i % 3 == 0)
			cr_assert_null(e, "%s", name);
		else
			cr_assert(e != NULL && e->ref == (uint64_t)i + 1, "%s", name);
	}
	while (names_next(&t, &cursor, &e))
		seen++;
	cr_expect_eq(seen, 2000);
	cr_expect_eq(names_add(&t, "one more", 8, 99, NULL), 0);
	names_fini(&t);
}

Test(names, a_zero_limit_allows_no_name)
{
	struct names t;

	names_init(&t, 0);
	cr_expect_eq(names_add(&t, "x", 1, 1, NULL), -ENOSPC);
	names_fini(&t);
}
