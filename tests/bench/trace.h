/*
 * trace.h - allocation traces, parsed once into a compact array.
 *
 * A trace file has one event per line: `a ID SIZE` (allocate SIZE bytes and
 * call the block ID) or `f ID` (free block ID); plain text or gzip.  The
 * parser validates the whole trace (a free of an unknown or dead ID and an
 * allocation of a live ID are errors), renames IDs to dense slots, and
 * records the facts a benchmark reports (peak live bytes and where it
 * happens).  Everything it keeps lives in anonymous mmap memory, never in
 * the C heap, so a malloc replay that follows starts with a clean heap.
 */
#ifndef MEMD_BENCH_TRACE_H
#define MEMD_BENCH_TRACE_H

#include <stddef.h>
#include <stdint.h>

/* Bit set in trace_event.slot for a free. */
#define TRACE_FREE_BIT UINT32_C(0x80000000)

/* One event: 8 bytes.  Slots are dense (0 .. max_live_blocks - 1) and are
 * reused after a free, so a replay's slot table is as small as the largest
 * live set. */
struct trace_event {
	uint32_t slot; /* block slot; TRACE_FREE_BIT set for a free */
	uint32_t size; /* bytes requested (>= 1) for an allocation; 0 for a free */
};

struct trace {
	struct trace_event *ev;    /* events (anonymous mmap) */
	size_t nev;                /* number of events */
	size_t ev_map_bytes;       /* bytes mapped at ev */
	uint64_t allocs;           /* allocation events */
	uint64_t frees;            /* free events */
	uint64_t peak_live_bytes;  /* max of the sum of requested live sizes */
	uint64_t peak_live_index;  /* first event index after which that max holds */
	uint64_t peak_live_blocks; /* live blocks at that event */
	uint32_t max_live_blocks;  /* max live blocks at any point (slot count) */
	char name[64];             /* file name without directories and .gz/.txt/.trace */
};

/* Outcomes of trace_load besides 0. */
enum trace_status {
	TRACE_OK = 0,
	TRACE_NO_INPUT = 1, /* file missing or unreadable */
	TRACE_BAD = 2,      /* malformed or inconsistent trace */
	TRACE_NO_MEM = 3,   /* mmap failed */
};

/* Parse path into *t.  Returns TRACE_OK, or another trace_status with a
 * one-line explanation (file, line, what is wrong) in err.  On failure *t
 * holds nothing that needs freeing.  A size of 0 is read as 1 (as malloc(0)
 * returns a distinct block); sizes of 4 GiB or more are refused. */
int trace_load(const char *path, struct trace *t, char *err, size_t errlen);

/* Unmap everything trace_load mapped.  Safe on a zeroed struct. */
void trace_free(struct trace *t);

#endif /* MEMD_BENCH_TRACE_H */
