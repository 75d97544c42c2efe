/*
 * cache_lease.c - the client cache's round trips: leasing blocks from memd
 * for the bins (ALLOC_BATCH) and sending them back (FREE_BATCH).  The
 * design and the record of what is ours are in cache.c.
 *
 * Leasing.  A bin that runs dry leases its batch with one ALLOC_BATCH
 * (cache_lease_batch).  Every block is checked, its segment mapped, the
 * chunk records it lands in made (lease_prepare), and only then is it
 * recorded as ours: its HELD bit set and its pages' size class noted, under
 * c->lock (lease_register).  A chunk record is created under c->lock when a
 * lease first lands in it, published with a release store, and lives until
 * memc_close (cache_seg_free).  Up to 512 blocks come at once, all of one
 * class and mostly side by side in a few slab pages, so both passes work
 * per run of blocks rather than per block.  A block checked in full leaves
 * a span of refs behind it (the rest of its chunk for lease_prepare, of
 * its page for lease_register) where the next blocks need next to nothing
 * done: a segment is looked up once per run of blocks in it, a chunk
 * record made once per chunk, a page's class noted once per page, and the
 * HELD bits of blocks sharing a word of the record are gathered and set
 * with one atomic OR, whose old value still refuses any block HELD or in
 * use already.  Nothing assumes the refs sorted or distinct: a block out
 * of order only costs a full check, a lookup or another OR, and a block
 * twice in a reply is caught by the gathering or by the OR.  A batch
 * refused there leaves nothing of it recorded.
 *
 * Returning.  Blocks leaving a bin are gathered (struct cache_ret) and go
 * back in one FREE_BATCH; HELD is cleared, under c->lock, just before it
 * is sent.
 *
 * Not waiting.  A round trip is mostly waiting, so the cache waits as
 * little as it can.  FREE_BATCH is sent without waiting for its reply
 * (client_send_async: the reply is checked by whichever call reads replies
 * next; at most MEMC_PENDING_MAX are outstanding).  And when a bin with a
 * batch of at least CACHE_AHEAD_MIN falls to half its batch, the next
 * batch is leased ahead (struct cache_lease), provided the bin ran dry
 * since its last GC look found it with slack (a bin that allocation and
 * free keep in balance never needs the daemon, and leasing ahead there
 * would only feed the GC): the daemon works on it while
 * the application goes on, and the bin collects it when it runs dry.  The
 * reply handler records the blocks (HELD) as soon as the reply is read;
 * if that needs a segment mapped (a round trip, which a handler cannot
 * make), the lease waits on c->cache.unreg until a call outside any
 * exchange settles it (cache_settle: every slow-path request about a
 * reference settles first, so the daemon is never asked about a block
 * that is really in a cache).
 */
#include "cache_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- returning ---------------------------------------------------------- */

/* Reply handler of FREE_BATCH: every block must have gone back (a refused
 * one is a protocol error: nobody but us could have dropped our hold). */
static int ret_reply(memc_client *c, void *arg, const struct memd_hdr *h, const void *body,
                     size_t len)
{
	(void)arg;
	(void)body;
	(void)len;
	return h->status == 0 ? 0 : client_protocol_error(c);
}

/* Clear the HELD bits of refs[0..n) (those with a chunk record).  c->lock
 * held. */
static void cmap_unhold(memc_client *c, const uint64_t *refs, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct memc_seg *s;
		_Atomic uint64_t *w;
		unsigned sh;

		if (cmap_locate(c, refs[i], &s, &w, &sh) != NULL)
			atomic_fetch_and_explicit(w, ~(CMAP_HELD << sh), memory_order_release);
	}
}

/* Send refs[0..n) back with one FREE_BATCH, clearing their HELD bits first;
 * c->lock held.  The reply is not waited for (ret_reply checks it when it
 * is read).  0, or the connection's error. */
static int ret_send_locked(memc_client *c, const uint64_t *refs, uint32_t n)
{
	static const size_t hdr = sizeof(struct memd_free_batch_req);
	unsigned char req[MEMC_REQ_MAX];
	struct memd_free_batch_req fb = {.count = n, .pad = 0};

	memd_assert(n >= 1 && n <= MEMD_BATCH_MAX);
	cmap_unhold(c, refs, n);
	memcpy(req, &fb, hdr);
	memcpy(req + hdr, refs, n * sizeof(uint64_t));
	return client_send_async(c, MEMD_OP_FREE_BATCH, req, hdr + n * sizeof(uint64_t), ret_reply,
	                         NULL);
}

int cache_ret_send(memc_client *c, const uint64_t *refs, uint32_t n)
{
	int err;

	if (n == 0)
		return 0;
	pthread_mutex_lock(&c->lock);
	err = ret_send_locked(c, refs, n);
	pthread_mutex_unlock(&c->lock);
	return err;
}

int cache_tc_ret_flush(memc_client *c, struct memc_tcache *tc)
{
	int err;

	if (tc->ret == NULL || tc->ret->n == 0)
		return 0;
	err = cache_ret_send(c, tc->ret->refs, tc->ret->n);
	if (memd_unlikely(tc->slot_shared)) {
		__atomic_fetch_sub(&tc->slot->blocks, (uint64_t)tc->ret->n, __ATOMIC_RELAXED);
		__atomic_fetch_sub(&tc->slot->bytes, tc->ret_bytes, __ATOMIC_RELAXED);
	}
	tc->ret->n = 0;
	tc->ret_bytes = 0;
	tc->ret_blocks = 0;
	tc_count(tc, 0, 0);
	return err;
}

int cache_tc_ret_add(memc_client *c, struct memc_tcache *tc, memc_ref ref, uint32_t size)
{
	int err = 0;

	if (memd_unlikely(tc->ret == NULL)) {
		tc->ret = malloc(sizeof(*tc->ret));
		if (tc->ret == NULL)
			return cache_ret_send(c, &ref, 1);
		tc->ret->n = 0;
	}
	if (tc->ret->n == CACHE_RET_BLOCKS || tc->ret_bytes + size > CACHE_RET_BYTES)
		err = cache_tc_ret_flush(c, tc);
	tc->ret->refs[tc->ret->n++] = ref;
	tc->ret_bytes += size;
	tc->ret_blocks++;
	if (memd_unlikely(tc->slot_shared)) {
		__atomic_fetch_add(&tc->slot->blocks, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&tc->slot->bytes, (uint64_t)size, __ATOMIC_RELAXED);
	} else {
		tc_count(tc, 0, 0); /* the fast paths count on the slot's sums */
	}
	return err;
}

int cache_bin_give(memc_client *c, struct memc_tcache *tc, struct cache_bin *b, uint32_t cls,
                   uint32_t k)
{
	uint32_t size = memd_class_size(cls);
	int err = 0;

	if (k > b->n)
		k = b->n;
	if (k == 0) /* b->refs may be NULL: no memmove(NULL, ...) */
		return 0;
	tc_count(tc, -(int64_t)k, -(int64_t)k * size);
	for (uint32_t i = 0; i < k; i++) {
		int e = cache_tc_ret_add(c, tc, b->refs[i], size);

		err = err < 0 ? err : e;
	}
	memmove(b->refs, b->refs + k, (b->n - k) * sizeof(b->refs[0]));
	b->n -= k;
	if (b->low > b->n)
		b->low = b->n;
	tc_count(tc, 0, 0);
	return err;
}

/* ---- leasing ------------------------------------------------------------ */

#define LEASE_GRAN_MASK  ((UINT64_C(1) << CMAP_GRAN_SHIFT) - 1)  /* clear in a block's offset */
#define LEASE_CHUNK_MASK ((UINT64_C(1) << CMAP_CHUNK_SHIFT) - 1) /* offset in a chunk */
#define LEASE_WORD_BYTES (UINT64_C(32) << CMAP_GRAN_SHIFT)       /* span of one word of a record */
#define LEASE_PAGE_BYTES (UINT64_C(1) << CMAP_PAGE_SHIFT)        /* span of one page's class */

/* Make the record of chunk k of s if it does not exist yet.  c->lock
 * held.  0 or -ENOMEM. */
static int lease_chunk(struct memc_seg *s, uint64_t k)
{
	struct cmap_chunk *ch;

	if (atomic_load_explicit(&s->cmap[k], memory_order_relaxed) != NULL)
		return 0;
	ch = calloc(1, sizeof(*ch));
	if (ch == NULL)
		return -ENOMEM;
	atomic_store_explicit(&s->cmap[k], ch, memory_order_release);
	return 0;
}

/* The mapping of segment seg_id, where a lease from pool_id landed: mapped
 * if it is not yet and may_map (else 1), and checked to belong to pool_id
 * (each segment of a pool's blocks goes to that pool's bins).  c->lock
 * held.  0 and *s, 1, -EPROTO, or an error mapping the segment. */
static int lease_seg(memc_client *c, uint32_t seg_id, uint32_t pool_id, bool may_map,
                     struct memc_seg **s)
{
	uint32_t owner;
	int err;

	if (seg_id == 0)
		return client_protocol_error(c);
	*s = segtab_find(&c->segs, seg_id);
	if (*s == NULL) {
		if (!may_map)
			return 1;
		err = segtab_map_held(c, seg_id, s);
		if (err < 0)
			return err;
	}
	owner = atomic_load_explicit(&(*s)->cache_pool, memory_order_relaxed);
	if (owner != 0 && owner != pool_id)
		return client_protocol_error(c);
	atomic_store_explicit(&(*s)->cache_pool, pool_id, memory_order_relaxed);
	return 0;
}

/* A batch being checked (lease_prepare).  Its blocks mostly lie side by
 * side, so a block checked in full leaves a span of refs for the next
 * ones: those of blocks lying wholly in the chunk of its last byte (whose
 * record is made) and inside its segment.  A block in the span needs no
 * more than an alignment check. */
struct lease_span {
	uint32_t pool_id;   /* where the batch came from */
	uint32_t size;      /* its block size */
	bool may_map;       /* a segment not mapped yet may be (else: 1) */
	uint32_t seg_id;    /* the segment of the last block checked (none: UINT32_MAX) */
	struct memc_seg *s; /* its mapping */
	uint64_t lo;        /* the span: refs lo .. lo + room - 1 */
	uint64_t room;      /* ... (0: none) */
};

/* Check the block at ref in full, get its segment mapped and its chunk
 * records made, and leave its span in sp.  c->lock held.  0, 1, -EPROTO,
 * -ENOMEM, or an error mapping the segment. */
static int lease_check(memc_client *c, struct lease_span *sp, uint64_t ref)
{
	uint64_t off = memd_ref_off(ref), end = off + sp->size, k, hi;
	int err;

	if ((off & LEASE_GRAN_MASK) != 0)
		return client_protocol_error(c);
	if (memd_ref_seg(ref) != sp->seg_id) {
		struct memc_seg *s;

		err = lease_seg(c, memd_ref_seg(ref), sp->pool_id, sp->may_map, &s);
		if (err != 0)
			return err;
		sp->seg_id = memd_ref_seg(ref);
		sp->s = s;
	}
	if (end > sp->s->size || end < off)
		return client_protocol_error(c);
	err = lease_chunk(sp->s, off >> CMAP_CHUNK_SHIFT);
	if (err == 0)
		err = lease_chunk(sp->s, (end - 1) >> CMAP_CHUNK_SHIFT);
	if (err < 0)
		return err;
	/* The span: the blocks lying wholly in the chunk k of this block's
	 * last byte, before the segment's end hi. */
	k = (end - 1) & ~LEASE_CHUNK_MASK;
	hi = k + LEASE_CHUNK_MASK + 1 < sp->s->size ? k + LEASE_CHUNK_MASK + 1 : sp->s->size;
	sp->lo = ref - off + k;
	sp->room = hi - k < sp->size ? 0 : hi - k - sp->size + 1;
	return 0;
}

/* Check the leased blocks refs[0..n) (size bytes, from pool_id), get
 * their segments mapped (if may_map; else 1 when one is not) and the
 * chunk records they land in made.  c->lock held.  0, 1, -EPROTO (the
 * daemon sent nonsense), -ENOMEM, or an error mapping a segment. */
static int lease_prepare(memc_client *c, const uint64_t *refs, uint32_t n, uint32_t size,
                         uint32_t pool_id, bool may_map)
{
	struct lease_span sp = {
	        .pool_id = pool_id, .size = size, .may_map = may_map, .seg_id = UINT32_MAX};
	int err;

	for (uint32_t i = 0; i < n; i++) {
		if (memd_likely(refs[i] - sp.lo < sp.room && (refs[i] & LEASE_GRAN_MASK) == 0))
			continue;
		err = lease_check(c, &sp, refs[i]);
		if (err != 0)
			return err;
	}
	return 0;
}

/* A prepared batch on its way into the record (lease_register).  The
 * HELD bits of blocks landing in one word of a chunk record are gathered
 * and set with one atomic OR when a block lands in another word.  As in
 * lease_span, a block taken in full (its segment and chunk looked up, its
 * pages' class noted) leaves a span of refs for the next ones: those of
 * blocks lying wholly in its first page, whose segment, chunk and class
 * are done.  A block in the span only has its bit gathered. */
struct lease_reg {
	uint32_t cls;          /* the batch's size class */
	uint32_t size;         /* its block size */
	uint32_t seg_id;       /* the last block's segment (none: UINT32_MAX) */
	struct memc_seg *s;    /* its mapping */
	uint64_t chunk;        /* the chunk of the last block's start in s */
	struct cmap_chunk *ch; /* its record */
	uint64_t page;         /* the last page of s whose class is noted */
	uint64_t lo;           /* the span: refs lo .. lo + room - 1 */
	uint64_t room;         /* ... (0: none) */
	_Atomic uint64_t *w;   /* the word whose bits are being gathered, or NULL */
	uint64_t bits;         /* the HELD bits gathered for it */
	uint64_t old;          /* its bits before the OR that set them */
	uint32_t from;         /* refs[0..from) are set; refs[from..) gathered or to come */
};

/* Note the class of the pages of the block at off in r's segment, but for
 * the page noted last (every block of the batch is of one class). */
static void reg_pages(struct lease_reg *r, uint64_t off)
{
	uint64_t p = off >> CMAP_PAGE_SHIFT, last = (off + r->size - 1) >> CMAP_PAGE_SHIFT;

	if (p == r->page && last == r->page)
		return;
	for (p = p == r->page ? p + 1 : p; p <= last; p++) {
		struct cmap_chunk *pc =
		        atomic_load_explicit(&r->s->cmap[p >> (CMAP_CHUNK_SHIFT - CMAP_PAGE_SHIFT)],
		                             memory_order_relaxed);

		atomic_store_explicit(&pc->cls[p & (CMAP_PAGES - 1)], (uint8_t)r->cls,
		                      memory_order_relaxed);
	}
	r->page = last;
}

/* The block at ref (prepared) is outside r's span: move r to its segment
 * and chunk, note its pages' class, and leave its span in r.  c->lock
 * held. */
static void reg_move(memc_client *c, struct lease_reg *r, uint64_t ref)
{
	uint64_t off = memd_ref_off(ref), page = off & ~(LEASE_PAGE_BYTES - 1);

	if (memd_ref_seg(ref) != r->seg_id) {
		r->seg_id = memd_ref_seg(ref);
		r->s = segtab_find(&c->segs, r->seg_id);
		memd_assert(r->s != NULL);
		r->chunk = UINT64_MAX;
		r->page = UINT64_MAX;
	}
	if (off >> CMAP_CHUNK_SHIFT != r->chunk) {
		r->chunk = off >> CMAP_CHUNK_SHIFT;
		r->ch = atomic_load_explicit(&r->s->cmap[r->chunk], memory_order_relaxed);
		memd_assert(r->ch != NULL);
	}
	reg_pages(r, off);
	/* The span: the blocks lying wholly in the page of this block's start. */
	r->lo = ref - off + page;
	r->room = r->size > LEASE_PAGE_BYTES ? 0 : LEASE_PAGE_BYTES - r->size + 1;
}

/* Set the HELD bits gathered in r with one atomic OR.  false if one of
 * those blocks was HELD or USED already. */
static bool reg_flush(struct lease_reg *r)
{
	if (r->w == NULL)
		return true;
	r->old = atomic_fetch_or_explicit(r->w, r->bits, memory_order_release);
	return (r->old & (r->bits | r->bits << 1)) == 0;
}

/* Record the prepared blocks refs[0..n) of class cls as ours (HELD, not
 * in use); c->lock held.  0, or -EPROTO if one of them is HELD already
 * (twice in the batch, or in an earlier one) or in use: then none of them
 * is left recorded, and the bits they found set stay. */
static int lease_register(memc_client *c, const uint64_t *refs, uint32_t n, uint32_t cls)
{
	struct lease_reg r = {.cls = cls, .size = memd_class_size(cls), .seg_id = UINT32_MAX};

	for (uint32_t i = 0; i < n; i++) {
		uint64_t bit = CMAP_HELD << (refs[i] >> CMAP_GRAN_SHIFT) % 32 * 2;
		_Atomic uint64_t *w;

		if (memd_unlikely(refs[i] - r.lo >= r.room))
			reg_move(c, &r, refs[i]);
		w = &r.ch->w[(refs[i] & LEASE_CHUNK_MASK) / LEASE_WORD_BYTES];
		if (w != r.w) {
			if (!reg_flush(&r))
				goto fail_undo;
			r.w = w;
			r.bits = 0;
			r.from = i;
		} else if (memd_unlikely(r.bits & bit)) {
			r.bits = 0; /* twice in this word's run: none of it set yet */
			goto fail_undo;
		}
		r.bits |= bit;
	}
	if (reg_flush(&r))
		return 0;
fail_undo:
	/* Clear what this batch set: the bits of refs[0..from), and those
	 * of the refused word that were clear before its OR. */
	cmap_unhold(c, refs, r.from);
	if (r.bits != 0)
		atomic_fetch_and_explicit(r.w, ~(r.bits & ~r.old), memory_order_release);
	return client_protocol_error(c);
}

int cache_lease_batch(memc_client *c, uint32_t pool_id, uint32_t cls, uint32_t want, uint64_t *refs,
                      uint32_t *got)
{
	static const size_t hdr = sizeof(struct memd_alloc_batch_rep);
	struct memd_alloc_batch_req req = {
	        .pool_id = pool_id, .size = memd_class_size(cls), .count = want};
	unsigned char rep[sizeof(struct memd_alloc_batch_rep) + MEMD_BATCH_MAX * sizeof(uint64_t)];
	struct memd_alloc_batch_rep br;
	size_t len = 0;
	int err;

	pthread_mutex_lock(&c->lock);
	err = client_call(c, 1, MEMD_OP_ALLOC_BATCH, &req, sizeof(req), rep, sizeof(rep), &len,
	                  NULL);
	if (err < 0)
		goto out_unlock;
	memcpy(&br, rep, hdr);
	if (br.count < 1 || br.count > want || br.size != req.size) {
		err = client_protocol_error(c);
		goto out_unlock;
	}
	memcpy(refs, rep + hdr, br.count * sizeof(uint64_t));
	err = lease_prepare(c, refs, br.count, req.size, pool_id, true);
	if (err < 0)
		goto fail_return;
	err = lease_register(c, refs, br.count, cls);
	*got = br.count;
	goto out_unlock;

fail_return:
	/* None is registered yet: give them all back as they came. */
	if (atomic_load(&c->broken) == 0 && ret_send_locked(c, refs, br.count) < 0)
		err = atomic_load(&c->broken);
out_unlock:
	pthread_mutex_unlock(&c->lock);
	return err;
}

/* ---- leases sent ahead -------------------------------------------------- */

/* Check and prepare the blocks of lease l without mapping anything
 * (reply handler).  0, 1 if a segment is not mapped yet (or memory is
 * short: lease_settle retries), or -EPROTO. */
static int lease_try_prepare(memc_client *c, struct cache_lease *l)
{
	int err = lease_prepare(c, l->refs, l->got, memd_class_size(l->cls), l->pool_id, false);

	return err == -ENOMEM ? 1 : err;
}

/* Record the prepared blocks of l as ours; LEASE_READY.  0 or -EPROTO. */
static int lease_record(memc_client *c, struct cache_lease *l)
{
	int err = lease_register(c, l->refs, l->got, l->cls);

	l->state = err < 0 ? err : LEASE_READY;
	return err;
}

/* Reply handler of a lease sent ahead. */
static int lease_reply(memc_client *c, void *arg, const struct memd_hdr *h, const void *body,
                       size_t len)
{
	struct cache_lease *l = arg;
	struct memd_alloc_batch_rep br;
	int err;

	if (h->status < 0) {
		l->state = h->status;
		return 0;
	}
	memd_assert(len >= sizeof(br));
	memcpy(&br, body, sizeof(br));
	if (br.count < 1 || br.count > l->want || br.size != memd_class_size(l->cls)) {
		l->state = -EPROTO;
		return client_protocol_error(c);
	}
	memcpy(l->refs, (const unsigned char *)body + sizeof(br), br.count * sizeof(uint64_t));
	l->got = br.count;
	err = lease_try_prepare(c, l);
	if (err < 0) {
		l->state = err;
		return err;
	}
	if (err > 0) {
		l->state = LEASE_UNREG;
		l->next = c->cache.unreg;
		c->cache.unreg = l;
		return 0;
	}
	return lease_record(c, l);
}

/* Record an arrived lease that needed a segment mapped; c->lock held, l
 * off the unreg list.  If the mapping fails, its blocks go back. */
static void lease_settle(memc_client *c, struct cache_lease *l)
{
	int err = lease_prepare(c, l->refs, l->got, memd_class_size(l->cls), l->pool_id, true);

	if (err == 0) {
		lease_record(c, l);
		return;
	}
	l->state = err;
	if (atomic_load(&c->broken) == 0)
		ret_send_locked(c, l->refs, l->got);
}

int cache_settle(memc_client *c)
{
	int err = client_drain(c);

	while (err == 0 && c->cache.unreg != NULL) {
		struct cache_lease *l = c->cache.unreg;

		c->cache.unreg = l->next;
		lease_settle(c, l);
		err = atomic_load(&c->broken);
	}
	return err;
}

/* Take l off the unreg list if it is there; c->lock held. */
static void lease_unlist(memc_client *c, struct cache_lease *l)
{
	for (struct cache_lease **pp = &c->cache.unreg; *pp != NULL; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			return;
		}
}

/* Account blocks of leases sent ahead in the published counters only
 * (tc->blocks/bytes count what the bins hold). */
static void tc_count_ahead(struct memc_tcache *tc, int64_t blocks, int64_t bytes)
{
	tc->ahead_blocks += (uint64_t)blocks;
	tc_count(tc, 0, 0);
	if (memd_unlikely(tc->slot_shared)) {
		__atomic_fetch_add(&tc->slot->blocks, (uint64_t)blocks, __ATOMIC_RELAXED);
		__atomic_fetch_add(&tc->slot->bytes, (uint64_t)bytes, __ATOMIC_RELAXED);
	}
}

void cache_lease_ahead(memc_client *c, struct memc_tcache *tc, struct cache_pool *cp, uint32_t cls,
                       struct cache_bin *b)
{
	uint32_t size = memd_class_size(cls), want = b->batch;
	struct memd_alloc_batch_req req = {.pool_id = cp->id, .size = size, .count = want};
	struct cache_lease *l;
	int err;

	if (!cache_tc_credit(c, tc, (uint64_t)want * size) || bin_reserve(b, b->n + want) < 0)
		return;
	l = malloc(sizeof(*l) + want * sizeof(l->refs[0]));
	if (l == NULL)
		return;
	*l = (struct cache_lease){.state = LEASE_SENT, .pool_id = cp->id, .cls = cls, .want = want};
	pthread_mutex_lock(&c->lock);
	err = client_send_async(c, MEMD_OP_ALLOC_BATCH, &req, sizeof(req), lease_reply, l);
	pthread_mutex_unlock(&c->lock);
	if (err < 0) {
		free(l);
		return;
	}
	b->inflight = l;
	tc->ahead += (uint64_t)want * size;
	/* Published as cached from now on: the daemon may hold them any
	 * moment (it clamps what it shows to what the session holds). */
	tc_count_ahead(tc, want, (int64_t)want * size);
}

bool cache_lease_arrived(memc_client *c, struct cache_lease *l)
{
	int err = 0;
	bool arrived;

	pthread_mutex_lock(&c->lock);
	while (l->state == LEASE_SENT && err == 0 && c->pend_n > 0 && client_reply_ready(c))
		err = client_pending_one(c);
	arrived = l->state != LEASE_SENT || err < 0 || c->pend_n == 0;
	pthread_mutex_unlock(&c->lock);
	return arrived;
}

int cache_bin_collect(memc_client *c, struct memc_tcache *tc, uint32_t cls, struct cache_bin *b)
{
	struct cache_lease *l = b->inflight;
	uint32_t size = memd_class_size(cls);
	int err = 0;

	b->inflight = NULL;
	tc->ahead -= (uint64_t)l->want * size;
	tc_count_ahead(tc, -(int64_t)l->want, -(int64_t)l->want * size);
	pthread_mutex_lock(&c->lock);
	if (l->state == LEASE_SENT)
		bin_grow(b, cls); /* the bin ran dry before the lease came: lease more ahead */
	/* Replies come in request order: read up to this lease's, not the
	 * ones of requests sent after it. */
	while (l->state == LEASE_SENT && err == 0 && c->pend_n > 0)
		err = client_pending_one(c);
	if (err == 0 && l->state == LEASE_SENT)
		err = atomic_load(&c->broken);
	if (l->state == LEASE_UNREG) {
		lease_unlist(c, l);
		lease_settle(c, l);
	}
	pthread_mutex_unlock(&c->lock);
	if (err < 0 || l->state != LEASE_READY) {
		err = err < 0 ? err : atomic_load(&c->broken) < 0 ? atomic_load(&c->broken) : 1;
		free(l);
		return err;
	}
	if (bin_reserve(b, b->n + l->got) < 0) {
		/* No room to keep them: they go straight back. */
		err = cache_ret_send(c, l->refs, l->got);
		free(l);
		return err < 0 ? err : 1;
	}
	for (uint32_t i = l->got; i-- > 0;)
		b->refs[b->n++] = l->refs[i];
	tc_count(tc, l->got, (int64_t)l->got * size);
	free(l);
	return 0;
}

/* ---- the chunk records -------------------------------------------------- */

void cache_seg_free(struct memc_seg *s)
{
	size_t n = (s->size + (UINT64_C(1) << CMAP_CHUNK_SHIFT) - 1) >> CMAP_CHUNK_SHIFT;

	for (size_t i = 0; s->cmap != NULL && i < n; i++)
		free(atomic_load_explicit(&s->cmap[i], memory_order_relaxed));
	free(s->cmap);
	s->cmap = NULL;
}
