/*
 * gen-trace.c - write synthetic allocation traces with fixed seeds.
 *
 * usage: gen-trace KIND OUTPUT [SEED]
 *
 * OUTPUT is written gzip-compressed in the trace format memd-bench reads
 * (`a ID SIZE` / `f ID`, one event per line).  The same KIND and SEED give
 * the same bytes on every machine: the generator uses its own PRNG
 * (xoshiro256**, seeded through splitmix64) and integer draws where it
 * can.  The draws that use libm (log, exp, sin) are deterministic for a
 * given libm; another libm could round a rare last bit differently and move
 * one size or lifetime by one.  IDs are fresh for every block.
 *
 * Kinds and their default seeds (the seed is the kind's name in ASCII):
 *
 *   server   (seed 0x736572766572) 1.5M events.  A request-serving
 *            process: 80% of allocations are small (16 B..8 KiB, mostly
 *            under 128 B) and short-lived (exponential lifetime, mean 50
 *            allocations); 20% are session state (32 B..4 KiB, log-uniform)
 *            whose mean lifetime swings between 24k and 96k allocations
 *            along a slow sine (period 150k allocations); 1 in 2000 is a
 *            buffer of 64 KiB..1 MiB (log-uniform) living ~20k
 *            allocations.  After a ramp-up the live set drifts between
 *            ~10k and ~13k blocks and 10..19 MB (peak 18.9 MB).
 *   powerlaw (seed 0x706f7765726c6177) 1.5M events.  Sizes from a Pareto
 *            law with minimum 8 B and shape 1 (P(size > s) = 8/s),
 *            truncated at 256 KiB by redrawing; lifetimes log-uniform
 *            between 1 and 2^20 allocations.  The live set grows to ~73k
 *            blocks (peak 5.9 MB).
 *   phases   (seed 0x706861736573) 1.27M events, peak 196 MB live.  Three rounds; each
 *            allocates a batch, then frees 90% of everything live in random
 *            order: 300k blocks of 16..128 B, then 100k of 256..2048 B, then
 *            250k of 16 B..4 KiB (log-uniform).  The survivors of each round
 *            pin the pages the next round would like to reuse.
 *   small    (seed 0x736d616c6c) 3000 events of the server mix: for
 *            tests that check the shape of memd-bench's output, not
 *            for measurements.
 *
 * Lifetimes are counted in allocations: a block allocated at allocation
 * number n with lifetime L is freed just before allocation n + L.  Blocks
 * still live when the event budget is reached stay live (never freed).
 *
 * Memory: the generator's own tables are malloc'd; it is not measured.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define PI 3.14159265358979323846

/* xoshiro256** state. */
struct rng {
	uint64_t s[4]; /* never all zero */
};

/* Buffered gzip output. */
struct out {
	gzFile gz;       /* destination */
	char buf[65536]; /* pending text */
	size_t len;      /* bytes pending */
	uint64_t events; /* events written */
	int failed;      /* a write failed */
};

/* A block waiting to die: min-heap ordered by death. */
struct pending {
	uint64_t death; /* allocation number before which it is freed */
	uint64_t id;    /* its ID */
};

struct death_heap {
	struct pending *v; /* heap array */
	size_t n;          /* entries */
	size_t cap;        /* capacity */
};

/* A generator's state. */
struct gen {
	struct rng rng;       /* randomness */
	struct out *out;      /* where events go */
	struct death_heap dh; /* blocks with a death time */
	uint64_t next_id;     /* next fresh ID */
	uint64_t nalloc;      /* allocations so far (the clock) */
	uint64_t budget;      /* stop after about this many events */
};

/* splitmix64 step, used to seed. */
static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Seed r from seed. */
static void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

/* Rotate x left by k (0 < k < 64). */
static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* Next 64 random bits. */
static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

/* Uniform double in (0, 1]. */
static double rng_unit(struct rng *r)
{
	return (double)((rng_next(r) >> 11) + 1) * 0x1.0p-53;
}

/* Uniform integer in [lo, hi]. */
static uint64_t rng_range(struct rng *r, uint64_t lo, uint64_t hi)
{
	return lo + rng_next(r) % (hi - lo + 1);
}

/* Log-uniform integer in [lo, hi] (lo >= 1). */
static uint64_t rng_logu(struct rng *r, uint64_t lo, uint64_t hi)
{
	double x = exp(log((double)lo) + rng_unit(r) * (log((double)hi + 1) - log((double)lo)));
	uint64_t v = (uint64_t)x;

	return v < lo ? lo : v > hi ? hi : v;
}

/* Exponential integer with the given mean, at least 1. */
static uint64_t rng_exp(struct rng *r, double mean)
{
	uint64_t v = (uint64_t)(-log(rng_unit(r)) * mean);

	return v ? v : 1;
}

/* Write pending text to the file. */
static void out_flush(struct out *o)
{
	if (o->len && gzwrite(o->gz, o->buf, (unsigned)o->len) != (int)o->len)
		o->failed = 1;
	o->len = 0;
}

/* Append one event line. */
static void out_event(struct out *o, char kind, uint64_t id, uint64_t size)
{
	if (sizeof o->buf - o->len < 64)
		out_flush(o);
	if (kind == 'a')
		o->len += (size_t)snprintf(o->buf + o->len, 64, "a %llu %llu\n",
		                           (unsigned long long)id, (unsigned long long)size);
	else
		o->len += (size_t)snprintf(o->buf + o->len, 64, "f %llu\n", (unsigned long long)id);
	o->events++;
}

/* Push (death, id).  Exits on out of memory: this is a build tool. */
static void dh_push(struct death_heap *h, uint64_t death, uint64_t id)
{
	size_t i;

	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 4096;
		h->v = realloc(h->v, h->cap * sizeof(*h->v));
		if (!h->v) {
			perror("gen-trace");
			exit(1);
		}
	}
	for (i = h->n++; i > 0 && h->v[(i - 1) / 2].death > death; i = (i - 1) / 2)
		h->v[i] = h->v[(i - 1) / 2];
	h->v[i] = (struct pending){death, id};
}

/* Remove the earliest entry (the heap is not empty). */
static struct pending dh_pop(struct death_heap *h)
{
	struct pending top = h->v[0], last = h->v[--h->n];
	size_t i = 0, c;

	while ((c = 2 * i + 1) < h->n) {
		if (c + 1 < h->n && h->v[c + 1].death < h->v[c].death)
			c++;
		if (h->v[c].death >= last.death)
			break;
		h->v[i] = h->v[c];
		i = c;
	}
	if (h->n)
		h->v[i] = last;
	return top;
}

/* Emit the frees of every block due before the next allocation, then that
 * allocation, scheduled to die after lifetime allocations. */
static void gen_step(struct gen *g, uint64_t size, uint64_t lifetime)
{
	uint64_t id = g->next_id++;

	while (g->dh.n && g->dh.v[0].death <= g->nalloc)
		out_event(g->out, 'f', dh_pop(&g->dh).id, 0);
	out_event(g->out, 'a', id, size);
	dh_push(&g->dh, g->nalloc + lifetime, id);
	g->nalloc++;
}

/* A short-lived request object's size: 70% 16..128, 25% 129..1024, 5%
 * 1025..8192. */
static uint64_t server_small(struct rng *r)
{
	uint64_t p = rng_range(r, 0, 99);

	if (p < 70)
		return rng_range(r, 16, 128);
	if (p < 95)
		return rng_range(r, 129, 1024);
	return rng_range(r, 1025, 8192);
}

/* The server mix (see the top of the file). */
static void gen_server(struct gen *g)
{
	while (g->out->events < g->budget) {
		uint64_t p = rng_range(&g->rng, 0, 9999);
		double swing = 1 + 0.6 * sin(2 * PI * (double)g->nalloc / 150000.0);

		if (p < 5)
			gen_step(g, rng_logu(&g->rng, 64 << 10, 1 << 20), rng_exp(&g->rng, 20000));
		else if (p < 2005)
			gen_step(g, rng_logu(&g->rng, 32, 4096), rng_exp(&g->rng, 60000 * swing));
		else
			gen_step(g, server_small(&g->rng), rng_exp(&g->rng, 50));
	}
}

/* Pareto(8, 1) truncated at 256 KiB by redrawing. */
static uint64_t pareto_size(struct rng *r)
{
	for (;;) {
		double s = 8.0 / rng_unit(r);

		if (s <= 256.0 * 1024)
			return (uint64_t)s;
	}
}

/* The power-law trace (see the top of the file). */
static void gen_powerlaw(struct gen *g)
{
	while (g->out->events < g->budget)
		gen_step(g, pareto_size(&g->rng), rng_logu(&g->rng, 1, 1 << 20));
}

/* Live IDs for the phases trace, removable at random. */
struct live_set {
	uint64_t *id; /* live IDs, unordered */
	size_t n;     /* count */
};

/* Allocate n blocks with sizes in [lo, hi] (log-uniform if logu). */
static void phase_build(struct gen *g, struct live_set *ls, size_t n, uint64_t lo, uint64_t hi,
                        bool logu)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t size = logu ? rng_logu(&g->rng, lo, hi) : rng_range(&g->rng, lo, hi);

		ls->id[ls->n++] = g->next_id;
		out_event(g->out, 'a', g->next_id++, size);
	}
}

/* Free 90% of the live set, picking victims uniformly at random. */
static void phase_thin(struct gen *g, struct live_set *ls)
{
	size_t keep = ls->n / 10;

	while (ls->n > keep) {
		size_t k = (size_t)rng_range(&g->rng, 0, ls->n - 1);

		out_event(g->out, 'f', ls->id[k], 0);
		ls->id[k] = ls->id[--ls->n];
	}
}

/* The phases trace (see the top of the file). */
static void gen_phases(struct gen *g)
{
	struct live_set ls = {malloc(700000 * sizeof(uint64_t)), 0};

	if (!ls.id) {
		perror("gen-trace");
		exit(1);
	}
	phase_build(g, &ls, 300000, 16, 128, false);
	phase_thin(g, &ls);
	phase_build(g, &ls, 100000, 256, 2048, false);
	phase_thin(g, &ls);
	phase_build(g, &ls, 250000, 16, 4096, true);
	phase_thin(g, &ls);
	free(ls.id);
}

/* A trace kind. */
struct kind {
	const char *name;          /* argv[1] */
	uint64_t seed;             /* default seed */
	uint64_t budget;           /* events to aim for */
	void (*fn)(struct gen *g); /* generator */
};

static const struct kind kinds[] = {
        {"server", UINT64_C(0x736572766572), 1500000, gen_server},
        {"powerlaw", UINT64_C(0x706f7765726c6177), 1500000, gen_powerlaw},
        {"phases", UINT64_C(0x706861736573), 0, gen_phases},
        {"small", UINT64_C(0x736d616c6c), 3000, gen_server},
};

/* Generate kind k with seed into path.  0 or 1. */
static int generate(const struct kind *k, const char *path, uint64_t seed)
{
	static struct out o;
	struct gen g = {.out = &o, .next_id = 1, .budget = k->budget};
	int rc;

	o.gz = gzopen(path, "wb6");
	if (!o.gz) {
		fprintf(stderr, "gen-trace: %s: %s\n", path,
		        errno ? strerror(errno) : "gzopen failed");
		return 1;
	}
	rng_seed(&g.rng, seed);
	k->fn(&g);
	out_flush(&o);
	rc = gzclose(o.gz) != Z_OK || o.failed;
	free(g.dh.v);
	if (rc)
		fprintf(stderr, "gen-trace: %s: write failed\n", path);
	return rc;
}

/* gen-trace KIND OUTPUT [SEED]: 0, 1 on a write failure, 64 on usage. */
int main(int argc, char **argv)
{
	uint64_t seed;
	char *end;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: gen-trace server|powerlaw|phases|small OUTPUT [SEED]\n");
		return 64;
	}
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		if (strcmp(argv[1], kinds[i].name))
			continue;
		seed = kinds[i].seed;
		if (argc == 4) {
			errno = 0;
			seed = strtoull(argv[3], &end, 0);
			if (errno || *end || end == argv[3]) {
				fprintf(stderr, "gen-trace: bad seed: %s\n", argv[3]);
				return 64;
			}
		}
		return generate(&kinds[i], argv[2], seed);
	}
	fprintf(stderr, "gen-trace: unknown kind: %s\n", argv[1]);
	return 64;
}
