/*
 * memd_proc.h - a private memd for one benchmark run.
 *
 * memd_proc_start() makes a fresh directory with mkdtemp() under $TMPDIR
 * (or /tmp), starts the memd binary this build made (MEMD_BENCH_MEMD_PATH,
 * overridden by $MEMD_BIN) with its socket in that directory, a shm prefix
 * no other run can share ("memdb<pid>x<n>"), the log level "warn" and its
 * output in <dir>/memd.log, and waits until the socket accepts.  The daemon
 * gets PR_SET_PDEATHSIG(SIGTERM), so a crashed bench leaves none behind.
 *
 * memd_proc_stop() sends SIGTERM, waits for the exit (SIGKILL after 10 s),
 * and checks DESIGN's shutdown contract: exit status 0, no socket file and
 * no /dev/shm/<prefix>-* segment left.  Whatever it finds wrong it cleans
 * up (kill, unlink), prints memd's log to stderr and reports failure.
 *
 * Neither function calls malloc: memd-bench's parent must not touch the C
 * heap before its replay children have run (see memd-bench.c).
 */
#ifndef MEMD_BENCH_MEMD_PROC_H
#define MEMD_BENCH_MEMD_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A running private daemon.  Plain data: forked children inherit it. */
struct memd_proc {
	pid_t pid;       /* memd's pid; 0 when not running */
	char dir[128];   /* the private directory */
	char sock[160];  /* <dir>/memd.sock */
	char log[160];   /* <dir>/memd.log */
	char prefix[48]; /* shm prefix given to memd */
};

/* Start memd and wait (up to 10 s) until it accepts; cpu >= 0 pins it to
 * that CPU (sched_setaffinity before exec).  0, or -1 after printing why
 * to stderr (nothing is left behind). */
int memd_proc_start(struct memd_proc *m, int cpu);

/* Pin the calling process to cpu.  0 or -errno. */
int memd_proc_pin(int cpu);

/* SIGTERM, wait, check exit 0 and that nothing is left; clean up.  0, or
 * -1 after printing what was wrong.  A no-op (0) when m->pid is 0. */
int memd_proc_stop(struct memd_proc *m);

/* Sum of st_size of /dev/shm/<prefix>-* (the segments memd made, each
 * reserved in full with posix_fallocate), or 0 when there are none. */
uint64_t memd_proc_shm_bytes(const struct memd_proc *m);

/* The memd binary memd_proc_start() runs. */
const char *memd_proc_binary(void);

/* Resident-memory growth of another process (the daemon), as footprint.h
 * measures it for this one: reset pid's VmHWM to its VmRSS and store that
 * in *rss; later read its VmHWM.  0 or -errno. */
int memd_proc_hwm_begin(pid_t pid, uint64_t *rss);
int memd_proc_hwm_end(pid_t pid, uint64_t *hwm);

#endif /* MEMD_BENCH_MEMD_PROC_H */
