/*
 * memctl.h - memctl's internals: the connection, the commands, rendering.
 *
 * memctl is the operator's window into a running memd.  It speaks the
 * STATS part of the wire protocol (common/proto.h) over its own
 * connection, validating every reply with common/proto.c, and uses the
 * public client header (memclient.h) for what that offers an operator: the
 * default socket and the error texts.  libmemclient has no entry point for
 * stats requests, and a second, library-managed session would show up in
 * every `memctl clients` listing, so the stats exchange is done here, raw
 * (statsconn.c).
 *
 * Exit codes (sysexits): 0 success, 1 a failed check or command, 64 usage,
 * 69 daemon unavailable, 76 protocol error, 77 permission denied.
 */
#ifndef MEMCTL_H
#define MEMCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "proto.h"

#define MEMCTL_EX_OK          0
#define MEMCTL_EX_FAIL        1
#define MEMCTL_EX_USAGE       64
#define MEMCTL_EX_UNAVAILABLE 69
#define MEMCTL_EX_PROTOCOL    76
#define MEMCTL_EX_NOPERM      77

/* One memctl run: options and the connection to memd. */
struct memctl {
	const char *socket;          /* daemon socket path */
	bool json;                   /* --json: one JSON document on stdout */
	const char *prog;            /* argv[0] for messages */
	int fd;                      /* connection to memd; -1 until mc_connect */
	uint32_t next_id;            /* id of the next request */
	uint8_t *rx;                 /* reply frame buffer, MEMD_FRAME_MAX bytes */
	struct memd_hello_rep hello; /* the daemon's HELLO reply */
};

/* A command: name, one-line summary, its --help text, and its entry. */
struct memctl_cmd {
	const char *name;                                    /* "pools" */
	const char *summary;                                 /* for memctl --help */
	const char *usage;                                   /* for memctl CMD --help */
	int (*run)(struct memctl *m, int argc, char **argv); /* exit code */
};

/* ---- statsconn.c: the stats exchange ---- */

/* Connect to m->socket and say HELLO.  0, or an exit code after printing
 * why (69 daemon unavailable, 77 permission denied, 76 protocol). */
int mc_connect(struct memctl *m);

/* Close the connection (if open) and free the buffer. */
void mc_close(struct memctl *m);

/* Send one stats request and read its reply.  Returns the reply's status
 * (0 or the daemon's -errno) with *body and *len describing the reply body in m->rx (valid
 * until the next call), or a transport/protocol -errno (-EPIPE,
 * -ECONNRESET, -EPROTO). */
int mc_call(struct memctl *m, uint16_t op, const struct memd_stats_req *req, const void **body,
            size_t *len);

/* Fetch a whole list: every page of op for req (req->cursor ignored:
 * the list starts at 0), the first rec_size bytes of each record (the
 * daemon's records are at least that long) copied into a malloc'd array.
 * 0 with *out (the caller frees it) and *count set, or -errno as mc_call
 * (-EPROTO also when a page's cursor does not move forward). */
int mc_list(struct memctl *m, uint16_t op, const struct memd_stats_req *req, size_t rec_size,
            void **out, size_t *count);

/* The pool named name.  0, -ENOENT, or -errno as mc_call. */
int mc_pool_by_name(struct memctl *m, const char *name, struct memd_stats_pool *out);

/* Print "memctl: what: reason" for err and return the exit code it maps
 * to (77 for -EPERM/-EACCES, 69 when the daemon is gone, 76 for -EPROTO,
 * else 1). */
int mc_fail(struct memctl *m, int err, const char *what);

/* ---- args.c: command-line helpers ---- */

/* Parse a command's options.  longopts: the command's own, terminated;
 * --help, --json and --socket are added.  For each own option, fn(m, ctx,
 * opt, optarg) is called; it returns 0 or an exit code.  Returns 0 with
 * *rest (argv index of the first operand) set, MEMCTL_EX_USAGE after a
 * message, or -1 after printing the help (exit 0). */
struct option;
int mc_parse(struct memctl *m, const struct memctl_cmd *cmd, int argc, char **argv,
             const struct option *own, int (*fn)(struct memctl *, void *, int, const char *),
             void *ctx, int *rest);

/* Print "memctl CMD: msg" and the command's usage hint to stderr; returns
 * MEMCTL_EX_USAGE. */
int mc_usage_error(struct memctl *m, const struct memctl_cmd *cmd, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Parse a non-negative decimal integer into *out.  0, -EINVAL. */
int mc_parse_u64(const char *s, uint64_t *out);

/* ---- render.c: human output ---- */

/* Human size: "512 B", "4.0 KiB", "1.5 MiB", "2.0 GiB" into buf. */
const char *mc_size(uint64_t bytes, char *buf, size_t len);

/* Duration "3d 04:05:06" / "04:05:06" into buf. */
const char *mc_duration(uint64_t ns, char *buf, size_t len);

/* Local time "2026-11-26 06:07:08" of a CLOCK_REALTIME ns value. */
const char *mc_time(uint64_t ns, char *buf, size_t len);

/* A text table: add cells row by row, print with aligned columns. */
struct mc_table;

/* A table with ncols columns and header cells (ncols strings).  Columns
 * whose header starts with '>' are right-aligned (the '>' is dropped). */
struct mc_table *mc_table_new(size_t ncols, const char *const *headers);

/* Append a row; the cells are printf'd one per format argument: fmt holds
 * ncols formats separated by '\t'. */
void mc_table_row(struct mc_table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print and free. */
void mc_table_print(struct mc_table *t, FILE *f);

/* ---- json.c: JSON output ---- */

/* Print doc as one JSON document (indented, sorted keys as built, with a
 * newline) on stdout and drop the reference.  0 or MEMCTL_EX_FAIL. */
int mc_json_print(json_t *doc);

/* A reference as "0x..." (refs may pass 2^63, JSON integers may not). */
json_t *mc_json_ref(uint64_t ref);

/* A uint64 as a JSON integer (values past INT64_MAX saturate). */
json_t *mc_json_u64(uint64_t v);

/* The JSON object of a pool record (no classes or access text). */
json_t *mc_json_pool(const struct memd_stats_pool *p);

/* ---- pooldetail.c: one pool's classes and access text ---- */

/* A pool with its classes and text (STATS_POOL). */
struct mc_pool_detail {
	struct memd_stats_pool pool;      /* the pool */
	struct memd_stats_class *classes; /* malloc'd */
	size_t class_count;               /* entries in classes */
	char *text;                       /* access and quota text (malloc'd) */
};

/* Fetch pool_id's detail.  0 or -errno as mc_call. */
int mc_pool_detail(struct memctl *m, uint32_t pool_id, struct mc_pool_detail *out);

/* Free what mc_pool_detail allocated. */
void mc_pool_detail_free(struct mc_pool_detail *d);

/* The JSON object of a detailed pool: mc_json_pool + classes + access. */
json_t *mc_json_pool_detail(const struct mc_pool_detail *d);

/* ---- the commands (cmd_*.c) ---- */

extern const struct memctl_cmd mc_cmd_status, mc_cmd_pools, mc_cmd_pool, mc_cmd_clients,
        mc_cmd_blocks, mc_cmd_names, mc_cmd_map, mc_cmd_check, mc_cmd_trim, mc_cmd_stats,
        mc_cmd_watch;

/* ---- svg.c ---- */

/* Write the map of a pool (its runs, in key order) as SVG to path.  0 or
 * -errno (the file could not be written). */
int mc_svg_write(const char *path, const char *pool, const struct memd_stats_run *runs,
                 size_t count);

/* Bytes of a run by what occupies them. */
struct mc_occupancy {
	uint64_t private_bytes; /* used by private blocks */
	uint64_t shared_bytes;  /* used by shared blocks */
	uint64_t free_bytes;    /* free but resident (incl. free slab slots) */
	uint64_t punched_bytes; /* returned to the OS */
};

/* Split run r (or the part [lo, hi) of its segment that it overlaps) into
 * occupancy, adding to *o.  Slab occupancy is spread evenly. */
void mc_run_occupancy(const struct memd_stats_run *r, uint64_t lo, uint64_t hi,
                      struct mc_occupancy *o);

#endif /* MEMCTL_H */
