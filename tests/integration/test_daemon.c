/*
 * test_daemon.c - memd as a program: configuration errors, the socket path
 * and the shm names it shares with other daemons.
 *
 * A daemon that refuses to start must say why (config errors name the
 * file, the line and the key), exit non-zero, and leave nothing behind.
 * More important, it must not damage what is already there: a second memd
 * pointed at a live daemon's socket, or at its shm prefix, has to fail
 * without unlinking the first one's socket or segments (server.c removes
 * only a socket nobody answers on, and never a file that is not a socket;
 * shm segments are created O_EXCL).  The first daemon keeps serving
 * throughout, which every test checks with a client.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "memclient.h"

#define REFUSE_MS 5000 /* a daemon that must refuse to start exits within this */

/* Assert the running test daemon still serves a client. */
static void first_daemon_serves(const char *when)
{
	memc_client *c = NULL;
	memc_ref ref = 0;
	int rc = memc_connect(H.sock, &c);

	cr_assert_eq(rc, 0, "%s: connect to the first daemon: %d (%s)", when, rc,
	             memc_strerror(rc));
	rc = memc_alloc(c, NULL, 100000, 0, &ref);
	cr_assert_eq(rc, 0, "%s: alloc from the first daemon: %d (%s)", when, rc,
	             memc_strerror(rc));
	pattern_fill(memc_ptr(c, ref), 100000, 4);
	cr_assert_eq(pattern_check(memc_ptr(c, ref), 100000, 4), -1);
	cr_assert_eq(memc_free(c, ref), 0);
	memc_close(c);
}

/* Write text to a file in the test's temp dir; path goes to buf. */
static void write_file(const char *name, const char *text, char *buf, size_t len)
{
	FILE *f;

	harness_path(&H, name, buf, len);
	f = fopen(buf, "w");
	cr_assert_not_null(f, "create %s: %s", buf, strerror(errno));
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

/* Print a log file to stderr (for failure context). */
static void show_log(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		fprintf(stderr, "  | %s", line);
	fclose(f);
}

Test(daemon, bad_config_is_refused_naming_file_line_and_key, .fini = harness_fini)
{
	static const struct {
		const char *ini;  /* config text */
		const char *line; /* ":N" the error must name */
		const char *key;  /* the key (or pool) it must name */
	} cases[] = {
	        {"[memd]\nlog_level = info\nbogus_key = 1\n", ":3", "bogus_key"},
	        {"[pool p]\nsegment_size = 64K\nmax_size = 12Q\n", ":3", "max_size"},
	        {"[pool twice]\nmax_size = 1M\n\n[pool twice]\nmax_size = 2M\n", ":4", "twice"},
	        {"[memd]\nsocket_mode = 0999\n", ":2", "socket_mode"},
	        {"[memd]\nlog_level = info\nscheduling = fast\n", ":3", "scheduling"},
	        {"[memd]\nscheduling =\n", ":2", "scheduling"},
	};

	memd_start(&H, NULL); /* only for the temp dir, and as a bystander */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char conf[PATH_MAX], sock[PATH_MAX], log[PATH_MAX], name[32], prefix[80], want[64],
		        why[64];
		const char *args[] = {"--config", conf, "--socket", sock, NULL};
		int st;

		snprintf(name, sizeof(name), "bad%zu.conf", i);
		write_file(name, cases[i].ini, conf, sizeof(conf));
		snprintf(name, sizeof(name), "bad%zu.sock", i);
		harness_path(&H, name, sock, sizeof(sock));
		snprintf(name, sizeof(name), "bad%zu.log", i);
		harness_path(&H, name, log, sizeof(log));
		snprintf(prefix, sizeof(prefix), "%sbad%zu", H.prefix, i);
		st = memd_run_expect_exit(args, prefix, log, REFUSE_MS);
		if (st < 1 || st > 255)
			show_log(log);
		cr_assert(st >= 1 && st <= 255, "config %zu (%s): memd %s, want a non-zero exit", i,
		          cases[i].key, child_status_str(st, why, sizeof(why)));
		snprintf(want, sizeof(want), "bad%zu.conf%s", i, cases[i].line);
		if (!file_contains(log, want) || !file_contains(log, cases[i].key))
			show_log(log);
		cr_assert(file_contains(log, want), "config %zu: the error does not name \"%s\"", i,
		          want);
		cr_assert(file_contains(log, cases[i].key),
		          "config %zu: the error does not name %s", i, cases[i].key);
		cr_assert_neq(access(sock, F_OK), 0, "refused daemon left its socket %s", sock);
		cr_assert_eq(shm_count(prefix, NULL), 0, "refused daemon left segments");
	}
	first_daemon_serves("after refused configs");
	memd_stop_clean(&H, SIGTERM);
}

Test(daemon, second_daemon_on_a_live_socket_fails_and_leaves_it_alone, .fini = harness_fini)
{
	char log[PATH_MAX], prefix[80], why[64];
	const char *args[] = {"--socket", H.sock, NULL};
	int st;

	memd_start(&H, NULL);
	args[1] = H.sock;
	harness_path(&H, "second.log", log, sizeof(log));
	snprintf(prefix, sizeof(prefix), "%ssecond", H.prefix);
	st = memd_run_expect_exit(args, prefix, log, REFUSE_MS);
	if (st < 1 || st > 255)
		show_log(log);
	cr_assert(st >= 1 && st <= 255, "second memd on a live socket: %s, want a non-zero exit",
	          child_status_str(st, why, sizeof(why)));
	cr_assert_eq(access(H.sock, F_OK), 0, "the second memd removed the first one's socket");
	cr_assert_eq(shm_count(prefix, NULL), 0, "the second memd left segments");
	first_daemon_serves("after a second daemon tried its socket");
	memd_stop_clean(&H, SIGTERM);
}

Test(daemon, second_daemon_with_the_same_shm_prefix_fails_and_leaves_it_alone, .fini = harness_fini)
{
	char sock[PATH_MAX], log[PATH_MAX], why[64];
	const char *args[] = {"--socket", sock, NULL};
	memc_client *c = NULL;
	memc_ref ref = 0;
	int st, before;

	memd_start(&H, NULL);
	cr_assert_eq(memc_connect(H.sock, &c), 0);
	cr_assert_eq(memc_alloc(c, NULL, 5000, 0, &ref), 0);
	pattern_fill(memc_ptr(c, ref), 5000, 8);
	before = shm_count(H.prefix, NULL);
	cr_assert_geq(before, 1);
	harness_path(&H, "twin.sock", sock, sizeof(sock));
	harness_path(&H, "twin.log", log, sizeof(log));
	st = memd_run_expect_exit(args, H.prefix, log, REFUSE_MS);
	if (st < 1 || st > 255)
		show_log(log);
	cr_assert(st >= 1 && st <= 255,
	          "second memd with a taken shm prefix: %s, want a non-zero exit (segments are "
	          "O_EXCL)",
	          child_status_str(st, why, sizeof(why)));
	cr_assert_eq(shm_count(H.prefix, NULL), before,
	             "the second memd removed the first one's segments (%d left of %d)",
	             shm_count(H.prefix, NULL), before);
	cr_assert_neq(access(sock, F_OK), 0, "the refused memd left its socket");
	cr_assert_eq(pattern_check(memc_ptr(c, ref), 5000, 8), -1);
	cr_assert_eq(memc_free(c, ref), 0);
	memc_close(c);
	first_daemon_serves("after a second daemon tried its prefix");
	memd_stop_clean(&H, SIGTERM);
}

/* What the stale-socket probe needs. */
struct probe_arg {
	const char *sock; /* where the new daemon should answer */
};

/* Child: within 4 s, connect through libmemclient and allocate.  0 on
 * success, 1 if the daemon never answered, 2 if it answered wrongly. */
static int probe_child(void *argp)
{
	struct probe_arg *a = argp;
	int64_t deadline = now_ms() + 4000;

	while (now_ms() < deadline) {
		memc_client *c = NULL;
		memc_ref ref = 0;
		int rc;

		if (memc_connect(a->sock, &c) != 0) {
			sleep_ms(10);
			continue;
		}
		rc = memc_alloc(c, NULL, 64, 0, &ref);
		memc_close(c);
		return rc == 0 ? 0 : 2;
	}
	return 1;
}

Test(daemon, stale_socket_file_is_replaced, .fini = harness_fini)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char sock[PATH_MAX], log[PATH_MAX], prefix[80], why[64];
	const char *args[] = {"--socket", sock, NULL};
	struct probe_arg pa = {.sock = sock};
	int fd, st;
	pid_t probe;

	memd_start(&H, NULL);
	harness_path(&H, "stale.sock", sock, sizeof(sock));
	harness_path(&H, "stale.log", log, sizeof(log));
	snprintf(prefix, sizeof(prefix), "%sstale", H.prefix);
	/* A socket file nobody listens on: what a crashed daemon leaves. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);

	probe = child_fork(probe_child, &pa);
	st = memd_run_expect_exit(args, prefix, log, 2000);
	if (st != -1)
		show_log(log);
	cr_assert_eq(st, -1, "memd over a stale socket file: %s, want it to keep running",
	             child_status_str(st, why, sizeof(why)));
	st = child_wait(probe, 5000);
	cr_assert_eq(st, 0, "a client could not use the daemon that replaced a stale socket: %s",
	             child_status_str(st, why, sizeof(why)));
	cr_assert_neq(access(sock, F_OK), 0, "socket left after SIGTERM");
	cr_assert_eq(shm_count(prefix, NULL), 0, "segments left after SIGTERM");
	memd_stop_clean(&H, SIGTERM);
}

Test(daemon, a_file_that_is_not_a_socket_is_never_removed, .fini = harness_fini)
{
	char path[PATH_MAX], log[PATH_MAX], prefix[80], why[64];
	const char *args[] = {"--socket", path, NULL};
	int st;

	memd_start(&H, NULL);
	write_file("precious.txt", "do not delete\n", path, sizeof(path));
	harness_path(&H, "precious.log", log, sizeof(log));
	snprintf(prefix, sizeof(prefix), "%sprecious", H.prefix);
	st = memd_run_expect_exit(args, prefix, log, REFUSE_MS);
	if (st < 1 || st > 255)
		show_log(log);
	cr_assert(st >= 1 && st <= 255, "memd on a regular file: %s, want a non-zero exit",
	          child_status_str(st, why, sizeof(why)));
	cr_assert(file_contains(path, "do not delete"), "memd removed or changed %s", path);
	cr_assert_eq(shm_count(prefix, NULL), 0);
	memd_stop_clean(&H, SIGTERM);
}

Test(daemon, socket_gets_the_configured_mode, .fini = harness_fini)
{
	struct stat st;

	memd_start(&H, NULL);
	cr_assert_eq(stat(H.sock, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0660, "default socket mode %o, want 0660",
	             st.st_mode & 07777);
	memd_stop_clean(&H, SIGTERM);

	memd_start(&H, "[memd]\nsocket_mode = 0600\n");
	cr_assert_eq(stat(H.sock, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600, "socket_mode = 0600 gave %o", st.st_mode & 07777);
	first_daemon_serves("with socket_mode 0600");
	memd_stop_clean(&H, SIGTERM);
}

Test(daemon, help_and_version_exit_zero_and_create_nothing, .fini = harness_fini)
{
	static const char *const flags[] = {"--help", "--version"};

	memd_start(&H, NULL);
	for (size_t i = 0; i < 2; i++) {
		char sock[PATH_MAX], log[PATH_MAX], prefix[80], why[64];
		const char *args[] = {flags[i], "--socket", sock, NULL};
		struct stat sb;
		int st;

		harness_path(&H, "unused.sock", sock, sizeof(sock));
		harness_path(&H, "flags.log", log, sizeof(log));
		snprintf(prefix, sizeof(prefix), "%sflags", H.prefix);
		st = memd_run_expect_exit(args, prefix, log, REFUSE_MS);
		cr_assert_eq(st, 0, "memd %s: %s", flags[i],
		             child_status_str(st, why, sizeof(why)));
		cr_assert(stat(log, &sb) == 0 && sb.st_size > 0, "memd %s printed nothing",
		          flags[i]);
		cr_assert_neq(access(sock, F_OK), 0, "memd %s created its socket", flags[i]);
		cr_assert_eq(shm_count(prefix, NULL), 0, "memd %s created segments", flags[i]);
	}
	memd_stop_clean(&H, SIGTERM);
}
