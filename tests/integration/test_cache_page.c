/*
 * test_cache_page.c - the client cache's counters page (CACHE_PAGE, issue 7)
 * against the real memd, spoken by hand over a raw socket.
 *
 * What proto.h promises and these tests check: CACHE_PAGE answers with a
 * memfd of MEMD_CACHE_PAGE_SIZE bytes, sealed so that nobody can resize it
 * or change its seals, but writable through a shared mapping; the counters
 * a client writes in any of its slots show up, summed, as cached_blocks
 * and cached_bytes of its STATS_CLIENTS record, never more than the
 * session holds (even when the sum would wrap around); a second request
 * is -EEXIST; a malformed body is -EINVAL and the connection stays open;
 * and a session that ends takes its page with it: the daemon keeps no fd
 * of the page while the session lives, and no mapping once it is gone.
 * `memctl clients` ($MEMCTL_BIN) shows the cached part apart from the part
 * in use, in its table and its JSON.
 *
 * Each test ends with memd_stop_clean() (clean exit, nothing left in
 * /dev/shm); run under the sanitizer build, memd's own exit also reports
 * any leak.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "proto.h"
#include "rawconn.h"
#include "test_cache_util.h"

#define REPLY_MS   5000               /* how long the daemon has to answer */
#define SETTLE_MS  5000               /* how long the daemon has to tidy up after a close */
#define PAGE_NAME  "memfd:memd-cache" /* what the daemon's page looks like in /proc */
#define BATCH_SIZE 100u               /* bytes asked for each block of the batch */
#define BATCH_N    10u                /* blocks asked for */

/* ---- speaking the protocol ---------------------------------------------- */

/* What one CACHE_PAGE request got back. */
struct page_reply {
	int32_t status;                  /* the reply's status */
	size_t body_len;                 /* bytes of its body */
	struct memd_cache_page_rep body; /* the body (valid when body_len fits) */
	int fd;                          /* the fd that came with it, or -1 */
};

/* Send CACHE_PAGE with len bytes of body and read the reply. */
static struct page_reply cache_page_raw(int fd, uint32_t id, const void *body, size_t len)
{
	struct page_reply r = {.fd = -1};
	struct memd_hdr h;
	int rc;

	cr_assert_eq(raw_send_frame(fd, MEMD_OP_CACHE_PAGE, id, body, len), 0, "send CACHE_PAGE");
	memset(&r.body, 0, sizeof(r.body));
	rc = raw_recv_frame_fd(fd, &h, &r.body, sizeof(r.body), &r.body_len, &r.fd, REPLY_MS);
	cr_assert_eq(rc, RAW_FRAME, "CACHE_PAGE id %u: no reply (%d)", id, rc);
	cr_assert_eq(h.op, MEMD_OP_CACHE_PAGE | MEMD_OP_REPLY, "reply op %#x", h.op);
	cr_assert_eq(h.id, id, "reply id %u, want %u", h.id, id);
	r.status = h.status;
	return r;
}

/* A well-formed CACHE_PAGE that must succeed: the page's fd. */
static int cache_page(int fd, uint32_t id)
{
	struct memd_cache_page_req req = {0};
	struct page_reply r = cache_page_raw(fd, id, &req, sizeof(req));

	cr_assert_eq(r.status, 0, "CACHE_PAGE: status %d", r.status);
	cr_assert_eq(r.body_len, sizeof(r.body), "CACHE_PAGE reply body of %zu bytes", r.body_len);
	cr_assert_geq(r.fd, 0, "CACHE_PAGE reply came without an fd");
	return r.fd;
}

/* Map a page fd shared and writable, as libmemclient will. */
static struct memd_cache_slot *page_map(int page_fd)
{
	void *m = mmap(NULL, MEMD_CACHE_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, page_fd, 0);

	cr_assert_neq(m, MAP_FAILED, "mmap of the cache page: %s", strerror(errno));
	return m;
}

/* Resolve a pool by name; its id. */
static uint32_t pool_id(int fd, const char *name)
{
	struct memd_pool_req req;
	struct memd_pool_rep rep;
	struct memd_hdr h;
	size_t blen = 0;

	memset(&req, 0, sizeof(req));
	strcpy(req.name, name);
	cr_assert_eq(raw_send_frame(fd, MEMD_OP_POOL, 77, &req, sizeof(req)), 0);
	cr_assert_eq(raw_recv_frame(fd, &h, &rep, sizeof(rep), &blen, REPLY_MS), RAW_FRAME);
	cr_assert_eq(h.status, 0, "POOL %s: %d", name, h.status);
	return rep.pool_id;
}

/* ALLOC_BATCH of BATCH_N blocks of BATCH_SIZE in "default": how many came,
 * and their usable size in *usable. */
static uint32_t alloc_batch(int fd, uint64_t *usable)
{
	struct memd_alloc_batch_req req = {.size = BATCH_SIZE, .count = BATCH_N};
	static unsigned char body[MEMD_FRAME_MAX];
	struct memd_alloc_batch_rep rep;
	struct memd_hdr h;
	size_t blen = 0;

	req.pool_id = pool_id(fd, "default");
	cr_assert_eq(raw_send_frame(fd, MEMD_OP_ALLOC_BATCH, 88, &req, sizeof(req)), 0);
	cr_assert_eq(raw_recv_frame(fd, &h, body, sizeof(body), &blen, REPLY_MS), RAW_FRAME);
	cr_assert_eq(h.status, 0, "ALLOC_BATCH: %d", h.status);
	memcpy(&rep, body, sizeof(rep));
	cr_assert_eq(rep.count, BATCH_N, "ALLOC_BATCH gave %u blocks", rep.count);
	cr_assert_geq(rep.size, BATCH_SIZE);
	*usable = rep.size;
	return rep.count;
}

/* The STATS_CLIENTS record of the session on fd (the one flagged SELF). */
static struct memd_stats_client self_record(int fd)
{
	static unsigned char body[MEMD_FRAME_MAX];
	struct memd_stats_req req = {0};
	struct memd_stats_client rec;
	struct memd_stats_page page;
	struct memd_hdr h;
	size_t blen = 0;

	cr_assert_eq(raw_send_frame(fd, MEMD_OP_STATS_CLIENTS, 99, &req, sizeof(req)), 0);
	cr_assert_eq(raw_recv_frame(fd, &h, body, sizeof(body), &blen, REPLY_MS), RAW_FRAME);
	cr_assert_eq(h.status, 0, "STATS_CLIENTS: %d", h.status);
	memcpy(&page, body, sizeof(page));
	cr_assert_geq(page.rec_size, sizeof(rec));
	cr_assert_eq(blen, sizeof(page) + (size_t)page.count * page.rec_size);
	for (uint32_t i = 0; i < page.count; i++) {
		memcpy(&rec, body + sizeof(page) + (size_t)i * page.rec_size, sizeof(rec));
		if (rec.flags & MEMD_CLIENT_SELF)
			return rec;
	}
	cr_assert_fail("no STATS_CLIENTS record is flagged SELF (%u records)", page.count);
	return rec;
}

/* Set slot i's counters (as a client thread would: plain stores). */
static void slot_set(struct memd_cache_slot *page, unsigned i, uint64_t blocks, uint64_t bytes)
{
	__atomic_store_n(&page[i].blocks, blocks, __ATOMIC_RELAXED);
	__atomic_store_n(&page[i].bytes, bytes, __ATOMIC_RELAXED);
}

/* ---- looking at the daemon from /proc ----------------------------------- */

/* Open fds of process pid; *pages counts those that are cache pages. */
static int fd_count(pid_t pid, int *pages)
{
	char dir[64], path[PATH_MAX], target[PATH_MAX];
	struct dirent *de;
	int n = 0;
	ssize_t len;
	DIR *d;

	*pages = 0;
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	cr_assert_not_null(d, "%s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		n++;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len > 0) {
			target[len] = '\0';
			*pages += strstr(target, PAGE_NAME) != NULL;
		}
	}
	closedir(d);
	return n;
}

/* memd's open fds once the count holds still for 200 ms (the harness's
 * readiness probe may still be closing). */
static int fd_count_settled(void)
{
	int64_t end = now_ms() + SETTLE_MS;
	int n, prev = -1, pages;

	for (;;) {
		n = fd_count(H.pid, &pages);
		if (n == prev || now_ms() > end)
			return n;
		prev = n;
		sleep_ms(200);
	}
}

/* Wait up to SETTLE_MS for memd to have want_fds open fds, none of them a
 * cache page, and want_maps page mappings.  Asserts. */
static void wait_daemon_state(int want_fds, int want_maps, const char *when)
{
	int64_t end = now_ms() + SETTLE_MS;
	int fds, fd_pages, maps;

	for (;;) {
		fds = fd_count(H.pid, &fd_pages);
		maps = proc_maps_count(H.pid, PAGE_NAME);
		if ((fds == want_fds && fd_pages == 0 && maps == want_maps) || now_ms() > end)
			break;
		sleep_ms(20);
	}
	cr_assert_eq(fd_pages, 0, "%s: memd keeps %d fd(s) of cache pages", when, fd_pages);
	cr_assert_eq(maps, want_maps, "%s: memd maps %d cache page(s), want %d", when, maps,
	             want_maps);
	cr_assert_eq(fds, want_fds, "%s: memd has %d fds open, want %d", when, fds, want_fds);
}

/* ---- tests -------------------------------------------------------------- */

Test(cache_page, reply_carries_a_sealed_memfd_of_the_documented_size, .fini = harness_fini)
{
	struct memd_cache_page_req req = {0};
	struct memd_cache_slot *page;
	struct page_reply r;
	struct stat st;
	int fd, seals;

	memd_start(&H, NULL);
	fd = stats_open();
	r = cache_page_raw(fd, 1, &req, sizeof(req));
	cr_assert_eq(r.status, 0, "CACHE_PAGE: status %d", r.status);
	cr_assert_geq(r.fd, 0, "no fd came with the reply");
	cr_assert_eq(r.body_len, sizeof(r.body));
	cr_expect_eq(r.body.size, MEMD_CACHE_PAGE_SIZE, "reply size %llu",
	             (unsigned long long)r.body.size);
	cr_expect_eq(r.body.slots, MEMD_CACHE_SLOTS, "reply slots %u", r.body.slots);
	cr_expect_eq(r.body.pad, 0);

	cr_assert_eq(fstat(r.fd, &st), 0);
	cr_expect_eq((uint64_t)st.st_size, MEMD_CACHE_PAGE_SIZE, "fd size %lld",
	             (long long)st.st_size);
	cr_expect(S_ISREG(st.st_mode), "the page is not a regular (memfd) file");
	seals = fcntl(r.fd, F_GET_SEALS);
	cr_assert_geq(seals, 0, "F_GET_SEALS: %s (not a sealable memfd?)", strerror(errno));
	cr_expect_eq(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
	             F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, "seals %#x", seals);
	cr_expect_eq(seals & F_SEAL_WRITE, 0, "the page must stay writable");

	cr_expect_eq(ftruncate(r.fd, 0), -1, "ftruncate to 0 succeeded on a sealed page");
	cr_expect_eq(errno, EPERM, "ftruncate to 0: %s", strerror(errno));
	cr_expect_eq(ftruncate(r.fd, 2 * MEMD_CACHE_PAGE_SIZE), -1, "ftruncate up succeeded");
	cr_expect_eq(fcntl(r.fd, F_ADD_SEALS, F_SEAL_WRITE), -1, "a client could add seals");
	cr_expect_eq(errno, EPERM);

	page = page_map(r.fd);
	slot_set(page, 7, 1, 2);
	cr_expect_eq(page[7].bytes, 2);
	munmap(page, MEMD_CACHE_PAGE_SIZE);
	close(r.fd);
	close(fd);
	memd_stop_clean(&H, SIGTERM);
}

Test(cache_page, counters_of_every_slot_add_up_in_the_client_record, .fini = harness_fini)
{
	struct memd_stats_client rec;
	struct memd_cache_slot *page;
	uint64_t usable;
	uint32_t got;
	int fd, pfd;

	memd_start(&H, NULL);
	fd = stats_open();
	got = alloc_batch(fd, &usable);
	rec = self_record(fd);
	cr_assert_eq(rec.blocks, got);
	cr_assert_eq(rec.bytes, got * usable);
	cr_expect_eq(rec.cached_blocks, 0, "no page yet, but %llu cached",
	             (unsigned long long)rec.cached_blocks);
	cr_expect_eq(rec.cached_bytes, 0);

	pfd = cache_page(fd, 2);
	page = page_map(pfd);
	close(pfd);
	rec = self_record(fd);
	cr_expect_eq(rec.cached_blocks, 0, "a fresh page reads as zeros");

	slot_set(page, 0, 3, 3 * usable);
	slot_set(page, MEMD_CACHE_SLOTS - 1, 4, 4 * usable);
	rec = self_record(fd);
	cr_expect_eq(rec.blocks, got, "held blocks changed: %llu", (unsigned long long)rec.blocks);
	cr_expect_eq(rec.cached_blocks, 7, "slots 0 and 255: 3 + 4 cached, got %llu",
	             (unsigned long long)rec.cached_blocks);
	cr_expect_eq(rec.cached_bytes, 7 * usable, "cached bytes %llu, want %llu",
	             (unsigned long long)rec.cached_bytes, (unsigned long long)(7 * usable));

	slot_set(page, 0, 0, 0); /* the cache handed its blocks out */
	rec = self_record(fd);
	cr_expect_eq(rec.cached_blocks, 4, "after slot 0 emptied: %llu",
	             (unsigned long long)rec.cached_blocks);
	cr_expect_eq(rec.cached_bytes, 4 * usable);

	munmap(page, MEMD_CACHE_PAGE_SIZE);
	close(fd);
	memd_stop_clean(&H, SIGTERM);
}

Test(cache_page, a_lying_client_never_shows_more_cached_than_it_holds, .fini = harness_fini)
{
	struct memd_stats_client rec;
	struct memd_cache_slot *page;
	uint64_t usable;
	uint32_t got;
	int fd, pfd;

	memd_start(&H, NULL);
	fd = stats_open();
	pfd = cache_page(fd, 3);
	page = page_map(pfd);
	close(pfd);

	/* Holding nothing: any claim is clamped to 0. */
	slot_set(page, 5, 1000, 1u << 30);
	rec = self_record(fd);
	cr_expect_eq(rec.cached_blocks, 0, "holds nothing, shows %llu cached",
	             (unsigned long long)rec.cached_blocks);
	cr_expect_eq(rec.cached_bytes, 0);

	got = alloc_batch(fd, &usable);
	rec = self_record(fd);
	cr_expect_eq(rec.cached_blocks, got, "1000 claimed: clamped to the %u held, got %llu", got,
	             (unsigned long long)rec.cached_blocks);
	cr_expect_eq(rec.cached_bytes, got * usable);

	/* Sums that wrap around 2^64 to something small must not look
	 * plausible: UINT64_MAX + 2 would be 1. */
	slot_set(page, 5, 0, 0);
	slot_set(page, 0, UINT64_MAX, UINT64_MAX);
	slot_set(page, 1, 2, 2);
	rec = self_record(fd);
	cr_expect_eq(rec.cached_blocks, got, "wrapped sum: %llu cached blocks, want %u",
	             (unsigned long long)rec.cached_blocks, got);
	cr_expect_eq(rec.cached_bytes, got * usable, "wrapped sum: %llu cached bytes",
	             (unsigned long long)rec.cached_bytes);

	for (unsigned i = 0; i < MEMD_CACHE_SLOTS; i++)
		slot_set(page, i, UINT64_MAX, UINT64_MAX);
	rec = self_record(fd);
	cr_expect_eq(rec.cached_blocks, got);
	cr_expect_eq(rec.cached_bytes, got * usable);
	cr_expect_eq(rec.blocks, got, "the lie changed what the session holds");

	munmap(page, MEMD_CACHE_PAGE_SIZE);
	close(fd);
	memd_stop_clean(&H, SIGTERM);
}

Test(cache_page, second_request_on_a_session_is_eexist_without_an_fd, .fini = harness_fini)
{
	struct memd_cache_page_req req = {0};
	struct memd_stats_client rec;
	struct memd_cache_slot *page;
	struct page_reply r;
	uint64_t usable;
	int fd, pfd, other;

	memd_start(&H, NULL);
	fd = stats_open();
	alloc_batch(fd, &usable);
	pfd = cache_page(fd, 4);
	page = page_map(pfd);
	close(pfd);
	slot_set(page, 9, 2, 2 * usable);

	r = cache_page_raw(fd, 5, &req, sizeof(req));
	cr_expect_eq(r.status, -EEXIST, "second CACHE_PAGE: status %d, want -EEXIST", r.status);
	cr_expect_eq(r.body_len, 0, "error reply with a %zu-byte body", r.body_len);
	cr_expect_eq(r.fd, -1, "the refusal carried an fd");
	if (r.fd >= 0)
		close(r.fd);

	rec = self_record(fd);
	cr_expect_eq(rec.cached_blocks, 2, "the first page no longer counts: %llu",
	             (unsigned long long)rec.cached_blocks);

	/* Another session gets a page of its own. */
	other = stats_open();
	pfd = cache_page(other, 6);
	close(pfd);
	close(other);

	munmap(page, MEMD_CACHE_PAGE_SIZE);
	close(fd);
	memd_stop_clean(&H, SIGTERM);
}

Test(cache_page, malformed_bodies_get_einval_and_the_connection_stays_usable, .fini = harness_fini)
{
	struct memd_cache_page_req flags = {.flags = 1};
	struct memd_cache_page_req pad = {.pad = 1};
	unsigned char zeros[16] = {0};
	struct {
		const void *body; /* what is sent */
		size_t len;       /* its length */
		const char *what; /* description */
	} cases[] = {
	        {zeros, 0, "empty body"},      {zeros, 4, "short body (4 bytes)"},
	        {zeros, 7, "7 bytes"},         {zeros, 9, "9 bytes"},
	        {zeros, 16, "long body (16)"}, {&flags, sizeof(flags), "flags 1"},
	        {&pad, sizeof(pad), "pad 1"},
	};
	struct page_reply r;
	int fd, pfd;

	memd_start(&H, NULL);
	fd = stats_open();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = cache_page_raw(fd, 10 + (uint32_t)i, cases[i].body, cases[i].len);
		cr_expect_eq(r.status, -EINVAL, "%s: status %d, want -EINVAL", cases[i].what,
		             r.status);
		cr_expect_eq(r.body_len, 0, "%s: error reply with a body", cases[i].what);
		cr_expect_eq(r.fd, -1, "%s: an fd came with the refusal", cases[i].what);
		if (r.fd >= 0)
			close(r.fd);
	}
	cr_expect_eq(proc_maps_count(H.pid, PAGE_NAME), 0, "a refused request left a page mapped");
	/* Still usable, and no page was made: a good request succeeds. */
	pfd = cache_page(fd, 30);
	close(pfd);
	cr_expect_eq(self_record(fd).blocks, 0);
	close(fd);
	memd_stop_clean(&H, SIGTERM);
}

Test(cache_page, a_session_that_ends_takes_its_page_along, .fini = harness_fini)
{
	enum { SESSIONS = 16 };
	struct memd_cache_slot *pages[SESSIONS] = {0};
	int conns[SESSIONS], base_fds, fd;
	uint64_t usable;

	memd_start(&H, NULL);
	base_fds = fd_count_settled();
	cr_assert_eq(proc_maps_count(H.pid, PAGE_NAME), 0);

	for (int i = 0; i < SESSIONS; i++) {
		int pfd;

		conns[i] = stats_open();
		if (i % 2 == 0)
			alloc_batch(conns[i], &usable);
		pfd = cache_page(conns[i], 40 + (uint32_t)i);
		if (i % 4 == 0) { /* some keep their page mapped while they go */
			pages[i] = page_map(pfd);
			slot_set(pages[i], 0, 1, 1);
		}
		close(pfd);
	}
	/* Each session: its socket, and its page mapped, but no page fd. */
	wait_daemon_state(base_fds + SESSIONS, SESSIONS, "with every session open");

	for (int i = 0; i < SESSIONS; i += 2)
		close(conns[i]);
	wait_daemon_state(base_fds + SESSIONS / 2, SESSIONS / 2, "after half the sessions left");
	for (int i = 1; i < SESSIONS; i += 2)
		close(conns[i]);
	wait_daemon_state(base_fds, 0, "after every session left");

	/* And the daemon still serves. */
	fd = stats_open();
	alloc_batch(fd, &usable);
	close(cache_page(fd, 99));
	cr_expect_eq(self_record(fd).blocks, BATCH_N);
	close(fd);
	for (int i = 0; i < SESSIONS; i++)
		if (pages[i] != NULL)
			munmap(pages[i], MEMD_CACHE_PAGE_SIZE);
	memd_stop_clean(&H, SIGTERM);
}

/* Run `memctl --socket SOCK ARGS` and return its standard output (malloc'd). */
static char *memctl_out(const char *args)
{
	const char *bin = getenv("MEMCTL_BIN");
	char cmd[PATH_MAX * 2 + 256];
	size_t len = 0, cap = 1 << 16;
	char *out = malloc(cap);
	FILE *p;
	size_t n;

	cr_assert_not_null(out);
	snprintf(cmd, sizeof(cmd), "'%s' --socket '%s' %s", bin, H.sock, args);
	p = popen(cmd, "r");
	cr_assert_not_null(p, "popen %s: %s", cmd, strerror(errno));
	while ((n = fread(out + len, 1, cap - 1 - len, p)) > 0)
		len += n;
	out[len] = '\0';
	cr_assert_eq(pclose(p), 0, "%s failed:\n%s", cmd, out);
	return out;
}

/* The value of "key": N in the JSON object of out that has "pid": pid (the
 * first such key after the pid; memctl prints keys in a fixed order). */
static long long json_key_after_pid(const char *out, pid_t pid, const char *key)
{
	char pat[64];
	const char *at;

	snprintf(pat, sizeof(pat), "\"pid\": %d,", (int)pid);
	at = strstr(out, pat);
	cr_assert_not_null(at, "no client with pid %d in:\n%s", (int)pid, out);
	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	at = strstr(at, pat);
	cr_assert_not_null(at, "no %s after pid %d in:\n%s", key, (int)pid, out);
	return strtoll(at + strlen(pat), NULL, 10);
}

Test(cache_page, memctl_clients_shows_cached_apart_from_in_use, .fini = harness_fini)
{
	struct memd_cache_slot *page;
	uint64_t usable;
	uint32_t got;
	char *out;
	int fd, pfd;

	if (getenv("MEMCTL_BIN") == NULL || getenv("MEMCTL_BIN")[0] == '\0')
		cr_skip_test("MEMCTL_BIN is not set (memctl not built)");
	memd_start(&H, NULL);
	fd = stats_open();
	got = alloc_batch(fd, &usable);
	pfd = cache_page(fd, 1);
	page = page_map(pfd);
	close(pfd);
	slot_set(page, 3, 3, 3 * usable);

	out = memctl_out("--json clients");
	cr_expect_eq(json_key_after_pid(out, getpid(), "blocks"), got, "blocks = held");
	cr_expect_eq(json_key_after_pid(out, getpid(), "cached_blocks"), 3);
	cr_expect_eq(json_key_after_pid(out, getpid(), "cached_bytes"), (long long)(3 * usable));
	cr_expect_eq(json_key_after_pid(out, getpid(), "in_use_blocks"), got - 3);
	cr_expect_eq(json_key_after_pid(out, getpid(), "in_use_bytes"),
	             (long long)((got - 3) * usable));
	free(out);

	out = memctl_out("clients");
	cr_expect_not_null(strstr(out, "IN USE"), "no IN USE column:\n%s", out);
	cr_expect_not_null(strstr(out, "CACHED"), "no CACHED column:\n%s", out);
	free(out);

	munmap(page, MEMD_CACHE_PAGE_SIZE);
	close(fd);
	memd_stop_clean(&H, SIGTERM);
}
