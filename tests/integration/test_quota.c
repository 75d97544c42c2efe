/*
 * test_quota.c - client_quota and uid_quota as behaviour.
 *
 * Quotas count the usable bytes of the distinct blocks a session holds in
 * a pool (session.h): exactly at the quota is fine, one byte over is
 * -EDQUOT, and dropping a hold (free, close, a kill) gives the room back.
 * Holds on shared blocks count for every holder (once per block, however
 * many holds); names count for nobody.  A uid's sessions share uid_quota;
 * another uid has its own.
 *
 * Sizes above 32 KiB are page runs whose usable size is the request
 * rounded to 4 KiB, so 64 KiB blocks use exactly 64 KiB of quota.  A
 * daemon notices a closed or killed client asynchronously, so checks that
 * follow one poll for a few seconds.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "memclient.h"

#define KiB     1024u
#define NOBODY  65534u
#define WAIT_MS 20000

#define CONFIG_QUOTA                                                                               \
	"[memd]\n"                                                                                 \
	"socket_mode = 0666\n"                                                                     \
	"[pool default]\n"                                                                         \
	"max_size = 16M\n"                                                                         \
	"segment_size = 1M\n"                                                                      \
	"[pool q]\n"                                                                               \
	"max_size = 16M\n"                                                                         \
	"segment_size = 1M\n"                                                                      \
	"client_quota = 64K\n"                                                                     \
	"[pool u]\n"                                                                               \
	"max_size = 16M\n"                                                                         \
	"segment_size = 1M\n"                                                                      \
	"uid_quota = 128K\n"

static memc_client *must_connect(void)
{
	memc_client *c = NULL;
	int rc = memc_connect(H.sock, &c);

	cr_assert_eq(rc, 0, "memc_connect: %d (%s)", rc, memc_strerror(rc));
	return c;
}

/* memc_alloc's result, the ref in *ref. */
static int try_alloc(memc_client *c, const char *pool, size_t size, unsigned flags, memc_ref *ref)
{
	*ref = 0;
	return memc_alloc(c, pool, size, flags, ref);
}

static memc_ref must_alloc(memc_client *c, const char *pool, size_t size, unsigned flags)
{
	memc_ref ref;
	int rc = try_alloc(c, pool, size, flags, &ref);

	cr_assert_eq(rc, 0, "alloc %zu in %s: %d (%s)", size, pool, rc, memc_strerror(rc));
	return ref;
}

/* Poll until an allocation of size in pool succeeds (5 s); its ref or 0. */
static memc_ref alloc_eventually(memc_client *c, const char *pool, size_t size)
{
	int64_t deadline = now_ms() + 5000;
	memc_ref ref = 0;

	while (now_ms() < deadline) {
		if (try_alloc(c, pool, size, 0, &ref) == 0)
			return ref;
		sleep_ms(10);
	}
	return 0;
}

Test(quota, client_quota_exact_fit_one_byte_over_and_room_given_back, .fini = harness_fini)
{
	memc_client *a;
	memc_ref r1, r2, r3, x;

	memd_start(&H, CONFIG_QUOTA);
	a = must_connect();
	cr_expect_eq(try_alloc(a, "q", 64 * KiB + 1, 0, &x), -EDQUOT, "alone over the quota");
	r1 = must_alloc(a, "q", 64 * KiB, 0); /* exactly at the quota */
	cr_expect_eq(try_alloc(a, "q", 1, 0, &x), -EDQUOT);
	cr_expect_eq(try_alloc(a, "q", 16, MEMC_SHARED, &x), -EDQUOT);
	cr_expect_str_neq(memc_strerror(-EDQUOT), "unknown error");
	/* Other pools are not affected. */
	cr_assert_eq(memc_free(a, must_alloc(a, NULL, 200 * KiB, 0)), 0);
	cr_assert_eq(memc_free(a, r1), 0);
	r1 = must_alloc(a, "q", 32 * KiB, 0);
	r2 = must_alloc(a, "q", 32 * KiB, 0);
	cr_expect_eq(try_alloc(a, "q", 1, 0, &x), -EDQUOT);
	cr_assert_eq(memc_free(a, r1), 0);
	r3 = must_alloc(a, "q", 32 * KiB, 0);
	cr_assert_eq(memc_free(a, r2), 0);
	cr_assert_eq(memc_free(a, r3), 0);
	/* Small blocks: 64K of 64-byte blocks fit, one more does not. */
	{
		static memc_ref small[1024];
		for (int i = 0; i < 1024; i++)
			small[i] = must_alloc(a, "q", 64, 0);
		cr_expect_eq(try_alloc(a, "q", 1, 0, &x), -EDQUOT);
		for (int i = 0; i < 1024; i++)
			cr_assert_eq(memc_free(a, small[i]), 0);
	}
	cr_assert_eq(memc_free(a, must_alloc(a, "q", 64 * KiB, 0)), 0);
	memc_close(a);
	memd_stop_clean(&H, SIGTERM);
}

Test(quota, each_client_has_its_own_client_quota, .fini = harness_fini)
{
	memc_client *a, *b;
	memc_ref ra, rb, x;

	memd_start(&H, CONFIG_QUOTA);
	a = must_connect();
	b = must_connect();
	ra = must_alloc(a, "q", 64 * KiB, 0);
	rb = must_alloc(b, "q", 64 * KiB, 0);
	cr_expect_eq(try_alloc(a, "q", 16, 0, &x), -EDQUOT);
	cr_expect_eq(try_alloc(b, "q", 16, 0, &x), -EDQUOT);
	memc_close(a); /* gives only A's room back */
	cr_expect_eq(try_alloc(b, "q", 16, 0, &x), -EDQUOT);
	cr_assert_eq(memc_free(b, rb), 0);
	(void)ra;
	memc_close(b);
	memd_stop_clean(&H, SIGTERM);
}

Test(quota, holds_on_shared_blocks_count_once_for_each_holder, .fini = harness_fini)
{
	memc_client *a, *b;
	memc_ref shared, mine, x, got = 0;

	memd_start(&H, CONFIG_QUOTA);
	a = must_connect();
	b = must_connect();
	shared = must_alloc(a, "q", 48 * KiB, MEMC_SHARED);
	cr_assert_eq(memc_publish(a, "big", shared), 0);
	mine = must_alloc(b, "q", 32 * KiB, 0);
	cr_expect_eq(memc_retain(b, shared), -EDQUOT, "32K + 48K > 64K");
	cr_expect_eq(memc_lookup(b, "big", &got), -EDQUOT);
	cr_assert_eq(memc_free(b, mine), 0);
	cr_assert_eq(memc_retain(b, shared), 0);
	cr_assert_eq(memc_lookup(b, "big", &got), 0); /* a second hold costs nothing */
	cr_assert_eq(memc_retain(b, shared), 0);
	cr_expect_eq(try_alloc(b, "q", 16 * KiB, 0, &x), 0, "48K + 16K fit");
	cr_assert_eq(memc_free(b, x), 0);
	cr_expect_eq(try_alloc(b, "q", 16 * KiB + 1, 0, &x), -EDQUOT);
	/* A's free leaves B charged; A's room comes back. */
	cr_assert_eq(memc_free(a, shared), 0);
	cr_assert_eq(memc_free(a, must_alloc(a, "q", 64 * KiB, 0)), 0);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(memc_free(b, shared), 0);
		cr_expect_eq(try_alloc(b, "q", 32 * KiB, 0, &x), -EDQUOT, "still held");
	}
	cr_assert_eq(memc_free(b, shared), 0); /* B's last hold: room back */
	cr_assert_eq(memc_free(b, must_alloc(b, "q", 64 * KiB, 0)), 0);
	/* The name still holds the block, charged to nobody. */
	cr_assert_eq(memc_free(a, must_alloc(a, "q", 64 * KiB, 0)), 0);
	cr_assert_eq(memc_unpublish(a, "big"), 0);
	memc_close(a);
	memc_close(b);
	memd_stop_clean(&H, SIGTERM);
}

Test(quota, a_uids_sessions_share_uid_quota, .fini = harness_fini)
{
	memc_client *a, *b;
	memc_ref ra, rb, x;

	memd_start(&H, CONFIG_QUOTA);
	a = must_connect();
	b = must_connect();
	ra = must_alloc(a, "u", 64 * KiB, 0);
	rb = must_alloc(b, "u", 64 * KiB, 0); /* exactly 128K for root */
	cr_expect_eq(try_alloc(a, "u", 1, 0, &x), -EDQUOT);
	cr_expect_eq(try_alloc(b, "u", 1, 0, &x), -EDQUOT);
	cr_assert_eq(memc_free(b, rb), 0);
	rb = must_alloc(a, "u", 64 * KiB, 0); /* B's room is A's now */
	cr_expect_eq(try_alloc(b, "u", 1, 0, &x), -EDQUOT);
	memc_close(a); /* both of A's blocks go */
	x = alloc_eventually(b, "u", 128 * KiB);
	cr_expect_neq(x, 0, "room back after A closed");
	(void)ra;
	memc_close(b);
	memd_stop_clean(&H, SIGTERM);
}

/* Another uid fills its own uid_quota in pool u. */
static int other_uid_child(void *argp)
{
	const char *sock = argp;
	memc_client *c = NULL;
	memc_ref r, x;

	if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
		return 200;
	if (memc_connect(sock, &c) != 0)
		return 10;
	if (memc_alloc(c, "u", 128 * KiB, 0, &r) != 0)
		return 11;
	if (memc_alloc(c, "u", 1, 0, &x) != -EDQUOT)
		return 12;
	if (memc_free(c, r) != 0)
		return 13;
	memc_close(c);
	return 0;
}

Test(quota, another_uid_has_its_own_uid_quota, .fini = harness_fini)
{
	memc_client *a;
	memc_ref r;
	char buf[64];
	int st;

	memd_start(&H, CONFIG_QUOTA);
	cr_assert_eq(chmod(H.dir, 0755), 0);
	a = must_connect();
	r = must_alloc(a, "u", 128 * KiB, 0); /* root's uid_quota is full */
	st = child_run(other_uid_child, H.sock, WAIT_MS);
	cr_expect_eq(st, 0, "nobody: %s", child_status_str(st, buf, sizeof(buf)));
	cr_assert_eq(memc_free(a, r), 0);
	memc_close(a);
	memd_stop_clean(&H, SIGTERM);
}

/* A child that fills 128K of pool u and waits to be killed. */
static int hog_child(void *argp)
{
	const int *ready_w = argp;
	memc_client *c = NULL;
	memc_ref r;

	if (memc_connect(getenv("QUOTA_SOCK"), &c) != 0)
		return 10;
	if (memc_alloc(c, "u", 128 * KiB, MEMC_SHARED, &r) != 0)
		return 11;
	if (write(*ready_w, "r", 1) != 1)
		return 12;
	for (;;)
		pause();
}

Test(quota, a_killed_client_gives_its_room_back, .fini = harness_fini)
{
	memc_client *a;
	memc_ref x;
	int fds[2];
	char ch;
	pid_t kid;

	memd_start(&H, CONFIG_QUOTA);
	setenv("QUOTA_SOCK", H.sock, 1);
	cr_assert_eq(pipe(fds), 0);
	kid = child_fork(hog_child, &fds[1]);
	close(fds[1]);
	cr_assert_eq(read(fds[0], &ch, 1), 1, "hog did not start");
	close(fds[0]);
	a = must_connect();
	cr_expect_eq(try_alloc(a, "u", 16, 0, &x), -EDQUOT, "same uid, quota full");
	cr_expect_eq(child_kill(kid), 1000 + SIGKILL);
	x = alloc_eventually(a, "u", 128 * KiB);
	cr_expect_neq(x, 0, "room back after the kill");
	cr_assert_eq(memc_free(a, x), 0);
	memc_close(a);
	memd_stop_clean(&H, SIGTERM);
}
