/*
 * test_busy_poll.c - memd keeps polling for busy_poll_us after a request
 * and sleeps otherwise (busy_poll.c).
 *
 * What is observable from outside is memd's CPU time (utime + stime in
 * /proc/<pid>/stat, in clock ticks): a memd that polls between requests
 * arriving every few milliseconds burns most of a CPU, one that sleeps
 * burns almost none, and an idle memd must burn none whatever the window.
 * The bounds are far apart (a third of the wall time against a few ticks)
 * so that a loaded machine cannot blur them.  A memd pinned to a CPU of
 * its own polls like any other (only a machine with one CPU online turns
 * polling off, which a test cannot arrange).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "memclient.h"

#define WINDOW_MAX   "10000" /* the largest busy_poll_us */
#define BURST_MS     600     /* requests sent for this long */
#define BURST_GAP_MS 4       /* ... one every this many ms (inside the window) */
#define IDLE_MS      600     /* an idle stretch this long */

/* memd's CPU time so far, in clock ticks. */
static long memd_ticks(void)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)H.pid);
	f = fopen(path, "r");
	cr_assert_not_null(f, "open %s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* comm may hold spaces; fields follow ") " */
	cr_assert_not_null(p);
	/* after ')': state(3) ppid pgrp session tty_nr tpgid flags minflt
	 * cminflt majflt cmajflt utime(14) stime(15) */
	cr_assert_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st),
	             2, "parse %s", path);
	return (long)(ut + st);
}

/* memd's CPU ticks over BURST_MS of one request every BURST_GAP_MS. */
static long burst_ticks(memc_client *c, memc_ref ref)
{
	int64_t end;
	long t0 = memd_ticks();
	size_t size;

	end = now_ms() + BURST_MS;
	while (now_ms() < end) {
		cr_assert_eq(memc_size(c, ref, &size), 0); /* a round trip: ref is past the cache */
		sleep_ms(BURST_GAP_MS);
	}
	return memd_ticks() - t0;
}

/* A client and one block too large for its cache (so memc_size asks memd). */
static memc_client *client_with_block(memc_ref *ref)
{
	memc_client *c;

	cr_assert_eq(memc_connect(H.sock, &c), 0);
	cr_assert_eq(memc_alloc(c, NULL, 1 << 20, 0, ref), 0);
	return c;
}

/* A third of the burst's wall time, in ticks: what polling must exceed. */
static long polling_floor(void)
{
	return sysconf(_SC_CLK_TCK) * BURST_MS / 1000 / 3;
}

/* At most this many ticks for a memd that sleeps between requests. */
static long sleeping_ceiling(void)
{
	return sysconf(_SC_CLK_TCK) * BURST_MS / 1000 / 10;
}

/* Skip unless two CPUs are online (with one, memd never polls). */
static void need_two_cpus(void)
{
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		cr_skip_test("one CPU online: memd never polls there");
}

Test(busy_poll, requests_inside_the_window_keep_memd_polling, .fini = harness_fini)
{
	memc_client *c;
	memc_ref ref;
	long ticks;

	need_two_cpus();
	memd_start(&H, "[memd]\nbusy_poll_us = " WINDOW_MAX "\n");
	c = client_with_block(&ref);
	ticks = burst_ticks(c, ref);
	cr_assert_geq(ticks, polling_floor(),
	              "memd used %ld ticks in %d ms of requests %d ms apart", ticks, BURST_MS,
	              BURST_GAP_MS);
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

Test(busy_poll, an_idle_memd_stops_polling, .fini = harness_fini)
{
	memc_client *c;
	memc_ref ref;
	size_t size;
	long t0, ticks;

	need_two_cpus();
	memd_start(&H, "[memd]\nbusy_poll_us = " WINDOW_MAX "\n");
	c = client_with_block(&ref);
	cr_assert_eq(memc_size(c, ref, &size), 0);
	sleep_ms(50); /* past the window */
	t0 = memd_ticks();
	sleep_ms(IDLE_MS);
	ticks = memd_ticks() - t0;
	cr_assert_leq(ticks, 2, "an idle memd used %ld ticks in %d ms", ticks, IDLE_MS);
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

Test(busy_poll, zero_turns_polling_off, .fini = harness_fini)
{
	memc_client *c;
	memc_ref ref;
	long ticks;

	memd_start(&H, "[memd]\nbusy_poll_us = 0\n");
	c = client_with_block(&ref);
	ticks = burst_ticks(c, ref);
	cr_assert_leq(ticks, sleeping_ceiling(), "memd with busy_poll_us = 0 used %ld ticks",
	              ticks);
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

/* Rewrite memd's config file and make it reload; wait for the reload. */
static void reload_with(const char *ini, int done_lines)
{
	FILE *f = fopen(H.config, "w");
	int64_t deadline = now_ms() + 5000;

	cr_assert_not_null(f, "rewrite %s: %s", H.config, strerror(errno));
	fputs(ini, f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(kill(H.pid, SIGHUP), 0);
	while (file_count(H.log, "reload: done") < done_lines) {
		cr_assert_lt(now_ms(), deadline, "memd did not finish reloading");
		sleep_ms(5);
	}
}

Test(busy_poll, sighup_applies_the_window_both_ways, .fini = harness_fini)
{
	memc_client *c;
	memc_ref ref;
	long ticks;

	need_two_cpus();
	memd_start(&H, "[memd]\nlog_level = info\nbusy_poll_us = 0\n");
	c = client_with_block(&ref);
	reload_with("[memd]\nlog_level = info\nbusy_poll_us = " WINDOW_MAX "\n", 1);
	ticks = burst_ticks(c, ref);
	cr_assert_geq(ticks, polling_floor(), "after reload to " WINDOW_MAX ": %ld ticks", ticks);
	reload_with("[memd]\nlog_level = info\nbusy_poll_us = 0\n", 2);
	ticks = burst_ticks(c, ref);
	cr_assert_leq(ticks, sleeping_ceiling(), "after reload to 0: %ld ticks", ticks);
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

Test(busy_poll, a_memd_pinned_to_a_cpu_of_its_own_polls, .fini = harness_fini)
{
	memc_client *c;
	memc_ref ref;
	cpu_set_t all, one;
	long ticks;

	need_two_cpus();
	cr_assert_eq(sched_getaffinity(0, sizeof(all), &all), 0);
	CPU_ZERO(&one);
	for (int cpu = CPU_SETSIZE - 1; cpu >= 0; cpu--)
		if (CPU_ISSET(cpu, &all)) {
			CPU_SET(cpu, &one); /* memd inherits the last CPU alone */
			break;
		}
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0, "%s", strerror(errno));
	memd_start(&H, "[memd]\nlog_level = info\nbusy_poll_us = " WINDOW_MAX "\n");
	cr_assert_eq(sched_setaffinity(0, sizeof(all), &all), 0, "%s", strerror(errno));
	cr_assert_not(file_contains(H.log, "busy_poll_us = " WINDOW_MAX ": off"));
	c = client_with_block(&ref);
	ticks = burst_ticks(c, ref);
	cr_assert_geq(ticks, polling_floor(), "a memd pinned to one CPU used %ld ticks", ticks);
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}
