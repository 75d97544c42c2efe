/*
 * test_config.c - the option table: file, environment and CLI layers.
 *
 * Each test writes its INI text to <tmpdir>/memd.conf (so messages read
 * "…/memd.conf:LINE: …") and loads it.  Criterion runs every test in its
 * own process, so setenv() in one test cannot leak into another.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A temporary directory holding memd.conf. */
struct tmpconf {
	char dir[64];        /* mkdtemp result */
	char path[PATH_MAX]; /* dir + "/memd.conf" */
};

static void tmpconf_write(struct tmpconf *t, const char *text)
{
	FILE *f;

	snprintf(t->dir, sizeof(t->dir), "/tmp/memd-conf-XXXXXX");
	cr_assert_not_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/memd.conf", t->dir);
	f = fopen(t->path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static void tmpconf_remove(struct tmpconf *t)
{
	unlink(t->path);
	rmdir(t->dir);
}

/* Load text as a file; returns config_load_file's result. */
static int load_text(const char *text, struct memd_config *cfg, char *err, size_t errlen)
{
	struct tmpconf t;
	int rc;

	tmpconf_write(&t, text);
	rc = config_load_file(cfg, t.path, err, errlen);
	tmpconf_remove(&t);
	return rc;
}

/* Expect text to fail with -EINVAL and a message containing want. */
static void expect_error(const char *text, const char *want)
{
	struct memd_config cfg;
	char err[512] = "";
	int rc = load_text(text, &cfg, err, sizeof(err));

	cr_assert_eq(rc, -EINVAL, "rc %d for:\n%s", rc, text);
	cr_assert_not_null(strstr(err, want), "error '%s' lacks '%s'", err, want);
	cr_assert_null(cfg.pools);
	cr_assert_null(cfg.socket_path);
}

Test(config, defaults_without_file_serve_one_default_pool)
{
	struct memd_config cfg;
	char err[256];

	cr_assert_eq(config_load_file(&cfg, NULL, err, sizeof(err)), 0);
	cr_assert_str_eq(cfg.socket_path, "/run/memd/memd.sock");
	cr_assert_eq(cfg.socket_mode, 0660);
	cr_assert_str_eq(cfg.shm_prefix, "memd");
	cr_assert_eq(cfg.log_level, MEMD_LOG_INFO);
	cr_assert_eq(cfg.pool_count, 1);
	cr_assert_str_eq(cfg.pools[0].name, "default");
	cr_assert_eq(cfg.pools[0].segment_size, 4u << 20);
	cr_assert_eq(cfg.pools[0].max_size, 1u << 30);
	cr_assert_eq(cfg.pools[0].trim_threshold, 256u << 10);
	cr_assert_not(cfg.pools[0].read.set);
	cr_assert_not(cfg.pools[0].write.set);
	cr_assert_eq(cfg.pools[0].client_quota, 0);
	cr_assert_eq(cfg.pools[0].uid_quota, 0);
	cr_assert_eq(cfg.max_clients, 1024);
	cr_assert_eq(cfg.max_names, 4096);
	cr_assert_not(cfg.admin.set);
	cr_assert_eq(cfg.scheduling, MEMD_SCHED_BATCH);
	cr_assert_eq(cfg.busy_poll_us, 50);
	cr_assert_null(cfg.config_path);
	config_free(&cfg);
	config_free(&cfg); /* idempotent */
}

Test(config, every_key_accepts_a_valid_value)
{
	struct memd_config cfg;
	char err[256] = "";
	const char *text = "; comment\n"
	                   "[memd]\n"
	                   "socket = /tmp/x.sock\n"
	                   "socket_mode = 0600\n"
	                   "shm_prefix = my.memd_1-a\n"
	                   "log_level = DEBUG\n"
	                   "max_clients = 7\n"
	                   "max_names = 0\n"
	                   "admin = uid:5, group:root\n"
	                   "scheduling = Normal\n"
	                   "busy_poll_us = 10000\n"
	                   "\n"
	                   "[pool video]\n"
	                   "max_size = 2G\n"
	                   "segment_size = 8m\n"
	                   "trim_threshold = 1MiB\n"
	                   "read = gid:100 *\n"
	                   "write = user:root,uid:1000  group:root\n"
	                   "client_quota = 64K\n"
	                   "uid_quota = 1M\n"
	                   "[pool audio]\n"
	                   "max_size = 65536\n";

	cr_assert_eq(load_text(text, &cfg, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(cfg.socket_path, "/tmp/x.sock");
	cr_assert_eq(cfg.socket_mode, 0600);
	cr_assert_str_eq(cfg.shm_prefix, "my.memd_1-a");
	cr_assert_eq(cfg.log_level, MEMD_LOG_DEBUG);
	cr_assert_eq(cfg.pool_count, 2);
	cr_assert_str_eq(cfg.pools[0].name, "video");
	cr_assert_eq(cfg.pools[0].max_size, 2ull << 30);
	cr_assert_eq(cfg.pools[0].segment_size, 8u << 20);
	cr_assert_eq(cfg.pools[0].trim_threshold, 1u << 20);
	cr_assert_eq(cfg.max_clients, 7);
	cr_assert_eq(cfg.max_names, 0);
	cr_assert_eq(cfg.scheduling, MEMD_SCHED_NORMAL);
	cr_assert_eq(cfg.busy_poll_us, 10000);
	cr_assert(cfg.admin.set);
	cr_assert_eq(cfg.admin.count, 2);
	cr_assert_eq(cfg.admin.e[0].kind, ACCESS_UID);
	cr_assert_eq(cfg.admin.e[0].id, 5);
	cr_assert_eq(cfg.admin.e[1].kind, ACCESS_GID);
	cr_assert_eq(cfg.admin.e[1].id, 0);
	cr_assert_eq(cfg.pools[0].read.count, 2);
	cr_assert_eq(cfg.pools[0].read.e[0].kind, ACCESS_GID);
	cr_assert_eq(cfg.pools[0].read.e[0].id, 100);
	cr_assert_eq(cfg.pools[0].read.e[1].kind, ACCESS_ANY);
	cr_assert_eq(cfg.pools[0].write.count, 3);
	cr_assert_eq(cfg.pools[0].write.e[0].kind, ACCESS_UID);
	cr_assert_eq(cfg.pools[0].write.e[0].id, 0);
	cr_assert_eq(cfg.pools[0].write.e[1].id, 1000);
	cr_assert_eq(cfg.pools[0].write.e[2].kind, ACCESS_GID);
	cr_assert_eq(cfg.pools[0].client_quota, 64u << 10);
	cr_assert_eq(cfg.pools[0].uid_quota, 1u << 20);
	cr_assert_eq(cfg.pools[0].line, 13);
	cr_assert_str_eq(cfg.pools[1].name, "audio");
	/* segment_size not given: the default, clipped to max_size. */
	cr_assert_eq(cfg.pools[1].max_size, 65536);
	cr_assert_eq(cfg.pools[1].segment_size, 65536);
	cr_assert_not_null(config_pool_find(&cfg, "audio"));
	cr_assert_null(config_pool_find(&cfg, "default"));
	cr_assert_not_null(cfg.config_path);
	config_free(&cfg);
}

Test(config, empty_pool_section_makes_a_pool_with_defaults)
{
	struct memd_config cfg;
	char err[256] = "";

	cr_assert_eq(load_text("[pool lonely]\n", &cfg, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cfg.pool_count, 1);
	cr_assert_str_eq(cfg.pools[0].name, "lonely");
	cr_assert_eq(cfg.pools[0].segment_size, CONFIG_DEFAULT_SEGMENT_SIZE);
	config_free(&cfg);
}

Test(config, memd_section_only_still_serves_default_pool)
{
	struct memd_config cfg;
	char err[256] = "";

	cr_assert_eq(load_text("[memd]\nlog_level = warn\n", &cfg, err, sizeof(err)), 0);
	cr_assert_eq(cfg.pool_count, 1);
	cr_assert_str_eq(cfg.pools[0].name, "default");
	cr_assert_eq(cfg.log_level, MEMD_LOG_WARN);
	config_free(&cfg);
}

Test(config, sizes_are_rounded_up_to_pages)
{
	struct memd_config cfg;
	char err[256] = "";

	cr_assert_eq(load_text("[pool p]\nmax_size = 100000\nsegment_size = 5000\n"
	                       "trim_threshold = 1\n",
	                       &cfg, err, sizeof(err)),
	             0, "%s", err);
	cr_assert_eq(cfg.pools[0].max_size, 102400);
	cr_assert_eq(cfg.pools[0].segment_size, 8192);
	cr_assert_eq(cfg.pools[0].trim_threshold, 4096);
	config_free(&cfg);
}

Test(config, large_segment_size_without_max_raises_max)
{
	struct memd_config cfg;
	char err[256] = "";

	cr_assert_eq(load_text("[pool p]\nsegment_size = 2G\n", &cfg, err, sizeof(err)), 0);
	cr_assert_eq(cfg.pools[0].max_size, 2ull << 30);
	config_free(&cfg);
}

Test(config, parse_size_accepts_suffixes)
{
	static const struct {
		const char *s;
		uint64_t v;
	} ok[] = {
	        {"1", 1},
	        {"4096", 4096},
	        {"4k", 4096},
	        {"4K", 4096},
	        {"4KB", 4096},
	        {"4kib", 4096},
	        {"3M", 3u << 20},
	        {"3MiB", 3u << 20},
	        {"2g", 2ull << 30},
	        {" 8 M ", 8u << 20},
	        {"10b", 10},
	        {"18446744073709551615", UINT64_MAX},
	        {"17179869183G", 17179869183ull << 30},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t v = 0;
		cr_assert_eq(config_parse_size(ok[i].s, &v), 0, "'%s'", ok[i].s);
		cr_assert_eq(v, ok[i].v, "'%s' gave %llu", ok[i].s, (unsigned long long)v);
	}
}

Test(config, parse_size_rejects_garbage_zero_sign_and_overflow)
{
	static const char *const bad[] = {"",     "abc",  "-1", "+1",    "0",   "0K", "4X",  "4MM",
	                                  "1.5M", "0x10", "M",  "4 M B", "4Mi", "4T", "1e6", NULL};
	uint64_t v = 42;

	for (size_t i = 0; bad[i] != NULL; i++)
		cr_assert_eq(config_parse_size(bad[i], &v), -EINVAL, "'%s' accepted", bad[i]);
	cr_assert_eq(config_parse_size(NULL, &v), -EINVAL);
	cr_assert_eq(config_parse_size("18446744073709551616", &v), -ERANGE);
	cr_assert_eq(config_parse_size("17179869184G", &v), -ERANGE);
	cr_assert_eq(config_parse_size("99999999999999999999999", &v), -ERANGE);
	cr_assert_eq(v, 42);
}

Test(config, bad_size_names_file_line_section_and_key)
{
	expect_error("[memd]\nlog_level = info\n\n[pool a]\n\n\n[pool video]\nsegment_size = abc\n",
	             "memd.conf:8: [pool video] segment_size: invalid size 'abc'");
}

Test(config, every_bad_value_is_refused)
{
	expect_error("[memd]\nsocket =\n", "memd.conf:2: [memd] socket: invalid socket path");
	expect_error("[memd]\nsocket = /tmp/"
	             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	             "[memd] socket: invalid socket path");
	expect_error("[memd]\nsocket_mode = 0999\n", ":2: [memd] socket_mode: invalid mode '0999'");
	expect_error("[memd]\nsocket_mode = 1777\n", "socket_mode: invalid mode");
	expect_error("[memd]\nsocket_mode = rw\n", "socket_mode: invalid mode");
	expect_error("[memd]\nshm_prefix = a/b\n", "[memd] shm_prefix: invalid prefix 'a/b'");
	expect_error("[memd]\nshm_prefix = "
	             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	             "shm_prefix: invalid prefix");
	expect_error("[memd]\nshm_prefix = a b\n", "shm_prefix: invalid prefix");
	expect_error("[memd]\nlog_level = loud\n", "[memd] log_level: invalid log level 'loud'");
	expect_error("[pool p]\nmax_size = -1\n", "[pool p] max_size: invalid size '-1'");
	expect_error("[pool p]\nmax_size = 0\n", "[pool p] max_size: invalid size '0'");
	expect_error("[pool p]\nmax_size = 99999999999999999999\n",
	             "[pool p] max_size: size '99999999999999999999' is too large");
	expect_error("[pool p]\nsegment_size = 4Q\n", "[pool p] segment_size: invalid size");
	expect_error("[pool p]\nsegment_size = 2048G\n", "[pool p] segment_size: larger than");
	expect_error("[pool p]\ntrim_threshold = 0\n", "[pool p] trim_threshold: invalid size");
	expect_error("[pool p]\nmode = 0660\n", "[pool p] mode: unknown key");
	expect_error("[pool p]\nowner = root\n", "[pool p] owner: unknown key");
	expect_error("[pool p]\nread = user:no_such_user_memd\n",
	             "[pool p] read: unknown user 'no_such_user_memd'");
	expect_error("[pool p]\nwrite = group:no_such_group_memd\n",
	             "[pool p] write: unknown group 'no_such_group_memd'");
	expect_error("[pool p]\nread = uid:-3\n", "[pool p] read: bad entry 'uid:-3'");
	expect_error("[pool p]\nread = uid:\n", "[pool p] read: bad entry 'uid:'");
	expect_error("[pool p]\nread = alice\n", "[pool p] read: bad entry 'alice'");
	expect_error("[pool p]\nwrite = pid:3\n", "[pool p] write: bad entry 'pid:3'");
	expect_error(
	        "[pool p]\nwrite = * * * * * * * * * * * * * * * * * * * * * * * * * * * * * * * * "
	        "*\n",
	        "[pool p] write: more than 32 entries");
	expect_error("[pool p]\nclient_quota = 0\n", "[pool p] client_quota: invalid size");
	expect_error("[pool p]\nuid_quota = lots\n", "[pool p] uid_quota: invalid size");
	expect_error("[memd]\nmax_clients = -1\n", "[memd] max_clients: invalid count");
	expect_error("[memd]\nmax_names = 4294967296\n", "[memd] max_names: invalid count");
	expect_error("[memd]\nadmin = wheel\n", "[memd] admin: bad entry 'wheel'");
	expect_error("[memd]\nlog_level = info\nscheduling = fast\n",
	             "memd.conf:3: [memd] scheduling: invalid scheduling 'fast' (batch, normal)");
	expect_error("[memd]\nscheduling =\n",
	             "memd.conf:2: [memd] scheduling: invalid scheduling ''");
	expect_error("[pool p]\nscheduling = batch\n", "[pool p] scheduling: unknown key");
	expect_error("[memd]\nbusy_poll_us = 10001\n",
	             "memd.conf:2: [memd] busy_poll_us: invalid microseconds '10001' (0..10000)");
	expect_error("[memd]\nbusy_poll_us = -1\n", "[memd] busy_poll_us: invalid microseconds");
	expect_error("[memd]\nbusy_poll_us = 50us\n", "[memd] busy_poll_us: invalid microseconds");
	expect_error("[memd]\nbusy_poll_us =\n", "[memd] busy_poll_us: invalid microseconds ''");
	expect_error("[memd]\nbusy_poll_us = 99999999999\n",
	             "[memd] busy_poll_us: invalid microseconds");
	expect_error("[pool p]\nbusy_poll_us = 0\n", "[pool p] busy_poll_us: unknown key");
}

Test(config, max_size_below_segment_size_is_refused)
{
	expect_error("[pool p]\nsegment_size = 8M\nmax_size = 4M\n",
	             "memd.conf:3: [pool p] max_size: 4194304 bytes is less than segment_size");
}

Test(config, duplicate_pool_is_refused)
{
	expect_error("[pool a]\nmax_size = 1G\n[pool b]\n[pool a]\n",
	             "memd.conf:4: [pool a]: duplicate pool 'a' (first defined on line 1)");
}

Test(config, duplicate_key_is_refused)
{
	expect_error("[pool a]\nmax_size = 1G\nmax_size = 2G\n",
	             "memd.conf:3: [pool a] max_size: duplicate key (first set on line 2)");
}

Test(config, unknown_key_is_refused)
{
	expect_error("[memd]\nsocket = /tmp/s\nsokcet = /tmp/t\n",
	             "memd.conf:3: [memd] sokcet: unknown key");
	/* A pool key in [memd] and a [memd] key in a pool are unknown there. */
	expect_error("[memd]\nmax_size = 1G\n", "[memd] max_size: unknown key");
	expect_error("[pool a]\nsocket = /x\n", "[pool a] socket: unknown key");
}

Test(config, unknown_section_is_refused)
{
	expect_error("[memd]\n[pools x]\nmax_size = 1G\n",
	             "memd.conf:2: [pools x]: unknown section");
	expect_error("[global]\n", "memd.conf:1: [global]: unknown section");
}

Test(config, bad_pool_names_are_refused)
{
	expect_error("[pool]\n", "unknown section");
	expect_error("[pool a/b]\n", "memd.conf:1: [pool a/b]: invalid pool name 'a/b'");
	expect_error("[pool a b]\n", "invalid pool name 'a b'");
	expect_error("[pool "
	             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n",
	             "invalid pool name");
}

Test(config, pool_name_charset_and_length)
{
	char name[80];

	memset(name, 'a', 63);
	name[63] = '\0';
	cr_assert(config_pool_name_valid(name));
	name[63] = 'a';
	name[64] = '\0';
	cr_assert_not(config_pool_name_valid(name));
	cr_assert(config_pool_name_valid("A.z_0-9"));
	cr_assert_not(config_pool_name_valid(""));
	cr_assert_not(config_pool_name_valid("a/b"));
	cr_assert_not(config_pool_name_valid("é"));
	cr_assert_not(config_pool_name_valid(NULL));
}

Test(config, key_outside_a_section_is_refused)
{
	expect_error("socket = /tmp/s\n", "memd.conf:1: socket: key outside a section");
}

Test(config, syntax_error_names_the_line)
{
	expect_error("[memd]\nlog_level = info\nthis is not ini\n", "memd.conf:3: syntax error");
}

Test(config, missing_file_is_enoent)
{
	struct memd_config cfg;
	char err[256] = "";

	cr_assert_eq(config_load_file(&cfg, "/nonexistent/memd.conf", err, sizeof(err)), -ENOENT);
	cr_assert_not_null(strstr(err, "/nonexistent/memd.conf: cannot open"), "%s", err);
}

/* Run config_load with a NULL-terminated argument list. */
static int load_argv(struct memd_config *cfg, char *err, size_t errlen, const char *const *args)
{
	char *argv[16];
	int argc = 0;

	argv[argc++] = "memd";
	for (; *args != NULL; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	return config_load(cfg, argc, argv, err, errlen);
}

Test(config, precedence_is_cli_then_env_then_file)
{
	struct memd_config cfg;
	struct tmpconf t;
	char err[256] = "";

	tmpconf_write(&t, "[memd]\nsocket = /tmp/file.sock\nlog_level = warn\n"
	                  "shm_prefix = fromfile\n");
	unsetenv("MEMD_SOCKET");
	unsetenv("MEMD_LOG_LEVEL");
	unsetenv("MEMD_SHM_PREFIX");
	unsetenv("MEMD_CONFIG");

	/* File only. */
	cr_assert_eq(load_argv(&cfg, err, sizeof(err), (const char *[]){"--config", t.path, NULL}),
	             0, "%s", err);
	cr_assert_str_eq(cfg.socket_path, "/tmp/file.sock");
	cr_assert_eq(cfg.log_level, MEMD_LOG_WARN);
	cr_assert_str_eq(cfg.shm_prefix, "fromfile");
	config_free(&cfg);

	/* Environment beats the file. */
	setenv("MEMD_SOCKET", "/tmp/env.sock", 1);
	setenv("MEMD_LOG_LEVEL", "error", 1);
	setenv("MEMD_SHM_PREFIX", "fromenv", 1);
	cr_assert_eq(load_argv(&cfg, err, sizeof(err), (const char *[]){"--config", t.path, NULL}),
	             0, "%s", err);
	cr_assert_str_eq(cfg.socket_path, "/tmp/env.sock");
	cr_assert_eq(cfg.log_level, MEMD_LOG_ERROR);
	cr_assert_str_eq(cfg.shm_prefix, "fromenv");
	config_free(&cfg);

	/* Flags beat the environment, both spellings. */
	cr_assert_eq(
	        load_argv(&cfg, err, sizeof(err),
	                  (const char *[]){"--config", t.path, "--socket", "/tmp/cli.sock",
	                                   "--log-level=debug", "--shm-prefix", "fromcli", NULL}),
	        0, "%s", err);
	cr_assert_str_eq(cfg.socket_path, "/tmp/cli.sock");
	cr_assert_eq(cfg.log_level, MEMD_LOG_DEBUG);
	cr_assert_str_eq(cfg.shm_prefix, "fromcli");
	config_free(&cfg);

	/* $MEMD_CONFIG names the file when --config is absent. */
	unsetenv("MEMD_SOCKET");
	setenv("MEMD_CONFIG", t.path, 1);
	cr_assert_eq(load_argv(&cfg, err, sizeof(err), (const char *[]){NULL}), 0, "%s", err);
	cr_assert_str_eq(cfg.socket_path, "/tmp/file.sock");
	cr_assert_str_eq(cfg.config_path, t.path);
	config_free(&cfg);
	tmpconf_remove(&t);
}

Test(config, env_without_file_beats_default)
{
	struct memd_config cfg;
	char err[256] = "";

	unsetenv("MEMD_CONFIG");
	setenv("MEMD_SOCKET", "/tmp/only-env.sock", 1);
	cr_assert_eq(load_argv(&cfg, err, sizeof(err), (const char *[]){NULL}), 0, "%s", err);
	cr_assert_str_eq(cfg.socket_path, "/tmp/only-env.sock");
	cr_assert_eq(cfg.pool_count, 1);
	config_free(&cfg);
}

Test(config, bad_env_value_names_the_variable)
{
	struct memd_config cfg;
	char err[256] = "";

	unsetenv("MEMD_CONFIG");
	setenv("MEMD_LOG_LEVEL", "chatty", 1);
	cr_assert_eq(load_argv(&cfg, err, sizeof(err), (const char *[]){NULL}), -EINVAL);
	cr_assert_not_null(strstr(err, "$MEMD_LOG_LEVEL: invalid log level 'chatty'"), "%s", err);
	cr_assert_null(cfg.pools);
	setenv("MEMD_LOG_LEVEL", "info", 1);
	setenv("MEMD_SHM_PREFIX", "../etc", 1);
	cr_assert_eq(load_argv(&cfg, err, sizeof(err), (const char *[]){NULL}), -EINVAL);
	cr_assert_not_null(strstr(err, "$MEMD_SHM_PREFIX: invalid prefix"), "%s", err);
}

Test(config, bad_cli_is_refused)
{
	struct memd_config cfg;
	char err[256] = "";

	unsetenv("MEMD_CONFIG");
	cr_assert_eq(load_argv(&cfg, err, sizeof(err), (const char *[]){"--bogus", NULL}), -EINVAL);
	cr_assert_not_null(strstr(err, "--bogus: unknown option"), "%s", err);
	cr_assert_eq(load_argv(&cfg, err, sizeof(err), (const char *[]){"stray", NULL}), -EINVAL);
	cr_assert_not_null(strstr(err, "stray: unknown argument"), "%s", err);
	cr_assert_eq(load_argv(&cfg, err, sizeof(err), (const char *[]){"--socket", NULL}),
	             -EINVAL);
	cr_assert_not_null(strstr(err, "--socket: missing value"), "%s", err);
	cr_assert_eq(load_argv(&cfg, err, sizeof(err), (const char *[]){"--log-level", "x", NULL}),
	             -EINVAL);
	cr_assert_not_null(strstr(err, "--log-level: invalid log level 'x'"), "%s", err);
	cr_assert_eq(load_argv(&cfg, err, sizeof(err),
	                       (const char *[]){"--config", "/nonexistent.conf", NULL}),
	             -ENOENT);
	cr_assert_eq(
	        load_argv(&cfg, err, sizeof(err), (const char *[]){"--socket-mode", "0777", NULL}),
	        0);
	cr_assert_eq(cfg.socket_mode, 0777);
	config_free(&cfg);
}

Test(config, help_and_version_ask_to_exit, .init = cr_redirect_stdout)
{
	struct memd_config cfg;
	char err[256] = "";

	cr_assert_eq(load_argv(&cfg, err, sizeof(err), (const char *[]){"--help", NULL}),
	             CONFIG_EXIT);
	config_free(&cfg);
	cr_assert_eq(load_argv(&cfg, err, sizeof(err), (const char *[]){"-V", NULL}), CONFIG_EXIT);
	config_free(&cfg);
	fflush(stdout);
	cr_assert_stdout_neq_str("");
}
