/*
 * trace.c - read, validate and compact an allocation trace.
 *
 * The parser reads the file line by line (lines.c: plain text or gzip),
 * checks each event against the set of live IDs, and appends an 8-byte
 * trace_event.  Trace IDs are arbitrary 64-bit numbers and may be reused
 * after a free; they are renamed to dense slots here: an
 * allocation takes the most recently released slot (or a new one), a free
 * releases its slot.  Slot numbers therefore never exceed the largest live
 * set, and a replay only needs a table of max_live_blocks entries.
 *
 * Invariants while parsing: an ID is in the ID map with state LIVE exactly
 * when it has been allocated and not freed since; live_bytes is the sum of
 * the requested sizes of LIVE IDs; the slot stack holds exactly the slots
 * below max_live_blocks that no LIVE ID uses.
 *
 * Ownership: every array here (events, ID map, slot stack, per-slot sizes)
 * is an anonymous mmap grown with mremap, and the reader keeps its buffers
 * in mmap memory too, so parsing never touches the C heap.  The event array
 * belongs to the caller's struct trace after a successful load; the rest is
 * unmapped before trace_load returns.
 */
#include "trace.h"
#include "lines.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

/* A growable array in anonymous memory. */
struct mvec {
	void *base;   /* mapping, or NULL before the first push */
	size_t bytes; /* bytes mapped */
};

/* ID map entry states. */
enum { ID_EMPTY = 0, ID_LIVE = 1, ID_DEAD = 2 };

struct id_entry {
	uint64_t id;    /* trace ID */
	uint32_t slot;  /* its slot while LIVE */
	uint32_t state; /* ID_EMPTY, ID_LIVE or ID_DEAD */
};

/* Open-addressing map from trace ID to slot; dead IDs stay (tombstones
 * that a later allocation of the same ID revives). */
struct id_map {
	struct id_entry *tab; /* cap entries, mmap'd */
	size_t cap;           /* power of two */
	size_t used;          /* non-empty entries */
};

/* Everything the parser carries from line to line. */
struct parser {
	const char *path;     /* for messages */
	uint64_t lineno;      /* current line, from 1 */
	struct id_map ids;    /* trace ID -> slot */
	struct mvec events;   /* struct trace_event[] */
	size_t nev;           /* events appended */
	struct mvec slots;    /* uint32_t[] stack of released slots */
	size_t nfree_slots;   /* entries on that stack */
	struct mvec sizes;    /* uint64_t[]: requested size per slot */
	uint32_t next_slot;   /* slots ever handed out */
	uint64_t live_bytes;  /* requested bytes of live IDs */
	uint64_t live_blocks; /* live IDs */
	struct trace *out;    /* facts accumulate here */
	char *err;            /* message buffer */
	size_t errlen;        /* its size */
};

/* Format a message into p->err, prefixed with the file and line.  Returns
 * status so callers can `return fail(...)`. */
static int fail(struct parser *p, int status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int fail(struct parser *p, int status, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(p->err, p->errlen, "%s:%llu: ", p->path, (unsigned long long)p->lineno);

	if (n < 0 || (size_t)n >= p->errlen)
		return status;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return status;
}

/* Make room for need bytes in v, doubling.  0 or -ENOMEM. */
static int mvec_reserve(struct mvec *v, size_t need)
{
	size_t bytes = v->bytes ? v->bytes : (size_t)1 << 20;
	void *p;

	if (need <= v->bytes)
		return 0;
	while (bytes < need)
		bytes *= 2;
	if (v->base)
		p = mremap(v->base, v->bytes, bytes, MREMAP_MAYMOVE);
	else
		p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	v->base = p;
	v->bytes = bytes;
	return 0;
}

/* Unmap v and zero it. */
static void mvec_free(struct mvec *v)
{
	if (v->base)
		munmap(v->base, v->bytes);
	v->base = NULL;
	v->bytes = 0;
}

/* A 64-bit mixer (splitmix64's finalizer). */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

/* Entry for id in a table of cap entries: its own, or the empty one where
 * it would go. */
static struct id_entry *id_probe(struct id_entry *tab, size_t cap, uint64_t id)
{
	size_t i = (size_t)mix64(id) & (cap - 1);

	while (tab[i].state != ID_EMPTY && tab[i].id != id)
		i = (i + 1) & (cap - 1);
	return &tab[i];
}

/* Map a zeroed table of cap entries.  NULL on failure. */
static struct id_entry *id_table_new(size_t cap)
{
	void *p = mmap(NULL, cap * sizeof(struct id_entry), PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Double the map's capacity, rehashing.  0 or -ENOMEM. */
static int id_map_grow(struct id_map *m)
{
	size_t cap = m->cap ? m->cap * 2 : (size_t)1 << 16;
	struct id_entry *tab = id_table_new(cap);

	if (!tab)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++)
		if (m->tab[i].state != ID_EMPTY)
			*id_probe(tab, cap, m->tab[i].id) = m->tab[i];
	if (m->tab)
		munmap(m->tab, m->cap * sizeof(struct id_entry));
	m->tab = tab;
	m->cap = cap;
	return 0;
}

/* Entry for id, inserting an ID_EMPTY-state slot for it if absent (the
 * caller sets the state).  NULL on -ENOMEM. */
static struct id_entry *id_map_get(struct id_map *m, uint64_t id)
{
	struct id_entry *e;

	if ((m->used + 1) * 2 > m->cap && id_map_grow(m) < 0)
		return NULL;
	e = id_probe(m->tab, m->cap, id);
	if (e->state == ID_EMPTY) {
		e->id = id;
		m->used++;
	}
	return e;
}

/* Unmap the ID map. */
static void id_map_free(struct id_map *m)
{
	if (m->tab)
		munmap(m->tab, m->cap * sizeof(struct id_entry));
	m->tab = NULL;
	m->cap = m->used = 0;
}

/* Append one event.  0 or TRACE_NO_MEM. */
static int push_event(struct parser *p, uint32_t slot, uint32_t size)
{
	struct trace_event *ev;

	if (mvec_reserve(&p->events, (p->nev + 1) * sizeof(*ev)) < 0)
		return fail(p, TRACE_NO_MEM, "out of memory for events");
	ev = p->events.base;
	ev[p->nev].slot = slot;
	ev[p->nev].size = size;
	p->nev++;
	return TRACE_OK;
}

/* A slot for a new block: the last released one, or a fresh one. */
static int take_slot(struct parser *p, uint32_t *slot)
{
	if (p->nfree_slots > 0) {
		*slot = ((uint32_t *)p->slots.base)[--p->nfree_slots];
		return TRACE_OK;
	}
	if (p->next_slot >= TRACE_FREE_BIT)
		return fail(p, TRACE_BAD, "more than 2^31 live blocks");
	*slot = p->next_slot++;
	return TRACE_OK;
}

/* Put a slot back on the stack.  0 or TRACE_NO_MEM. */
static int release_slot(struct parser *p, uint32_t slot)
{
	if (mvec_reserve(&p->slots, (p->nfree_slots + 1) * sizeof(uint32_t)) < 0)
		return fail(p, TRACE_NO_MEM, "out of memory for slots");
	((uint32_t *)p->slots.base)[p->nfree_slots++] = slot;
	return TRACE_OK;
}

/* Record the requested size of the block in slot.  0 or TRACE_NO_MEM. */
static int note_size(struct parser *p, uint32_t slot, uint64_t size)
{
	if (mvec_reserve(&p->sizes, ((size_t)slot + 1) * sizeof(uint64_t)) < 0)
		return fail(p, TRACE_NO_MEM, "out of memory for slot sizes");
	((uint64_t *)p->sizes.base)[slot] = size;
	return TRACE_OK;
}

/* Apply `a id size`. */
static int on_alloc(struct parser *p, uint64_t id, uint64_t size)
{
	struct id_entry *e = id_map_get(&p->ids, id);
	uint32_t slot = 0;
	int rc;

	if (!e)
		return fail(p, TRACE_NO_MEM, "out of memory for the ID map");
	if (e->state == ID_LIVE)
		return fail(p, TRACE_BAD, "allocation of ID %llu, which is already live",
		            (unsigned long long)id);
	if (size >= UINT64_C(1) << 32)
		return fail(p, TRACE_BAD, "size %llu of ID %llu is 4 GiB or more (unsupported)",
		            (unsigned long long)size, (unsigned long long)id);
	size = size ? size : 1;
	rc = take_slot(p, &slot);
	if (rc == TRACE_OK)
		rc = note_size(p, slot, size);
	if (rc != TRACE_OK)
		return rc;
	e->state = ID_LIVE;
	e->slot = slot;
	p->live_bytes += size;
	p->live_blocks++;
	p->out->allocs++;
	if (p->live_blocks > p->out->max_live_blocks)
		p->out->max_live_blocks = (uint32_t)p->live_blocks;
	if (p->live_bytes > p->out->peak_live_bytes) {
		p->out->peak_live_bytes = p->live_bytes;
		p->out->peak_live_index = p->nev;
		p->out->peak_live_blocks = p->live_blocks;
	}
	return push_event(p, slot, (uint32_t)size);
}

/* Apply `f id`. */
static int on_free(struct parser *p, uint64_t id)
{
	struct id_map *m = &p->ids;
	struct id_entry *e = m->cap ? id_probe(m->tab, m->cap, id) : NULL;
	int rc;

	if (!e || e->state != ID_LIVE)
		return fail(p, TRACE_BAD, "free of ID %llu, which is %s", (unsigned long long)id,
		            e && e->state == ID_DEAD ? "already freed" : "unknown");
	e->state = ID_DEAD;
	p->live_bytes -= ((const uint64_t *)p->sizes.base)[e->slot];
	p->live_blocks--;
	p->out->frees++;
	rc = release_slot(p, e->slot);
	if (rc != TRACE_OK)
		return rc;
	return push_event(p, e->slot | TRACE_FREE_BIT, 0);
}

/* Parse an unsigned decimal at *s, skipping leading blanks.  false if
 * there is none or it overflows. */
static bool parse_u64(const char **s, uint64_t *out)
{
	const char *c = *s;
	uint64_t v = 0;

	while (*c == ' ' || *c == '\t')
		c++;
	if (*c < '0' || *c > '9')
		return false;
	for (; *c >= '0' && *c <= '9'; c++) {
		if (v > (UINT64_MAX - (uint64_t)(*c - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*c - '0');
	}
	*s = c;
	*out = v;
	return true;
}

/* True if s holds only blanks and a line end. */
static bool only_blanks(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	return *s == '\0';
}

/* Parse one line (NUL-terminated, with or without its newline). */
static int parse_line(struct parser *p, const char *line)
{
	const char *s = line + 1;
	uint64_t id, size;

	if (only_blanks(line))
		return TRACE_OK;
	if ((line[0] != 'a' && line[0] != 'f') || (line[1] != ' ' && line[1] != '\t'))
		return fail(p, TRACE_BAD, "expected `a ID SIZE` or `f ID`");
	if (!parse_u64(&s, &id))
		return fail(p, TRACE_BAD, "bad or missing ID");
	if (line[0] == 'f') {
		if (!only_blanks(s))
			return fail(p, TRACE_BAD, "junk after `f ID`");
		return on_free(p, id);
	}
	if (!parse_u64(&s, &size) || !only_blanks(s))
		return fail(p, TRACE_BAD, "bad or missing SIZE in `a ID SIZE`");
	return on_alloc(p, id, size);
}

/* Read every line of l through parse_line. */
static int parse_all(struct parser *p, struct lines *l)
{
	char line[256];
	bool toolong;

	while (lines_next(l, line, sizeof line, &toolong)) {
		int rc;

		p->lineno++;
		if (toolong)
			return fail(p, TRACE_BAD, "line too long");
		rc = parse_line(p, line);
		if (rc != TRACE_OK)
			return rc;
	}
	if (lines_error(l))
		return fail(p, lines_error_is_io(l) ? TRACE_NO_INPUT : TRACE_BAD, "%s",
		            lines_error(l));
	if (p->nev == 0)
		return fail(p, TRACE_BAD, "no events");
	return TRACE_OK;
}

/* Copy path's last component, minus .gz, then .txt or .trace, into name. */
static void trace_name(const char *path, char *name, size_t len)
{
	const char *base = strrchr(path, '/');
	static const char *const sfx[] = {".gz", ".txt", ".trace"};
	size_t n;

	snprintf(name, len, "%s", base ? base + 1 : path);
	for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
		n = strlen(name);
		if (n > strlen(sfx[i]) && !strcmp(name + n - strlen(sfx[i]), sfx[i]))
			name[n - strlen(sfx[i])] = '\0';
	}
}

int trace_load(const char *path, struct trace *t, char *err, size_t errlen)
{
	struct parser p = {.path = path, .out = t, .err = err, .errlen = errlen};
	struct lines *l;
	int rc;

	memset(t, 0, sizeof(*t));
	rc = lines_open(path, &l);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc == -ENOMEM ? TRACE_NO_MEM : TRACE_NO_INPUT;
	}
	rc = parse_all(&p, l);
	lines_close(l);
	mvec_free(&p.sizes);
	mvec_free(&p.slots);
	id_map_free(&p.ids);
	if (rc != TRACE_OK)
		goto fail_free_events;
	t->ev = p.events.base;
	t->nev = p.nev;
	t->ev_map_bytes = p.events.bytes;
	trace_name(path, t->name, sizeof t->name);
	return TRACE_OK;

fail_free_events:
	mvec_free(&p.events);
	memset(t, 0, sizeof(*t));
	return rc;
}

void trace_free(struct trace *t)
{
	if (t->ev)
		munmap(t->ev, t->ev_map_bytes);
	memset(t, 0, sizeof(*t));
}
