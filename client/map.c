/*
 * map.c - the client's segment table: segment id -> mapping, reference <->
 * pointer.
 *
 * What it does: the first time a reference into segment S is resolved,
 * segtab_map() asks the daemon for S's fd (MAP; the fd arrives as
 * SCM_RIGHTS), mmaps the whole segment MAP_SHARED with PROT_READ|PROT_WRITE
 * or PROT_READ as the reply's access says, closes the fd and publishes the
 * mapping.  memc_ptr() and memc_ref_of() then translate without any lock.
 *
 * Two structures, both written only under c->lock (segtab_map is the only
 * writer) and read by any thread without it:
 *  - A two-level direct table indexed by segment id (12 + 12 bits, leaves
 *    allocated on first use).  Each slot is written once (NULL -> mapping)
 *    with a release store and read with an acquire load, so a reader that
 *    sees the pointer sees the finished struct memc_seg.  O(1).
 *  - An address index, mappings sorted by base address, searched by binary
 *    search for memc_ref_of() when its memo (below) does not know the
 *    address.  Insertions shift entries in place, so it is
 *    guarded by a seqlock: the writer makes seq odd, edits, makes it even;
 *    a reader retries if seq was odd or changed.  Every field a reader
 *    touches is an atomic (relaxed), so racing reads are defined and only
 *    used when the sequence check passes.  Growth allocates a bigger array,
 *    publishes it, and keeps the old one on a retired list (readers may
 *    still be looking at it) until segtab_destroy(); growth is geometric so
 *    retired arrays total less than the live one.  O(log n).
 *
 *  - memc_ref_of's memo: a direct-mapped table of 1 MiB address granules,
 *    each slot remembering (granule, segment id) of the last address found
 *    there, written by any reader with one relaxed atomic store.  A hit is
 *    checked against the segment's published mapping, so a wrong or torn
 *    guess costs only the search.  With it memc_ref_of is O(1) once an
 *    address's granule was seen.
 *
 * Invariants: a published mapping is never changed or unmapped before
 * memc_close(), so an address memc_ptr() returned stays valid until then;
 * segment ids are never reused by the daemon, so a mapping never goes
 * stale.  The segment fd is closed as soon as the mapping exists.
 *
 * Ownership: the table owns every struct memc_seg, leaf, index array and
 * mapping; segtab_destroy() releases them all.
 */
#include "client_int.h"

#include "debug.h"
#include "ref.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef ADDR_INDEX_MIN
#define ADDR_INDEX_MIN 16 /* entries in the first address index (tests may lower it) */
#endif

/* A new, empty address index with room for cap entries, or NULL. */
static struct memc_addr_index *addr_index_new(size_t cap)
{
	struct memc_addr_index *x;

	x = calloc(1, sizeof(*x) + cap * sizeof(x->ent[0]));
	if (x == NULL)
		return NULL;
	x->cap = cap;
	atomic_init(&x->n, 0);
	return x;
}

int segtab_init(struct memc_segtab *t)
{
	struct memc_addr_index *x = addr_index_new(ADDR_INDEX_MIN);

	if (x == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < SEGTAB_DIR_SIZE; i++)
		atomic_init(&t->dir[i], NULL);
	for (size_t i = 0; i < REFOF_MEMO_SIZE; i++)
		atomic_init(&t->memo[i], 0);
	atomic_init(&t->index, x);
	atomic_init(&t->seq, 0);
	return 0;
}

/* Unmap and free every segment of one leaf, then the leaf. */
static void segtab_free_leaf(struct memc_seg_leaf *leaf)
{
	for (size_t j = 0; j < SEGTAB_LEAF_SIZE; j++) {
		struct memc_seg *s = atomic_load_explicit(&leaf->slot[j], memory_order_relaxed);

		if (s == NULL)
			continue;
		munmap(s->base, s->size);
		cache_seg_free(s);
		free(s);
	}
	free(leaf);
}

void segtab_destroy(struct memc_segtab *t)
{
	struct memc_addr_index *x = atomic_load_explicit(&t->index, memory_order_relaxed);

	for (size_t i = 0; i < SEGTAB_DIR_SIZE; i++) {
		struct memc_seg_leaf *leaf = atomic_load_explicit(&t->dir[i], memory_order_relaxed);

		if (leaf != NULL)
			segtab_free_leaf(leaf);
	}
	while (x != NULL) {
		struct memc_addr_index *older = x->retired;

		free(x);
		x = older;
	}
}

/* Make sure the leaf holding seg_id exists.  Writer only.  0 or -ENOMEM. */
static int segtab_leaf_ensure(struct memc_segtab *t, uint32_t seg_id)
{
	_Atomic(struct memc_seg_leaf *) *dp = &t->dir[seg_id >> SEGTAB_LEAF_BITS];
	struct memc_seg_leaf *leaf;

	if (atomic_load_explicit(dp, memory_order_relaxed) != NULL)
		return 0;
	leaf = malloc(sizeof(*leaf));
	if (leaf == NULL)
		return -ENOMEM;
	for (size_t j = 0; j < SEGTAB_LEAF_SIZE; j++)
		atomic_init(&leaf->slot[j], NULL);
	atomic_store_explicit(dp, leaf, memory_order_release);
	return 0;
}

/* Copy entry src into dst (writer side, relaxed stores). */
static void addr_ent_copy(struct memc_addr_ent *dst, struct memc_addr_ent *src)
{
	atomic_store_explicit(&dst->base, atomic_load_explicit(&src->base, memory_order_relaxed),
	                      memory_order_relaxed);
	atomic_store_explicit(&dst->size, atomic_load_explicit(&src->size, memory_order_relaxed),
	                      memory_order_relaxed);
	atomic_store_explicit(&dst->seg_id,
	                      atomic_load_explicit(&src->seg_id, memory_order_relaxed),
	                      memory_order_relaxed);
}

/* Insert s into index x (room for one more assumed) keeping it sorted. */
static void addr_index_insert(struct memc_addr_index *x, const struct memc_seg *s)
{
	size_t n = atomic_load_explicit(&x->n, memory_order_relaxed);
	size_t i = n;

	memd_assert(n < x->cap);
	while (i > 0 && atomic_load_explicit(&x->ent[i - 1].base, memory_order_relaxed) >
	                        (uintptr_t)s->base) {
		addr_ent_copy(&x->ent[i], &x->ent[i - 1]);
		i--;
	}
	atomic_store_explicit(&x->ent[i].base, (uintptr_t)s->base, memory_order_relaxed);
	atomic_store_explicit(&x->ent[i].size, s->size, memory_order_relaxed);
	atomic_store_explicit(&x->ent[i].seg_id, s->id, memory_order_relaxed);
	atomic_store_explicit(&x->n, n + 1, memory_order_relaxed);
}

/* Add s to the address index, growing it if full.  Writer only, inside
 * the seqlock.  0 or -ENOMEM (index unchanged). */
static int segtab_index_add(struct memc_segtab *t, const struct memc_seg *s)
{
	struct memc_addr_index *x = atomic_load_explicit(&t->index, memory_order_relaxed);
	size_t n = atomic_load_explicit(&x->n, memory_order_relaxed);
	unsigned seq = atomic_load_explicit(&t->seq, memory_order_relaxed);
	struct memc_addr_index *bigger;

	if (n < x->cap) {
		atomic_store_explicit(&t->seq, seq + 1, memory_order_relaxed);
		atomic_thread_fence(memory_order_release);
		addr_index_insert(x, s);
		atomic_store_explicit(&t->seq, seq + 2, memory_order_release);
		return 0;
	}
	bigger = addr_index_new(2 * x->cap);
	if (bigger == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		addr_ent_copy(&bigger->ent[i], &x->ent[i]);
	atomic_store_explicit(&bigger->n, n, memory_order_relaxed);
	addr_index_insert(bigger, s);
	bigger->retired = x;
	atomic_store_explicit(&t->seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&t->index, bigger, memory_order_release);
	atomic_store_explicit(&t->seq, seq + 2, memory_order_release);
	return 0;
}

/* mmap a segment fd per the MAP reply into a new struct memc_seg.  The fd
 * is not closed here.  0 and *out set, or -EPROTO (the object is smaller
 * than the daemon said), -errno from mmap, -ENOMEM. */
static int segtab_mmap(int fd, const struct memd_map_rep *rep, struct memc_seg **out)
{
	int prot = PROT_READ;
	struct memc_seg *s = NULL;
	struct stat st;
	void *base;
	int err;

	if (rep->access & MEMD_ACCESS_WRITE)
		prot |= PROT_WRITE;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size < 0 || (uint64_t)st.st_size < rep->size || rep->size > SIZE_MAX)
		return -EPROTO;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	/* calloc: all NULL (the chunk records come with the cache's leases) */
	s->cmap = calloc((rep->size + (UINT64_C(1) << CMAP_CHUNK_SHIFT) - 1) >> CMAP_CHUNK_SHIFT,
	                 sizeof(s->cmap[0]));
	if (s->cmap == NULL) {
		err = -ENOMEM;
		goto fail_free_seg;
	}
	base = mmap(NULL, (size_t)rep->size, prot, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		err = -errno;
		goto fail_free_cmap;
	}
	s->id = rep->seg_id;
	s->access = rep->access;
	s->base = base;
	s->size = rep->size;
	*out = s;
	return 0;

fail_free_cmap:
	free(s->cmap);
fail_free_seg:
	free(s);
	return err;
}

/* Ask the daemon for seg_id and map it; c->lock held, seg_id not mapped.
 * 0 and *out set (published), or an error. */
static int segtab_map_locked(memc_client *c, uint32_t seg_id, struct memc_seg **out)
{
	struct memd_map_req req = {.seg_id = seg_id};
	struct memd_map_rep rep;
	struct memc_seg *s = NULL;
	struct memc_seg_leaf *leaf;
	int fd;
	int err;

	err = segtab_leaf_ensure(&c->segs, seg_id);
	if (err < 0)
		return err;
	err = client_call(c, 1, MEMD_OP_MAP, &req, sizeof(req), &rep, sizeof(rep), NULL, &fd);
	if (err < 0)
		goto fail_close_fd;
	if (rep.seg_id != seg_id) {
		err = client_protocol_error(c);
		goto fail_close_fd;
	}
	err = segtab_mmap(fd, &rep, &s);
	if (err < 0)
		goto fail_close_fd;
	err = segtab_index_add(&c->segs, s);
	if (err < 0)
		goto fail_unmap;
	close(fd);
	leaf = atomic_load_explicit(&c->segs.dir[seg_id >> SEGTAB_LEAF_BITS], memory_order_relaxed);
	atomic_store_explicit(&leaf->slot[seg_id & (SEGTAB_LEAF_SIZE - 1)], s,
	                      memory_order_release);
	*out = s;
	return 0;

fail_unmap:
	munmap(s->base, s->size);
	free(s->cmap);
	free(s);
fail_close_fd:
	if (fd >= 0)
		close(fd);
	return err;
}

int segtab_map_held(memc_client *c, uint32_t seg_id, struct memc_seg **out)
{
	*out = segtab_find(&c->segs, seg_id);
	if (*out != NULL)
		return 0;
	return segtab_map_locked(c, seg_id, out);
}

int segtab_map(memc_client *c, uint32_t seg_id, struct memc_seg **out)
{
	int err = 0;

	pthread_mutex_lock(&c->lock);
	*out = segtab_find(&c->segs, seg_id);
	if (*out == NULL)
		err = segtab_map_locked(c, seg_id, out);
	pthread_mutex_unlock(&c->lock);
	return err;
}

/* memc_ptr past its fast path: a segment not mapped yet, or bad input. */
static __attribute__((noinline)) void *memc_ptr_slow(memc_client *c, memc_ref ref)
{
	uint32_t seg_id = memd_ref_seg(ref);
	uint64_t off = memd_ref_off(ref);
	struct memc_seg *s = NULL;
	int err;

	if (c == NULL || seg_id == 0) {
		errno = EINVAL;
		return NULL;
	}
	s = segtab_find(&c->segs, seg_id);
	if (s == NULL) {
		err = segtab_map(c, seg_id, &s);
		if (err < 0) {
			errno = -err;
			return NULL;
		}
	}
	if (off >= s->size) {
		errno = EINVAL;
		return NULL;
	}
	return s->base + off;
}

void *memc_ptr(memc_client *c, memc_ref ref)
{
	struct memc_seg *s;

	/* A mapped segment and an offset inside it: no call, no stack. */
	if (memd_likely(c != NULL && memd_ref_seg(ref) != 0) &&
	    (s = segtab_find(&c->segs, memd_ref_seg(ref))) != NULL && memd_ref_off(ref) < s->size)
		return s->base + memd_ref_off(ref);
	return memc_ptr_slow(c, ref);
}

/* Binary search x for the mapping holding address a; racy reads, checked
 * by the caller's seqlock.  The reference, or 0. */
static memc_ref addr_index_search(struct memc_addr_index *x, uintptr_t a)
{
	size_t n = atomic_load_explicit(&x->n, memory_order_relaxed);
	size_t lo = 0, hi = n < x->cap ? n : x->cap;
	uintptr_t base;
	uint64_t size;

	/* Find the last entry with base <= a. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (atomic_load_explicit(&x->ent[mid].base, memory_order_relaxed) <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return 0;
	base = atomic_load_explicit(&x->ent[lo - 1].base, memory_order_relaxed);
	size = atomic_load_explicit(&x->ent[lo - 1].size, memory_order_relaxed);
	if (a - base >= size)
		return 0;
	return memd_ref_make(atomic_load_explicit(&x->ent[lo - 1].seg_id, memory_order_relaxed),
	                     a - base);
}

/* The memo slot of address granule g. */
static _Atomic uint64_t *refof_memo(struct memc_segtab *t, uint64_t g)
{
	return &t->memo[(g * UINT64_C(0x9e3779b97f4a7c15)) >> (64 - 10)];
}

_Static_assert(REFOF_MEMO_SIZE == 1u << 10, "refof_memo hashes to 10 bits");

/* memc_ref_of by the memo: the reference, or 0 if the memo does not know
 * a mapping that holds a.  O(1). */
static memc_ref refof_by_memo(struct memc_segtab *t, uintptr_t a)
{
	uint64_t g = (uint64_t)a >> REFOF_GRAN_SHIFT;
	uint64_t m = atomic_load_explicit(refof_memo(t, g), memory_order_relaxed);
	struct memc_seg *s;

	if (m == 0 || m >> MEMD_REF_SEG_BITS != g)
		return 0;
	s = segtab_find(t, (uint32_t)(m & MEMD_SEG_ID_MAX));
	if (s == NULL || a - (uintptr_t)s->base >= s->size)
		return 0;
	return memd_ref_make(s->id, a - (uintptr_t)s->base);
}

memc_ref memc_ref_of(memc_client *c, const void *ptr)
{
	struct memc_segtab *t;
	unsigned s1, s2;
	memc_ref ref;

	if (c == NULL || ptr == NULL)
		return 0;
	t = &c->segs;
	ref = refof_by_memo(t, (uintptr_t)ptr);
	if (memd_likely(ref != 0))
		return ref;
	for (;;) {
		s1 = atomic_load_explicit(&t->seq, memory_order_acquire);
		if (s1 & 1)
			continue;
		ref = addr_index_search(atomic_load_explicit(&t->index, memory_order_acquire),
		                        (uintptr_t)ptr);
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&t->seq, memory_order_relaxed);
		if (s1 == s2)
			break;
	}
	if (ref != 0) {
		uint64_t g = (uint64_t)(uintptr_t)ptr >> REFOF_GRAN_SHIFT;

		atomic_store_explicit(refof_memo(t, g), g << MEMD_REF_SEG_BITS | memd_ref_seg(ref),
		                      memory_order_relaxed);
	}
	return ref;
}
