/*
 * stats.h - the STATS opcodes: what memctl asks the daemon, and TRIM.
 *
 * One handler per stats opcode (proto.h's STATS section), with
 * dispatch.c's handler signature: dispatch_request() validates the body
 * (proto_stats_req_validate) before calling one, so the body is exactly
 * one struct memd_stats_req whose unused fields are 0.  A handler returns
 * 0 when it queued its reply, or -errno for dispatch to answer with an
 * empty body.  Every reply fits one frame: lists are paged (see proto.h).
 *
 * Reading is open to every session past HELLO; stats_trim needs
 * access_is_admin() (uid 0, the daemon's euid, or the [memd] admin list)
 * and answers -EPERM otherwise.
 */
#ifndef MEMD_STATS_H
#define MEMD_STATS_H

#include <stddef.h>

#include "proto.h"

struct conn;

/* STATS_STATUS: the daemon as a whole (struct memd_stats_status). */
int stats_status(struct conn *c, const struct memd_hdr *h, const void *body, size_t body_len);

/* STATS_POOLS: a page of struct memd_stats_pool, by pool id. */
int stats_pools(struct conn *c, const struct memd_hdr *h, const void *body, size_t body_len);

/* STATS_POOL: one pool with its size classes and its access text.
 * -ENOENT for an unknown pool id. */
int stats_pool(struct conn *c, const struct memd_hdr *h, const void *body, size_t body_len);

/* STATS_CLIENTS: a page of struct memd_stats_client, by session id;
 * cached_blocks and cached_bytes are the sums of the session's cache page
 * (0 without one), clamped to what the session holds.  -ENOMEM. */
int stats_clients(struct conn *c, const struct memd_hdr *h, const void *body, size_t body_len);

/* STATS_BLOCKS: a page of struct memd_stats_block, by reference,
 * optionally only one pool's or only those a pid holds.  -ENOENT for an
 * unknown pool id. */
int stats_blocks(struct conn *c, const struct memd_hdr *h, const void *body, size_t body_len);

/* STATS_NAMES: a page of struct memd_stats_name. */
int stats_names(struct conn *c, const struct memd_hdr *h, const void *body, size_t body_len);

/* STATS_MAP: a page of struct memd_stats_run of one pool, by (segment,
 * offset).  -ENOENT for an unknown pool id, -ENOMEM. */
int stats_map(struct conn *c, const struct memd_hdr *h, const void *body, size_t body_len);

/* STATS_CHECK: heap_check() over every pool (or one), and every session's
 * holds checked against the pools.  -ENOENT for an unknown pool id. */
int stats_check(struct conn *c, const struct memd_hdr *h, const void *body, size_t body_len);

/* STATS_TRIM: punch every free page run of every pool (or one) out of its
 * segments now.  -EPERM (not an admin), -ENOENT (unknown pool id). */
int stats_trim(struct conn *c, const struct memd_hdr *h, const void *body, size_t body_len);

#endif /* MEMD_STATS_H */
