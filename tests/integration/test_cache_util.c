/*
 * test_cache_util.c - the daemon's view of a client and thread-safe failure
 * reports for the client-cache tests (see test_cache_util.h).
 *
 * Stats are read over a raw connection (rawconn.c) rather than through
 * memctl: one round trip, no child process, and the records come straight
 * from proto.h's layout.  Every helper here that asserts is for the test's
 * main thread only.
 */
#include "test_cache_util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "rawconn.h"

#define REPLY_MS 5000 /* how long the daemon has to answer a stats request */

static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER; /* guards fail_msg */
static char fail_msg[1024];                                   /* the first failure */
static _Atomic bool fail_flag;                                /* a failure was recorded */

memc_client *must_connect(void)
{
	memc_client *c = NULL;
	int rc = memc_connect(H.sock, &c);

	cr_assert_eq(rc, 0, "memc_connect(%s) = %d (%s)", H.sock, rc, memc_strerror(rc));
	return c;
}

memc_ref must_alloc(memc_client *c, const char *pool, size_t size, unsigned flags)
{
	memc_ref ref = 0;
	int rc = memc_alloc(c, pool, size, flags, &ref);

	cr_assert_eq(rc, 0, "alloc %zu in %s: %d (%s)", size, pool ? pool : "default", rc,
	             memc_strerror(rc));
	cr_assert_neq(ref, 0);
	return ref;
}

void client_sync(memc_client *c)
{
	memc_ref ref;
	int rc = memc_lookup(c, "cache-test-sync-no-such-name", &ref);

	cr_assert_eq(rc, -ENOENT, "sync lookup: %d (%s)", rc, memc_strerror(rc));
}

struct view view_synced(memc_client *c, int stats_fd)
{
	client_sync(c);
	return view_of(stats_fd, getpid());
}

static int ref_cmp(const void *a, const void *b)
{
	memc_ref x = *(const memc_ref *)a, y = *(const memc_ref *)b;

	return x < y ? -1 : x > y;
}

void assert_distinct(const memc_ref *refs, size_t n, const char *what)
{
	memc_ref *s = malloc(n * sizeof(*s));

	cr_assert_not_null(s);
	memcpy(s, refs, n * sizeof(*s));
	qsort(s, n, sizeof(*s), ref_cmp);
	for (size_t i = 0; i < n; i++) {
		cr_assert_neq(s[i], 0, "%s: a zero reference", what);
		cr_assert(i == 0 || s[i] != s[i - 1], "%s: block %#llx handed out twice", what,
		          (unsigned long long)s[i]);
	}
	free(s);
}

int stats_open(void)
{
	struct memd_hello_rep rep;
	struct memd_hdr h;
	int fd = raw_connect(H.sock);

	cr_assert_geq(fd, 0, "raw connect: %s", strerror(-fd));
	cr_assert_eq(raw_hello(fd, MEMD_PROTO_VERSION, &h, &rep), RAW_FRAME, "HELLO: no reply");
	cr_assert_eq(h.status, 0, "HELLO status %d", h.status);
	return fd;
}

/* One stats request; the reply body goes to body (MEMD_FRAME_MAX bytes),
 * its length is returned. */
static size_t stats_call(int fd, uint16_t op, uint64_t cursor, unsigned char *body)
{
	struct memd_stats_req req = {.cursor = cursor};
	struct memd_hdr h;
	size_t len = 0;
	int rc;

	cr_assert_eq(raw_send_frame(fd, op, 500, &req, sizeof(req)), 0, "send stats op %u", op);
	rc = raw_recv_frame(fd, &h, body, MEMD_FRAME_MAX, &len, REPLY_MS);
	cr_assert_eq(rc, RAW_FRAME, "stats op %u: no reply (%d)", op, rc);
	cr_assert_eq(h.op, op | MEMD_OP_REPLY, "stats reply op %#x", h.op);
	cr_assert_eq(h.status, 0, "stats op %u: status %d", op, h.status);
	return len;
}

/* Walk every page of a list opcode, calling fn on each record. */
static void stats_list(int fd, uint16_t op, void (*fn)(const unsigned char *rec, void *arg),
                       void *arg)
{
	static unsigned char body[MEMD_FRAME_MAX];
	struct memd_stats_page page;
	uint64_t cursor = 0;

	do {
		size_t len = stats_call(fd, op, cursor, body);

		cr_assert_geq(len, sizeof(page));
		memcpy(&page, body, sizeof(page));
		cr_assert_eq(len, sizeof(page) + (size_t)page.count * page.rec_size,
		             "stats op %u: %zu bytes for %u records of %u", op, len, page.count,
		             page.rec_size);
		for (uint32_t i = 0; i < page.count; i++)
			fn(body + sizeof(page) + (size_t)i * page.rec_size, arg);
		cursor = page.next;
	} while (cursor != 0);
}

/* What view_of collects. */
struct view_acc {
	pid_t pid;     /* whose sessions */
	struct view v; /* their sum */
};

static void view_add(const unsigned char *raw, void *arg)
{
	struct view_acc *a = arg;
	struct memd_stats_client rec;

	memcpy(&rec, raw, sizeof(rec));
	if (rec.pid != (uint32_t)a->pid || (rec.flags & MEMD_CLIENT_SELF))
		return;
	a->v.sessions++;
	a->v.blocks += rec.blocks;
	a->v.bytes += rec.bytes;
	a->v.cached_blocks += rec.cached_blocks;
	a->v.cached_bytes += rec.cached_bytes;
}

struct view view_of(int stats_fd, pid_t pid)
{
	struct view_acc a = {.pid = pid};

	stats_list(stats_fd, MEMD_OP_STATS_CLIENTS, view_add, &a);
	cr_assert_leq(a.v.cached_blocks, a.v.blocks, "the daemon shows more cached than held");
	cr_assert_leq(a.v.cached_bytes, a.v.bytes, "the daemon shows more cached bytes than held");
	return a.v;
}

struct view view_wait(int stats_fd, pid_t pid, uint64_t want_blocks, uint64_t want_cached, int ms)
{
	int64_t deadline = now_ms() + ms;
	struct view v;

	for (;;) {
		v = view_of(stats_fd, pid);
		if ((v.blocks == want_blocks && v.cached_blocks == want_cached) ||
		    now_ms() > deadline)
			return v;
		sleep_ms(5);
	}
}

struct memd_stats_status stats_status(int stats_fd)
{
	static unsigned char body[MEMD_FRAME_MAX];
	struct memd_stats_status st;
	size_t len = stats_call(stats_fd, MEMD_OP_STATS_STATUS, 0, body);

	cr_assert_geq(len, sizeof(st));
	memcpy(&st, body, sizeof(st));
	return st;
}

/* What stats_pool collects. */
struct pool_acc {
	const char *name;            /* the pool wanted */
	bool found;                  /* seen */
	struct memd_stats_pool pool; /* its record */
};

static void pool_pick(const unsigned char *raw, void *arg)
{
	struct pool_acc *a = arg;
	struct memd_stats_pool rec;

	memcpy(&rec, raw, sizeof(rec));
	if (strncmp(rec.name, a->name, sizeof(rec.name)) == 0) {
		a->pool = rec;
		a->found = true;
	}
}

struct memd_stats_pool stats_pool(int stats_fd, const char *name)
{
	struct pool_acc a = {.name = name};

	stats_list(stats_fd, MEMD_OP_STATS_POOLS, pool_pick, &a);
	cr_assert(a.found, "no pool %s in STATS_POOLS", name);
	return a.pool;
}

struct memd_stats_pool pool_wait_empty(int stats_fd, const char *name, int ms)
{
	int64_t deadline = now_ms() + ms;
	struct memd_stats_pool p;

	for (;;) {
		p = stats_pool(stats_fd, name);
		if ((p.blocks == 0 && p.in_use_bytes == 0) || now_ms() > deadline)
			return p;
		sleep_ms(5);
	}
}

void tfail(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&fail_lock);
	if (!fail_flag) {
		va_start(ap, fmt);
		vsnprintf(fail_msg, sizeof(fail_msg), fmt, ap);
		va_end(ap);
		fail_flag = true;
	}
	pthread_mutex_unlock(&fail_lock);
}

bool tfailed(void)
{
	return fail_flag;
}

void tfail_check(void)
{
	pthread_mutex_lock(&fail_lock);
	cr_assert(!fail_flag, "a worker thread failed: %s", fail_msg);
	pthread_mutex_unlock(&fail_lock);
}
