/*
 * bench.h - what memd-bench.c shares with the subcommands that talk to
 * memd (rtt.c, throughput.c): JSON output, number parsing, full reads and
 * writes, medians.
 */
#ifndef MEMD_BENCH_BENCH_H
#define MEMD_BENCH_BENCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif /* MEMD_BENCH_BENCH_H */
