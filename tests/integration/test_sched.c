/*
 * test_sched.c - memd's CPU scheduling policy (scheduling =, sched_policy.c).
 *
 * memd moves itself from SCHED_OTHER to SCHED_BATCH unless the config says
 * scheduling = normal, leaves every other starting policy alone, applies
 * the key again on SIGHUP, and treats a refused switch as a warning.  The
 * policy a test wants memd to start under is set on the test process
 * first: memd inherits it across the harness's fork and exec.  Criterion
 * runs each test in its own process, so that policy (and the seccomp
 * filter of the refusal test) ends with the test.  The daemon's policy is
 * read from outside with sched_getscheduler(pid).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "harness.h"

#define POLICY_WAIT_MS 5000 /* a reload must change the policy within this */
#define CANNOT_SWITCH  "scheduling: cannot switch to SCHED_BATCH"

/* Put the test process (and so the memd it starts) under policy, or skip
 * the test: leaving SCHED_IDLE needs privilege or RLIMIT_NICE. */
static void test_policy(int policy)
{
	struct sched_param sp = {.sched_priority = 0};

	if (sched_setscheduler(0, policy, &sp) < 0)
		cr_skip_test("cannot set the test's own policy to %d: %s", policy, strerror(errno));
}

/* memd's policy as another process sees it. */
static int memd_policy(void)
{
	int p = sched_getscheduler(H.pid);

	cr_assert_geq(p, 0, "sched_getscheduler(memd %d): %s", (int)H.pid, strerror(errno));
	return p & ~SCHED_RESET_ON_FORK;
}

/* Wait until memd's policy is want (a reload is asynchronous). */
static void memd_policy_wait(int want, const char *when)
{
	int64_t deadline = now_ms() + POLICY_WAIT_MS;

	while (memd_policy() != want) {
		cr_assert_lt(now_ms(), deadline, "%s: memd's policy is %d, want %d", when,
		             memd_policy(), want);
		sleep_ms(5);
	}
}

/* Rewrite memd's config file and make it reload. */
static void reload_with(const char *ini)
{
	FILE *f = fopen(H.config, "w");

	cr_assert_not_null(f, "rewrite %s: %s", H.config, strerror(errno));
	fputs(ini, f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(kill(H.pid, SIGHUP), 0);
}

Test(sched, the_default_config_moves_memd_to_sched_batch, .fini = harness_fini)
{
	test_policy(SCHED_OTHER);
	memd_start(&H, NULL);
	cr_assert_eq(memd_policy(), SCHED_BATCH, "memd did not move to SCHED_BATCH");
	cr_assert(file_contains(H.log, "scheduling: SCHED_OTHER -> SCHED_BATCH"));
	memd_stop_clean(&H, SIGTERM);
}

Test(sched, scheduling_normal_keeps_sched_other, .fini = harness_fini)
{
	test_policy(SCHED_OTHER);
	memd_start(&H, "[memd]\nscheduling = normal\n");
	cr_assert_eq(memd_policy(), SCHED_OTHER, "scheduling = normal changed the policy");
	memd_stop_clean(&H, SIGTERM);
}

Test(sched, a_memd_started_under_sched_idle_stays_there, .fini = harness_fini)
{
	test_policy(SCHED_IDLE);
	memd_start(&H, NULL);
	cr_assert_eq(memd_policy(), SCHED_IDLE, "memd changed the SCHED_IDLE it was started with");
	memd_stop_clean(&H, SIGTERM);
}

Test(sched, a_memd_started_under_sched_batch_makes_no_switch, .fini = harness_fini)
{
	test_policy(SCHED_BATCH);
	memd_start(&H, "[memd]\nlog_level = debug\n");
	cr_assert_eq(memd_policy(), SCHED_BATCH);
	cr_assert(file_contains(H.log, "scheduling: SCHED_BATCH left as it is"),
	          "memd did not see the SCHED_BATCH it was started with");
	cr_assert_not(file_contains(H.log, "-> SCHED_BATCH"), "memd switched anyway");
	memd_stop_clean(&H, SIGTERM);
}

Test(sched, sighup_applies_scheduling_both_ways, .fini = harness_fini)
{
	test_policy(SCHED_OTHER);
	memd_start(&H, "[memd]\nscheduling = batch\n");
	cr_assert_eq(memd_policy(), SCHED_BATCH);
	reload_with("[memd]\nscheduling = normal\n");
	memd_policy_wait(SCHED_OTHER, "reload to normal");
	reload_with("[memd]\nscheduling = batch\n");
	memd_policy_wait(SCHED_BATCH, "reload to batch");
	memd_stop_clean(&H, SIGTERM);
}

/* Make sched_setscheduler fail with EPERM in this process and everything
 * it execs, as the systemd unit's SystemCallFilter= does.  Only the
 * syscall number is checked: memd runs in the native ABI. */
static void deny_sched_setscheduler(void)
{
	struct sock_filter code[] = {
	        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_sched_setscheduler, 0, 1),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};

	cr_assert_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0, "%s", strerror(errno));
	cr_assert_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0, "seccomp: %s",
	             strerror(errno));
}

Test(sched, a_refused_switch_is_one_warning_and_memd_serves, .fini = harness_fini)
{
	test_policy(SCHED_OTHER);
	deny_sched_setscheduler();
	memd_start(&H, NULL); /* returns once memd accepts connections */
	cr_assert_eq(memd_policy(), SCHED_OTHER);
	cr_assert_eq(file_count(H.log, CANNOT_SWITCH), 1,
	             "want one warning line about the refusal");
	cr_assert(file_contains(H.log, CANNOT_SWITCH " (Operation not permitted)"));
	memd_stop_clean(&H, SIGTERM);
}
