/*
 * busy_poll.c - memd polls without sleeping for a short while after each
 * request.
 *
 * Why: on these machines most of a round trip is not memd's work but the
 * wake-ups: a request to a memd asleep in epoll_wait has to wake an idle
 * CPU, and so does the reply to a client asleep in recvmsg.  memd-bench's
 * rtt (client and memd pinned to two CPUs) measured 14.8 us per round
 * trip with both sleeping between requests and 6.6 us with memd polling
 * and the client polling before it sleeps (client.c).  Clients of a cache send in bursts (a lease,
 * the returns, the next lease), so the next request usually comes within tens of microseconds of
 * the last.
 *
 * How: busy_poll_note() (each read from a client, and each look at a
 * request ring that found frames: ring.c) stamps the time and starts an
 * idle handle.  While an idle handle is active, libuv polls with a zero
 * timeout, so the loop spins through epoll_wait(0); the handle's callback
 * stops it once window_ns passed without a request.  An idle memd
 * therefore never spins, and a busy one spins at most window_ns past its
 * last request.  While it spins, the server's check handle reads the
 * request rings after every poll, so frames a client writes there are
 * picked up without the client making a system call; only a loop about
 * to block has to tell the rings so (ring_before_sleep).  The handle is
 * unreferenced: it never keeps the loop (and so shutdown) waiting.
 *
 * Cost: up to one CPU for busy_poll_us after the last request, so a client
 * sending a request every busy_poll_us keeps memd at 100 %.  memd runs
 * under SCHED_BATCH (sched_policy.c), so a polling memd does not preempt
 * a woken application; and on a machine with one CPU online the window is
 * off whatever the configuration says, because there the client memd
 * polls for needs that very CPU.  The test is the CPUs online, not memd's
 * affinity: pinning memd to a core of its own is where polling serves
 * best.  Pinning memd and its clients to one shared core is the case to
 * set busy_poll_us = 0 for.
 */
#include "busy_poll.h"

#include "log.h"

#include <unistd.h>

static void busy_poll_cb(uv_idle_t *h)
{
	struct busy_poll *bp = h->data;

	if (uv_hrtime() - bp->last_ns >= bp->window_ns)
		uv_idle_stop(h);
}

int busy_poll_init(struct busy_poll *bp, uv_loop_t *loop)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	int rc;

	bp->window_ns = 0;
	bp->last_ns = 0;
	bp->cpus = n > 0 ? (unsigned)n : 1;
	rc = uv_idle_init(loop, &bp->idle);
	if (rc < 0)
		return rc;
	bp->idle.data = bp;
	uv_unref((uv_handle_t *)&bp->idle);
	return 0;
}

void busy_poll_set(struct busy_poll *bp, uint32_t us)
{
	if (us > BUSY_POLL_MAX_US)
		us = BUSY_POLL_MAX_US;
	if (us > 0 && bp->cpus < 2) {
		log_info("busy_poll_us = %u: off: %u CPU online", (unsigned)us, bp->cpus);
		us = 0;
	}
	bp->window_ns = (uint64_t)us * 1000u;
}

void busy_poll_open(struct busy_poll *bp)
{
	(void)uv_idle_start(&bp->idle, busy_poll_cb);
}

void busy_poll_close(struct busy_poll *bp)
{
	bp->window_ns = 0;
	uv_close((uv_handle_t *)&bp->idle, NULL);
}
