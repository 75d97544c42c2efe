/*
 * test_clients.c - many clients, connection errors and the daemon's end.
 *
 * 200 client processes connect, and only when all 200 are connected do
 * they allocate and write; only when all have written do they read back:
 * so 200 sessions and 200 live blocks coexist, and any two clients handed
 * overlapping memory would see each other's bytes.  Afterwards the daemon
 * must still serve a newcomer.
 *
 * Shutdown: memd_stop_clean() (harness.c) already checks after every test
 * that SIGTERM leaves no socket file and no segment; here it is checked
 * with clients still connected and holding blocks in several pools, and
 * for SIGINT.  A client whose daemon is gone must get -EPIPE or
 * -ECONNRESET from its calls, not a signal: that runs in a child process
 * so a crash is reported as one.  memc_connect's own errors (no daemon,
 * a path too long for sun_path) are checked by value.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "memclient.h"

#define CLIENTS 200

/* Connect to the test's memd or fail the test. */
static memc_client *must_connect(void)
{
	memc_client *c = NULL;
	int rc = memc_connect(H.sock, &c);

	cr_assert_eq(rc, 0, "memc_connect(%s) = %d (%s)", H.sock, rc, memc_strerror(rc));
	return c;
}

/* Shared with every child of the 200-client test. */
struct crowd {
	const char *sock; /* daemon socket */
	int ready_w;      /* child writes one byte when connected */
	int wrote_w;      /* child writes one byte when its blocks are written */
	int go1_r;        /* EOF here: start allocating */
	int go2_r;        /* EOF here: start verifying */
	int go1_w;        /* the parent's ends: closed in the child */
	int go2_w;        /* (or the child's EOF would never come) */
	int index;        /* this child's number */
};

/* Block until the parent closes the write end of fd's pipe. */
static void wait_eof(int fd)
{
	char c;

	while (read(fd, &c, 1) > 0)
		;
}

/* One of the 200: connect, wait, allocate two blocks and fill them, wait,
 * verify, free, close.  Exit code names the failed step. */
static int crowd_child(void *argp)
{
	struct crowd *a = argp;
	size_t small = 40 + (size_t)a->index * 8, large = 20000 + (size_t)a->index * 64;
	memc_ref rs = 0, rl = 0;
	memc_client *c = NULL;
	size_t sz = 0;
	void *ps, *pl;
	int rc = 0;

	close(a->go1_w);
	close(a->go2_w);
	if (memc_connect(a->sock, &c) != 0)
		return 10;
	if (write(a->ready_w, "r", 1) != 1)
		rc = 11;
	wait_eof(a->go1_r);
	if (rc)
		goto out_close;
	if (memc_alloc(c, NULL, small, 0, &rs) != 0 || memc_alloc(c, NULL, large, 0, &rl) != 0) {
		rc = 12;
		goto out_close;
	}
	ps = memc_ptr(c, rs);
	pl = memc_ptr(c, rl);
	if (!ps || !pl) {
		rc = 13;
		goto out_close;
	}
	pattern_fill(ps, small, (uint32_t)a->index * 2 + 1);
	pattern_fill(pl, large, (uint32_t)a->index * 2 + 2);
	if (write(a->wrote_w, "w", 1) != 1)
		rc = 11;
	wait_eof(a->go2_r);
	if (pattern_check(ps, small, (uint32_t)a->index * 2 + 1) != -1 ||
	    pattern_check(pl, large, (uint32_t)a->index * 2 + 2) != -1) {
		rc = 14;
		goto out_close;
	}
	if (memc_size(c, rl, &sz) != 0 || sz < large) {
		rc = 15;
		goto out_close;
	}
	if (memc_free(c, rs) != 0 || memc_free(c, rl) != 0)
		rc = 16;
out_close:
	memc_close(c);
	return rc;
}

/* Read n one-byte tokens from fd within timeout_ms; returns how many came. */
static int read_tokens(int fd, int n, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	int got = 0;
	char buf[256];

	while (got < n && now_ms() < deadline) {
		ssize_t r = read(fd, buf,
		                 sizeof(buf) < (size_t)(n - got) ? sizeof(buf) : (size_t)(n - got));

		if (r <= 0)
			break;
		got += (int)r;
	}
	return got;
}

Test(clients, two_hundred_clients_at_once, .fini = harness_fini)
{
	int ready[2], wrote[2], go1[2], go2[2];
	pid_t pids[CLIENTS];
	struct crowd a;
	memc_client *late;
	memc_ref ref = 0;
	int got, failed = 0, first_bad = -1, first_st = 0;
	char why[64];

	memd_start(&H, NULL);
	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(wrote), 0);
	cr_assert_eq(pipe(go1), 0);
	cr_assert_eq(pipe(go2), 0);
	a = (struct crowd){.sock = H.sock,
	                   .ready_w = ready[1],
	                   .wrote_w = wrote[1],
	                   .go1_r = go1[0],
	                   .go2_r = go2[0],
	                   .go1_w = go1[1],
	                   .go2_w = go2[1]};
	for (int i = 0; i < CLIENTS; i++) {
		a.index = i;
		pids[i] = child_fork(crowd_child, &a);
	}
	/* The parent keeps only the ends it uses: reads of ready/wrote end
	 * (with EOF) if every child died, and closing go1/go2 releases them. */
	close(ready[1]);
	close(wrote[1]);
	close(go1[0]);
	close(go2[0]);
	got = read_tokens(ready[0], CLIENTS, 60000);
	cr_assert_eq(got, CLIENTS, "only %d of %d clients connected", got, CLIENTS);
	close(go1[1]);
	got = read_tokens(wrote[0], CLIENTS, 60000);
	cr_assert_eq(got, CLIENTS, "only %d of %d clients allocated and wrote", got, CLIENTS);
	close(go2[1]);
	for (int i = 0; i < CLIENTS; i++) {
		int st = child_wait(pids[i], 60000);

		if (st != 0 && failed++ == 0) {
			first_bad = i;
			first_st = st;
		}
	}
	close(ready[0]);
	close(wrote[0]);
	cr_assert_eq(failed, 0,
	             "%d of %d clients failed; first: client %d, %s (12 alloc, 13 ptr, "
	             "14 bytes changed by someone else, 15 size, 16 free)",
	             failed, CLIENTS, first_bad, child_status_str(first_st, why, sizeof(why)));

	late = must_connect();
	cr_assert_eq(memc_alloc(late, NULL, 4096, 0, &ref), 0, "daemon unwell after 200 clients");
	cr_assert_not_null(memc_ptr(late, ref));
	cr_assert_eq(memc_free(late, ref), 0);
	memc_close(late);
	memd_stop_clean(&H, SIGTERM);
}

Test(clients, two_hundred_connections_from_one_process, .fini = harness_fini)
{
	memc_client *cs[CLIENTS];
	memc_ref refs[CLIENTS];

	memd_start(&H, NULL);
	for (int i = 0; i < CLIENTS; i++) {
		cs[i] = must_connect();
		cr_assert_eq(memc_alloc(cs[i], NULL, 512 + (size_t)i, 0, &refs[i]), 0, "client %d",
		             i);
		pattern_fill(memc_ptr(cs[i], refs[i]), 512 + (size_t)i, (uint32_t)i);
	}
	for (int i = 0; i < CLIENTS; i++) {
		/* Every client sees every other client's block too. */
		const void *p = memc_ptr(cs[(i + 1) % CLIENTS], refs[i]);

		cr_assert_not_null(p);
		cr_assert_eq(pattern_check(p, 512 + (size_t)i, (uint32_t)i), -1, "block %d", i);
	}
	for (int i = 0; i < CLIENTS; i++) {
		cr_assert_eq(memc_free(cs[i], refs[i]), 0);
		memc_close(cs[i]);
	}
	memd_stop_clean(&H, SIGTERM);
}

/* Connect three clients holding blocks in both pools, with segments
 * mapped; they stay connected while the daemon is stopped. */
static void hold_blocks_in_live_clients(memc_client *cs[3])
{
	for (int i = 0; i < 3; i++) {
		memc_ref a = 0, b = 0;
		int rc;

		cs[i] = must_connect();
		rc = memc_alloc(cs[i], NULL, 100000, 0, &a);
		cr_assert_eq(rc, 0, "client %d: default alloc: %d (%s)", i, rc, memc_strerror(rc));
		rc = memc_alloc(cs[i], SMALL_POOL, 100000, 0, &b);
		cr_assert_eq(rc, 0, "client %d: small alloc: %d (%s)", i, rc, memc_strerror(rc));
		cr_assert_not_null(memc_ptr(cs[i], a));
		cr_assert_not_null(memc_ptr(cs[i], b));
		memset(memc_ptr(cs[i], b), i, 100000);
	}
	cr_assert_geq(shm_count(H.prefix, NULL), 2, "expected segments of two pools in /dev/shm");
}

Test(clients, sigterm_with_live_clients_leaves_nothing_behind, .fini = harness_fini)
{
	memc_client *cs[3];

	memd_start(&H, CONFIG_SMALL_POOL);
	hold_blocks_in_live_clients(cs);
	memd_stop_clean(&H, SIGTERM);
	for (int i = 0; i < 3; i++)
		memc_close(cs[i]);
}

Test(clients, sigint_with_live_clients_leaves_nothing_behind, .fini = harness_fini)
{
	memc_client *cs[3];

	memd_start(&H, CONFIG_SMALL_POOL);
	hold_blocks_in_live_clients(cs);
	memd_stop_clean(&H, SIGINT);
	for (int i = 0; i < 3; i++)
		memc_close(cs[i]);
}

/* Shared with the orphan child. */
struct orphan {
	const char *sock; /* daemon socket */
	int ready_w;      /* child writes one byte when it holds a block */
	int gone_r;       /* EOF here: the daemon is dead */
	int gone_w;       /* the parent's end: closed in the child */
};

/* Child: hold a block, wait for the daemon to die, then call into the
 * library.  Exit 0 if every call failed with -EPIPE/-ECONNRESET and the old
 * mapping still reads its bytes; a code naming the first surprise
 * otherwise.  A crash shows up as a signal in the parent. */
static int orphan_child(void *argp)
{
	struct orphan *a = argp;
	memc_client *c = NULL;
	memc_ref ref = 0, big = 0;
	int rc = 0, r;
	void *p;

	close(a->gone_w);
	if (memc_connect(a->sock, &c) != 0)
		return 10;
	if (memc_alloc(c, NULL, 5000, 0, &ref) != 0 || !(p = memc_ptr(c, ref)))
		return 11;
	pattern_fill(p, 5000, 42);
	if (write(a->ready_w, "r", 1) != 1)
		return 12;
	wait_eof(a->gone_r);

	/* A large block never comes from a client-side cache. */
	r = memc_alloc(c, NULL, 3u << 20, 0, &big);
	if (r != -EPIPE && r != -ECONNRESET) {
		fprintf(stderr, "orphan: memc_alloc after daemon death = %d\n", r);
		rc = 20;
		goto out_close;
	}
	/* Small blocks may come from a cache for a while, but must fail
	 * cleanly once it is empty. */
	for (int i = 0; i < 100000; i++) {
		memc_ref s = 0;

		r = memc_alloc(c, NULL, 64, 0, &s);
		if (r == 0)
			continue;
		if (r != -EPIPE && r != -ECONNRESET) {
			fprintf(stderr, "orphan: small memc_alloc = %d\n", r);
			rc = 21;
		}
		break;
	}
	if (r == 0) {
		rc = 22; /* 100000 small blocks from a dead daemon */
		goto out_close;
	}
	/* The mapping stays valid until memc_close. */
	if (pattern_check(p, 5000, 42) != -1) {
		rc = 23;
		goto out_close;
	}
	r = memc_size(c, big ? big : ref, &(size_t){0});
	if (r != 0 && r != -EPIPE && r != -ECONNRESET) {
		fprintf(stderr, "orphan: memc_size = %d\n", r);
		rc = 24;
	}
out_close:
	memc_close(c);
	return rc;
}

Test(clients, client_of_a_dead_daemon_gets_epipe_not_a_crash, .fini = harness_fini)
{
	int ready[2], gone[2], st;
	struct orphan a;
	char buf[1], why[64];
	pid_t pid;

	memd_start(&H, NULL);
	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(gone), 0);
	a = (struct orphan){
	        .sock = H.sock, .ready_w = ready[1], .gone_r = gone[0], .gone_w = gone[1]};
	pid = child_fork(orphan_child, &a);
	close(ready[1]);
	close(gone[0]);
	cr_assert_eq(read(ready[0], buf, 1), 1, "orphan child failed before holding a block");
	close(ready[0]);
	memd_stop_clean(&H, SIGTERM);
	close(gone[1]);
	st = child_wait(pid, 20000);
	cr_assert_eq(st, 0,
	             "client after daemon death: %s (20 big alloc not EPIPE/ECONNRESET, 21 small "
	             "alloc wrong error, 22 never failed, 23 mapping lost, 24 size wrong error)",
	             child_status_str(st, why, sizeof(why)));
}

Test(clients, connect_errors_are_reported_by_value, .fini = harness_fini)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char nowhere[PATH_MAX], dead[PATH_MAX], longp[300];
	memc_client *c = NULL;
	int rc, fd;

	memd_start(&H, NULL);
	harness_path(&H, "nobody-here.sock", nowhere, sizeof(nowhere));
	rc = memc_connect(nowhere, &c);
	cr_assert(rc == -ENOENT || rc == -ECONNREFUSED, "no socket file: %d (%s)", rc,
	          memc_strerror(rc));
	cr_assert_null(c);

	/* A socket file nobody listens on. */
	harness_path(&H, "dead.sock", dead, sizeof(dead));
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	memcpy(sa.sun_path, dead, strlen(dead) + 1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	rc = memc_connect(dead, &c);
	cr_assert(rc == -ECONNREFUSED || rc == -ENOENT, "dead socket: %d (%s)", rc,
	          memc_strerror(rc));

	memset(longp, 'x', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	rc = memc_connect(longp, &c);
	cr_assert_eq(rc, -ENAMETOOLONG, "too-long path: %d (%s)", rc, memc_strerror(rc));

	rc = memc_connect(H.sock, NULL);
	cr_assert_eq(rc, -EINVAL, "NULL out: %d (%s)", rc, memc_strerror(rc));

	/* NULL path means $MEMD_SOCKET. */
	setenv("MEMD_SOCKET", H.sock, 1);
	rc = memc_connect(NULL, &c);
	unsetenv("MEMD_SOCKET");
	cr_assert_eq(rc, 0, "connect via $MEMD_SOCKET: %d (%s)", rc, memc_strerror(rc));
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

/* Child: hammer the daemon with allocations and frees until it goes away;
 * exit 0 if the end came as -EPIPE/-ECONNRESET, 30 on any other error. */
static int flood_child(void *argp)
{
	struct orphan *a = argp;
	memc_client *c = NULL;
	int announced = 0;

	if (memc_connect(a->sock, &c) != 0)
		return 10;
	for (unsigned i = 0;; i++) {
		memc_ref ref = 0;
		int r = memc_alloc(c, NULL, 64 + (i % 5000), 0, &ref);

		if (r == 0 && i % 3 != 0)
			r = memc_free(c, ref);
		if (r == -EPIPE || r == -ECONNRESET)
			break;
		if (r != 0) {
			fprintf(stderr, "flood: unexpected %d\n", r);
			memc_close(c);
			return 30;
		}
		if (!announced && i == 100) {
			announced = 1;
			if (write(a->ready_w, "r", 1) != 1)
				return 12;
		}
	}
	memc_close(c);
	return 0;
}

Test(clients, sigterm_during_a_request_flood_exits_cleanly, .fini = harness_fini)
{
	enum { FLOODERS = 4 };
	pid_t pids[FLOODERS];
	struct orphan a;
	int ready[2];
	char why[64];

	memd_start(&H, NULL);
	cr_assert_eq(pipe(ready), 0);
	a = (struct orphan){.sock = H.sock, .ready_w = ready[1], .gone_r = -1, .gone_w = -1};
	for (int i = 0; i < FLOODERS; i++)
		pids[i] = child_fork(flood_child, &a);
	close(ready[1]);
	for (int i = 0; i < FLOODERS; i++) {
		char buf[1];

		cr_assert_eq(read(ready[0], buf, 1), 1, "a flooding client failed to start");
	}
	close(ready[0]);
	memd_stop_clean(&H, SIGTERM);
	for (int i = 0; i < FLOODERS; i++) {
		int st = child_wait(pids[i], 20000);

		cr_assert_eq(st, 0,
		             "flooding client %d after SIGTERM: %s (30: an error other than "
		             "-EPIPE/-ECONNRESET)",
		             i, child_status_str(st, why, sizeof(why)));
	}
}
