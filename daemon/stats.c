/*
 * stats.c - the operator's view of the daemon: the STATS opcodes.
 *
 * What it does: answers memctl's questions (status, pools, one pool's
 * classes and access rules, clients, blocks and their holders, names, the
 * run map of a pool's segments, an integrity check) and its one command,
 * TRIM.  Everything is read from the live structures at the moment of the
 * request: heap_stats/heap_class_stats/heap_walk/heap_walk_blocks/
 * heap_check on each pool's heap, pool counters, the server's connection
 * list and each session's hold set.
 *
 * Paging: a reply never exceeds one frame, so lists are cut into pages
 * (proto.h, STATS section).  A page is built straight into the server's
 * scratch buffer: records whose key is >= the request's cursor, in key
 * order, as many as fit; the key of the first record that did not fit
 * becomes the page's `next`.  Blocks and map runs come out of the heap
 * walkers already in key order (segments ascending, offsets ascending
 * inside a segment, pools own ascending segment id ranges); clients are
 * collected and sorted by session id.  Each request walks from the start
 * and skips what lies before the cursor: O(list) per page, with no state
 * kept between requests, so a client that goes away mid-listing costs
 * nothing.
 *
 * Attribution: a shared block's holders come from the sharing table
 * (blocks.h: its holder sessions and its name count, set->blocks); a
 * private block's one holder is the session whose hold set has it, found
 * by asking every session (O(sessions) per block listed).  Names come from
 * set->names.  Cost of one page: a walk over the blocks before the cursor
 * (cheap: a comparison each) plus, per listed block, one hold-set probe
 * per session; the loop is blocked for that long, so pages stay bounded
 * (one frame).
 *
 * Memory: a pool's resident and punched bytes come from pool_memory():
 * what its segments occupy in tmpfs (fstat's st_blocks: the first
 * segment, reserved whole, from the start; a growth segment's pages once
 * reserved, as blocks over them are handed out) and what they gave back
 * to the OS.  reserved - resident - punched is what growth segments never
 * reserved yet: neither memory nor given back.  The map (STATS_MAP) is
 * stats_map.c's.
 *
 * Cached blocks: a client record's cached_blocks and cached_bytes are the
 * sums over the slots of the session's cache page (proto.h, CACHE_PAGE),
 * 0 without one.  The client writes its slots while the loop reads them,
 * so each counter is read once with a relaxed atomic load: the sum is a
 * moment's view, never torn.  The numbers are the client's claims, so the
 * sums saturate instead of wrapping and are then clamped to the blocks and
 * bytes the session really holds: a lying or broken client can make its
 * own record wrong, but never claim more cached than held.
 *
 * Times: the daemon's start comes from /proc/self/stat (field 22, clock
 * ticks after boot) turned into CLOCK_REALTIME.  A client's since_ns is
 * when its session began (session.connected_ns); MEMD_CLIENT_SINCE_APPROX
 * stays defined in the protocol but this daemon never sets it.
 *
 * Ownership: handlers own nothing past their return; their temporary
 * arrays (the clients sorted by id, a pool's segment ids for the map) are
 * malloc'd and freed in the same call.  The loop thread is the only caller.
 */
#include "stats.h"
#include "stats_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "conn.h"
#include "debug.h"
#include "heap.h"
#include "log.h"
#include "pool.h"
#include "ref.h"
#include "server.h"
#include "session.h"

#define STATS_TEXT_MAX 4096u /* access text / check text */

/* ---- small helpers ------------------------------------------------------ */

/* Nanoseconds of clock id now. */
static uint64_t stats_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Parts per million of a ratio in [0, 1]. */
static uint32_t stats_ppm(double x)
{
	if (!(x > 0))
		return 0;
	if (x >= 1)
		return 1000000u;
	return (uint32_t)(x * 1e6 + 0.5);
}

/* When process pid started, in CLOCK_REALTIME ns; 0 if unknown.  Reads
 * field 22 of /proc/PID/stat (after the ')' that ends the comm field). */
static uint64_t stats_proc_start_ns(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long ticks;
	uint64_t since_boot, now_boot;
	const char *p;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	/* After ')' come fields 3, 4, ...: skip 19 blanks to reach field 22. */
	for (field = 2; p != NULL && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p, " %llu", &ticks) != 1)
		return 0;
	since_boot = (uint64_t)ticks * (1000000000u / (uint64_t)sysconf(_SC_CLK_TCK));
	now_boot = stats_clock_ns(CLOCK_BOOTTIME);
	if (since_boot > now_boot)
		return 0;
	return stats_clock_ns(CLOCK_REALTIME) - (now_boot - since_boot);
}

/* Copy /proc/PID/comm (without its newline) into out[MEMD_STATS_COMM_MAX];
 * "" if it cannot be read (gone, or a pid from another namespace). */
static void stats_proc_comm(pid_t pid, char *out)
{
	char path[64];
	ssize_t n;
	int fd;

	out[0] = '\0';
	if (pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, out, MEMD_STATS_COMM_MAX - 1);
	close(fd);
	if (n < 0)
		n = 0;
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

/* Append printf text to buf (cap bytes, NUL-terminated, *len used);
 * output that does not fit is cut. */
static void stats_text(char *buf, size_t cap, size_t *len, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void stats_text(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*len + 1 >= cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1;
}

/* Bytes a text of len characters takes on the wire: with its NUL, padded
 * to 8 (the padding zeroed); 0 for an empty text. */
static size_t stats_text_wire(char *text, size_t len)
{
	size_t wire;

	if (len == 0)
		return 0;
	wire = (len + 1 + 7) & ~(size_t)7;
	memset(text + len, 0, wire - len);
	return wire;
}

/* The request body (validated by dispatch). */
struct memd_stats_req stats_req(const void *body)
{
	struct memd_stats_req r;

	memcpy(&r, body, sizeof(r));
	return r;
}

void stats_page_init(struct stats_page *p, struct conn *c, size_t rec_size)
{
	p->buf = (uint8_t *)c->srv->scratch;
	p->rec_size = rec_size;
	p->count = 0;
	p->cap = (uint32_t)((STATS_BODY_MAX - sizeof(struct memd_stats_page)) / rec_size);
	p->next = 0;
}

/* Room for the record with this key?  If the page is full, remember key
 * as the next cursor and say no. */
bool stats_page_room(struct stats_page *p, uint64_t key)
{
	if (p->count < p->cap)
		return true;
	if (p->next == 0)
		p->next = key;
	return false;
}

/* Append one record (rec_size bytes at rec). */
void stats_page_add(struct stats_page *p, const void *rec)
{
	memd_assert(p->count < p->cap);
	memcpy(p->buf + sizeof(struct memd_stats_page) + (size_t)p->count * p->rec_size, rec,
	       p->rec_size);
	p->count++;
}

/* Queue the page as the reply to h. */
int stats_page_reply(struct stats_page *p, struct conn *c, const struct memd_hdr *h)
{
	struct memd_stats_page head = {
	        .next = p->next, .count = p->count, .rec_size = (uint32_t)p->rec_size};

	memcpy(p->buf, &head, sizeof(head));
	return conn_reply(c, h, 0, p->buf, sizeof(head) + (size_t)p->count * p->rec_size);
}

/* ---- holders ------------------------------------------------------------ */

_Static_assert(MEMD_STATS_NAME_MAX >= MEMD_NAME_MAX + 1, "stats names hold every name");

/* Note holder pid in rec; true if it is pid. */
static bool stats_block_holder(struct memd_stats_block *rec, pid_t holder, uint32_t pid)
{
	if (rec->holders < MEMD_STATS_HOLDERS_INLINE)
		rec->pids[rec->holders] = (uint32_t)holder;
	rec->holders++;
	return (uint32_t)holder == pid;
}

/* Fill rec's holders, pids, flags and names for rec->ref: a shared block's
 * from its entry in the sharing table, a private block's from the one
 * session whose hold set has it.  Returns whether a session of pid (0:
 * any) holds it. */
static bool stats_block_holders(const struct memd_server *srv, struct memd_stats_block *rec,
                                uint32_t pid)
{
	const struct shared_block *b = blocks_find(&srv->pools.blocks, rec->ref);
	bool match = pid == 0;

	if (b != NULL) {
		rec->flags |= MEMD_BLOCK_SHARED;
		rec->names = b->names;
		for (uint32_t i = 0; i < b->nholders; i++)
			match |= stats_block_holder(rec, b->holders[i].s->pid, pid);
		return match;
	}
	for (const struct conn *k = srv->conns; k != NULL; k = k->next)
		if (holds_contains(&k->session.holds, rec->ref))
			match |= stats_block_holder(rec, k->session.pid, pid);
	return match;
}

/* Shared blocks of pool. */
static uint64_t stats_pool_shared(const struct pool_set *set, const struct pool *pool)
{
	struct shared_block *b;
	uint64_t n = 0;
	size_t cur = 0;

	while (blocks_next(&set->blocks, &cur, &b))
		n += b->pool == pool;
	return n;
}

/* ---- pools ------------------------------------------------------------- */

/* Fill *out for pool, as the session asking sees it. */
static void stats_pool_fill(const struct pool_set *set, const struct pool *pool,
                            const struct session *s, struct memd_stats_pool *out)
{
	const struct memd_pool_config *pc = &pool->cfg;
	struct heap_stats st;
	uint32_t access = pool_access(pool, s->uid, s->gid);

	heap_stats(pool->heap, &st);
	memset(out, 0, sizeof(*out));
	memcpy(out->name, pc->name, sizeof(out->name));
	out->name[sizeof(out->name) - 1] = '\0';
	out->id = pool->id;
	out->flags = (!pc->read.set && !pc->write.set ? MEMD_POOL_OPEN : 0) |
	             (access & MEMD_ACCESS_READ ? MEMD_POOL_READ : 0) |
	             (access & MEMD_ACCESS_WRITE ? MEMD_POOL_WRITE : 0);
	out->max_size = pc->max_size;
	out->segment_size = pc->segment_size;
	out->trim_threshold = pc->trim_threshold;
	out->client_quota = pc->client_quota;
	out->uid_quota = pc->uid_quota;
	out->segments = st.segments;
	out->reserved_bytes = st.reserved_bytes;
	out->in_use_bytes = st.live_bytes;
	out->used_bytes = st.slab_bytes + st.large_bytes;
	out->free_bytes = st.free_bytes;
	out->free_run_bytes = st.free_run_bytes;
	out->free_runs = st.free_runs;
	out->largest_free_run = st.largest_free_run;
	pool_memory(pool, &out->resident_bytes, &out->punched_bytes);
	out->punched_total = pool->counters.punched_bytes;
	out->blocks = st.live_blocks;
	out->shared_blocks = stats_pool_shared(set, pool);
	out->meta_bytes = st.meta_bytes;
	out->segments_created = pool->counters.segments_created;
	out->segments_released = pool->counters.segments_released;
	out->trims = pool->counters.trims;
	out->enomem = pool->counters.enomem;
	out->fragmentation_ppm = stats_ppm(st.fragmentation);
	out->utilization_ppm = stats_ppm(st.utilization);
}

int stats_status(struct conn *c, const struct memd_hdr *h, const void *body, size_t body_len)
{
	const struct memd_server *srv = c->srv;
	struct memd_stats_status st;
	struct memd_stats_pool p;

	(void)body;
	(void)body_len;
	memset(&st, 0, sizeof(st));
	st.version = MEMD_PROTO_VERSION;
	st.pid = (uint32_t)srv->pid;
	st.uid = (uint32_t)geteuid();
	st.flags = MEMD_STATUS_SHARING;
	if (access_is_admin(srv->cfg, c->session.uid, c->session.gid))
		st.flags |= MEMD_STATUS_ADMIN;
	st.names = srv->pools.names.tab.count;
	st.start_ns = stats_proc_start_ns(getpid());
	st.now_ns = stats_clock_ns(CLOCK_REALTIME);
	st.pools = (uint32_t)srv->pools.count;
	st.clients = (uint32_t)srv->conn_count;
	for (size_t i = 0; i < srv->pools.count; i++) {
		stats_pool_fill(&srv->pools, &srv->pools.pools[i], &c->session, &p);
		st.segments += p.segments;
		st.blocks += p.blocks;
		st.in_use_bytes += p.in_use_bytes;
		st.reserved_bytes += p.reserved_bytes;
		st.free_bytes += p.free_bytes;
		st.punched_bytes += p.punched_bytes;
		st.punched_total += p.punched_total;
		st.resident_bytes += p.resident_bytes;
		st.shared_blocks += p.shared_blocks;
	}
	snprintf(st.socket, sizeof(st.socket), "%s", srv->cfg->socket_path);
	return conn_reply(c, h, 0, &st, sizeof(st));
}

int stats_pools(struct conn *c, const struct memd_hdr *h, const void *body, size_t body_len)
{
	const struct memd_server *srv = c->srv;
	struct memd_stats_req r = stats_req(body);
	struct memd_stats_pool rec;
	struct stats_page page;

	(void)body_len;
	stats_page_init(&page, c, sizeof(rec));
	for (size_t i = 0; i < srv->pools.count; i++) {
		const struct pool *pool = &srv->pools.pools[i];

		if (pool->id < r.cursor)
			continue;
		if (!stats_page_room(&page, pool->id))
			break;
		stats_pool_fill(&srv->pools, pool, &c->session, &rec);
		stats_page_add(&page, &rec);
	}
	return stats_page_reply(&page, c, h);
}

/* Describe one access list ("uid:0 gid:44 *") into the text. */
static void stats_access_list(char *t, size_t cap, size_t *len, const char *key,
                              const struct access_list *l)
{
	stats_text(t, cap, len, "%s =", key);
	for (uint32_t i = 0; i < l->count; i++) {
		const struct access_entry *e = &l->e[i];

		if (e->kind == ACCESS_ANY)
			stats_text(t, cap, len, " *");
		else
			stats_text(t, cap, len, " %s:%u", e->kind == ACCESS_UID ? "uid" : "gid",
			           (unsigned)e->id);
	}
	stats_text(t, cap, len, "%s\n", l->count == 0 ? " (nobody)" : "");
}

/* The access and quota text of pool. */
static size_t stats_pool_text(const struct pool *pool, char *t, size_t cap)
{
	const struct memd_pool_config *pc = &pool->cfg;
	size_t len = 0;

	if (!pc->read.set && !pc->write.set)
		stats_text(t, cap, &len, "open: every client that can connect reads and writes\n");
	if (pc->read.set)
		stats_access_list(t, cap, &len, "read", &pc->read);
	if (pc->write.set)
		stats_access_list(t, cap, &len, "write", &pc->write);
	if (pool->self_uid != 0)
		stats_text(t, cap, &len, "always: uid:0 uid:%u (root and memd)\n",
		           (unsigned)pool->self_uid);
	else
		stats_text(t, cap, &len, "always: uid:0 (root, memd's uid)\n");
	if (pc->client_quota != 0)
		stats_text(t, cap, &len, "client_quota = %llu bytes\n",
		           (unsigned long long)pc->client_quota);
	if (pc->uid_quota != 0)
		stats_text(t, cap, &len, "uid_quota = %llu bytes\n",
		           (unsigned long long)pc->uid_quota);
	return len;
}

int stats_pool(struct conn *c, const struct memd_hdr *h, const void *body, size_t body_len)
{
	struct memd_stats_req r = stats_req(body);
	uint8_t *out = (uint8_t *)c->srv->scratch;
	struct memd_stats_pool_detail d;
	struct memd_stats_class cls;
	struct heap_class_stats hc;
	const struct pool *pool;
	size_t off, text_len;
	char *text;

	(void)body_len;
	pool = pool_set_get(&c->srv->pools, r.pool_id);
	if (pool == NULL)
		return -ENOENT;
	memset(&d, 0, sizeof(d));
	stats_pool_fill(&c->srv->pools, pool, &c->session, &d.pool);
	off = sizeof(d);
	for (unsigned i = 0; i < heap_class_count(); i++) {
		if (heap_class_stats(pool->heap, i, &hc) < 0)
			break;
		cls = (struct memd_stats_class){.size = hc.size,
		                                .slab_bytes = hc.slab_bytes,
		                                .slabs = hc.slabs,
		                                .slots = hc.slots,
		                                .used = hc.used};
		memcpy(out + off, &cls, sizeof(cls));
		off += sizeof(cls);
		d.class_count++;
	}
	text = (char *)out + off;
	memd_assert(off + STATS_TEXT_MAX + 8 <= STATS_BODY_MAX);
	text_len = stats_pool_text(pool, text, STATS_TEXT_MAX);
	d.text_len = (uint32_t)stats_text_wire(text, text_len);
	memcpy(out, &d, sizeof(d));
	return conn_reply(c, h, 0, out, off + d.text_len);
}

/* ---- clients ------------------------------------------------------------ */

static int stats_conn_cmp(const void *a, const void *b)
{
	const struct conn *x = *(const struct conn *const *)a;
	const struct conn *y = *(const struct conn *const *)b;

	return x->session.id < y->session.id ? -1 : x->session.id > y->session.id;
}

/* a + b, or UINT64_MAX where that would wrap. */
static uint64_t stats_add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Set rec's cached_blocks and cached_bytes from s's cache page (left 0
 * without one), each clamped to what s holds. */
static void stats_client_cached(const struct session *s, struct memd_stats_client *rec)
{
	const struct memd_cache_slot *slot = s->cache_page;
	uint64_t blocks = 0, bytes = 0;

	if (slot == NULL)
		return;
	for (uint32_t i = 0; i < MEMD_CACHE_SLOTS; i++) {
		blocks = stats_add_sat(blocks, __atomic_load_n(&slot[i].blocks, __ATOMIC_RELAXED));
		bytes = stats_add_sat(bytes, __atomic_load_n(&slot[i].bytes, __ATOMIC_RELAXED));
	}
	rec->cached_blocks = blocks < s->blocks_held ? blocks : s->blocks_held;
	rec->cached_bytes = bytes < s->bytes_held ? bytes : s->bytes_held;
}

/* Fill one client record for k, asked by the session of c. */
static void stats_client_fill(const struct conn *k, const struct conn *c,
                              struct memd_stats_client *rec)
{
	const struct session *s = &k->session;

	memset(rec, 0, sizeof(*rec));
	rec->session = s->id;
	rec->pid = (uint32_t)s->pid;
	rec->uid = (uint32_t)s->uid;
	rec->gid = (uint32_t)s->gid;
	rec->flags = k == c ? MEMD_CLIENT_SELF : 0;
	rec->blocks = s->blocks_held;
	rec->bytes = s->bytes_held;
	stats_client_cached(s, rec);
	rec->since_ns = s->connected_ns;
	memcpy(rec->name, s->name, sizeof(rec->name));
	rec->name[sizeof(rec->name) - 1] = '\0';
	stats_proc_comm(s->pid, rec->comm);
}

int stats_clients(struct conn *c, const struct memd_hdr *h, const void *body, size_t body_len)
{
	const struct memd_server *srv = c->srv;
	struct memd_stats_req r = stats_req(body);
	struct memd_stats_client rec;
	struct stats_page page;
	const struct conn **v;
	size_t n = 0;
	int err;

	(void)body_len;
	v = malloc((srv->conn_count + 1) * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	for (const struct conn *k = srv->conns; k != NULL; k = k->next)
		if (!k->closing && k->session.id >= r.cursor)
			v[n++] = k;
	qsort(v, n, sizeof(*v), stats_conn_cmp);
	stats_page_init(&page, c, sizeof(rec));
	for (size_t i = 0; i < n && stats_page_room(&page, v[i]->session.id); i++) {
		stats_client_fill(v[i], c, &rec);
		stats_page_add(&page, &rec);
	}
	err = stats_page_reply(&page, c, h);
	free(v);
	return err;
}

/* ---- blocks ------------------------------------------------------------- */

/* State of one heap_walk_blocks pass for a page of blocks. */
struct stats_blocks_walk {
	const struct memd_server *srv; /* the daemon */
	struct stats_page *page;       /* the page being filled */
	uint64_t cursor;               /* first ref wanted */
	uint32_t pool_id;              /* the pool being walked */
	uint32_t pid;                  /* only blocks this pid holds; 0: all */
	bool full;                     /* the page is full: stop every walk */
};

static int stats_blocks_visit(void *ctx, uint64_t ref, uint64_t size)
{
	struct stats_blocks_walk *w = ctx;
	struct memd_stats_block rec;

	if (ref < w->cursor)
		return 0;
	memset(&rec, 0, sizeof(rec));
	rec.ref = ref;
	rec.size = size;
	rec.pool_id = w->pool_id;
	if (!stats_block_holders(w->srv, &rec, w->pid))
		return 0;
	if (!stats_page_room(w->page, ref)) {
		w->full = true;
		return 1;
	}
	stats_page_add(w->page, &rec);
	return 0;
}

int stats_blocks(struct conn *c, const struct memd_hdr *h, const void *body, size_t body_len)
{
	const struct memd_server *srv = c->srv;
	struct memd_stats_req r = stats_req(body);
	struct stats_page page;
	struct stats_blocks_walk w = {.srv = srv, .page = &page, .cursor = r.cursor, .pid = r.pid};

	(void)body_len;
	if (r.pool_id != 0 && pool_set_get(&srv->pools, r.pool_id) == NULL)
		return -ENOENT;
	stats_page_init(&page, c, sizeof(struct memd_stats_block));
	for (size_t i = 0; i < srv->pools.count && !w.full; i++) {
		const struct pool *pool = &srv->pools.pools[i];
		uint32_t last_seg = pool->seg_id_base + POOL_SEGS_PER_POOL - 1;

		if (r.pool_id != 0 && pool->id != r.pool_id)
			continue;
		if (memd_ref_make(last_seg, MEMD_REF_OFFSET_MASK) < r.cursor)
			continue; /* every ref of this pool lies before the cursor */
		w.pool_id = pool->id;
		heap_walk_blocks(pool->heap, stats_blocks_visit, &w);
	}
	return stats_page_reply(&page, c, h);
}

int stats_names(struct conn *c, const struct memd_hdr *h, const void *body, size_t body_len)
{
	const struct pool_set *set = &c->srv->pools;
	struct memd_stats_req r = stats_req(body);
	struct memd_stats_name rec;
	struct stats_page page;
	struct name_entry *e;
	size_t cur;

	(void)body_len;
	stats_page_init(&page, c, sizeof(rec));
	/* Key of an entry: its slot + 1, which is names_next's cursor after it. */
	cur = r.cursor != 0 ? (size_t)r.cursor - 1 : 0;
	while (names_next(&set->names, &cur, &e) && stats_page_room(&page, cur)) {
		const struct pool *pool = pool_set_pool_of_ref(set, e->ref);

		memset(&rec, 0, sizeof(rec));
		rec.ref = e->ref;
		rec.pool_id = pool != NULL ? pool->id : 0;
		if (pool != NULL && pool_block_size(pool, e->ref, &rec.size) < 0)
			rec.size = 0;
		memcpy(rec.name, e->name, e->len);
		stats_page_add(&page, &rec);
	}
	return stats_page_reply(&page, c, h);
}

/* ---- check and trim ----------------------------------------------------- */

/* Check that every block a session holds is a live block of its pool.
 * Appends a line per bad session to the text; returns the problems. */
static uint32_t stats_check_holds(const struct memd_server *srv, const struct pool *only, char *t,
                                  size_t cap, size_t *len)
{
	uint32_t bad = 0;

	for (const struct conn *k = srv->conns; k != NULL; k = k->next) {
		const struct session *s = &k->session;
		size_t cur = 0;
		uint64_t ref, size;

		if (holds_count(&s->holds) != s->blocks_held) {
			stats_text(t, cap, len, "session %llu (pid %d): %zu holds, counted %llu\n",
			           (unsigned long long)s->id, (int)s->pid, holds_count(&s->holds),
			           (unsigned long long)s->blocks_held);
			bad++;
		}
		while (holds_next(&s->holds, &cur, &ref)) {
			const struct pool *pool = pool_set_pool_of_ref(&srv->pools, ref);

			if (only != NULL && pool != only)
				continue;
			if (pool != NULL && pool_block_size(pool, ref, &size) == 0)
				continue;
			stats_text(t, cap, len,
			           "session %llu (pid %d): holds %#llx, not a live block\n",
			           (unsigned long long)s->id, (int)s->pid, (unsigned long long)ref);
			bad++;
			break;
		}
	}
	return bad;
}

int stats_check(struct conn *c, const struct memd_hdr *h, const void *body, size_t body_len)
{
	const struct memd_server *srv = c->srv;
	struct memd_stats_req r = stats_req(body);
	uint8_t *out = (uint8_t *)srv->scratch;
	char *text = (char *)out + sizeof(struct memd_stats_check);
	struct memd_stats_check rep = {0};
	const struct pool *only = NULL;
	char why[256];
	size_t len = 0;

	(void)body_len;
	if (r.pool_id != 0) {
		only = pool_set_get(&srv->pools, r.pool_id);
		if (only == NULL)
			return -ENOENT;
	}
	for (size_t i = 0; i < srv->pools.count; i++) {
		const struct pool *pool = &srv->pools.pools[i];

		if (only != NULL && pool != only)
			continue;
		rep.pools++;
		why[0] = '\0';
		if (heap_check(pool->heap, why, sizeof(why)) == 0)
			continue;
		rep.failed++;
		stats_text(text, STATS_TEXT_MAX, &len, "pool %s: %s\n", pool->cfg.name, why);
	}
	if (stats_check_holds(srv, only, text, STATS_TEXT_MAX, &len) != 0 && rep.failed == 0)
		rep.failed = 1; /* the holds are the daemon's, not a pool's */
	if (rep.failed > rep.pools)
		rep.failed = rep.pools;
	rep.text_len = (uint32_t)stats_text_wire(text, len);
	memcpy(out, &rep, sizeof(rep));
	return conn_reply(c, h, 0, out, sizeof(rep) + rep.text_len);
}

int stats_trim(struct conn *c, const struct memd_hdr *h, const void *body, size_t body_len)
{
	struct memd_server *srv = c->srv;
	struct memd_stats_req r = stats_req(body);
	struct memd_stats_trim rep = {0};
	struct pool *only = NULL;

	(void)body_len;
	if (!access_is_admin(srv->cfg, c->session.uid, c->session.gid))
		return -EPERM;
	if (r.pool_id != 0) {
		only = pool_set_get(&srv->pools, r.pool_id);
		if (only == NULL)
			return -ENOENT;
	}
	for (size_t i = 0; i < srv->pools.count; i++) {
		struct pool *pool = &srv->pools.pools[i];

		if (only != NULL && pool != only)
			continue;
		rep.punched += pool_trim(pool, HEAP_PAGE_SIZE);
		rep.pools++;
	}
	log_info("session %llu (pid %d): trim returned %llu bytes from %u pool(s)",
	         (unsigned long long)c->session.id, (int)c->session.pid,
	         (unsigned long long)rep.punched, (unsigned)rep.pools);
	return conn_reply(c, h, 0, &rep, sizeof(rep));
}
