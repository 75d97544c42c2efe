/*
 * test_access.c - pool access lists, read-only mappings and max_clients,
 * with clients of other uids.
 *
 * The tests run as root; a forked child drops to another identity
 * (setgroups, setgid, setuid) before it connects, so the daemon sees that
 * identity through SO_PEERCRED.  For such a child to reach the socket at
 * all, the config opens the socket (socket_mode = 0666) and the test opens
 * the harness's private directory (0755).
 *
 * Pools of the config below:
 *   default  no lists: everybody reads and writes
 *   ro       write = uid:0, read = *: root writes, everybody reads
 *   closed   write = uid:0: nobody but root
 *   team     write = user:nobody, read = group:nogroup
 *
 * A child reports the first check that failed as its exit code (each
 * check has its own number), so a failure message names it.  A child that
 * must die of SIGSEGV resets the handler first (ASan builds install one).
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
#include "proto.h"
#include "rawconn.h"

#define NOBODY  65534u /* uid of 'nobody' and gid of 'nogroup' */
#define WAIT_MS 20000  /* a child's time budget */

#define CONFIG_ACCESS                                                                              \
	"[memd]\n"                                                                                 \
	"socket_mode = 0666\n"                                                                     \
	"[pool default]\n"                                                                         \
	"max_size = 16M\n"                                                                         \
	"segment_size = 1M\n"                                                                      \
	"[pool ro]\n"                                                                              \
	"max_size = 16M\n"                                                                         \
	"segment_size = 1M\n"                                                                      \
	"write = uid:0\n"                                                                          \
	"read = *\n"                                                                               \
	"[pool closed]\n"                                                                          \
	"max_size = 16M\n"                                                                         \
	"segment_size = 1M\n"                                                                      \
	"write = uid:0\n"                                                                          \
	"[pool team]\n"                                                                            \
	"max_size = 16M\n"                                                                         \
	"segment_size = 1M\n"                                                                      \
	"write = user:nobody\n"                                                                    \
	"read = group:nogroup\n"

/* What a child gets: the daemon, an identity, and blocks to work on. */
struct as_arg {
	const char *sock; /* daemon socket */
	uid_t uid;        /* identity to take */
	gid_t gid;        /* its gid */
	memc_ref ref;     /* a shared block root made (0: none) */
	size_t size;      /* its size */
	uint32_t seed;    /* its pattern */
	const char *name; /* a name root published (NULL: none) */
};

/* Start the daemon with CONFIG_ACCESS, reachable by other uids. */
static void start_open_daemon(const char *ini)
{
	memd_start(&H, ini);
	cr_assert_eq(chmod(H.dir, 0755), 0);
}

static memc_client *must_connect(void)
{
	memc_client *c = NULL;
	int rc = memc_connect(H.sock, &c);

	cr_assert_eq(rc, 0, "memc_connect: %d (%s)", rc, memc_strerror(rc));
	return c;
}

/* Root's block in pool, shared, filled with seed. */
static memc_ref root_block(memc_client *c, const char *pool, size_t size, uint32_t seed)
{
	memc_ref ref = 0;
	int rc = memc_alloc(c, pool, size, MEMC_SHARED, &ref);

	cr_assert_eq(rc, 0, "alloc in %s: %d (%s)", pool, rc, memc_strerror(rc));
	cr_assert_not_null(memc_ptr(c, ref));
	pattern_fill(memc_ptr(c, ref), size, seed);
	return ref;
}

/* In a child: become uid/gid.  0 or 200. */
static int become(uid_t uid, gid_t gid)
{
	if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
		return 200;
	return getuid() == uid && geteuid() == uid ? 0 : 201;
}

/* Run fn as a child and assert it exited 0. */
static void run_child(int (*fn)(void *), struct as_arg *a, const char *what)
{
	char buf[64];
	int st;

	a->sock = H.sock;
	st = child_run(fn, a, WAIT_MS);
	cr_expect_eq(st, 0, "%s: child %s", what, child_status_str(st, buf, sizeof(buf)));
}

/* A reader of pool ro: reads, retains, looks up; may not allocate there,
 * free root's block, publish or unpublish. */
static int reader_child(void *argp)
{
	struct as_arg *a = argp;
	memc_client *c = NULL;
	memc_ref ref = 0, got = 0;
	const void *p;
	int rc;

	if ((rc = become(a->uid, a->gid)) != 0)
		return rc;
	if (memc_connect(a->sock, &c) != 0)
		return 10;
	p = memc_ptr(c, a->ref); /* a borrow: readable before any hold */
	if (p == NULL)
		return 11;
	if (pattern_check(p, a->size, a->seed) != -1)
		return 12;
	if (memc_alloc(c, "ro", 64, 0, &ref) != -EACCES)
		return 13;
	if (memc_alloc(c, "ro", 64, MEMC_SHARED, &ref) != -EACCES)
		return 14;
	if (memc_free(c, a->ref) != -EPERM)
		return 15;
	if (memc_retain(c, a->ref) != 0)
		return 16;
	if (memc_publish(c, "reader's", a->ref) != -EACCES)
		return 17;
	if (memc_lookup(c, a->name, &got) != 0 || got != a->ref)
		return 18;
	if (memc_unpublish(c, a->name) != -EACCES)
		return 19;
	if (memc_free(c, a->ref) != 0 || memc_free(c, a->ref) != 0)
		return 20; /* its two holds */
	if (memc_free(c, a->ref) != -EPERM)
		return 21;
	/* Its own pool, open to all, works as usual. */
	if (memc_alloc(c, NULL, 100, 0, &ref) != 0 || memc_free(c, ref) != 0)
		return 22;
	memc_close(c);
	return 0;
}

Test(access, a_reader_reads_retains_and_looks_up_but_cannot_write, .fini = harness_fini)
{
	struct as_arg a = {.uid = NOBODY, .gid = NOBODY, .size = 10000, .seed = 50};
	memc_client *root;

	start_open_daemon(CONFIG_ACCESS);
	root = must_connect();
	a.ref = root_block(root, "ro", a.size, a.seed);
	a.name = "ro-block";
	cr_assert_eq(memc_publish(root, a.name, a.ref), 0);
	run_child(reader_child, &a, "reader");
	/* The block is untouched and still root's (and the name's). */
	cr_expect_eq(pattern_check(memc_ptr(root, a.ref), a.size, a.seed), -1);
	cr_assert_eq(memc_unpublish(root, a.name), 0);
	cr_assert_eq(memc_free(root, a.ref), 0);
	memc_close(root);
	memd_stop_clean(&H, SIGTERM);
}

/* A reader that writes into its read-only mapping: must die of SIGSEGV. */
static int writer_child(void *argp)
{
	struct as_arg *a = argp;
	memc_client *c = NULL;
	volatile char *p;
	int rc;

	if ((rc = become(a->uid, a->gid)) != 0)
		return rc;
	if (memc_connect(a->sock, &c) != 0)
		return 10;
	if (memc_retain(c, a->ref) != 0)
		return 11;
	p = memc_ptr(c, a->ref);
	if (p == NULL)
		return 12;
	if (p[0] != (char)0x5a)
		return 13;
	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
	p[0] = 1; /* faults */
	return 14;
}

Test(access, writing_through_a_read_only_mapping_faults, .fini = harness_fini)
{
	struct as_arg a = {.uid = NOBODY, .gid = NOBODY, .size = 4096};
	memc_client *root;
	char buf[64];
	char *p;
	int st;

	start_open_daemon(CONFIG_ACCESS);
	root = must_connect();
	a.ref = root_block(root, "ro", a.size, 1);
	p = memc_ptr(root, a.ref);
	memset(p, 0x5a, a.size);
	a.sock = H.sock;
	st = child_run(writer_child, &a, WAIT_MS);
	cr_expect_eq(st, 1000 + SIGSEGV, "writer: %s", child_status_str(st, buf, sizeof(buf)));
	cr_expect_eq(p[0], 0x5a, "the write did not land");
	/* The dead child's hold went; root's remains. */
	sleep_ms(100);
	cr_assert_eq(memc_free(root, a.ref), 0);
	memc_close(root);
	memd_stop_clean(&H, SIGTERM);
}

/* A stranger to pool closed: nothing works there. */
static int stranger_child(void *argp)
{
	struct as_arg *a = argp;
	memc_client *c = NULL;
	memc_ref ref = 0;
	int rc;

	if ((rc = become(a->uid, a->gid)) != 0)
		return rc;
	if (memc_connect(a->sock, &c) != 0)
		return 10;
	if (memc_alloc(c, "closed", 64, 0, &ref) != -EACCES)
		return 11;
	if (memc_retain(c, a->ref) != -EACCES)
		return 12;
	if (memc_lookup(c, a->name, &ref) != -EACCES)
		return 13;
	if (memc_unpublish(c, a->name) != -EACCES)
		return 14;
	errno = 0;
	if (memc_ptr(c, a->ref) != NULL || errno != EACCES)
		return 15;
	memc_close(c);
	return 0;
}

Test(access, a_pool_with_only_a_write_list_is_closed_to_everyone_else, .fini = harness_fini)
{
	struct as_arg a = {.uid = NOBODY, .gid = NOBODY, .size = 64, .name = "closed-block"};
	memc_client *root;
	memc_ref got = 0;

	start_open_daemon(CONFIG_ACCESS);
	root = must_connect();
	a.ref = root_block(root, "closed", a.size, 2);
	cr_assert_eq(memc_publish(root, a.name, a.ref), 0);
	run_child(stranger_child, &a, "stranger");
	cr_assert_eq(memc_lookup(root, a.name, &got), 0);
	cr_assert_eq(memc_unpublish(root, a.name), 0);
	cr_assert_eq(memc_free(root, a.ref), 0);
	cr_assert_eq(memc_free(root, a.ref), 0);
	memc_close(root);
	memd_stop_clean(&H, SIGTERM);
}

/* In the open default pool another uid allocates, writes and shares. */
static int open_pool_child(void *argp)
{
	struct as_arg *a = argp;
	memc_client *c = NULL;
	memc_ref ref = 0;
	void *p;
	int rc;

	if ((rc = become(a->uid, a->gid)) != 0)
		return rc;
	if (memc_connect(a->sock, &c) != 0)
		return 10;
	if (memc_alloc(c, NULL, a->size, 0, &ref) != 0)
		return 11;
	p = memc_ptr(c, ref);
	if (p == NULL)
		return 12;
	pattern_fill(p, a->size, a->seed);
	if (memc_publish(c, a->name, ref) != 0)
		return 13;
	memc_close(c); /* the name keeps the block */
	return 0;
}

Test(access, a_pool_without_lists_is_open_to_every_uid, .fini = harness_fini)
{
	struct as_arg a = {.uid = 4242, .gid = 4242, .size = 30000, .seed = 51, .name = "other"};
	memc_client *root;
	memc_ref got = 0;

	start_open_daemon(CONFIG_ACCESS);
	run_child(open_pool_child, &a, "open pool");
	root = must_connect();
	cr_assert_eq(memc_lookup(root, "other", &got), 0);
	cr_expect_eq(pattern_check(memc_ptr(root, got), a.size, a.seed), -1);
	cr_assert_eq(memc_unpublish(root, "other"), 0);
	cr_assert_eq(memc_free(root, got), 0);
	memc_close(root);
	memd_stop_clean(&H, SIGTERM);
}

/* Pool team: user:nobody writes; group:nogroup reads; others nothing.
 * a->seed says which: 0 writer, 1 reader, 2 stranger. */
static int team_child(void *argp)
{
	struct as_arg *a = argp;
	memc_client *c = NULL;
	memc_ref ref = 0;
	int rc, want_alloc = a->seed == 0 ? 0 : -EACCES;

	if ((rc = become(a->uid, a->gid)) != 0)
		return rc;
	if (memc_connect(a->sock, &c) != 0)
		return 10;
	if (memc_alloc(c, "team", 64, 0, &ref) != want_alloc)
		return 11;
	if (ref != 0 && memc_free(c, ref) != 0)
		return 12;
	rc = memc_retain(c, a->ref);
	if (rc != (a->seed == 2 ? -EACCES : 0))
		return 13;
	if (rc == 0 && memc_free(c, a->ref) != 0)
		return 14;
	memc_close(c);
	return 0;
}

Test(access, user_and_group_entries_grant_what_they_say, .fini = harness_fini)
{
	struct as_arg a = {.size = 64};
	memc_client *root;

	start_open_daemon(CONFIG_ACCESS);
	root = must_connect();
	a.ref = root_block(root, "team", 64, 3); /* root may always write */
	a.uid = NOBODY, a.gid = NOBODY, a.seed = 0;
	run_child(team_child, &a, "user:nobody");
	a.uid = 3000, a.gid = NOBODY, a.seed = 1;
	run_child(team_child, &a, "gid nogroup");
	a.uid = 3001, a.gid = 3001, a.seed = 2;
	run_child(team_child, &a, "stranger");
	cr_assert_eq(memc_free(root, a.ref), 0);
	memc_close(root);
	memd_stop_clean(&H, SIGTERM);
}

Test(access, max_clients_refuses_the_next_client_with_eusers, .fini = harness_fini)
{
	memc_client *a, *b, *c = NULL;
	struct memd_hdr h;
	struct memd_hello_rep rep;
	int64_t deadline;
	int rc, fd;

	memd_start(&H, "[memd]\nmax_clients = 2\n");
	a = must_connect();
	b = must_connect();
	rc = memc_connect(H.sock, &c);
	cr_expect_eq(rc, -EUSERS, "third client: %d (%s)", rc, memc_strerror(rc));
	cr_expect_null(c);
	cr_expect_str_neq(memc_strerror(-EUSERS), "unknown error");
	/* On the wire: HELLO gets -EUSERS with the daemon's version, then
	 * the connection closes. */
	fd = raw_connect(H.sock);
	cr_assert_geq(fd, 0);
	cr_assert_eq(raw_hello(fd, MEMD_PROTO_VERSION, &h, &rep), RAW_FRAME);
	cr_expect_eq(h.status, -EUSERS);
	cr_expect_eq(rep.version, MEMD_PROTO_VERSION);
	cr_expect_eq(raw_drain_until_closed(fd, 5000, NULL, NULL), 0);
	close(fd);
	/* The two still work; when one leaves, a newcomer gets in. */
	{
		memc_ref ref;
		cr_assert_eq(memc_alloc(a, NULL, 10, 0, &ref), 0);
		cr_assert_eq(memc_free(a, ref), 0);
	}
	memc_close(b);
	deadline = now_ms() + 5000;
	do {
		rc = memc_connect(H.sock, &c);
		if (rc == -EUSERS)
			sleep_ms(10);
	} while (rc == -EUSERS && now_ms() < deadline);
	cr_expect_eq(rc, 0, "after a close: %d (%s)", rc, memc_strerror(rc));
	memc_close(c);
	memc_close(a);
	memd_stop_clean(&H, SIGTERM);
}
