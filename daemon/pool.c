/*
 * pool.c - pools: heaps over shm segments, growth, trim, release.
 *
 * What it does: a pool couples one heap core (pure bookkeeping of offsets)
 * with the shm segments that hold the bytes.  The heap says -ENOMEM when no
 * segment has room; the pool then creates a segment (shm.c), registers it
 * with heap_add_segment() and retries.  On free it may punch free page runs
 * out of the segments (memory back to the OS) and give back a segment
 * that became empty.
 *
 * Segment ids: pool p (1-based) owns ids [1 + (p-1)*4096, 1 + p*4096),
 * passed to the heap as seg_id_base/seg_id_count, so a reference's segment
 * id alone tells which pool it belongs to (FREE requests carry only a
 * ref).  Inside its range a pool assigns ids sequentially and never reuses
 * one while the daemon lives: clients cache "segment id -> mapping", and a
 * reused id would make a stale mapping look valid.  (The one exception is
 * the id of a segment undone by the request that made it, which no client
 * can have seen: see Reservation.)  The price is that a pool can create
 * at most 4096 segments in a daemon's lifetime; the spare rule below
 * keeps create/release churn from eating that budget.
 *
 * Growth: the next segment is max(heap_grow_size(size, align), 2 x the
 * newest live segment) (the first is cfg.segment_size), clipped so the
 * pool's reserved bytes (the sum of its segment sizes: address space, not
 * memory) never exceed cfg.max_size; if even heap_grow_size() does not
 * fit, the allocation fails with -ENOMEM (after dropping the spare
 * segment, which might be what stands in the way).  Doubling from the
 * newest *live* segment, not the last one ever created, keeps an
 * alloc/free cycle from ratcheting segment sizes up to max_size.
 *
 * Reservation: a pool's first segment is reserved whole when the pool is
 * made (shm_segment_create: a /dev/shm that cannot hold it fails startup
 * or the reload with -ENOSPC).  A growth segment is only sized
 * (shm_segment_create_sparse) and starts with every page a hole (below):
 * reserving 8 MiB at once would stall the request that needed it by
 * milliseconds, so its pages are reserved as blocks over them are handed
 * out, by the same path that reserves punched pages again.  When that
 * fails (/dev/shm full), the allocation fails with -ENOMEM and leaves the
 * pool as it found it: the blocks go back to the heap, and a segment this
 * request created, empty again, is removed as if never made (its id is
 * handed out again: nothing of it ever left the daemon, so no client can
 * know it; the counters forget it).  A pool on a full /dev/shm therefore
 * keeps no segment it could not put one block in.
 *
 * Trim: free runs of at least cfg.trim_threshold bytes are punched
 * (shm_punch).  Walking the heap's dirty runs is O(free runs), so it runs
 * only once per trim_threshold bytes freed (freed_since_trim): the walk's
 * cost is amortized over at least that many freed bytes, and a single
 * free of a block >= the threshold trims at once.  A small free that
 * merges two small dirty runs into a large one waits for the next trim.
 * "At once" means within the current round of requests when the set
 * defers trims (memd does: defer_trims): the pass is only marked due, and
 * pool_set_trim_due() runs it once the replies are written, so a client
 * freeing a large block waits for the free, not for the punch.
 * A punched range loses its posix_fallocate reservation; each segment
 * keeps a bit per page not reserved now (holes: punched and not reserved
 * again, or in a growth segment never reserved), and when a block is
 * handed out over such pages, they are reserved (shm_reserve) before the
 * reference leaves the daemon, so a full /dev/shm is -ENOMEM at
 * allocation, never SIGBUS in a client.  A growth segment also keeps a
 * bit per page never reserved since its creation (fresh), so that memctl
 * can tell memory given back (punched) from memory never taken.
 *
 * Release: a segment whose last live block is freed is released
 * (heap_remove_segment, close, unlink), except the pool's first segment,
 * which lives as long as the pool, and one spare: the most recently
 * emptied segment (the larger one, if two compete) is kept, with all its
 * pages punched (each a hole, punched or never reserved: the state a
 * growth segment starts in), so a workload that repeatedly allocates and
 * frees one block too large for the first segment does not create and
 * unlink a segment (and burn an id) on every cycle.  The spare costs a
 * name, an fd and its page maps, no memory; growth drops it when it is in
 * the way.
 * Clients that mapped a released segment keep their mapping (and its
 * pages) until they unmap it; the daemon cannot force that.
 *
 * Ownership: struct pool_set owns its pools; a pool owns its heap, its
 * segments array, and every segment's fds, shm name and page maps
 * (holes, fresh).  pool_set_destroy
 * closes and unlinks every segment, so a clean shutdown leaves nothing in
 * /dev/shm.  Everything runs on the daemon's loop thread.
 */
#include "pool.h"
#include "pool_pages.h"

#include "access.h"
#include "debug.h"
#include "log.h"
#include "ref.h"
#include "sizeclass.h"
#include "shm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t page_floor(uint64_t v)
{
	return v & ~(uint64_t)(HEAP_PAGE_SIZE - 1);
}

static uint64_t page_ceil(uint64_t v)
{
	return page_floor(v + HEAP_PAGE_SIZE - 1);
}

/* Index of segment id in pool->segs, or -1. */
static ptrdiff_t seg_index(const struct pool *pool, uint32_t id)
{
	size_t lo = 0, hi = pool->seg_count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (pool->segs[mid].id == id)
			return (ptrdiff_t)mid;
		if (pool->segs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static struct pool_segment *seg_find(const struct pool *pool, uint32_t id)
{
	ptrdiff_t i = seg_index(pool, id);

	return i < 0 ? NULL : &pool->segs[i];
}

/* Create a segment of size bytes under the next id and register it: the
 * pool's first one reserved whole, a growth one (grow) sparse, with its
 * page maps.  0, -ENOSPC (ids exhausted or /dev/shm full), -EEXIST,
 * -ENOMEM (no memory for the maps), -errno. */
static int segment_add(struct pool *pool, uint64_t size, bool grow)
{
	struct pool_segment *seg;
	uint32_t id = pool->next_seg_id;
	int rc, fd;

	memd_assert(size > 0 && size % HEAP_PAGE_SIZE == 0);
	if (id >= pool->seg_id_base + POOL_SEGS_PER_POOL)
		return -ENOSPC;
	if (pool->seg_count == pool->seg_cap) {
		size_t cap = pool->seg_cap ? pool->seg_cap * 2 : 8;
		struct pool_segment *ns = realloc(pool->segs, cap * sizeof(*ns));
		if (ns == NULL)
			return -ENOMEM;
		pool->segs = ns;
		pool->seg_cap = cap;
	}
	seg = &pool->segs[pool->seg_count];
	memset(seg, 0, sizeof(*seg));
	snprintf(seg->name, sizeof(seg->name), "/%s-%s-%" PRIu32, pool->shm_prefix, pool->cfg.name,
	         id);
	if (grow) {
		rc = pages_init_fresh(seg, size);
		if (rc < 0)
			return rc;
		rc = shm_segment_create_sparse(seg->name, size, &fd);
	} else {
		rc = shm_segment_create(seg->name, size, &fd);
	}
	if (rc < 0)
		goto fail_free_maps;
	rc = heap_add_segment(pool->heap, id, size);
	if (rc < 0)
		goto fail_destroy;
	seg->id = id;
	seg->size = size;
	seg->fd = fd;
	seg->fd_ro = -1;
	pool->seg_count++;
	pool->next_seg_id++;
	pool->reserved += size;
	pool->last_seg_size = size;
	pool->counters.segments_created++;
	log_debug("pool %s: segment %s created (%" PRIu64 " bytes%s)", pool->cfg.name, seg->name,
	          size, grow ? ", not reserved" : "");
	return 0;

fail_destroy:
	shm_segment_destroy(seg->name, fd);
fail_free_maps:
	free(seg->holes);
	seg->holes = NULL;
	seg->fresh = NULL;
	return rc;
}

/* Close and unlink segs[i]; it must be unknown to the heap already. */
static void segment_close(struct pool_segment *seg)
{
	free(seg->holes); /* fresh lives in the same allocation */
	seg->holes = NULL;
	seg->fresh = NULL;
	if (seg->fd_ro >= 0)
		close(seg->fd_ro);
	shm_segment_destroy(seg->name, seg->fd);
	seg->fd = -1;
	seg->fd_ro = -1;
}

/* Take the empty segment segs[i] (never the first) out of the pool: out
 * of the heap, closed and unlinked, out of the array.  No counter moves. */
static void segment_remove(struct pool *pool, size_t i)
{
	struct pool_segment *seg = &pool->segs[i];
	int rc;

	memd_assert(i > 0 && i < pool->seg_count);
	rc = heap_remove_segment(pool->heap, seg->id);
	memd_assert(rc == 0);
	(void)rc;
	if (pool->spare_id == seg->id)
		pool->spare_id = 0;
	pool->reserved -= seg->size;
	segment_close(seg);
	memmove(&pool->segs[i], &pool->segs[i + 1], (pool->seg_count - i - 1) * sizeof(*seg));
	pool->seg_count--;
}

/* Release the empty segment segs[i] (never the first). */
static void segment_release(struct pool *pool, size_t i)
{
	log_debug("pool %s: segment %s released", pool->cfg.name, pool->segs[i].name);
	pool->counters.segments_released++;
	segment_remove(pool, i);
}

static void pool_destroy(struct pool *pool)
{
	for (size_t i = 0; i < pool->seg_count; i++)
		segment_close(&pool->segs[i]);
	free(pool->segs);
	free(pool->uid_usage);
	if (pool->heap != NULL)
		heap_destroy(pool->heap);
	memset(pool, 0, sizeof(*pool));
}

/* Set up pool number idx (0-based) from pc and create its first segment. */
static int pool_init(struct pool_set *set, struct pool *pool, size_t idx,
                     const struct memd_pool_config *pc, const char *prefix)
{
	struct heap_options opt = {0};
	int rc;

	memset(pool, 0, sizeof(*pool));
	pool->id = (uint32_t)idx + 1;
	pool->set = set;
	pool->cfg = *pc;
	snprintf(pool->shm_prefix, sizeof(pool->shm_prefix), "%s", prefix);
	pool->self_uid = geteuid();
	pool->seg_id_base = 1 + (uint32_t)idx * POOL_SEGS_PER_POOL;
	pool->next_seg_id = pool->seg_id_base;
	opt.seg_id_base = pool->seg_id_base;
	opt.seg_id_count = POOL_SEGS_PER_POOL;
	rc = heap_create(&opt, &pool->heap);
	if (rc < 0)
		return rc;
	rc = segment_add(pool, pool->cfg.segment_size, false);
	if (rc < 0)
		goto fail_destroy;
	return 0;

fail_destroy:
	pool_destroy(pool);
	return rc;
}

int pool_set_create(struct pool_set *set, const struct memd_config *cfg, char *err, size_t errlen)
{
	size_t i;
	int rc;

	memd_assert(set != NULL && cfg != NULL && cfg->pool_count <= CONFIG_POOLS_MAX);
	for (i = 0; i < cfg->pool_count; i++)
		memd_assert(cfg->pools[i].segment_size > 0 &&
		            cfg->pools[i].segment_size <= cfg->pools[i].max_size &&
		            cfg->pools[i].max_size % HEAP_PAGE_SIZE == 0 &&
		            cfg->pools[i].segment_size % HEAP_PAGE_SIZE == 0);
	memset(set, 0, sizeof(*set));
	snprintf(set->shm_prefix, sizeof(set->shm_prefix), "%s", cfg->shm_prefix);
	blocks_init(&set->blocks);
	names_init(&set->names, cfg->max_names);
	/* Room for every pool a reload may add: pools never move (blocks.h
	 * keeps struct pool pointers).  Untouched entries cost no memory. */
	set->pools = calloc(CONFIG_POOLS_MAX, sizeof(*set->pools));
	if (set->pools == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < cfg->pool_count; i++) {
		rc = pool_init(set, &set->pools[i], i, &cfg->pools[i], set->shm_prefix);
		if (rc < 0)
			goto fail_destroy;
		set->count++;
	}
	return 0;

fail_destroy:
	snprintf(err, errlen,
	         "pool %s: cannot create segment /%s-%s-%" PRIu32 " (%" PRIu64 " bytes): %s%s",
	         cfg->pools[i].name, set->shm_prefix, cfg->pools[i].name,
	         1 + (uint32_t)i * POOL_SEGS_PER_POOL, cfg->pools[i].segment_size, strerror(-rc),
	         rc == -EEXIST ? " (another memd uses this shm_prefix, or a crashed one left it"
	                         " behind in /dev/shm)"
	                       : "");
	pool_set_destroy(set);
	return rc;
}

int pool_set_add(struct pool_set *set, const struct memd_pool_config *pc, char *err, size_t errlen)
{
	size_t i = set->count;
	int rc;

	memd_assert(pc->segment_size > 0 && pc->segment_size <= pc->max_size);
	memd_assert(pool_set_find(set, pc->name) == NULL);
	if (i >= CONFIG_POOLS_MAX) {
		snprintf(err, errlen, "pool %s: more than %u pools", pc->name, CONFIG_POOLS_MAX);
		return -ENOSPC;
	}
	rc = pool_init(set, &set->pools[i], i, pc, set->shm_prefix);
	if (rc < 0) {
		snprintf(err, errlen,
		         "pool %s: cannot create segment /%s-%s-%" PRIu32 " (%" PRIu64
		         " bytes): %s",
		         pc->name, set->shm_prefix, pc->name, 1 + (uint32_t)i * POOL_SEGS_PER_POOL,
		         pc->segment_size, strerror(-rc));
		return rc;
	}
	set->count++;
	return 0;
}

void pool_set_destroy(struct pool_set *set)
{
	if (set == NULL)
		return;
	names_fini(&set->names);
	blocks_fini(&set->blocks);
	for (size_t i = 0; i < set->count; i++)
		pool_destroy(&set->pools[i]);
	free(set->pools);
	memset(set, 0, sizeof(*set));
}

struct pool *pool_set_find(const struct pool_set *set, const char *name)
{
	for (size_t i = 0; i < set->count; i++)
		if (strcmp(set->pools[i].cfg.name, name) == 0)
			return &set->pools[i];
	return NULL;
}

struct pool *pool_set_get(const struct pool_set *set, uint32_t pool_id)
{
	if (pool_id == 0 || pool_id > set->count)
		return NULL;
	return &set->pools[pool_id - 1];
}

/* The pool owning segment id seg_id, or NULL. */
static struct pool *pool_of_seg(const struct pool_set *set, uint32_t seg_id)
{
	if (seg_id == 0)
		return NULL;
	return pool_set_get(set, (seg_id - 1) / POOL_SEGS_PER_POOL + 1);
}

struct pool *pool_set_pool_of_ref(const struct pool_set *set, uint64_t ref)
{
	return pool_of_seg(set, memd_ref_seg(ref));
}

int pool_segment_lookup(const struct pool_set *set, uint32_t seg_id, struct pool **pool,
                        struct pool_segment **seg)
{
	struct pool *p = pool_of_seg(set, seg_id);
	struct pool_segment *s = p != NULL ? seg_find(p, seg_id) : NULL;

	if (s == NULL)
		return -EINVAL;
	*pool = p;
	*seg = s;
	return 0;
}

int pool_segment_fd(struct pool_segment *seg, bool readonly)
{
	int fd;

	if (!readonly)
		return seg->fd;
	if (seg->fd_ro < 0) {
		fd = shm_open_readonly(seg->name, seg->fd);
		if (fd < 0)
			return fd;
		seg->fd_ro = fd;
	}
	return seg->fd_ro;
}

/* Release the spare segment, if any. */
static void spare_drop(struct pool *pool)
{
	ptrdiff_t i;

	if (pool->spare_id == 0)
		return;
	i = seg_index(pool, pool->spare_id);
	memd_assert(i > 0);
	segment_release(pool, (size_t)i);
}

/* Add a segment big enough for (size, align).  0, -EINVAL, -ENOMEM. */
static int pool_grow(struct pool *pool, uint64_t size, uint64_t align)
{
	uint64_t need = heap_grow_size(size, align), next, room;
	int rc;

	if (need == 0)
		return -EINVAL;
	if (need > pool->cfg.max_size - pool->reserved)
		spare_drop(pool);
	room = pool->cfg.max_size - pool->reserved;
	if (need > room)
		return -ENOMEM;
	next = pool->cfg.segment_size;
	if (pool->seg_count > 0) {
		uint64_t newest = pool->segs[pool->seg_count - 1].size;
		next = newest > MEMD_SEG_SIZE_MAX / 2 ? MEMD_SEG_SIZE_MAX : newest * 2;
	}
	if (next < need)
		next = need;
	if (next > room)
		next = page_floor(room);
	if (next > MEMD_SEG_SIZE_MAX)
		next = MEMD_SEG_SIZE_MAX;
	rc = segment_add(pool, next, true);
	if (rc < 0) {
		log_warn("pool %s: cannot add a %" PRIu64 "-byte segment: %s", pool->cfg.name, next,
		         strerror(-rc));
		return rc == -EINVAL ? -EINVAL : -ENOMEM;
	}
	return 0;
}

/* Reserve the pages of the block at ref where they are holes.
 * 0 or -ENOMEM. */
static int block_reserve(struct pool *pool, uint64_t ref, uint64_t usable)
{
	struct pool_segment *seg = seg_find(pool, memd_ref_seg(ref));

	memd_assert(seg != NULL);
	return pages_fill_holes(seg, page_floor(memd_ref_off(ref)),
	                        page_ceil(memd_ref_off(ref) + usable));
}

/* Blocks refs[0..n) were just handed out: a spare segment that holds one
 * is a spare no more (before any growth, which may drop the spare). */
static void spare_claim(struct pool *pool, const uint64_t *refs, uint32_t n)
{
	if (pool->spare_id == 0)
		return;
	for (uint32_t i = 0; i < n; i++)
		if (memd_ref_seg(refs[i]) == pool->spare_id)
			pool->spare_id = 0;
}

/* Allocate up to count blocks of (size, align) without the re-reserve
 * step, as count single allocations would: each one that finds no room
 * grows the pool and tries once more, and the first failure stops the
 * batch.  0 with *got in 1..count and *usable set (blocks of one request
 * all have one usable size); or the error of the first failure when not
 * even one block could be had (-EINVAL, -ENOMEM). */
static int alloc_raw(struct pool *pool, uint64_t size, uint64_t align, uint32_t count,
                     uint64_t *refs, uint32_t *got, uint64_t *usable)
{
	uint32_t n = 0, k;
	uint64_t u = 0;
	int rc;

	if ((align & (align - 1)) != 0)
		return -EINVAL;
	if (align < HEAP_MIN_ALIGN)
		align = HEAP_MIN_ALIGN;
	rc = heap_alloc_batch(pool->heap, size, align, count, refs, &n);
	spare_claim(pool, refs, n);
	while (rc == -ENOMEM) {
		rc = pool_grow(pool, size, align);
		if (rc < 0)
			break;
		rc = heap_alloc_batch(pool->heap, size, align, count - n, refs + n, &k);
		if (k == 0) { /* the heap broke heap_grow_size's promise */
			segment_release(pool, pool->seg_count - 1);
			break;
		}
		spare_claim(pool, refs + n, k);
		n += k;
	}
	if (rc == -ENOMEM)
		pool->counters.enomem++;
	*got = n;
	if (n == 0)
		return rc;
	if (size <= HEAP_SMALL_MAX && align == HEAP_MIN_ALIGN) {
		/* A slot of size's class (common/sizeclass.h): no lookup. */
		*usable = memd_class_size(memd_size_class(size));
		memd_assert_expensive(heap_block_size(pool->heap, refs[0], &u) == 0 &&
		                      u == *usable);
		return 0;
	}
	rc = heap_block_size(pool->heap, refs[0], usable);
	memd_assert(rc == 0);
	return 0;
}

/* Remove segment id, made by the request under way and empty again, as
 * if it had never been made (see Reservation above). */
static void growth_undo(struct pool *pool, uint32_t id)
{
	ptrdiff_t i = seg_index(pool, id);

	memd_assert(i > 0);
	log_warn("pool %s: cannot reserve a block's pages in new segment %s (/dev/shm full?): "
	         "segment removed",
	         pool->cfg.name, pool->segs[i].name);
	pool->counters.segments_created--;
	segment_remove(pool, (size_t)i);
}

/* Reserving pages failed: give back refs[0..n), blocks this request got
 * that will not leave the daemon.  Segments with ids from mark on were
 * made by this request: their blocks go straight back to the heap (no
 * trim, no spare: they were never used), and one that is empty again is
 * undone; the ids of the undone newest ones are handed out again.  Blocks
 * of older segments are freed as usual. */
static void alloc_undo(struct pool *pool, const uint64_t *refs, uint32_t n, uint32_t mark)
{
	uint64_t usable;
	int rc;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t id = memd_ref_seg(refs[i]);

		if (id < mark) {
			pool_free(pool, refs[i]);
			continue;
		}
		rc = heap_free_block(pool->heap, refs[i], &usable);
		memd_assert(rc >= 0);
		if (rc == 1)
			growth_undo(pool, id);
	}
	while (pool->next_seg_id > mark && seg_find(pool, pool->next_seg_id - 1) == NULL)
		pool->next_seg_id--;
}

int pool_alloc(struct pool *pool, uint64_t size, uint64_t align, uint64_t *ref, uint64_t *usable)
{
	uint32_t mark = pool->next_seg_id, got;
	uint64_t r, u;
	int rc;

	memd_assert(pool != NULL && ref != NULL);
	rc = alloc_raw(pool, size, align, 1, &r, &got, &u);
	if (rc < 0)
		return rc;
	rc = block_reserve(pool, r, u);
	if (rc < 0)
		goto fail_undo;
	*ref = r;
	if (usable != NULL)
		*usable = u;
	return 0;

fail_undo:
	alloc_undo(pool, &r, 1, mark);
	pool->counters.enomem++;
	return rc;
}

/* Re-reserve the pages of refs[0..n) (n >= 1, all of size usable) in
 * merged ranges.  Returns the number of leading blocks whose pages are
 * reserved (n when all are). */
static uint32_t batch_reserve(struct pool *pool, const uint64_t *refs, uint32_t n, uint64_t usable)
{
	uint32_t first = 0; /* first block of the pending range */
	struct pool_segment *seg = seg_find(pool, memd_ref_seg(refs[0]));
	uint64_t lo = page_floor(memd_ref_off(refs[0]));
	uint64_t hi = page_ceil(memd_ref_off(refs[0]) + usable);

	for (uint32_t i = 1; i < n; i++) {
		uint32_t id = memd_ref_seg(refs[i]);
		uint64_t blo = page_floor(memd_ref_off(refs[i]));
		uint64_t bhi = page_ceil(memd_ref_off(refs[i]) + usable);
		if (id == seg->id && blo <= hi && bhi >= lo) {
			lo = blo < lo ? blo : lo;
			hi = bhi > hi ? bhi : hi;
			continue;
		}
		if (pages_fill_holes(seg, lo, hi) < 0)
			return first;
		first = i;
		/* A batch mostly comes from one segment. */
		if (id != seg->id)
			seg = seg_find(pool, id);
		lo = blo;
		hi = bhi;
	}
	return pages_fill_holes(seg, lo, hi) < 0 ? first : n;
}

int pool_alloc_batch(struct pool *pool, uint64_t size, uint32_t count, uint64_t *refs,
                     uint32_t *got, uint64_t *usable)
{
	uint32_t mark = pool->next_seg_id, n = 0, ok;
	uint64_t u = 0;
	int rc;

	memd_assert(pool != NULL && refs != NULL && got != NULL && count > 0);
	rc = alloc_raw(pool, size, 0, count, refs, &n, &u);
	ok = n > 0 ? batch_reserve(pool, refs, n, u) : 0;
	if (ok < n) {
		alloc_undo(pool, refs + ok, n - ok, mark);
		pool->counters.enomem++;
	}
	*got = ok;
	if (ok == 0)
		return n > 0 ? -ENOMEM : rc;
	if (usable != NULL)
		*usable = u;
	return 0;
}

/* The segment at index i just lost its last block. */
/* A trim pass is due: run it now, or, when the set defers trims, mark it
 * due for pool_set_trim_due() (after the replies went out). */
static void trim_soon(struct pool *pool)
{
	if (!pool->set->defer_trims) {
		pool_trim(pool, 0);
		return;
	}
	if (!pool->trim_due) {
		pool->trim_due = true;
		pool->set->trims_due++;
	}
}

static void segment_emptied(struct pool *pool, size_t i)
{
	ptrdiff_t s;

	if (i == 0)
		return; /* the first segment stays */
	if (pool->spare_id == 0) {
		pool->spare_id = pool->segs[i].id;
		trim_soon(pool);
		return;
	}
	s = seg_index(pool, pool->spare_id);
	memd_assert(s > 0);
	if (pool->segs[i].size > pool->segs[s].size) {
		uint32_t keep = pool->segs[i].id;
		segment_release(pool, (size_t)s);
		pool->spare_id = keep;
		trim_soon(pool);
	} else {
		segment_release(pool, i);
	}
}

int pool_free_block(struct pool *pool, uint64_t ref, uint64_t *usable)
{
	ptrdiff_t i;
	int rc;

	memd_assert(pool != NULL);
	/* The heap validates ref (its segments are exactly pool->segs), so
	 * the segment is looked up only when it became empty. */
	rc = heap_free_block(pool->heap, ref, usable);
	if (rc < 0)
		return rc;
	pool->freed_since_trim += *usable;
	if (rc == 1) {
		i = seg_index(pool, memd_ref_seg(ref));
		memd_assert(i >= 0);
		segment_emptied(pool, (size_t)i);
	}
	if (pool->freed_since_trim >= pool->cfg.trim_threshold)
		trim_soon(pool);
	return 0;
}

int pool_free(struct pool *pool, uint64_t ref)
{
	uint64_t usable;

	return pool_free_block(pool, ref, &usable);
}

int pool_block_size(const struct pool *pool, uint64_t ref, uint64_t *usable)
{
	if (seg_find(pool, memd_ref_seg(ref)) == NULL)
		return -EINVAL;
	return heap_block_size(pool->heap, ref, usable);
}

/* State of one trim pass. */
struct trim_ctx {
	struct pool *pool; /* pool being trimmed */
	uint64_t min;      /* runs below this are skipped, except in the spare */
	uint64_t given;    /* bytes given back so far (pages_mark_holes) */
};

/* heap_dirty_runs callback: punch one run. */
static int trim_run(void *ctx, uint32_t seg_id, uint64_t off, uint64_t len)
{
	struct trim_ctx *t = ctx;
	struct pool_segment *seg;
	uint64_t given;
	int rc;

	if (len < t->min && seg_id != t->pool->spare_id)
		return 1;
	seg = seg_find(t->pool, seg_id);
	memd_assert(seg != NULL);
	rc = shm_punch(seg->fd, off, len);
	if (rc < 0) {
		log_warn("pool %s: punching %s at %" PRIu64 "+%" PRIu64 ": %s", t->pool->cfg.name,
		         seg->name, off, len, strerror(-rc));
		return 1;
	}
	seg->punched = true;
	given = pages_mark_holes(seg, off, off + len);
	t->given += given;
	t->pool->counters.punched_bytes += given;
	return 0;
}

uint64_t pool_trim(struct pool *pool, uint64_t min_bytes)
{
	struct trim_ctx t = {.pool = pool};

	t.min = min_bytes != 0 ? min_bytes : pool->cfg.trim_threshold;
	if (pool->trim_due) {
		pool->trim_due = false;
		pool->set->trims_due--;
	}
	pool->freed_since_trim = 0;
	pool->counters.trims++;
	/* The spare's runs are punched whatever their size; everyone else's
	 * only from t.min up (trim_run filters). */
	heap_dirty_runs(pool->heap, pool->spare_id != 0 ? HEAP_PAGE_SIZE : t.min, trim_run, &t);
	return t.given;
}

void pool_set_trim_due(struct pool_set *set)
{
	for (size_t i = 0; i < set->count && set->trims_due > 0; i++)
		if (set->pools[i].trim_due)
			pool_trim(&set->pools[i], 0);
}

uint32_t pool_access(const struct pool *pool, uid_t uid, gid_t gid)
{
	return access_pool(&pool->cfg, pool->self_uid, uid, gid);
}

/* uid's usage entry, or NULL. */
static struct pool_uid_usage *pool_uid_find(const struct pool *pool, uid_t uid)
{
	for (size_t i = 0; i < pool->uid_count; i++)
		if (pool->uid_usage[i].uid == uid)
			return &pool->uid_usage[i];
	return NULL;
}

int pool_uid_reserve(struct pool *pool, uid_t uid)
{
	struct pool_uid_usage *v;
	size_t cap;

	if (pool_uid_find(pool, uid) != NULL)
		return 0;
	if (pool->uid_count == pool->uid_cap) {
		cap = pool->uid_cap ? 2 * pool->uid_cap : 4;
		v = realloc(pool->uid_usage, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		pool->uid_usage = v;
		pool->uid_cap = cap;
	}
	pool->uid_usage[pool->uid_count++] = (struct pool_uid_usage){.uid = uid, .bytes = 0};
	return 0;
}

uint64_t pool_uid_bytes(const struct pool *pool, uid_t uid)
{
	const struct pool_uid_usage *u = pool_uid_find(pool, uid);

	return u != NULL ? u->bytes : 0;
}

void pool_uid_charge(struct pool *pool, uid_t uid, uint64_t bytes)
{
	struct pool_uid_usage *u = pool_uid_find(pool, uid);

	memd_assert(u != NULL);
	u->bytes += bytes;
}

void pool_uid_uncharge(struct pool *pool, uid_t uid, uint64_t bytes)
{
	struct pool_uid_usage *u = pool_uid_find(pool, uid);

	memd_assert(u != NULL && u->bytes >= bytes);
	u->bytes -= bytes;
}
