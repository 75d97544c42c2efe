/*
 * replay_client.c - replay a trace through libmemclient against memd.
 *
 * The replaying process is a fresh child of memd-bench (as for core and
 * malloc).  It connects, runs one memc_alloc/memc_ptr/memc_free of 1 byte
 * so that the connection, the pool lookup (POOL) and the mapping of the
 * first segment (MAP) are done before the clock starts, as malloc's and
 * the core's one-time set-up are not timed either, then replays: an
 * allocation is memc_alloc(default pool, size, no flags), memc_ptr and
 * replay_touch() of every page of the block through this process's
 * mapping; a free is memc_free.  Segments memd adds later are mapped inside
 * the timed loop, on the first memc_ptr into them, as an application would
 * pay for them.
 *
 * round_trips: the requests the process sent during the loop: the frames
 * it wrote, counted by the linker-wrapped send/write family (sendcount.c),
 * less the RING_KICKs among them (a kick asks nothing), plus the requests
 * it put into the request ring instead (proto.h), which are answered like
 * any other.  libmemclient is linked statically, so its two internal
 * counters are read directly.  Without the client's cache every memc_alloc
 * and every memc_free would be one round trip, plus one MAP per new
 * segment.
 *
 * Footprint: the peak growth of this process's resident memory, as for the
 * other modes: the shm pages it touched through its mappings (RssShmem;
 * memd never touches managed memory, so a page is resident in the client's
 * count exactly when the replay touched it) plus its own memory (the
 * library's segment table, reply buffer, the bench's slot table is touched
 * before).  That is the figure comparable with malloc's and the core's.
 * Reported apart: reserved_bytes, the size of memd's segments after the
 * loop (memd reserves every segment in full with posix_fallocate, so this
 * is what /dev/shm really holds, whatever is touched), and
 * daemon_peak_growth_bytes, memd's own peak RSS growth (its heap metadata,
 * holds and buffers), both only for a private memd.
 */
#include "replay.h"
#include "bench.h"
#include "footprint.h"
#include "memd_proc.h"

#include "memclient.h"

/* libmemclient's request-ring counters (client/ring.c; internal, reachable
 * because memd-bench links the library statically). */
uint64_t client_ring_frames(const memc_client *c);
uint64_t client_ring_kicks(const memc_client *c);

#include <errno.h>
#include <string.h>

/* The timed loop.  0, or a status with a message in r. */
static int client_loop(memc_client *c, const struct trace *t, memc_ref *tab,
                       struct replay_result *r)
{
	for (size_t i = 0; i < t->nev; i++) {
		struct trace_event ev = t->ev[i];
		memc_ref ref;
		void *p;
		int err;

		if (ev.slot & TRACE_FREE_BIT) {
			err = memc_free(c, tab[ev.slot & ~TRACE_FREE_BIT]);
			if (err < 0)
				return replay_fail(r, 1, "event %zu: memc_free: %s", i,
				                   memc_strerror(err));
			continue;
		}
		err = memc_alloc(c, NULL, ev.size, 0, &ref);
		if (err < 0)
			return replay_fail(r, 1, "event %zu: memc_alloc(%u): %s", i, ev.size,
			                   memc_strerror(err));
		p = memc_ptr(c, ref);
		if (!p)
			return replay_fail(r, 1, "event %zu: memc_ptr: %s", i, strerror(errno));
		replay_touch(p, ev.size);
		tab[ev.slot] = ref;
	}
	return 0;
}

/* The untimed set-up pair.  0 or a status with a message in r. */
static int client_warm_up(memc_client *c, struct replay_result *r)
{
	memc_ref ref;
	void *p;
	int err = memc_alloc(c, NULL, 1, 0, &ref);

	if (err < 0)
		return replay_fail(r, 1, "warm-up memc_alloc: %s", memc_strerror(err));
	p = memc_ptr(c, ref);
	if (!p)
		return replay_fail(r, 1, "warm-up memc_ptr: %s", strerror(errno));
	replay_touch(p, 1);
	err = memc_free(c, ref);
	if (err < 0)
		return replay_fail(r, 1, "warm-up memc_free: %s", memc_strerror(err));
	return 0;
}

int replay_client(const struct trace *t, const char *socket, const struct memd_proc *daemon,
                  struct replay_result *r)
{
	memc_ref *tab = replay_table_new(t->max_live_blocks, sizeof(memc_ref));
	uint64_t t0, faults, sends, d_rss = 0, d_hwm = 0;
	memc_client *c = NULL;
	int rc, d_ok = 0;

	memset(r, 0, sizeof(*r));
	r->daemon_growth = -1;
	if (!tab)
		return replay_fail(r, 1, "cannot map the slot table: %s", strerror(errno));
	rc = memc_connect(socket, &c);
	if (rc < 0) {
		replay_fail(r, 1, "memc_connect(%s): %s", socket ? socket : "(default)",
		            memc_strerror(rc));
		goto out_free_table;
	}
	if (client_warm_up(c, r) != 0)
		goto out_close;
	footprint_prepare();
	rc = footprint_begin(&r->baseline_rss);
	if (rc < 0) {
		replay_fail(r, 1, "cannot reset the RSS high-water mark: %s", strerror(-rc));
		goto out_close;
	}
	if (daemon && daemon->pid > 0)
		d_ok = memd_proc_hwm_begin(daemon->pid, &d_rss) == 0;
	faults = replay_faults();
	sends = bench_sends() - client_ring_kicks(c) + client_ring_frames(c);
	t0 = replay_now_ns();
	rc = client_loop(c, t, tab, r);
	r->elapsed_ns = replay_now_ns() - t0;
	r->round_trips = bench_sends() - client_ring_kicks(c) + client_ring_frames(c) - sends;
	r->page_faults = replay_faults() - faults;
	if (rc != 0)
		goto out_close;
	rc = footprint_end(&r->hwm);
	if (rc < 0) {
		replay_fail(r, 1, "cannot read VmHWM: %s", strerror(-rc));
		goto out_close;
	}
	if (d_ok && memd_proc_hwm_end(daemon->pid, &d_hwm) == 0)
		r->daemon_growth = d_hwm > d_rss ? (int64_t)(d_hwm - d_rss) : 0;
	if (daemon)
		r->reserved_bytes = memd_proc_shm_bytes(daemon);
	r->meta_bytes_per_block = -1;

out_close:
	memc_close(c);
out_free_table:
	replay_table_free(tab, t->max_live_blocks, sizeof(memc_ref));
	return r->status;
}
