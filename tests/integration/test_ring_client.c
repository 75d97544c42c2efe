/*
 * test_ring_client.c - libmemclient's side of the request ring
 * (client/ring.c): a caching client sends its leases ahead and its returns
 * through the ring, wakes a memd that sleeps with RING_KICK, hardly ever
 * needs to wake one that polls, and with MEMC_RING=0 sends everything on
 * the socket.  Whichever way the requests go, every block comes back
 * right and memd's view of the client is exact afterwards.
 *
 * How many requests went through the ring, and how many kicks went on the
 * socket, the library counts (client_ring_frames, client_ring_kicks: internal
 * functions, reachable because the tests link libmemclient statically).
 * The daemon's side (malformed rings, ordering against the socket, the
 * sleeping flag as the daemon sets it) is test_ring.c's.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "memclient.h"
#include "test_cache_util.h"

/* client/ring.c's counters (internal; libmemclient is linked statically). */
uint64_t client_ring_frames(const memc_client *c);
uint64_t client_ring_kicks(const memc_client *c);

#define ROUNDS 40   /* bursts of allocations and frees */
#define BURST  2000 /* blocks per burst */

/* Allocate and free in bursts over many size classes, so that bins lease
 * ahead and give blocks back: every block is written and checked. */
static void churn(memc_client *c)
{
	memc_ref *refs = calloc(BURST, sizeof(*refs));
	uint64_t rng = 42;

	cr_assert_not_null(refs);
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < BURST; i++) {
			size_t size = 16 + (size_t)(rng_next(&rng) % 2000);

			refs[i] = must_alloc(c, NULL, size, 0);
			pattern_fill(memc_ptr(c, refs[i]), 16, (uint32_t)(r * BURST + i));
		}
		for (int i = 0; i < BURST; i++) {
			cr_assert_eq(
			        pattern_check(memc_ptr(c, refs[i]), 16, (uint32_t)(r * BURST + i)),
			        -1, "round %d block %d overwritten", r, i);
			cr_assert_eq(memc_free(c, refs[i]), 0, "round %d block %d", r, i);
		}
	}
	free(refs);
}

/* The daemon's view of this process once everything was freed: nothing in
 * use (what sits in the caches may stay until close). */
static void nothing_in_use(memc_client *c)
{
	int sfd = stats_open();
	struct view v = view_synced(c, sfd);

	cr_assert_eq(in_use(&v), 0, "memd sees %llu blocks in use after every free",
	             (unsigned long long)in_use(&v));
	close(sfd);
}

Test(ring_client, a_caching_client_sends_leases_and_returns_through_the_ring, .fini = harness_fini)
{
	memc_client *c;

	memd_start(&H, CONFIG_CACHE);
	c = must_connect();
	churn(c);
	cr_assert_gt(client_ring_frames(c), 100, "only %llu requests went through the ring",
	             (unsigned long long)client_ring_frames(c));
	nothing_in_use(c);
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

Test(ring_client, memc_ring_0_keeps_every_request_on_the_socket, .fini = harness_fini)
{
	memc_client *c;

	cr_assert_eq(setenv("MEMC_RING", "0", 1), 0);
	memd_start(&H, CONFIG_CACHE);
	c = must_connect();
	churn(c);
	cr_assert_eq(client_ring_frames(c), 0);
	cr_assert_eq(client_ring_kicks(c), 0);
	nothing_in_use(c);
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

/* busy_poll_us = 0: memd sleeps as soon as it has nothing to do, so every
 * request put into the ring while it sleeps needs a kick; without one the
 * lease's reply never comes and the churn hangs (the test's timeout). */
Test(ring_client, a_sleeping_memd_is_woken_by_a_kick, .fini = harness_fini)
{
	memc_client *c;

	memd_start(&H, "[memd]\nbusy_poll_us = 0\n[pool default]\nmax_size = 64M\n");
	c = must_connect();
	churn(c);
	cr_assert_gt(client_ring_frames(c), 100);
	cr_assert_gt(client_ring_kicks(c), 0, "%llu requests through the ring, not one kick",
	             (unsigned long long)client_ring_frames(c));
	nothing_in_use(c);
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

/* A memd that polls for 10 ms after each request is awake for nearly every
 * request of a client that keeps sending: kicks are the exception. */
Test(ring_client, a_polling_memd_is_hardly_ever_kicked, .fini = harness_fini)
{
	memc_client *c;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		cr_skip_test("one CPU online: memd never polls there");
	memd_start(&H, "[memd]\nbusy_poll_us = 10000\n[pool default]\nmax_size = 64M\n");
	c = must_connect();
	churn(c);
	cr_assert_gt(client_ring_frames(c), 100);
	cr_assert_leq(client_ring_kicks(c) * 4, client_ring_frames(c),
	              "%llu kicks for %llu requests through the ring",
	              (unsigned long long)client_ring_kicks(c),
	              (unsigned long long)client_ring_frames(c));
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}
