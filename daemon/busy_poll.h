/*
 * busy_poll.h - after serving a request, memd keeps polling its sockets
 * without sleeping for a short window (busy_poll_us, config.h), so that a
 * client's next request is read at once instead of after the wake-up of
 * an idle CPU.  busy_poll.c explains the trade.
 */
#ifndef MEMD_BUSY_POLL_H
#define MEMD_BUSY_POLL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define BUSY_POLL_MAX_US 10000u /* the largest window busy_poll_us accepts */

struct busy_poll {
	uv_idle_t idle;     /* active while the window is open: the loop's poll
	                     * then returns at once instead of sleeping */
	uint64_t window_ns; /* the window; 0: off */
	uint64_t last_ns;   /* uv_hrtime() of the last request seen */
	unsigned cpus;      /* CPUs online, at init */
};

/* Set bp up on loop, closed (no window).  The idle handle is unreferenced:
 * it never keeps the loop alive by itself.  0 or a libuv error. */
int busy_poll_init(struct busy_poll *bp, uv_loop_t *loop);

/* Take busy_poll_us (0..BUSY_POLL_MAX_US; 0 turns it off).  With one CPU
 * online the window stays off (polling would take the CPU from the client
 * memd waits for), and a call asking for one logs so. */
void busy_poll_set(struct busy_poll *bp, uint32_t us);

/* Open the window (busy_poll_note's slow side). */
void busy_poll_open(struct busy_poll *bp);

/* A request arrived: (re)open the window.  One clock read (vDSO). */
static inline void busy_poll_note(struct busy_poll *bp)
{
	if (bp->window_ns == 0)
		return;
	bp->last_ns = uv_hrtime();
	if (!uv_is_active((uv_handle_t *)&bp->idle))
		busy_poll_open(bp);
}

/* Is the window open (the loop's next poll will not block)? */
static inline bool busy_poll_active(const struct busy_poll *bp)
{
	return uv_is_active((const uv_handle_t *)&bp->idle) != 0;
}

/* Close the handle (shutdown and failed start-up). */
void busy_poll_close(struct busy_poll *bp);

#endif /* MEMD_BUSY_POLL_H */
