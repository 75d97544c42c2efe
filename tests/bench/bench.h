/*
 * bench.h - what memd-bench.c shares with the other subcommands (compare.c,
 * rtt.c, throughput.c) and with run.c: the replay options, JSON output,
 * number parsing, full reads and writes, medians.
 */
#ifndef MEMD_BENCH_BENCH_H
#define MEMD_BENCH_BENCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct trace;

/* Options shared by the replay subcommands. */
struct opts {
	const char *trace;   /* --trace FILE */
	const char *socket;  /* --socket PATH (client, compare), or NULL: private memd */
	const char *preload; /* malloc --preload LIB, or NULL */
	unsigned runs;       /* --runs N */
	bool with_client;    /* compare: run the client (default; --no-client) */
	bool with_jemalloc;  /* compare: run jemalloc if found (default; --no-jemalloc) */
};

/* bench_parse_opts: --help was answered. */
#define BENCH_OPTS_HELP (-1)

/* Parse the options of a replay subcommand (argv[0] is its name; it says
 * which options are allowed).  0; BENCH_OPTS_HELP after printing usage for
 * --help; or an exit status after printing why. */
int bench_parse_opts(int argc, char **argv, struct opts *o);

/* Load the trace named by o into *t.  0, or the exit status of the failure
 * (66 missing, 2 malformed, 1 no memory) after printing why. */
int bench_load(const struct opts *o, struct trace *t);

/* Print obj as one compact line on stdout (flushed) and drop it. */
void bench_emit(json_t *obj);

/* Print "memd-bench: <msg>[: arg]" and a usage hint; returns EX_USAGE. */
int bench_usage_error(const char *msg, const char *arg);

/* Parse a decimal integer in [lo, hi].  true on success. */
bool bench_parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out);

/* Write / read exactly len bytes (EINTR retried).  true on success. */
bool bench_write_full(int fd, const void *buf, size_t len);
bool bench_read_full(int fd, void *buf, size_t len);

/* Median of n doubles (sorts v in place).  n >= 1. */
double bench_median(double *v, size_t n);

/* Requests the replaying process has written to sockets so far: every
 * send, sendto, sendmsg, write and writev call this executable makes
 * (memd-bench is linked with -Wl,--wrap for each, and libmemclient is
 * linked statically, so its calls are counted too; see sendcount.c). */
uint64_t bench_sends(void);

/* Subcommands that need memd and libmemclient. */
int cmd_rtt(int argc, char **argv);
int cmd_throughput(int argc, char **argv);

/* `compare` (compare.c); argv[0] is "compare". */
int cmd_compare(int argc, char **argv);

#endif /* MEMD_BENCH_BENCH_H */
