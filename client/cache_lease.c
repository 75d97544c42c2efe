/*
 * cache_lease.c - the client cache's round trips: leasing blocks from memd
 * for the bins (ALLOC_BATCH) and sending them back (FREE_BATCH).  The
 * design and the record of what is ours are in cache.c.
 *
 * Leasing.  A bin that runs dry leases its batch with one ALLOC_BATCH
 * (cache_lease_batch).  Every block is checked, its segment mapped, the
 * chunk records it lands in made, and only then is it recorded as ours:
 * its HELD bit set and its pages' size class noted, under c->lock.  A
 * chunk record is created under c->lock when a lease first lands in it,
 * published with a release store, and lives until memc_close
 * (cache_seg_free).
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

/* Send refs[0..n) back with one FREE_BATCH, clearing their HELD bits first;
 * c->lock held.  The reply is not waited for (ret_reply checks it when it
 * is read).  0, or the connection's error. */
static int ret_send_locked(memc_client *c, const uint64_t *refs, uint32_t n)
{
	static const size_t hdr = sizeof(struct memd_free_batch_req);
	unsigned char req[MEMC_REQ_MAX];
	struct memd_free_batch_req fb = {.count = n, .pad = 0};

	memd_assert(n >= 1 && n <= MEMD_BATCH_MAX);
	for (uint32_t i = 0; i < n; i++) {
		struct memc_seg *s;
		_Atomic uint64_t *w;
		unsigned sh;

		if (cmap_locate(c, refs[i], &s, &w, &sh) != NULL)
			atomic_fetch_and_explicit(w, ~(CMAP_HELD << sh), memory_order_release);
	}
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
	if (tc->ret->n == MEMD_BATCH_MAX || tc->ret_bytes + size > CACHE_RET_BYTES)
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

/* Make sure the chunk record covering off exists in s and that s belongs
 * to pool_id.  c->lock held.  0, -ENOMEM, or -EPROTO. */
static int lease_chunk(memc_client *c, struct memc_seg *s, uint64_t off, uint32_t pool_id)
{
	_Atomic(struct cmap_chunk *) *slot = &s->cmap[off >> CMAP_CHUNK_SHIFT];
	uint32_t owner = atomic_load_explicit(&s->cache_pool, memory_order_relaxed);
	struct cmap_chunk *ch;

	if (owner != 0 && owner != pool_id)
		return client_protocol_error(c);
	atomic_store_explicit(&s->cache_pool, pool_id, memory_order_relaxed);
	if (atomic_load_explicit(slot, memory_order_relaxed) != NULL)
		return 0;
	ch = calloc(1, sizeof(*ch));
	if (ch == NULL)
		return -ENOMEM;
	atomic_store_explicit(slot, ch, memory_order_release);
	return 0;
}

/* Check one leased block and get its segment mapped and its chunk record
 * made; c->lock held.  0, -EPROTO (the daemon sent nonsense), or an error
 * mapping the segment. */
static int lease_prepare(memc_client *c, memc_ref ref, uint32_t size, uint32_t pool_id)
{
	uint64_t off = memd_ref_off(ref);
	struct memc_seg *s;
	int err;

	if (memd_ref_seg(ref) == 0 || (off & ((1u << CMAP_GRAN_SHIFT) - 1)) != 0)
		return client_protocol_error(c);
	err = segtab_map_held(c, memd_ref_seg(ref), &s);
	if (err < 0)
		return err;
	if (off + size > s->size || off + size < off)
		return client_protocol_error(c);
	err = lease_chunk(c, s, off, pool_id);
	if (err < 0)
		return err;
	return lease_chunk(c, s, off + size - 1, pool_id);
}

/* Record a prepared block as ours (HELD, not in use).  c->lock held.  0,
 * or -EPROTO if we hold it already. */
static int lease_register(memc_client *c, memc_ref ref, uint32_t cls, uint32_t size)
{
	struct memc_seg *s;
	struct cmap_chunk *ch;
	_Atomic uint64_t *w;
	uint64_t off = memd_ref_off(ref), old;
	unsigned sh;

	ch = cmap_locate(c, ref, &s, &w, &sh);
	if (ch == NULL) /* lease_prepare made it: cannot happen */
		return client_protocol_error(c);
	for (uint64_t p = off >> CMAP_PAGE_SHIFT; p <= (off + size - 1) >> CMAP_PAGE_SHIFT; p++) {
		struct cmap_chunk *pc = atomic_load_explicit(
		        &s->cmap[(p << CMAP_PAGE_SHIFT) >> CMAP_CHUNK_SHIFT], memory_order_relaxed);

		atomic_store_explicit(&pc->cls[p & (CMAP_PAGES - 1)], (uint8_t)cls,
		                      memory_order_relaxed);
	}
	old = atomic_fetch_or_explicit(w, CMAP_HELD << sh, memory_order_release);
	if (old & ((CMAP_HELD | CMAP_USED) << sh))
		return client_protocol_error(c);
	return 0;
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
	for (uint32_t i = 0; i < br.count && err == 0; i++)
		err = lease_prepare(c, refs[i], req.size, pool_id);
	if (err < 0)
		goto fail_return;
	for (uint32_t i = 0; i < br.count && err == 0; i++)
		err = lease_register(c, refs[i], cls, (uint32_t)req.size);
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
	uint32_t size = memd_class_size(l->cls);

	for (uint32_t i = 0; i < l->got; i++) {
		uint64_t off = memd_ref_off(l->refs[i]);
		struct memc_seg *s;

		if (memd_ref_seg(l->refs[i]) == 0 || (off & ((1u << CMAP_GRAN_SHIFT) - 1)) != 0)
			return client_protocol_error(c);
		s = segtab_find(&c->segs, memd_ref_seg(l->refs[i]));
		if (s == NULL)
			return 1;
		if (off + size > s->size || off + size < off)
			return client_protocol_error(c);
		if (lease_chunk(c, s, off, l->pool_id) < 0 ||
		    lease_chunk(c, s, off + size - 1, l->pool_id) < 0)
			return atomic_load(&c->broken) < 0 ? atomic_load(&c->broken) : 1;
	}
	return 0;
}

/* Record the prepared blocks of l as ours; LEASE_READY.  0 or -EPROTO. */
static int lease_record(memc_client *c, struct cache_lease *l)
{
	int err = 0;

	for (uint32_t i = 0; i < l->got && err == 0; i++)
		err = lease_register(c, l->refs[i], l->cls, memd_class_size(l->cls));
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
	uint32_t size = memd_class_size(l->cls);
	int err = 0;

	for (uint32_t i = 0; i < l->got && err == 0; i++)
		err = lease_prepare(c, l->refs[i], size, l->pool_id);
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
