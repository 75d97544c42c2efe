/*
 * sched_policy.h - memd's CPU scheduling policy: SCHED_BATCH unless the
 * configuration says otherwise (the scheduling key, config.h).
 */
#ifndef MEMD_SCHED_POLICY_H
#define MEMD_SCHED_POLICY_H

#include <stdbool.h>

#include "config.h"

/* Bring the calling thread's policy in line with want.  MEMD_SCHED_BATCH
 * turns SCHED_OTHER into SCHED_BATCH and sets *lowered; MEMD_SCHED_NORMAL
 * turns a SCHED_BATCH back into SCHED_OTHER only when *lowered says memd
 * made it so, and clears *lowered.  Every other policy is left alone.  A
 * failure is one warning in the log, never fatal. */
void sched_policy_apply(enum memd_scheduling want, bool *lowered);

#endif /* MEMD_SCHED_POLICY_H */
