/*
 * test_spin.c - libmemclient polls for a reply for $MEMC_SPIN_US before it
 * sleeps (client.c, client_spin), and never longer.
 *
 * A fake daemon (fake_daemon.h) answers one SIZE request after a long
 * pause.  What the client did meanwhile shows in its thread's CPU time:
 * polling burns the CPU, sleeping in recvmsg does not.  So with the
 * largest window the call costs about that window of CPU (and far less
 * than the pause); with the window off, or set to something invalid
 * (which turns it off), nearly nothing.  Either way the reply is read
 * correctly once it comes.  The bounds are an order of magnitude apart so
 * that a loaded machine cannot blur them.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_daemon.h"
#include "harness.h"
#include "ref.h"

#define PAUSE_MS    400     /* the fake daemon answers this late */
#define SPIN_MAX    "10000" /* the largest window, microseconds */
#define SPIN_MAX_MS 10      /* ... in milliseconds */
#define REPLY_SIZE  777     /* the size the fake daemon reports */

static int script_late_size(int cfd)
{
	struct memd_size_rep rep = {.size = REPLY_SIZE};
	uint8_t frame[MEMD_HDR_SIZE + sizeof(rep)];
	struct memd_ref_req req;
	struct memd_hdr h;

	if (fake_expect(cfd, MEMD_OP_SIZE, &h, &req, sizeof(req)) < 0)
		return 1;
	sleep_ms(PAUSE_MS);
	if (fake_send(cfd, frame, fake_frame(frame, &h, 0, &rep, sizeof(rep)), NULL, 0) < 0)
		return 2;
	return fake_wait_eof(cfd) == 0 ? 0 : 3;
}

/* This thread's CPU time, in milliseconds. */
static double thread_cpu_ms(void)
{
	struct timespec t;

	cr_assert_eq(clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t), 0);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Connect with $MEMC_SPIN_US = spin (NULL: unset), ask for the size of a
 * block the fake daemon answers late, and return the CPU the wait cost. */
static double late_reply_cpu_ms(const char *spin)
{
	memc_client *c;
	size_t sz = 0;
	double t0, cpu;
	int rc;

	if (spin != NULL)
		cr_assert_eq(setenv("MEMC_SPIN_US", spin, 1), 0);
	else
		cr_assert_eq(unsetenv("MEMC_SPIN_US"), 0);
	fake_start(script_late_size);
	c = fake_connect();
	t0 = thread_cpu_ms();
	rc = memc_size(c, memd_ref_make(3, 64), &sz);
	cpu = thread_cpu_ms() - t0;
	cr_assert_eq(rc, 0, "late reply: %d (%s)", rc, memc_strerror(rc));
	cr_assert_eq(sz, REPLY_SIZE);
	memc_close(c);
	fake_assert_done();
	fake_fini(); /* a test may start another */
	return cpu;
}

/* Skip unless two CPUs are online (with one the client never polls: the
 * reply would need the CPU the poll holds). */
static void need_two_cpus(void)
{
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		cr_skip_test("one CPU online: the client never polls there");
}

Test(spin, the_client_polls_for_its_window_then_sleeps, .fini = fake_fini)
{
	double cpu;

	need_two_cpus();
	cpu = late_reply_cpu_ms(SPIN_MAX);
	cr_assert_geq(cpu, SPIN_MAX_MS / 4.0, "a %s us window cost %.2f ms of CPU: no polling?",
	              SPIN_MAX, cpu);
	cr_assert_leq(cpu, PAUSE_MS / 4.0,
	              "a %s us window cost %.2f ms of CPU in a %d ms wait: it did not stop",
	              SPIN_MAX, cpu, PAUSE_MS);
}

Test(spin, zero_turns_polling_off, .fini = fake_fini)
{
	double cpu = late_reply_cpu_ms("0");

	cr_assert_leq(cpu, SPIN_MAX_MS / 8.0, "MEMC_SPIN_US=0 cost %.2f ms of CPU", cpu);
}

Test(spin, an_invalid_window_turns_polling_off, .fini = fake_fini)
{
	static const char *const bad[] = {"10001", "-5",  "abc",
	                                  "50us",  " 50", "99999999999999999999"};

	need_two_cpus(); /* else every value is off anyway */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		double cpu = late_reply_cpu_ms(bad[i]);

		cr_assert_leq(cpu, SPIN_MAX_MS / 8.0, "MEMC_SPIN_US='%s' cost %.2f ms of CPU",
		              bad[i], cpu);
	}
}

Test(spin, the_default_window_is_short, .fini = fake_fini)
{
	double cpu = late_reply_cpu_ms(NULL);

	cr_assert_leq(cpu, SPIN_MAX_MS / 8.0, "the default window cost %.2f ms of CPU", cpu);
}
