/*
 * sched_policy.c - memd runs under SCHED_BATCH.
 *
 * Why: clients send memd requests they do not wait for (blocks leased
 * ahead in batches, blocks given back), and every send wakes memd through
 * the socket with a synchronous wakeup.  Under SCHED_OTHER the scheduler
 * then often runs memd on the sender's CPU and lets it preempt the sender,
 * even with another CPU idle: a trace replay (memd-bench client,
 * python-json) was preempted by memd ~1,200 times, ~25 ms of an 80 ms run.
 * A SCHED_BATCH task never preempts a running task when it wakes up, and
 * is otherwise a SCHED_OTHER task of the same nice value (same share of
 * the CPU).  Under SCHED_BATCH the run took 57 ms and the round trip was
 * unchanged: memd's work is never more urgent than the application that is
 * running, and an application that needs memd's answer waits for it, so
 * it has given up its CPU anyway.
 *
 * Only SCHED_OTHER is changed: any other policy was chosen by someone
 * (chrt, systemd's CPUSchedulingPolicy=) and stays.  The systemd unit
 * sets CPUSchedulingPolicy=batch because its SystemCallFilter= denies
 * sched_setscheduler (@resources); memd then finds SCHED_BATCH and only
 * reads the policy.  SCHED_RESET_ON_FORK is kept as found: an unprivileged
 * process may not clear it.  memd runs one thread, so the calling thread's
 * policy is the daemon's.
 */
#include "sched_policy.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

#include "log.h"

static const char *policy_name(int policy)
{
	switch (policy) {
	case SCHED_OTHER:
		return "SCHED_OTHER";
	case SCHED_BATCH:
		return "SCHED_BATCH";
	case SCHED_IDLE:
		return "SCHED_IDLE";
	case SCHED_FIFO:
		return "SCHED_FIFO";
	case SCHED_RR:
		return "SCHED_RR";
	default:
		return "SCHED_DEADLINE or another policy";
	}
}

/* Move the calling thread to policy (priority 0), with flags kept. */
static int policy_set(int policy, int flags)
{
	struct sched_param sp = {.sched_priority = 0};

	return sched_setscheduler(0, policy | flags, &sp) == 0 ? 0 : -errno;
}

/* SCHED_OTHER -> SCHED_BATCH; *lowered records that memd made it so. */
static void to_batch(int flags, bool *lowered)
{
	int rc = policy_set(SCHED_BATCH, flags);

	if (rc < 0) {
		log_warn("scheduling: cannot switch to SCHED_BATCH (%s); memd stays SCHED_OTHER, "
		         "where its wakeups may preempt the clients that sent requests (set "
		         "CPUSchedulingPolicy=batch, or scheduling = normal)",
		         strerror(-rc));
		return;
	}
	*lowered = true;
	log_info("scheduling: SCHED_OTHER -> SCHED_BATCH: a request wakes memd without "
	         "preempting the client that sent it");
}

/* SCHED_BATCH that memd set -> SCHED_OTHER, the policy it started with. */
static void back_to_other(int flags, bool *lowered)
{
	int rc = policy_set(SCHED_OTHER, flags);

	if (rc < 0) {
		log_warn("scheduling: cannot switch back to SCHED_OTHER (%s); still SCHED_BATCH",
		         strerror(-rc));
		return;
	}
	*lowered = false;
	log_info("scheduling: SCHED_BATCH -> SCHED_OTHER, the policy memd was started with");
}

void sched_policy_apply(enum memd_scheduling want, bool *lowered)
{
	int cur = sched_getscheduler(0), flags;

	if (cur < 0) {
		log_warn("scheduling: cannot read the policy (%s); leaving it alone",
		         strerror(errno));
		return;
	}
	flags = cur & SCHED_RESET_ON_FORK;
	cur &= ~SCHED_RESET_ON_FORK;
	if (want == MEMD_SCHED_BATCH && cur == SCHED_OTHER)
		to_batch(flags, lowered);
	else if (want == MEMD_SCHED_NORMAL && *lowered && cur == SCHED_BATCH)
		back_to_other(flags, lowered);
	else
		log_debug("scheduling: %s left as it is (scheduling = %s)", policy_name(cur),
		          want == MEMD_SCHED_BATCH ? "batch" : "normal");
}
