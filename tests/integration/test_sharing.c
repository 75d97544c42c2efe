/*
 * test_sharing.c - holds, sharing and names (DESIGN.md section 3, issue 4)
 * as behaviour between real processes.
 *
 * Two (or more) clients talk to one real memd: a private block cannot be
 * retained (-EPERM) and anything that is not a live block is -EINVAL; a
 * shared block lives while any client or name holds it, and holds are
 * counted per client (each alloc/retain/lookup one, each free one).  A
 * holder killed with SIGKILL drops its holds: blocks others hold stay
 * intact and readable, a block only it held is freed.  Names are checked
 * at their limits (1 and 255 bytes; 0, 256 and non-printable refused),
 * for -EEXIST, -ENOENT and max_names (-ENOSPC).  Finally every new opcode
 * is sent malformed on a raw socket: each gets -EINVAL, the connection
 * stays usable and the daemon keeps serving.
 *
 * "The block is gone" is observed through memc_size() == -EINVAL from a
 * client that still has the pool mapped; the daemon frees asynchronously
 * after a kill, so those checks poll for up to a few seconds.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "memclient.h"
#include "proto.h"
#include "rawconn.h"
#include "ref.h"

#define REPLY_MS 5000 /* how long the daemon has to answer */

/* Connect to the test's memd or fail the test. */
static memc_client *must_connect(void)
{
	memc_client *c = NULL;
	int rc = memc_connect(H.sock, &c);

	cr_assert_eq(rc, 0, "memc_connect(%s) = %d (%s)", H.sock, rc, memc_strerror(rc));
	return c;
}

/* Allocate size bytes with flags, fill them with pattern seed. */
static memc_ref must_alloc_filled(memc_client *c, size_t size, unsigned flags, uint32_t seed)
{
	memc_ref ref = 0;
	void *p;
	int rc = memc_alloc(c, NULL, size, flags, &ref);

	cr_assert_eq(rc, 0, "alloc %zu: %d (%s)", size, rc, memc_strerror(rc));
	p = memc_ptr(c, ref);
	cr_assert_not_null(p);
	pattern_fill(p, size, seed);
	return ref;
}

/* Is ref a live block, as seen by c? */
static bool is_live(memc_client *c, memc_ref ref)
{
	size_t sz;

	return memc_size(c, ref, &sz) == 0;
}

/* Wait (up to 5 s) until ref is no longer live. */
static bool becomes_dead(memc_client *c, memc_ref ref)
{
	int64_t deadline = now_ms() + 5000;

	while (now_ms() < deadline) {
		if (!is_live(c, ref))
			return true;
		sleep_ms(10);
	}
	return false;
}

/* Does c read pattern seed over size bytes of ref? */
static bool reads_pattern(memc_client *c, memc_ref ref, size_t size, uint32_t seed)
{
	void *p = memc_ptr(c, ref);

	return p != NULL && pattern_check(p, size, seed) == -1;
}

Test(sharing, a_private_block_cannot_be_retained, .fini = harness_fini)
{
	memc_client *a, *b;
	memc_ref ref;

	memd_start(&H, NULL);
	a = must_connect();
	b = must_connect();
	ref = must_alloc_filled(a, 100, 0, 1);
	cr_expect_eq(memc_retain(b, ref), -EPERM);
	cr_expect_eq(memc_retain(a, ref), -EPERM); /* not even by its allocator */
	/* B's failed retain gave it nothing to free. */
	cr_expect_eq(memc_free(b, ref), -EPERM);
	cr_expect_eq(memc_free(a, ref), 0);
	memc_close(a);
	memc_close(b);
	memd_stop_clean(&H, SIGTERM);
}

Test(sharing, retain_of_anything_but_a_live_block_is_einval, .fini = harness_fini)
{
	memc_client *a, *b;
	memc_ref ref;

	memd_start(&H, NULL);
	a = must_connect();
	b = must_connect();
	ref = must_alloc_filled(a, 256, MEMC_SHARED, 2);
	cr_expect_eq(memc_retain(b, 0), -EINVAL);
	cr_expect_eq(memc_retain(b, ref + 16), -EINVAL);                     /* interior */
	cr_expect_eq(memc_retain(b, memd_ref_make(4000, 0)), -EINVAL);       /* no such segment */
	cr_expect_eq(memc_retain(b, memd_ref_make(1, 1ull << 39)), -EINVAL); /* past the end */
	cr_assert_eq(memc_free(a, ref), 0);
	cr_expect_eq(memc_retain(b, ref), -EINVAL); /* freed */
	cr_expect_eq(memc_share(a, ref), -EINVAL);
	memc_close(a);
	memc_close(b);
	memd_stop_clean(&H, SIGTERM);
}

Test(sharing, a_shared_block_outlives_its_allocators_free, .fini = harness_fini)
{
	const size_t sizes[] = {64, 5000, 100000};
	memc_client *a, *b;

	memd_start(&H, NULL);
	a = must_connect();
	b = must_connect();
	for (size_t i = 0; i < 3; i++) {
		memc_ref ref = must_alloc_filled(a, sizes[i], 0, 10 + (uint32_t)i);

		cr_assert_eq(memc_share(a, ref), 0);
		cr_assert_eq(memc_share(a, ref), 0); /* again: a no-op */
		cr_assert_eq(memc_retain(b, ref), 0);
		cr_assert_eq(memc_free(a, ref), 0);
		cr_expect_eq(memc_free(a, ref), -EPERM); /* A's one hold is gone */
		cr_expect(is_live(b, ref));
		cr_expect(reads_pattern(b, ref, sizes[i], 10 + (uint32_t)i));
		cr_assert_eq(memc_free(b, ref), 0);
		cr_expect_not(is_live(b, ref), "size %zu: freed with its last hold", sizes[i]);
		cr_expect_eq(memc_free(b, ref), -EINVAL);
	}
	memc_close(a);
	memc_close(b);
	memd_stop_clean(&H, SIGTERM);
}

Test(sharing, alloc_with_the_shared_flag_is_retainable_at_once, .fini = harness_fini)
{
	memc_client *a, *b;
	memc_ref ref;

	memd_start(&H, NULL);
	a = must_connect();
	b = must_connect();
	ref = must_alloc_filled(a, 1000, MEMC_SHARED | MEMC_ZERO, 3);
	cr_assert_eq(memc_retain(b, ref), 0);
	cr_expect(reads_pattern(b, ref, 1000, 3));
	/* B writes, A sees it: one block, two mappings. */
	pattern_fill(memc_ptr(b, ref), 1000, 4);
	cr_expect(reads_pattern(a, ref, 1000, 4));
	cr_assert_eq(memc_free(b, ref), 0);
	cr_expect(is_live(a, ref));
	cr_assert_eq(memc_free(a, ref), 0);
	cr_expect_not(is_live(b, ref));
	memc_close(a);
	memc_close(b);
	memd_stop_clean(&H, SIGTERM);
}

Test(sharing, holds_are_counted_per_client, .fini = harness_fini)
{
	memc_client *a, *b;
	memc_ref ref;

	memd_start(&H, NULL);
	a = must_connect();
	b = must_connect();
	ref = must_alloc_filled(a, 512, MEMC_SHARED, 5);
	cr_assert_eq(memc_retain(b, ref), 0);
	cr_assert_eq(memc_retain(b, ref), 0);
	cr_assert_eq(memc_retain(a, ref), 0); /* A now holds it twice too */
	cr_assert_eq(memc_free(a, ref), 0);
	cr_assert_eq(memc_free(a, ref), 0);
	cr_expect_eq(memc_free(a, ref), -EPERM);
	cr_assert_eq(memc_free(b, ref), 0);
	cr_expect(is_live(a, ref), "B still holds it once");
	cr_expect(reads_pattern(b, ref, 512, 5));
	cr_assert_eq(memc_free(b, ref), 0);
	cr_expect_not(is_live(a, ref));
	memc_close(a);
	memc_close(b);
	memd_stop_clean(&H, SIGTERM);
}

Test(sharing, free_of_a_shared_block_this_client_does_not_hold_is_eperm, .fini = harness_fini)
{
	memc_client *a, *b;
	memc_ref ref;

	memd_start(&H, NULL);
	a = must_connect();
	b = must_connect();
	ref = must_alloc_filled(a, 128, MEMC_SHARED, 6);
	cr_expect_eq(memc_free(b, ref), -EPERM);
	cr_expect_eq(memc_share(b, ref), -EPERM); /* nor may it share what it does not hold */
	cr_expect(is_live(a, ref));
	cr_expect(reads_pattern(a, ref, 128, 6));
	cr_assert_eq(memc_free(a, ref), 0);
	memc_close(a);
	memc_close(b);
	memd_stop_clean(&H, SIGTERM);
}

/* A child that holds a block and waits to be killed. */
struct holder_arg {
	const char *sock;    /* daemon socket */
	memc_ref ref;        /* retain this (0: allocate a shared block instead) */
	size_t size;         /* bytes of the block it allocates */
	uint32_t seed;       /* pattern it writes into its block */
	const char *publish; /* name to publish its block under, or NULL */
	int ready_w;         /* writes its ref here once it holds the block */
};

static int holder_child(void *argp)
{
	struct holder_arg *a = argp;
	memc_client *c = NULL;
	memc_ref ref = a->ref;
	void *p;

	if (memc_connect(a->sock, &c) != 0)
		return 10;
	if (ref != 0) {
		if (memc_retain(c, ref) != 0)
			return 11;
	} else {
		if (memc_alloc(c, NULL, a->size, MEMC_SHARED, &ref) != 0)
			return 12;
		p = memc_ptr(c, ref);
		if (p == NULL)
			return 13;
		pattern_fill(p, a->size, a->seed);
		if (a->publish != NULL && memc_publish(c, a->publish, ref) != 0)
			return 14;
	}
	if (write(a->ready_w, &ref, sizeof(ref)) != (ssize_t)sizeof(ref))
		return 15;
	for (;;)
		pause(); /* until SIGKILL */
}

/* Start a holder child; returns its pid and its block's ref. */
static pid_t start_holder(struct holder_arg *a, memc_ref *ref)
{
	int fds[2];
	pid_t pid;

	cr_assert_eq(pipe(fds), 0);
	a->sock = H.sock;
	a->ready_w = fds[1];
	pid = child_fork(holder_child, a);
	close(fds[1]);
	cr_assert_eq(read(fds[0], ref, sizeof(*ref)), (ssize_t)sizeof(*ref),
	             "holder child did not report");
	close(fds[0]);
	return pid;
}

Test(sharing, a_killed_holder_leaves_blocks_others_hold_intact, .fini = harness_fini)
{
	struct holder_arg ha = {.size = 200000, .seed = 21};
	memc_client *a;
	memc_ref mine, theirs, got;
	pid_t kid;

	memd_start(&H, NULL);
	a = must_connect();
	/* A's block, retained by a child that is then killed. */
	mine = must_alloc_filled(a, 70000, MEMC_SHARED, 20);
	ha.ref = mine;
	kid = start_holder(&ha, &got);
	cr_assert_eq(got, mine);
	cr_expect_eq(child_kill(kid), 1000 + SIGKILL);
	/* The child's block, retained by A before the child is killed. */
	ha.ref = 0;
	kid = start_holder(&ha, &theirs);
	cr_assert_eq(memc_retain(a, theirs), 0);
	cr_expect_eq(child_kill(kid), 1000 + SIGKILL);
	sleep_ms(100); /* let the daemon see both EOFs */
	cr_expect(is_live(a, mine));
	cr_expect(reads_pattern(a, mine, 70000, 20));
	cr_expect(is_live(a, theirs));
	cr_expect(reads_pattern(a, theirs, 200000, 21));
	/* A's holds are exactly one each: freeing them frees both blocks. */
	cr_assert_eq(memc_free(a, theirs), 0);
	cr_assert_eq(memc_free(a, mine), 0);
	cr_expect_not(is_live(a, mine));
	cr_expect_not(is_live(a, theirs));
	memc_close(a);
	memd_stop_clean(&H, SIGTERM);
}

Test(sharing, a_killed_sole_holder_frees_its_shared_block, .fini = harness_fini)
{
	struct holder_arg ha = {.size = 100000, .seed = 22};
	memc_client *a;
	memc_ref ref;
	pid_t kid;

	memd_start(&H, NULL);
	a = must_connect();
	kid = start_holder(&ha, &ref);
	cr_expect(is_live(a, ref));
	cr_expect(reads_pattern(a, ref, 100000, 22)); /* a borrow: readable while alive */
	cr_expect_eq(child_kill(kid), 1000 + SIGKILL);
	cr_expect(becomes_dead(a, ref), "nobody holds it any more");
	cr_expect_eq(memc_retain(a, ref), -EINVAL);
	memc_close(a);
	memd_stop_clean(&H, SIGTERM);
}

Test(sharing, a_published_name_keeps_its_block_after_its_publisher_dies, .fini = harness_fini)
{
	struct holder_arg ha = {.size = 3000, .seed = 23, .publish = "scene/frame 0001"};
	memc_client *b;
	memc_ref ref, got = 0;
	pid_t kid;

	memd_start(&H, NULL);
	b = must_connect();
	kid = start_holder(&ha, &ref);
	cr_expect_eq(child_kill(kid), 1000 + SIGKILL);
	sleep_ms(100);
	cr_assert_eq(memc_lookup(b, "scene/frame 0001", &got), 0);
	cr_assert_eq(got, ref);
	cr_expect(reads_pattern(b, got, 3000, 23));
	cr_assert_eq(memc_unpublish(b, "scene/frame 0001"), 0);
	cr_expect(is_live(b, got), "B's lookup hold keeps it");
	cr_expect_eq(memc_lookup(b, "scene/frame 0001", &got), -ENOENT);
	cr_assert_eq(memc_free(b, ref), 0);
	cr_expect_not(is_live(b, ref));
	memc_close(b);
	memd_stop_clean(&H, SIGTERM);
}

Test(sharing, publish_lookup_unpublish_between_two_clients, .fini = harness_fini)
{
	memc_client *a, *b;
	memc_ref ref, got = 0, got2 = 0;

	memd_start(&H, NULL);
	a = must_connect();
	b = must_connect();
	ref = must_alloc_filled(a, 4096, 0, 30); /* private: publishing shares it */
	cr_assert_eq(memc_publish(a, "frame", ref), 0);
	cr_assert_eq(memc_lookup(b, "frame", &got), 0);
	cr_assert_eq(got, ref);
	cr_assert_eq(memc_lookup(b, "frame", &got2), 0); /* a second hold */
	cr_assert_eq(got2, ref);
	cr_expect(reads_pattern(b, got, 4096, 30));
	cr_assert_eq(memc_retain(b, ref), 0); /* shared now, so retainable */
	cr_assert_eq(memc_free(a, ref), 0);
	cr_assert_eq(memc_unpublish(a, "frame"), 0);
	cr_expect_eq(memc_unpublish(a, "frame"), -ENOENT);
	/* B holds it three times. */
	cr_assert_eq(memc_free(b, ref), 0);
	cr_assert_eq(memc_free(b, ref), 0);
	cr_expect(is_live(b, ref));
	cr_assert_eq(memc_free(b, ref), 0);
	cr_expect_not(is_live(b, ref));
	cr_expect_eq(memc_free(b, ref), -EINVAL);
	memc_close(a);
	memc_close(b);
	memd_stop_clean(&H, SIGTERM);
}

Test(sharing, a_name_alone_keeps_a_block_alive, .fini = harness_fini)
{
	memc_client *a, *b;
	memc_ref ref, got = 0;

	memd_start(&H, NULL);
	a = must_connect();
	ref = must_alloc_filled(a, 800, 0, 31);
	cr_assert_eq(memc_publish(a, "kept", ref), 0);
	cr_assert_eq(memc_free(a, ref), 0); /* only the name holds it now */
	memc_close(a);
	b = must_connect();
	cr_expect(is_live(b, ref));
	cr_assert_eq(memc_lookup(b, "kept", &got), 0);
	cr_expect(reads_pattern(b, got, 800, 31));
	cr_assert_eq(memc_free(b, got), 0);
	cr_expect(is_live(b, ref));
	cr_assert_eq(memc_unpublish(b, "kept"), 0); /* last hold */
	cr_expect_not(is_live(b, ref));
	memc_close(b);
	memd_stop_clean(&H, SIGTERM);
}

Test(sharing, one_block_may_have_several_names, .fini = harness_fini)
{
	memc_client *a;
	memc_ref ref, got = 0;

	memd_start(&H, NULL);
	a = must_connect();
	ref = must_alloc_filled(a, 64, 0, 32);
	cr_assert_eq(memc_publish(a, "one", ref), 0);
	cr_assert_eq(memc_publish(a, "two", ref), 0);
	cr_assert_eq(memc_free(a, ref), 0);
	cr_assert_eq(memc_unpublish(a, "one"), 0);
	cr_expect(is_live(a, ref));
	cr_assert_eq(memc_lookup(a, "two", &got), 0);
	cr_assert_eq(memc_unpublish(a, "two"), 0);
	cr_expect(is_live(a, ref));
	cr_assert_eq(memc_free(a, ref), 0);
	cr_expect_not(is_live(a, ref));
	memc_close(a);
	memd_stop_clean(&H, SIGTERM);
}

Test(sharing, publish_needs_a_hold_on_a_live_block, .fini = harness_fini)
{
	memc_client *a, *b;
	memc_ref ref;

	memd_start(&H, NULL);
	a = must_connect();
	b = must_connect();
	ref = must_alloc_filled(a, 64, MEMC_SHARED, 33);
	cr_expect_eq(memc_publish(b, "x", ref), -EPERM);
	cr_expect_eq(memc_publish(a, "x", 0), -EINVAL);
	cr_expect_eq(memc_publish(a, "x", ref + 16), -EINVAL);
	cr_assert_eq(memc_free(a, ref), 0);
	cr_expect_eq(memc_publish(a, "x", ref), -EINVAL);
	cr_expect_eq(memc_lookup(b, "x", &ref), -ENOENT);
	memc_close(a);
	memc_close(b);
	memd_stop_clean(&H, SIGTERM);
}

Test(sharing, names_at_their_limits, .fini = harness_fini)
{
	char name[300];
	memc_client *a;
	memc_ref ref, got = 0;

	memd_start(&H, NULL);
	a = must_connect();
	ref = must_alloc_filled(a, 64, 0, 34);
	/* 1 and 255 bytes: fine. */
	cr_expect_eq(memc_publish(a, "a", ref), 0);
	memset(name, 0, sizeof(name));
	for (int i = 0; i < 255; i++)
		name[i] = (char)(' ' + i % 95);
	cr_expect_eq(memc_publish(a, name, ref), 0);
	cr_expect_eq(memc_lookup(a, name, &got), 0);
	cr_expect_eq(got, ref);
	cr_expect_eq(memc_free(a, got), 0);
	/* 0 and 256 bytes, non-printable bytes: -EINVAL. */
	cr_expect_eq(memc_publish(a, "", ref), -EINVAL);
	cr_expect_eq(memc_publish(a, NULL, ref), -EINVAL);
	name[255] = 'x';
	cr_expect_eq(memc_publish(a, name, ref), -EINVAL);
	cr_expect_eq(memc_lookup(a, name, &got), -EINVAL);
	cr_expect_eq(memc_unpublish(a, name), -EINVAL);
	cr_expect_eq(memc_publish(a, "tab\there", ref), -EINVAL);
	cr_expect_eq(memc_publish(a, "nl\n", ref), -EINVAL);
	cr_expect_eq(memc_publish(a, "del\x7f", ref), -EINVAL);
	cr_expect_eq(memc_publish(a, "caf\xc3\xa9", ref), -EINVAL);
	cr_expect_eq(memc_lookup(a, "", &got), -EINVAL);
	cr_expect_eq(memc_unpublish(a, ""), -EINVAL);
	/* Taken and unknown. */
	cr_expect_eq(memc_publish(a, "a", ref), -EEXIST);
	cr_expect_eq(memc_lookup(a, "b", &got), -ENOENT);
	cr_expect_eq(memc_unpublish(a, "b"), -ENOENT);
	cr_expect_eq(memc_lookup(a, "A", &got), -ENOENT); /* names are case-sensitive */
	cr_expect_str_neq(memc_strerror(-EEXIST), "unknown error");
	memc_close(a); /* the names keep the block */
	a = must_connect();
	cr_expect_eq(memc_unpublish(a, "a"), 0);
	name[255] = '\0';
	cr_expect_eq(memc_unpublish(a, name), 0);
	cr_expect(becomes_dead(a, ref));
	memc_close(a);
	memd_stop_clean(&H, SIGTERM);
}

Test(sharing, max_names_is_enforced_and_unpublish_gives_room_back, .fini = harness_fini)
{
	memc_client *a;
	memc_ref ref;
	char name[16];
	int rc;

	memd_start(&H, "[memd]\nmax_names = 3\n");
	a = must_connect();
	ref = must_alloc_filled(a, 64, 0, 35);
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		cr_assert_eq(memc_publish(a, name, ref), 0, "%s", name);
	}
	rc = memc_publish(a, "n3", ref);
	cr_expect_eq(rc, -ENOSPC, "4th name: %d (%s)", rc, memc_strerror(rc));
	cr_expect_eq(memc_publish(a, "n0", ref), -EEXIST); /* taken beats full */
	cr_expect_str_neq(memc_strerror(-ENOSPC), "unknown error");
	cr_assert_eq(memc_unpublish(a, "n1"), 0);
	cr_expect_eq(memc_publish(a, "n3", ref), 0);
	memc_close(a);
	memd_stop_clean(&H, SIGTERM);
}

Test(sharing, a_client_that_closes_drops_all_its_holds, .fini = harness_fini)
{
	memc_client *a, *b;
	memc_ref r1, r2;

	memd_start(&H, NULL);
	a = must_connect();
	b = must_connect();
	r1 = must_alloc_filled(a, 100, MEMC_SHARED, 36);
	r2 = must_alloc_filled(a, 50000, 0, 37);
	cr_assert_eq(memc_retain(b, r1), 0);
	cr_assert_eq(memc_retain(b, r1), 0);
	memc_close(b); /* two holds on r1 go */
	cr_assert_eq(memc_free(a, r1), 0);
	cr_expect(becomes_dead(a, r1));
	cr_expect(is_live(a, r2));
	memc_close(a);
	memd_stop_clean(&H, SIGTERM);
}

/* ---- malformed bodies on a raw socket --------------------------------- */

/* Send op with body; expect a reply with status want and no body. */
static void expect_status(int fd, uint16_t op, const void *body, size_t len, int want,
                          const char *what)
{
	static uint32_t id = 100;
	unsigned char buf[512];
	struct memd_hdr h;
	size_t blen = 0;
	int rc;

	cr_assert_eq(raw_send_frame(fd, op, ++id, body, len), 0, "%s: send", what);
	rc = raw_recv_frame(fd, &h, buf, sizeof(buf), &blen, REPLY_MS);
	cr_assert_eq(rc, RAW_FRAME, "%s: no reply (%d)", what, rc);
	cr_expect_eq(h.op, op | MEMD_OP_REPLY, "%s", what);
	cr_expect_eq(h.id, id, "%s", what);
	cr_expect_eq(h.status, want, "%s: status %d, want %d", what, h.status, want);
}

Test(sharing, malformed_bodies_of_every_sharing_opcode_get_einval, .fini = harness_fini)
{
	const uint16_t ref_ops[] = {MEMD_OP_SHARE, MEMD_OP_RETAIN};
	const uint16_t name_ops[] = {MEMD_OP_LOOKUP, MEMD_OP_UNPUBLISH};
	unsigned char big[600];
	struct memd_hdr h;
	struct memd_name_req nr;
	struct memd_publish_req pr;
	memc_client *a;
	memc_ref ref;
	int fd;

	memd_start(&H, NULL);
	a = must_connect();
	ref = must_alloc_filled(a, 64, MEMC_SHARED, 40);
	fd = raw_connect(H.sock);
	cr_assert_geq(fd, 0);
	cr_assert_eq(raw_hello(fd, MEMD_PROTO_VERSION, &h, NULL), RAW_FRAME);
	cr_assert_eq(h.status, 0);
	memset(big, 0, sizeof(big));
	memcpy(big, &ref, sizeof(ref));
	for (size_t i = 0; i < 2; i++) {
		expect_status(fd, ref_ops[i], big, 0, -EINVAL, "ref op, empty");
		expect_status(fd, ref_ops[i], big, 4, -EINVAL, "ref op, short");
		expect_status(fd, ref_ops[i], big, 9, -EINVAL, "ref op, long");
		expect_status(fd, ref_ops[i], big, 16, -EINVAL, "ref op, two refs");
	}
	for (size_t i = 0; i < 2; i++) {
		uint16_t op = name_ops[i];

		expect_status(fd, op, big, 0, -EINVAL, "name op, empty");
		expect_status(fd, op, big, sizeof(nr) - 1, -EINVAL, "name op, short");
		expect_status(fd, op, big, sizeof(nr) + 1, -EINVAL, "name op, long");
		memset(&nr, 0, sizeof(nr));
		expect_status(fd, op, &nr, sizeof(nr), -EINVAL, "name op, len 0");
		nr.len = 256;
		memset(nr.name, 'a', sizeof(nr.name));
		expect_status(fd, op, &nr, sizeof(nr), -EINVAL, "name op, len 256");
		memset(&nr, 0, sizeof(nr));
		nr.len = 3;
		memcpy(nr.name, "a\001b", 3);
		expect_status(fd, op, &nr, sizeof(nr), -EINVAL, "name op, control byte");
		memcpy(nr.name, "abcd", 4);
		expect_status(fd, op, &nr, sizeof(nr), -EINVAL, "name op, garbage after len");
		nr.name[3] = 0;
		nr.pad = 1;
		expect_status(fd, op, &nr, sizeof(nr), -EINVAL, "name op, pad");
		nr.pad = 0;
		expect_status(fd, op, &nr, sizeof(nr), -ENOENT, "name op, valid but unknown");
	}
	memset(&pr, 0, sizeof(pr));
	pr.ref = ref;
	pr.len = 1;
	pr.name[0] = 'p';
	expect_status(fd, MEMD_OP_PUBLISH, big, 0, -EINVAL, "publish, empty");
	expect_status(fd, MEMD_OP_PUBLISH, &pr, sizeof(pr) - 1, -EINVAL, "publish, short");
	memcpy(big, &pr, sizeof(pr));
	expect_status(fd, MEMD_OP_PUBLISH, big, sizeof(pr) + 1, -EINVAL, "publish, long");
	pr.ref = 0;
	expect_status(fd, MEMD_OP_PUBLISH, &pr, sizeof(pr), -EINVAL, "publish, ref 0");
	pr.ref = ref;
	pr.len = 0;
	expect_status(fd, MEMD_OP_PUBLISH, &pr, sizeof(pr), -EINVAL, "publish, len 0");
	pr.len = 1000;
	expect_status(fd, MEMD_OP_PUBLISH, &pr, sizeof(pr), -EINVAL, "publish, len 1000");
	pr.len = 1;
	pr.name[0] = (char)0x80;
	expect_status(fd, MEMD_OP_PUBLISH, &pr, sizeof(pr), -EINVAL, "publish, high byte");
	pr.name[0] = 'p';
	pr.pad = 7;
	expect_status(fd, MEMD_OP_PUBLISH, &pr, sizeof(pr), -EINVAL, "publish, pad");
	pr.pad = 0;
	/* The raw session holds nothing: a well-formed publish is -EPERM. */
	expect_status(fd, MEMD_OP_PUBLISH, &pr, sizeof(pr), -EPERM, "publish, not held");
	/* A well-formed retain still works on the same connection. */
	expect_status(fd, MEMD_OP_RETAIN, &ref, sizeof(ref), 0, "retain after garbage");
	close(fd);
	/* The daemon kept serving: A's block is there (the raw hold went
	 * with its connection) and A can free it. */
	cr_expect(reads_pattern(a, ref, 64, 40));
	cr_assert_eq(memc_free(a, ref), 0);
	cr_expect(becomes_dead(a, ref));
	memc_close(a);
	memd_stop_clean(&H, SIGTERM);
}
