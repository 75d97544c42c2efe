/*
 * pool.h - pools: named heaps over POSIX shm segments, with growth and trim.
 *
 * A pool is a name, its configured limits, one heap core (heap.h) and the
 * shm segments that back it.  The pool layer turns the heap's "-ENOMEM,
 * grow me" into new segments (created through shm.c), punches freed page
 * runs out of the segments so memory returns to the OS, and releases
 * segments that become empty (never the pool's first one; at most one
 * other empty segment is kept, punched, as a spare: see pool.c).  A pool's
 * first segment is reserved whole when the pool is made; the segments it
 * grows by are reserved page by page as blocks over them are handed out.
 *
 * Ids: pools are numbered 1..count in config order (the wire's pool_id).
 * Pool id p owns segment ids [1 + (p-1)*4096, 1 + p*4096); ids inside that
 * range are handed out sequentially and never reused while the daemon
 * lives, so a (seg id -> mapping) cache in a client can never go stale
 * (a segment undone by the request that made it gives its id back: no
 * client can have seen it).
 * A pool that has created 4096 segments over its lifetime cannot grow.
 *
 * Segment names: "/<shm_prefix>-<pool name>-<seg id>".
 *
 * Thread safety: none; the daemon's one loop thread owns every pool.
 * Pointers to segments (struct pool_segment *) stay valid only until the
 * next pool_alloc*, pool_free or pool_trim on that pool.
 */
#ifndef MEMD_POOL_H
#define MEMD_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "blocks.h"
#include "config.h"
#include "heap.h"
#include "names.h"

#define POOL_SEGS_PER_POOL 4096u /* segment ids per pool */
#define POOL_SHM_NAME_MAX  160u  /* "/" prefix "-" pool "-" id, NUL */

/* One shm segment of a pool. */
struct pool_segment {
	uint32_t id;                  /* segment id (refs' high 24 bits) */
	uint64_t size;                /* bytes, page multiple */
	int fd;                       /* O_RDWR fd the daemon keeps open */
	int fd_ro;                    /* O_RDONLY fd for read-only clients; -1 until asked */
	bool punched;                 /* some range was ever punched */
	uint64_t *holes;              /* bit per page not reserved now: punched, or never
	                               * reserved (NULL: none yet); blocks handed out
	                               * over them are reserved first */
	uint64_t *fresh;              /* growth segments: bit per page never reserved
	                               * since creation (a subset of holes, in holes'
	                               * allocation); NULL for a pool's first segment */
	uint64_t fresh_pages;         /* bits set in fresh */
	char name[POOL_SHM_NAME_MAX]; /* shm name, "/memd-default-1" */
};

/* Counters of one pool (heap_stats has the rest). */
struct pool_counters {
	uint64_t segments_created;  /* segments ever created */
	uint64_t segments_released; /* empty segments given back */
	uint64_t punched_bytes;     /* bytes punched out so far */
	uint64_t trims;             /* trim passes run */
	uint64_t enomem;            /* allocations refused for lack of room */
};

/* Bytes held in a pool by the sessions of one uid (uid_quota). */
struct pool_uid_usage {
	uid_t uid;      /* the uid */
	uint64_t bytes; /* usable bytes its sessions hold in the pool */
};

/* A pool. */
struct pool {
	uint32_t id;                      /* 1-based pool id (wire pool_id) */
	struct memd_pool_config cfg;      /* limits, name, access (a copy) */
	heap_t *heap;                     /* the allocator core for this pool */
	struct pool_segment *segs;        /* live segments, ascending id */
	size_t seg_count;                 /* entries in segs */
	size_t seg_cap;                   /* capacity of segs */
	uint32_t seg_id_base;             /* first id of this pool's range */
	uint32_t next_seg_id;             /* next id to assign (never reused once seen) */
	uint64_t reserved;                /* sum of live segment sizes: address space held
	                                   * against cfg.max_size, not memory (growth
	                                   * segments are reserved page by page) */
	uint64_t last_seg_size;           /* size of the last segment created */
	uint32_t spare_id;                /* empty segment kept (punched) as a spare; 0: none */
	uid_t self_uid;                   /* the daemon's euid: full access to every pool */
	uint64_t freed_since_trim;        /* bytes freed since the last trim pass */
	bool trim_due;                    /* a deferred trim pass is due (pool_set_trim_due) */
	struct pool_set *set;             /* the set the pool belongs to */
	struct pool_counters counters;    /* lifetime counters */
	struct pool_uid_usage *uid_usage; /* per-uid held bytes (malloc'd); entries stay */
	size_t uid_count;                 /* entries in uid_usage */
	size_t uid_cap;                   /* capacity of uid_usage */
	char shm_prefix[CONFIG_SHM_PREFIX_MAX + 1]; /* segment names' prefix (a copy) */
};

/* All pools of a daemon. */
struct pool_set {
	struct pool *pools;                         /* pools[i].id == i + 1 */
	size_t count;                               /* number of pools */
	char shm_prefix[CONFIG_SHM_PREFIX_MAX + 1]; /* names' prefix */
	struct blocks blocks;                       /* shared blocks of every pool */
	struct names names;                         /* published names, set-wide */
	bool defer_trims; /* trim passes wait for pool_set_trim_due() (memd: after replies) */
	size_t trims_due; /* pools with trim_due set */
};

/* Add one pool from pc (a SIGHUP reload's new [pool] section) as pool id
 * count + 1, creating its first segment.  Existing pools never move (the
 * pools array has room for CONFIG_POOLS_MAX from the start), so pointers
 * to them (blocks.h) stay valid.  0, or -errno with a message in err:
 * -ENOSPC (/dev/shm full, or CONFIG_POOLS_MAX pools), -EEXIST, -ENOMEM;
 * the set is unchanged on failure. */
int pool_set_add(struct pool_set *set, const struct memd_pool_config *pc, char *err, size_t errlen);

/* Build one pool per cfg->pools entry and create each pool's first segment
 * (so a full /dev/shm or a name clash shows at startup).  0, or -errno
 * with a message in err: -EEXIST (a segment name exists: another memd
 * with this prefix, or a stale segment from a crashed one), -ENOSPC,
 * -ENOMEM, -EINVAL.  On failure nothing is left behind. */
int pool_set_create(struct pool_set *set, const struct memd_config *cfg, char *err, size_t errlen);

/* Destroy every pool: close and unlink every segment.  NULL-safe; the set
 * is zeroed.  After it, no segment of the set exists in /dev/shm. */
void pool_set_destroy(struct pool_set *set);

/* The pool with this name, or NULL. */
struct pool *pool_set_find(const struct pool_set *set, const char *name);

/* The pool with this 1-based id, or NULL (id 0 or out of range). */
struct pool *pool_set_get(const struct pool_set *set, uint32_t pool_id);

/* The pool whose id range covers ref's segment id, or NULL (ref 0 or a
 * segment id no pool owns).  Says nothing about whether ref is live. */
struct pool *pool_set_pool_of_ref(const struct pool_set *set, uint64_t ref);

/* Find a live segment by id across the set (for MAP requests).  0 with
 * *pool and *seg set, or -EINVAL (no such live segment). */
int pool_segment_lookup(const struct pool_set *set, uint32_t seg_id, struct pool **pool,
                        struct pool_segment **seg);

/* The fd to send for seg: its O_RDWR fd, or with readonly an O_RDONLY fd
 * of the same object (opened on first use, cached, closed with the
 * segment).  The fd stays owned by the pool: dup it or send it, never close
 * it.  >= 0, or -errno from reopening. */
int pool_segment_fd(struct pool_segment *seg, bool readonly);

/* Allocate size bytes aligned to align (0 or a power of two; below 16
 * means 16) from pool, growing it by one segment if needed.  0 with *ref
 * and *usable (may be NULL) set; -EINVAL (size 0, bad align, larger than
 * a segment can be); -ENOMEM (max_size reached, ids exhausted, /dev/shm
 * full or metadata exhausted).  On success every page of the block is
 * reserved in /dev/shm, so writing it cannot SIGBUS; when they cannot be,
 * -ENOMEM, and a segment grown for the request is removed again. */
int pool_alloc(struct pool *pool, uint64_t size, uint64_t align, uint64_t *ref, uint64_t *usable);

/* Allocate up to count blocks of size bytes into refs[0..].  Stops at the
 * first -ENOMEM.  0 with *got in 1..count and *usable (may be NULL) the
 * usable size of each block; or the error of the first allocation (*got =
 * 0) when not even one block could be had.  Pages as pool_alloc: the batch
 * ends before the first block whose pages cannot be reserved. */
int pool_alloc_batch(struct pool *pool, uint64_t size, uint32_t count, uint64_t *refs,
                     uint32_t *got, uint64_t *usable);

/* Free the live block at ref.  0, or -EINVAL (ref is not the start of a
 * live block of this pool; nothing changes).  May trim (punch free runs)
 * and release a segment that became empty. */
int pool_free(struct pool *pool, uint64_t ref);

/* pool_free, and *usable set to the usable size of the block it freed:
 * one validation of ref where pool_block_size and pool_free would make
 * two. */
int pool_free_block(struct pool *pool, uint64_t ref, uint64_t *usable);

/* Memory of pool's segments now.  *resident: bytes backed by memory
 * (what tmpfs holds for them, st_blocks).  *punched: bytes given back to
 * the OS, i.e. the rest of each segment less its pages never reserved
 * since creation (a growth segment's pages are reserved as blocks are
 * handed out; never reserved is never given back).  pool->reserved -
 * *resident - *punched is therefore the bytes never reserved yet. */
void pool_memory(const struct pool *pool, uint64_t *resident, uint64_t *punched);

/* Was the page at byte offset off of seg never reserved since seg was
 * created?  Only a growth segment has such pages (the first segment is
 * reserved whole). */
bool pool_segment_page_fresh(const struct pool_segment *seg, uint64_t off);

/* Usable size of the live block at ref: 0 or -EINVAL. */
int pool_block_size(const struct pool *pool, uint64_t ref, uint64_t *usable);

/* Punch every dirty free run of at least min_bytes (0: the pool's
 * trim_threshold) out of the segments.  Returns the bytes given back:
 * pages of those runs that were reserved (a page never reserved, or
 * punched already, was no memory to give).  Called by pool_free when
 * enough was freed (at once, or through pool_set_trim_due when the set
 * defers trims), and by memctl's trim. */
uint64_t pool_trim(struct pool *pool, uint64_t min_bytes);

/* Run the trim passes that frees made due while set->defer_trims is on.
 * memd sets defer_trims and calls this after each round of requests, once
 * their replies are written, so that a free is answered before its pages
 * are punched, and before any STATS request, so that what memctl sees is
 * settled.  Nothing to do (one comparison) when no pass is due. */
void pool_set_trim_due(struct pool_set *set);

/* MEMD_ACCESS_* bits a peer with uid/gid gets on pool, from the pool's
 * read/write lists (access.h: no lists = open; uid 0 and the daemon's own
 * euid get everything).  0: no access. */
uint32_t pool_access(const struct pool *pool, uid_t uid, gid_t gid);

/* Make sure uid has a usage entry in pool, so that pool_uid_charge cannot
 * fail.  0, -ENOMEM. */
int pool_uid_reserve(struct pool *pool, uid_t uid);

/* Bytes uid's sessions hold in pool (0 if none). */
uint64_t pool_uid_bytes(const struct pool *pool, uid_t uid);

/* Add (charge) or subtract (uncharge) bytes to uid's usage in pool.  The
 * entry must exist (pool_uid_reserve; asserted); uncharging more than was
 * charged is a programmer error (asserted). */
void pool_uid_charge(struct pool *pool, uid_t uid, uint64_t bytes);
void pool_uid_uncharge(struct pool *pool, uid_t uid, uint64_t bytes);

#endif /* MEMD_POOL_H */
