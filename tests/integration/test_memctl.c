/*
 * test_memctl.c - memctl against the real memd, with real clients.
 *
 * Each test starts memd (harness.c), forks client processes that hold
 * private, shared and published blocks and then wait on a pipe, and runs
 * the memctl binary ($MEMCTL_BIN) as a separate process with --socket,
 * capturing its stdout, stderr and exit status.  JSON output is parsed
 * with jansson and checked against what the children really hold: every
 * block is attributed to the pid that holds it, shared blocks name all
 * their holders, names point at their blocks; a client killed with
 * SIGKILL disappears from `clients` and `blocks`.  `check` passes on a
 * healthy heap while clients are connected.  Exit codes: 64 for usage
 * errors, 69 when no daemon answers, 77 for `trim` run as an unprivileged
 * uid (fork + setuid(65534) before exec), and 0 for that uid once the
 * [memd] admin list names it.  `stats --prometheus` is parsed as the text
 * exposition format by a small validator here; `map --svg` must write a
 * document that starts with "<svg" and ends with "</svg>".
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "memclient.h"
#include "rawconn.h"

#define OUT_MAX   (4u << 20) /* bytes of memctl output kept */
#define NOBODY    65534      /* the unprivileged uid */
#define PUB_NAME  "memctl.test/frame"
#define MANY      1500 /* blocks of the paging test: more than one page */
#define RUN_LIMIT 30000

/* What one memctl run produced. */
struct run {
	int status; /* exit status (child_wait's value) */
	char *out;  /* stdout, NUL-terminated (malloc'd) */
	char *err;  /* stderr, NUL-terminated (malloc'd) */
};

/* Arguments of the exec'ing child. */
struct exec_args {
	char **argv;     /* memctl argv, NULL-terminated */
	const char *out; /* stdout file */
	const char *err; /* stderr file */
	uid_t uid;       /* run as this uid (0: stay) */
};

static int exec_memctl(void *p)
{
	struct exec_args *a = p;
	int fo = open(a->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int fe = open(a->err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
		return 120;
	if (a->uid != 0 && (setgid(NOBODY) < 0 || setuid(a->uid) < 0))
		return 121;
	execv(a->argv[0], a->argv);
	return 122;
}

/* Read a whole file (at most OUT_MAX bytes) into a malloc'd string. */
static char *slurp(const char *path)
{
	char *buf = calloc(1, OUT_MAX + 1);
	ssize_t n, at = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	cr_assert_not_null(buf);
	if (fd < 0)
		return buf;
	while ((n = read(fd, buf + at, OUT_MAX - (size_t)at)) > 0)
		at += n;
	close(fd);
	return buf;
}

/* Run memctl --socket SOCK args... as uid (0: ourselves). */
static struct run memctl_as(uid_t uid, const char *sock, const char *arg0, ...)
{
	const char *bin = getenv("MEMCTL_BIN");
	char *argv[32], out[PATH_MAX], err[PATH_MAX];
	struct exec_args a = {.argv = argv, .out = out, .err = err, .uid = uid};
	struct run r;
	va_list ap;
	int argc = 0;

	cr_assert(bin != NULL && bin[0] != '\0', "MEMCTL_BIN is not set (run through meson test)");
	argv[argc++] = (char *)bin;
	argv[argc++] = "--socket";
	argv[argc++] = (char *)sock;
	va_start(ap, arg0);
	for (const char *s = arg0; s != NULL && argc < 31; s = va_arg(ap, const char *))
		argv[argc++] = (char *)s;
	va_end(ap);
	argv[argc] = NULL;
	snprintf(out, sizeof(out), "/tmp/memctl-out-%d", (int)getpid());
	snprintf(err, sizeof(err), "/tmp/memctl-err-%d", (int)getpid());
	r.status = child_wait(child_fork(exec_memctl, &a), RUN_LIMIT);
	r.out = slurp(out);
	r.err = slurp(err);
	unlink(out);
	unlink(err);
	return r;
}

#define memctl(...) memctl_as(0, H.sock, __VA_ARGS__, (const char *)NULL)

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* Run memctl expecting exit 0 and a JSON document; returns it. */
static json_t *memctl_json(const char *cmd, ...)
{
	const char *args[8] = {cmd};
	struct run r;
	json_error_t e;
	json_t *doc;
	va_list ap;
	int n = 1;

	va_start(ap, cmd);
	while (n < 7 && (args[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	args[n] = NULL;
	r = memctl_as(0, H.sock, "--json", args[0], args[1], args[2], args[3], args[4], args[5],
	              args[6], (const char *)NULL);
	cr_assert_eq(r.status, 0, "memctl --json %s: exit %d\n%s", cmd, r.status, r.err);
	doc = json_loads(r.out, 0, &e);
	cr_assert_not_null(doc, "memctl --json %s: not JSON (%s at line %d):\n%.2000s", cmd, e.text,
	                   e.line, r.out);
	run_free(&r);
	return doc;
}

/* Does a map bar (a line "  |...|") of out contain ch? */
static bool bar_has(const char *out, char ch)
{
	for (const char *l = strstr(out, "  |"); l != NULL; l = strstr(l + 1, "  |")) {
		const char *end = strchr(l + 3, '|');

		if (end != NULL && memchr(l + 3, ch, (size_t)(end - l - 3)) != NULL)
			return true;
	}
	return false;
}

/* ---- client children ------------------------------------------------- */

/* A child holding blocks until the parent closes its go pipe. */
struct holder {
	const char *sock;    /* memd socket */
	int report_w;        /* child writes its refs here, then closes */
	int go_r;            /* EOF: release and exit */
	int go_w;            /* parent's end, closed in the child */
	int mode;            /* HOLD_* */
	memc_ref shared_ref; /* HOLD_RETAINER: the block to retain */
};

enum {
	HOLD_PRIVATE,  /* three private blocks in "default", one in "small" */
	HOLD_SHARING,  /* one shared block, one published under PUB_NAME */
	HOLD_RETAINER, /* retain shared_ref */
	HOLD_MANY,     /* MANY small private blocks */
};

static void wait_eof(int fd)
{
	char c;

	while (read(fd, &c, 1) > 0)
		;
}

/* Allocate per mode; refs[] get the blocks.  Count, or -1. */
static int holder_alloc(memc_client *c, struct holder *h, memc_ref *refs)
{
	static const size_t sizes[] = {100, 5000, 100000};
	int n = 0;

	switch (h->mode) {
	case HOLD_PRIVATE:
		for (int i = 0; i < 3; i++)
			if (memc_alloc(c, NULL, sizes[i], 0, &refs[n++]) != 0)
				return -1;
		return memc_alloc(c, SMALL_POOL, 3000, 0, &refs[n++]) == 0 ? n : -1;
	case HOLD_SHARING:
		if (memc_alloc(c, NULL, 20000, MEMC_SHARED, &refs[n++]) != 0)
			return -1;
		if (memc_alloc(c, NULL, 700, 0, &refs[n]) != 0 ||
		    memc_publish(c, PUB_NAME, refs[n]) != 0)
			return -1;
		return n + 1;
	case HOLD_RETAINER:
		refs[0] = h->shared_ref;
		return memc_retain(c, h->shared_ref) == 0 ? 1 : -1;
	default:
		for (int i = 0; i < MANY; i++)
			if (memc_alloc(c, NULL, 48, 0, &refs[n++]) != 0)
				return -1;
		return n;
	}
}

static int holder_main(void *p)
{
	static memc_ref refs[MANY];
	struct holder *h = p;
	memc_client *c = NULL;
	int n;

	close(h->go_w);
	if (memc_connect(h->sock, &c) != 0)
		return 10;
	n = holder_alloc(c, h, refs);
	if (n < 0)
		return 11;
	if (write(h->report_w, refs, (size_t)n * sizeof(refs[0])) !=
	    (ssize_t)((size_t)n * sizeof(refs[0])))
		return 12;
	close(h->report_w);
	wait_eof(h->go_r);
	memc_close(c);
	return 0;
}

/* A running holder child. */
struct kid {
	pid_t pid;           /* the child */
	int go_w;            /* close to let it go */
	memc_ref refs[MANY]; /* what it holds */
	int n;               /* entries in refs */
};

static void kid_start(struct kid *k, int mode, memc_ref shared_ref)
{
	int rep[2], go[2];
	struct holder h = {.sock = H.sock, .mode = mode, .shared_ref = shared_ref};
	ssize_t got, at = 0;

	cr_assert_eq(pipe2(rep, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(go, O_CLOEXEC), 0);
	h.report_w = rep[1];
	h.go_r = go[0];
	h.go_w = go[1];
	k->pid = child_fork(holder_main, &h);
	close(rep[1]);
	close(go[0]);
	k->go_w = go[1];
	while ((got = read(rep[0], (char *)k->refs + at, sizeof(k->refs) - (size_t)at)) > 0)
		at += got;
	close(rep[0]);
	k->n = (int)(at / (ssize_t)sizeof(memc_ref));
	cr_assert_gt(k->n, 0, "holder child (mode %d) reported no blocks", mode);
}

/* Let the child go and check it exited 0. */
static void kid_finish(struct kid *k)
{
	char buf[64];
	int st;

	close(k->go_w);
	st = child_wait(k->pid, 10000);
	cr_assert_eq(st, 0, "holder child: %s", child_status_str(st, buf, sizeof(buf)));
}

/* ---- JSON helpers ------------------------------------------------------ */

static json_t *block_by_ref(json_t *blocks, memc_ref ref)
{
	char want[32];
	json_t *b;
	size_t i;

	snprintf(want, sizeof(want), "0x%llx", (unsigned long long)ref);
	json_array_foreach(blocks, i, b)
	{
		if (strcmp(json_string_value(json_object_get(b, "ref")), want) == 0)
			return b;
	}
	return NULL;
}

static bool pids_contain(json_t *block, pid_t pid)
{
	json_t *p;
	size_t i;

	json_array_foreach(json_object_get(block, "pids"), i, p)
	{
		if (json_integer_value(p) == pid)
			return true;
	}
	return false;
}

static json_t *client_by_pid(json_t *clients, pid_t pid)
{
	json_t *c;
	size_t i;

	json_array_foreach(clients, i, c)
	{
		if (json_integer_value(json_object_get(c, "pid")) == pid)
			return c;
	}
	return NULL;
}

/* ---- tests ------------------------------------------------------------- */

Test(memctl, json_attributes_private_shared_and_published_blocks, .fini = harness_fini)
{
	harness_cache_off(); /* exact block counts: no cached blocks */
	struct kid a, b, r;
	json_t *doc, *blocks, *blk, *names, *clients, *c;

	memd_start(&H, CONFIG_SMALL_POOL);
	kid_start(&a, HOLD_PRIVATE, 0);
	kid_start(&b, HOLD_SHARING, 0);
	kid_start(&r, HOLD_RETAINER, b.refs[0]);

	doc = memctl_json("blocks", NULL);
	blocks = json_object_get(doc, "blocks");
	cr_assert(json_is_array(blocks));
	cr_expect_eq(json_array_size(blocks), 6, "6 live blocks, got %zu", json_array_size(blocks));
	for (int i = 0; i < a.n; i++) {
		blk = block_by_ref(blocks, a.refs[i]);
		cr_assert_not_null(blk, "block %#llx of pid %d not listed",
		                   (unsigned long long)a.refs[i], (int)a.pid);
		cr_expect(json_is_false(json_object_get(blk, "shared")));
		cr_expect_eq(json_integer_value(json_object_get(blk, "holders")), 1);
		cr_expect(pids_contain(blk, a.pid), "block %d not attributed to pid %d", i,
		          (int)a.pid);
		cr_expect_str_eq(json_string_value(json_object_get(blk, "pool")),
		                 i == 3 ? SMALL_POOL : "default");
	}
	blk = block_by_ref(blocks, b.refs[0]);
	cr_assert_not_null(blk);
	cr_expect(json_is_true(json_object_get(blk, "shared")));
	cr_expect_eq(json_integer_value(json_object_get(blk, "holders")), 2);
	cr_expect(pids_contain(blk, b.pid) && pids_contain(blk, r.pid),
	          "shared block lists both holders");
	blk = block_by_ref(blocks, b.refs[1]);
	cr_assert_not_null(blk);
	cr_expect(json_is_true(json_object_get(blk, "shared")), "a published block is shared");
	cr_expect_str_eq(json_string_value(json_array_get(json_object_get(blk, "names"), 0)),
	                 PUB_NAME);
	json_decref(doc);

	doc = memctl_json("names", NULL);
	names = json_object_get(doc, "names");
	cr_assert_eq(json_array_size(names), 1);
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(names, 0), "name")),
	                 PUB_NAME);
	json_decref(doc);

	doc = memctl_json("blocks", "--pid", "1", NULL);
	cr_expect_eq(json_array_size(json_object_get(doc, "blocks")), 0, "pid 1 holds nothing");
	json_decref(doc);
	doc = memctl_json("blocks", "--pool", SMALL_POOL, NULL);
	cr_expect_eq(json_array_size(json_object_get(doc, "blocks")), 1);
	json_decref(doc);

	doc = memctl_json("clients", NULL);
	clients = json_object_get(doc, "clients");
	cr_expect_eq(json_array_size(clients), 3, "three clients (memctl itself hidden)");
	c = client_by_pid(clients, a.pid);
	cr_assert_not_null(c, "pid %d not among the clients", (int)a.pid);
	cr_expect_eq(json_integer_value(json_object_get(c, "blocks")), 4);
	cr_expect_geq(json_integer_value(json_object_get(c, "bytes")), 100 + 5000 + 100000 + 3000);
	cr_expect_eq(json_integer_value(json_object_get(c, "uid")), (json_int_t)getuid());
	cr_expect_gt(json_integer_value(json_object_get(c, "connected_since_ns")), 0);
	json_decref(doc);

	kid_finish(&r);
	kid_finish(&b);
	kid_finish(&a);
	memd_stop_clean(&H, SIGTERM);
}

Test(memctl, blocks_of_a_pid_list_exactly_that_pid_and_page_past_one_frame, .fini = harness_fini)
{
	harness_cache_off(); /* exact block counts: no cached blocks */
	struct kid a, m;
	char pid[16];
	json_t *doc, *blocks, *blk;
	size_t i;

	memd_start(&H, CONFIG_SMALL_POOL);
	kid_start(&a, HOLD_PRIVATE, 0);
	kid_start(&m, HOLD_MANY, 0);
	snprintf(pid, sizeof(pid), "%d", (int)m.pid);
	doc = memctl_json("blocks", "--pid", pid, NULL);
	blocks = json_object_get(doc, "blocks");
	cr_expect_eq(json_array_size(blocks), MANY, "%d blocks over several pages, got %zu", MANY,
	             json_array_size(blocks));
	json_array_foreach(blocks, i, blk)
	{
		cr_assert(pids_contain(blk, m.pid));
	}
	for (int k = 0; k < m.n; k += 97)
		cr_expect_not_null(block_by_ref(blocks, m.refs[k]));
	json_decref(doc);
	kid_finish(&m);
	kid_finish(&a);
	memd_stop_clean(&H, SIGTERM);
}

Test(memctl, killed_client_disappears_from_clients_and_blocks, .fini = harness_fini)
{
	harness_cache_off(); /* exact block counts: no cached blocks */
	struct kid a, b;
	json_t *doc = NULL;
	int64_t deadline;
	bool gone = false;

	memd_start(&H, CONFIG_SMALL_POOL);
	kid_start(&a, HOLD_PRIVATE, 0);
	kid_start(&b, HOLD_PRIVATE, 0);
	doc = memctl_json("clients", NULL);
	cr_assert_not_null(client_by_pid(json_object_get(doc, "clients"), a.pid));
	json_decref(doc);

	child_kill(a.pid);
	close(a.go_w);
	deadline = now_ms() + 5000;
	while (!gone && now_ms() < deadline) {
		doc = memctl_json("clients", NULL);
		gone = client_by_pid(json_object_get(doc, "clients"), a.pid) == NULL;
		json_decref(doc);
		if (!gone)
			sleep_ms(20);
	}
	cr_assert(gone, "killed pid %d still listed after 5 s", (int)a.pid);
	doc = memctl_json("blocks", NULL);
	cr_expect_eq(json_array_size(json_object_get(doc, "blocks")), (size_t)b.n,
	             "only the survivor's blocks remain");
	for (int i = 0; i < a.n; i++)
		cr_expect_null(block_by_ref(json_object_get(doc, "blocks"), a.refs[i]));
	json_decref(doc);
	kid_finish(&b);
	memd_stop_clean(&H, SIGTERM);
}

Test(memctl, check_passes_on_a_healthy_heap_with_clients_connected, .fini = harness_fini)
{
	struct kid a, b;
	struct run r;
	json_t *doc;

	memd_start(&H, CONFIG_SMALL_POOL);
	kid_start(&a, HOLD_PRIVATE, 0);
	kid_start(&b, HOLD_SHARING, 0);
	r = memctl("check");
	cr_expect_eq(r.status, 0, "check: exit %d\n%s%s", r.status, r.out, r.err);
	cr_expect(strstr(r.out, "consistent") != NULL, "%s", r.out);
	run_free(&r);
	doc = memctl_json("check", NULL);
	cr_expect(json_is_true(json_object_get(doc, "consistent")));
	cr_expect_eq(json_integer_value(json_object_get(doc, "pools_checked")), 2);
	cr_expect_eq(json_array_size(json_object_get(doc, "problems")), 0);
	json_decref(doc);
	kid_finish(&b);
	kid_finish(&a);
	memd_stop_clean(&H, SIGTERM);
}

Test(memctl, usage_errors_exit_64_and_help_exits_0, .fini = harness_fini)
{
	static const char *const cmds[] = {"status", "pools", "pool", "clients", "blocks", "names",
	                                   "map",    "check", "trim", "stats",   "watch"};
	struct run r;

	memd_start(&H, NULL);
	r = memctl("frobnicate");
	cr_expect_eq(r.status, 64, "unknown command: exit %d", r.status);
	run_free(&r);
	r = memctl("blocks", "--pid", "abc");
	cr_expect_eq(r.status, 64, "bad --pid: exit %d", r.status);
	run_free(&r);
	r = memctl("pool");
	cr_expect_eq(r.status, 64, "pool without a name: exit %d", r.status);
	run_free(&r);
	r = memctl("status", "--bogus");
	cr_expect_eq(r.status, 64, "unknown option: exit %d", r.status);
	run_free(&r);
	r = memctl("watch", "--count", "0");
	cr_expect_eq(r.status, 64, "watch --count 0: exit %d", r.status);
	run_free(&r);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char want[64];

		r = memctl(cmds[i], "--help");
		snprintf(want, sizeof(want), "Usage: memctl %s", cmds[i]);
		cr_expect_eq(r.status, 0, "%s --help: exit %d", cmds[i], r.status);
		cr_expect(strstr(r.out, want) != NULL, "%s --help:\n%s", cmds[i], r.out);
		run_free(&r);
	}
	r = memctl("pool", "no-such-pool");
	cr_expect_eq(r.status, 1, "unknown pool: exit %d", r.status);
	run_free(&r);
	memd_stop_clean(&H, SIGTERM);
}

Test(memctl, no_daemon_exits_69)
{
	char sock[64];
	struct run r;

	snprintf(sock, sizeof(sock), "/tmp/memctl-nodaemon-%d.sock", (int)getpid());
	r = memctl_as(0, sock, "status", (const char *)NULL);
	cr_expect_eq(r.status, 69, "no daemon: exit %d (%s)", r.status, r.err);
	cr_expect(strstr(r.err, "cannot connect") != NULL, "%s", r.err);
	run_free(&r);
}

/* Let uid NOBODY reach the socket: the test dir is 0700. */
static void open_dir_to_nobody(void)
{
	cr_assert_eq(chmod(H.dir, 0711), 0, "chmod %s: %s", H.dir, strerror(errno));
}

#define CONFIG_OPEN_SOCKET                                                                         \
	"[memd]\n"                                                                                 \
	"socket_mode = 0666\n"

Test(memctl, trim_as_an_unprivileged_uid_exits_77_and_reading_is_open, .fini = harness_fini)
{
	struct run r;

	memd_start(&H, CONFIG_OPEN_SOCKET);
	open_dir_to_nobody();
	r = memctl_as(NOBODY, H.sock, "trim", (const char *)NULL);
	cr_expect_eq(r.status, 77, "trim as uid %d: exit %d (%s)", NOBODY, r.status, r.err);
	cr_expect(strstr(r.err, "permission denied") != NULL, "%s", r.err);
	run_free(&r);
	r = memctl_as(NOBODY, H.sock, "status", (const char *)NULL);
	cr_expect_eq(r.status, 0, "status as uid %d: exit %d (%s)", NOBODY, r.status, r.err);
	run_free(&r);
	r = memctl("trim");
	cr_expect_eq(r.status, 0, "trim as root: exit %d (%s)", r.status, r.err);
	cr_expect(strstr(r.out, "trimmed") != NULL, "%s", r.out);
	run_free(&r);
	memd_stop_clean(&H, SIGTERM);
}

Test(memctl, trim_by_a_uid_on_the_admin_list_succeeds, .fini = harness_fini)
{
	struct run r;

	memd_start(&H, CONFIG_OPEN_SOCKET "admin = uid:65534\n");
	open_dir_to_nobody();
	r = memctl_as(NOBODY, H.sock, "trim", "default", (const char *)NULL);
	cr_expect_eq(r.status, 0, "trim as an admin uid: exit %d (%s)", r.status, r.err);
	run_free(&r);
	memd_stop_clean(&H, SIGTERM);
}

/* ---- Prometheus text exposition validator ------------------------------- */

/* Is s[0..n) a metric name: [a-zA-Z_:][a-zA-Z0-9_:]*? */
static bool prom_name_ok(const char *s, size_t n)
{
	if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
			return false;
	return true;
}

/* Parse {k="v",...} at *p; advances *p past '}'. */
static bool prom_labels_ok(const char **p)
{
	const char *s = *p + 1;

	while (*s != '}') {
		const char *k = s;

		while (isalnum((unsigned char)*s) || *s == '_')
			s++;
		if (s == k || s[0] != '=' || s[1] != '"')
			return false;
		for (s += 2; *s != '"'; s++) {
			if (*s == '\0' || *s == '\n')
				return false;
			if (*s == '\\' && (s[1] == '\\' || s[1] == '"' || s[1] == 'n'))
				s++;
		}
		s++;
		if (*s == ',')
			s++;
		else if (*s != '}')
			return false;
	}
	*p = s + 1;
	return true;
}

/* Validate text; on failure, describe the line in why. */
static bool prom_valid(const char *text, char *why, size_t len, int *samples)
{
	char help[128] = "", type[128] = "";
	const char *line = text;

	*samples = 0;
	while (*line != '\0') {
		const char *nl = strchr(line, '\n'), *p, *name = line;
		char *end;
		size_t n;

		if (nl == NULL) {
			snprintf(why, len, "last line lacks a newline");
			return false;
		}
		if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
			char *dst = line[2] == 'H' ? help : type;

			n = strcspn(line + 7, " \n");
			if (!prom_name_ok(line + 7, n))
				goto bad;
			snprintf(dst, 128, "%.*s", (int)n, line + 7);
			if (dst == type && strncmp(line + 7 + n, " gauge\n", 7) != 0 &&
			    strncmp(line + 7 + n, " counter\n", 9) != 0)
				goto bad;
		} else if (line[0] == '#') {
			/* a comment */
		} else {
			n = strcspn(line, "{ ");
			if (!prom_name_ok(line, n) || strlen(help) != n ||
			    strncmp(help, name, n) != 0 || strlen(type) != n ||
			    strncmp(type, name, n) != 0)
				goto bad; /* HELP and TYPE must precede the samples */
			p = line + n;
			if (*p == '{' && !prom_labels_ok(&p))
				goto bad;
			if (*p != ' ')
				goto bad;
			strtod(p + 1, &end);
			if (end == p + 1 || end != nl)
				goto bad;
			(*samples)++;
		}
		line = nl + 1;
	}
	return true;
bad:
	snprintf(why, len, "bad line: %.*s", (int)strcspn(line, "\n"), line);
	return false;
}

Test(memctl, prometheus_output_parses_as_the_exposition_format, .fini = harness_fini)
{
	struct kid a;
	struct run r;
	char why[512];
	int samples;

	memd_start(&H, CONFIG_SMALL_POOL);
	kid_start(&a, HOLD_PRIVATE, 0);
	r = memctl("stats", "--prometheus");
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	cr_expect(prom_valid(r.out, why, sizeof(why), &samples), "%s\n%s", why, r.out);
	cr_expect_gt(samples, 20);
	cr_expect(strstr(r.out, "memd_pool_in_use_bytes{pool=\"small\"} ") != NULL, "%s", r.out);
	cr_expect(strstr(r.out, "# TYPE memd_pool_punched_bytes_total counter\n") != NULL);
	run_free(&r);
	kid_finish(&a);
	memd_stop_clean(&H, SIGTERM);
}

Test(memctl, map_draws_segments_and_writes_well_formed_svg, .fini = harness_fini)
{
	char svg[PATH_MAX];
	struct kid a;
	struct run r;
	char *doc;
	size_t n;

	memd_start(&H, CONFIG_SMALL_POOL);
	kid_start(&a, HOLD_PRIVATE, 0);
	harness_path(&H, "map.svg", svg, sizeof(svg));
	r = memctl("map", "default", "--svg", svg);
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	cr_expect(strstr(r.out, "segment ") != NULL && strstr(r.out, "legend:") != NULL, "%s",
	          r.out);
	cr_expect(bar_has(r.out, '#'), "private blocks show as '#':\n%s", r.out);
	run_free(&r);
	doc = slurp(svg);
	n = strlen(doc);
	cr_expect(strncmp(doc, "<svg", 4) == 0, "SVG starts with: %.40s", doc);
	cr_expect(n > 7 && strcmp(doc + n - 7, "</svg>\n") == 0, "SVG ends with: %s",
	          n > 20 ? doc + n - 20 : doc);
	cr_expect(strstr(doc, "<rect") != NULL);
	free(doc);
	r = memctl("map", "nope");
	cr_expect_eq(r.status, 1);
	run_free(&r);
	kid_finish(&a);
	memd_stop_clean(&H, SIGTERM);
}

Test(memctl, status_pools_and_watch_report_the_daemon, .fini = harness_fini)
{
	harness_cache_off(); /* exact block counts: no cached blocks */
	struct kid a;
	struct run r;
	json_t *doc, *pools, *p;
	size_t i;

	memd_start(&H, CONFIG_SMALL_POOL);
	kid_start(&a, HOLD_PRIVATE, 0);
	doc = memctl_json("status", NULL);
	cr_expect_eq(json_integer_value(json_object_get(doc, "pid")), H.pid);
	cr_expect_eq(json_integer_value(json_object_get(doc, "clients")), 1);
	cr_expect_eq(json_integer_value(json_object_get(doc, "blocks")), 4);
	cr_expect_str_eq(json_string_value(json_object_get(doc, "socket")), H.sock);
	cr_expect_gt(json_integer_value(json_object_get(doc, "in_use")), 0);
	json_decref(doc);

	doc = memctl_json("pools", NULL);
	pools = json_object_get(doc, "pools");
	cr_expect_eq(json_array_size(pools), 2);
	json_array_foreach(pools, i, p)
	{
		cr_expect(json_is_array(json_object_get(p, "classes")));
		cr_expect(json_is_string(json_object_get(p, "access")));
		cr_expect_geq(json_integer_value(json_object_get(p, "reserved")),
		              json_integer_value(json_object_get(p, "in_use")));
	}
	json_decref(doc);

	r = memctl("pool", SMALL_POOL);
	cr_expect_eq(r.status, 0);
	cr_expect(strstr(r.out, "size classes") != NULL, "%s", r.out);
	run_free(&r);
	r = memctl("watch", "--count", "2", "--interval", "0.05");
	cr_expect_eq(r.status, 0, "watch: exit %d (%s)", r.status, r.err);
	cr_expect(strstr(r.out, "----") != NULL && strstr(strstr(r.out, "----") + 4, "----"),
	          "two frames:\n%s", r.out);
	run_free(&r);
	kid_finish(&a);
	memd_stop_clean(&H, SIGTERM);
}

/* ---- the stats protocol itself (raw frames) ----------------------------- */

static uint8_t raw_body[MEMD_FRAME_MAX];

/* Send a stats request on fd and read its reply; returns the status. */
static int32_t raw_stats(int fd, uint16_t op, struct memd_stats_req r, size_t *len)
{
	static uint32_t id = 100;
	struct memd_hdr h;
	int rc;

	cr_assert_eq(raw_send_frame(fd, op, ++id, &r, sizeof(r)), 0);
	rc = raw_recv_frame(fd, &h, raw_body, sizeof(raw_body), len, 5000);
	cr_assert_eq(rc, RAW_FRAME, "no reply to op %u: %d", op, rc);
	cr_assert_eq(h.op, op | MEMD_OP_REPLY);
	cr_assert_eq(h.id, id);
	return h.status;
}

Test(memctl, stats_pages_resume_at_the_cursor_and_bad_requests_keep_the_connection,
     .fini = harness_fini)
{
	struct memd_stats_req r = {0};
	struct memd_stats_page page;
	struct memd_stats_block first, rec;
	struct memd_hdr h;
	struct kid m;
	size_t len;
	int fd;

	memd_start(&H, NULL);
	kid_start(&m, HOLD_MANY, 0);
	fd = raw_connect(H.sock);
	cr_assert_geq(fd, 0);
	cr_assert_eq(raw_hello(fd, MEMD_PROTO_VERSION, &h, NULL), RAW_FRAME);

	cr_assert_eq(raw_stats(fd, MEMD_OP_STATS_BLOCKS, r, &len), 0);
	memcpy(&page, raw_body, sizeof(page));
	cr_assert_eq(len, sizeof(page) + (size_t)page.count * page.rec_size);
	cr_assert_lt(page.count, MANY, "one frame cannot hold %d blocks", MANY);
	cr_assert_neq(page.next, 0, "a full page names the next cursor");
	memcpy(&first, raw_body + sizeof(page), sizeof(first));

	r.cursor = page.next;
	cr_assert_eq(raw_stats(fd, MEMD_OP_STATS_BLOCKS, r, &len), 0);
	memcpy(&page, raw_body + 0, sizeof(page));
	cr_assert_gt(page.count, 0);
	memcpy(&rec, raw_body + sizeof(page), sizeof(rec));
	cr_expect_eq(rec.ref, r.cursor, "the next page starts at the cursor");
	cr_expect_gt(rec.ref, first.ref);

	r = (struct memd_stats_req){.flags = 1};
	cr_expect_eq(raw_stats(fd, MEMD_OP_STATS_STATUS, r, &len), -EINVAL);
	r = (struct memd_stats_req){0};
	cr_expect_eq(raw_stats(fd, MEMD_OP_STATS_MAP, r, &len), -EINVAL, "MAP needs a pool");
	r.pool_id = 999;
	cr_expect_eq(raw_stats(fd, MEMD_OP_STATS_MAP, r, &len), -ENOENT);
	r = (struct memd_stats_req){0};
	cr_expect_eq(raw_stats(fd, MEMD_OP_STATS_STATUS, r, &len), 0, "still served");
	close(fd);
	kid_finish(&m);
	memd_stop_clean(&H, SIGTERM);
}

Test(memctl, trim_returns_freed_pages_and_status_and_map_show_it, .fini = harness_fini)
{
	json_t *doc, *pool;
	struct kid a;
	struct run r;
	size_t i;

	memd_start(&H, CONFIG_SMALL_POOL);
	r = memctl("map", "default");
	cr_expect(!bar_has(r.out, '_'), "a fresh segment is reserved, not punched:\n%s", r.out);
	run_free(&r);
	kid_start(&a, HOLD_PRIVATE, 0);
	kid_finish(&a); /* its blocks are freed: free pages, still resident */
	r = memctl("trim");
	cr_expect_eq(r.status, 0, "trim: exit %d (%s)", r.status, r.err);
	cr_expect(strstr(r.out, "trimmed ") != NULL, "%s", r.out);
	run_free(&r);
	doc = memctl_json("pools", NULL);
	json_array_foreach(json_object_get(doc, "pools"), i, pool)
	{
		cr_expect_eq(json_integer_value(json_object_get(pool, "punched")) +
		                     json_integer_value(json_object_get(pool, "resident")),
		             json_integer_value(json_object_get(pool, "reserved")),
		             "punched + resident = reserved");
		cr_expect_gt(json_integer_value(json_object_get(pool, "punched")), 0,
		             "pool %s: nothing punched after trim",
		             json_string_value(json_object_get(pool, "name")));
	}
	json_decref(doc);
	doc = memctl_json("status", NULL);
	cr_expect_lt(json_integer_value(json_object_get(doc, "resident")),
	             json_integer_value(json_object_get(doc, "reserved")));
	json_decref(doc);
	r = memctl("map", "default");
	cr_expect(bar_has(r.out, '_'), "punched pages show as '_':\n%s", r.out);
	run_free(&r);
	memd_stop_clean(&H, SIGTERM);
}

Test(memctl, a_uid_the_socket_mode_shuts_out_exits_77, .fini = harness_fini)
{
	struct run r;

	memd_start(&H, NULL); /* socket_mode 0660: root's user and group only */
	open_dir_to_nobody();
	r = memctl_as(NOBODY, H.sock, "status", (const char *)NULL);
	cr_expect_eq(r.status, 77, "status as uid %d: exit %d (%s)", NOBODY, r.status, r.err);
	run_free(&r);
	memd_stop_clean(&H, SIGTERM);
}
