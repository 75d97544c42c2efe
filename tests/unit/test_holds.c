/*
 * test_holds.c - the per-session hold set (daemon/holds.c).
 *
 * Direct tests of insert/remove/contains and growth, iteration that visits
 * every member exactly once, and a randomized comparison against a simple
 * model (a sorted array of members) over many operations with a fixed seed,
 * using references shaped like real ones (segment << 40 | aligned offset)
 * so that probe runs collide and wrap.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "holds.h"
#include "ref.h"

Test(holds, empty_set_contains_nothing)
{
	struct holds h;

	holds_init(&h);
	cr_expect_eq(holds_count(&h), 0);
	cr_expect(!holds_contains(&h, 0));
	cr_expect(!holds_contains(&h, 42));
	cr_expect_eq(holds_remove(&h, 42), -ENOENT);
	holds_fini(&h);
}

Test(holds, insert_remove_contains)
{
	struct holds h;
	uint64_t a = memd_ref_make(1, 4096), b = memd_ref_make(2, 16);

	holds_init(&h);
	cr_assert_eq(holds_insert(&h, a), 0);
	cr_assert_eq(holds_insert(&h, b), 0);
	cr_expect_eq(holds_insert(&h, a), -EEXIST);
	cr_expect_eq(holds_count(&h), 2);
	cr_expect(holds_contains(&h, a));
	cr_expect(holds_contains(&h, b));
	cr_expect(!holds_contains(&h, memd_ref_make(1, 4112)));
	cr_expect_eq(holds_remove(&h, a), 0);
	cr_expect(!holds_contains(&h, a));
	cr_expect(holds_contains(&h, b));
	cr_expect_eq(holds_remove(&h, a), -ENOENT);
	cr_expect_eq(holds_count(&h), 1);
	holds_fini(&h);
	cr_expect_eq(holds_count(&h), 0);
}

Test(holds, grows_by_doubling_and_keeps_members)
{
	struct holds h;
	uint64_t i, n = 100000;
	size_t last_cap = 0;

	holds_init(&h);
	for (i = 1; i <= n; i++) {
		cr_assert_eq(holds_insert(&h, memd_ref_make(1, i * 16)), 0);
		if (h.cap != last_cap) {
			if (last_cap != 0)
				cr_assert_eq(h.cap, last_cap * 2);
			last_cap = h.cap;
		}
		cr_assert_leq(h.count * 4, h.cap * 3);
	}
	cr_expect_eq(holds_count(&h), n);
	for (i = 1; i <= n; i++)
		cr_assert(holds_contains(&h, memd_ref_make(1, i * 16)));
	cr_expect(!holds_contains(&h, memd_ref_make(1, (n + 1) * 16)));
	holds_fini(&h);
}

Test(holds, reserve_makes_room_in_advance)
{
	struct holds h;
	size_t cap, i;

	holds_init(&h);
	cr_assert_eq(holds_reserve(&h, 1000), 0);
	cap = h.cap;
	cr_expect_geq(cap / 4 * 3, 1000);
	for (i = 1; i <= 1000; i++)
		cr_assert_eq(holds_insert(&h, memd_ref_make(3, i * 4096)), 0);
	cr_expect_eq(h.cap, cap);
	holds_fini(&h);
}

Test(holds, iteration_visits_every_member_once)
{
	struct holds h;
	uint64_t ref, sum = 0, expect = 0;
	size_t cursor = 0, seen = 0, i;

	holds_init(&h);
	cr_expect(!holds_next(&h, &cursor, &ref));
	for (i = 1; i <= 777; i++) {
		cr_assert_eq(holds_insert(&h, memd_ref_make((uint32_t)(i % 5 + 1), i * 32)), 0);
		expect += memd_ref_make((uint32_t)(i % 5 + 1), i * 32);
	}
	for (i = 1; i <= 777; i += 3) {
		cr_assert_eq(holds_remove(&h, memd_ref_make((uint32_t)(i % 5 + 1), i * 32)), 0);
		expect -= memd_ref_make((uint32_t)(i % 5 + 1), i * 32);
	}
	cursor = 0;
	while (holds_next(&h, &cursor, &ref)) {
		cr_assert(holds_contains(&h, ref));
		sum += ref;
		seen++;
	}
	cr_expect_eq(seen, holds_count(&h));
	cr_expect_eq(sum, expect);
	holds_fini(&h);
}

/* xorshift64*: a fixed-seed generator independent of libc's rand(). */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(0x2545F4914F6CDD1D);
}

Test(holds, random_ops_match_a_simple_model, .timeout = 120)
{
	enum { UNIVERSE = 4096, OPS = 2000000 };
	static bool model[UNIVERSE]; /* model[i]: is key(i) a member? */
	struct holds h;
	uint64_t s = 0x9e3779b97f4a7c15u, ref;
	size_t count = 0, i, cursor;
	long op;

	holds_init(&h);
	for (op = 0; op < OPS; op++) {
		uint64_t r = rng_next(&s);
		size_t k = (size_t)(r % UNIVERSE);
		/* Few segments, small aligned offsets: clustered keys. */
		uint64_t key = memd_ref_make((uint32_t)(k % 3 + 1), (k / 3) * 16);

		switch ((r >> 32) % 3) {
		case 0:
			cr_assert_eq(holds_insert(&h, key), model[k] ? -EEXIST : 0);
			if (!model[k])
				count++;
			model[k] = true;
			break;
		case 1:
			cr_assert_eq(holds_remove(&h, key), model[k] ? 0 : -ENOENT);
			if (model[k])
				count--;
			model[k] = false;
			break;
		default:
			cr_assert_eq(holds_contains(&h, key), model[k]);
			break;
		}
		cr_assert_eq(holds_count(&h), count);
	}
	for (i = 0; i < UNIVERSE; i++)
		cr_assert_eq(holds_contains(&h, memd_ref_make((uint32_t)(i % 3 + 1), (i / 3) * 16)),
		             model[i]);
	cursor = 0;
	i = 0;
	while (holds_next(&h, &cursor, &ref))
		i++;
	cr_expect_eq(i, count);
	holds_fini(&h);
}
