/*
 * test_blocks.c - blocks through libmemclient against the real memd.
 *
 * These tests hold the client API to its contract (memclient.h, DESIGN.md
 * §4) end to end: a block's bytes are the same bytes in every process that
 * maps it; MEMC_ZERO means zero even where the memory was used before;
 * memc_size reports at least what was asked and all of it is writable
 * without touching a neighbour; memc_ref_of inverts memc_ptr; and every
 * reference that is not the start of a live block is refused with -EINVAL
 * (NULL + errno for memc_ptr) instead of being trusted.  Errors a caller
 * relies on (-EPERM, -ENOENT, -EINVAL for bad arguments) are checked by
 * value.
 *
 * Each test starts its own memd (harness.c) and ends with
 * memd_stop_clean(), so each also checks a clean shutdown.  Forked children
 * report through their exit status; they never use Criterion asserts.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "memclient.h"
#include "ref.h"

/* Connect to the test's memd or fail the test. */
static memc_client *must_connect(void)
{
	memc_client *c = NULL;
	int rc = memc_connect(H.sock, &c);

	cr_assert_eq(rc, 0, "memc_connect(%s) = %d (%s)", H.sock, rc, memc_strerror(rc));
	cr_assert_not_null(c);
	return c;
}

/* Allocate or fail the test. */
static memc_ref must_alloc(memc_client *c, const char *pool, size_t size, unsigned flags)
{
	memc_ref ref = 0;
	int rc = memc_alloc(c, pool, size, flags, &ref);

	cr_assert_eq(rc, 0, "memc_alloc(%s, %zu, %#x) = %d (%s)", pool ? pool : "NULL", size, flags,
	             rc, memc_strerror(rc));
	cr_assert_neq(ref, 0, "memc_alloc returned 0 with a null reference");
	return ref;
}

/* Map or fail the test. */
static void *must_ptr(memc_client *c, memc_ref ref)
{
	void *p = memc_ptr(c, ref);

	cr_assert_not_null(p, "memc_ptr(%#llx) = NULL, errno %d (%s)", (unsigned long long)ref,
	                   errno, strerror(errno));
	return p;
}

/* What the child of the cross-process test is given. */
struct xproc_arg {
	const char *sock; /* daemon socket */
	memc_ref ref;     /* the block the parent wrote */
	size_t len;       /* its length */
};

/* Child: map the parent's block over a connection of its own, check the
 * parent's pattern in the first half, write its own pattern in the second
 * half.  Exit 0 on success, a distinct code per failed step. */
static int xproc_child(void *argp)
{
	struct xproc_arg *a = argp;
	memc_client *c = NULL;
	uint8_t *p;
	int rc = 0;

	if (memc_connect(a->sock, &c) != 0)
		return 10;
	p = memc_ptr(c, a->ref);
	if (!p) {
		rc = 11;
		goto out_close;
	}
	if (pattern_check(p, a->len / 2, 0xabc) != -1) {
		rc = 12;
		goto out_close;
	}
	pattern_fill(p + a->len / 2, a->len - a->len / 2, 0xdef);
	if (memc_ref_of(c, p) != a->ref)
		rc = 13;
out_close:
	memc_close(c);
	return rc;
}

/* Run the cross-process exchange for one block size. */
static void exchange_between_processes(memc_client *c, size_t len)
{
	struct xproc_arg a = {.sock = H.sock, .len = len};
	char why[64];
	uint8_t *p;
	int st;

	a.ref = must_alloc(c, NULL, len, 0);
	p = must_ptr(c, a.ref);
	pattern_fill(p, len / 2, 0xabc);
	memset(p + len / 2, 0, len - len / 2);
	st = child_run(xproc_child, &a, 20000);
	cr_assert_eq(st, 0,
	             "child reading %zu-byte block %#llx: %s (10 connect, 11 memc_ptr NULL, "
	             "12 parent's bytes not seen, 13 ref_of mismatch)",
	             len, (unsigned long long)a.ref, child_status_str(st, why, sizeof(why)));
	cr_assert_eq(pattern_check(p + len / 2, len - len / 2, 0xdef), -1,
	             "parent does not see the child's bytes in the %zu-byte block", len);
	cr_assert_eq(pattern_check(p, len / 2, 0xabc), -1, "parent's own half changed");
	cr_assert_eq(memc_free(c, a.ref), 0);
}

Test(blocks, bytes_written_by_one_process_are_read_by_another, .fini = harness_fini)
{
	memc_client *c;

	memd_start(&H, NULL);
	c = must_connect();
	exchange_between_processes(c, 64);
	exchange_between_processes(c, 4096);
	exchange_between_processes(c, 3u << 20);
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

Test(blocks, zero_flag_gives_zeros_on_reused_memory, .fini = harness_fini)
{
	static const size_t sizes[] = {24, 256, 4096, 100000};
	enum { N = 64 };
	memc_ref refs[N];
	memc_client *c;

	memd_start(&H, NULL);
	c = must_connect();
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		/* Dirty N blocks, free them, then ask for zeroed ones: the
		 * allocator hands back (some of) the same memory. */
		for (int i = 0; i < N; i++) {
			size_t usable = 0;

			refs[i] = must_alloc(c, NULL, sizes[s], 0);
			cr_assert_eq(memc_size(c, refs[i], &usable), 0);
			memset(must_ptr(c, refs[i]), 0xff, usable);
		}
		for (int i = 0; i < N; i++)
			cr_assert_eq(memc_free(c, refs[i]), 0);
		for (int i = 0; i < N; i++) {
			uint8_t *p;

			refs[i] = must_alloc(c, NULL, sizes[s], MEMC_ZERO);
			p = must_ptr(c, refs[i]);
			for (size_t b = 0; b < sizes[s]; b++)
				cr_assert_eq(
				        p[b], 0,
				        "MEMC_ZERO block %d of %zu bytes has %#x at offset %zu", i,
				        sizes[s], p[b], b);
		}
		for (int i = 0; i < N; i++)
			cr_assert_eq(memc_free(c, refs[i]), 0);
	}
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

Test(blocks, size_is_at_least_requested_and_all_of_it_is_usable, .fini = harness_fini)
{
	static const size_t sizes[] = {1,    15,   16,    17,    100,    255,     4095,
	                               4096, 4097, 65535, 65537, 300000, 1u << 20};
	enum { NS = sizeof(sizes) / sizeof(sizes[0]) };
	memc_ref a[NS], b[NS];
	size_t ua[NS], ub[NS];
	memc_client *c;

	memd_start(&H, NULL);
	c = must_connect();
	/* Two blocks of each size, both filled to their full usable size with
	 * different patterns: neither may overwrite the other. */
	for (size_t i = 0; i < NS; i++) {
		a[i] = must_alloc(c, NULL, sizes[i], 0);
		b[i] = must_alloc(c, NULL, sizes[i], 0);
		cr_assert_neq(a[i], b[i]);
		cr_assert_eq(memc_size(c, a[i], &ua[i]), 0);
		cr_assert_eq(memc_size(c, b[i], &ub[i]), 0);
		cr_assert_geq(ua[i], sizes[i], "memc_size %zu < requested %zu", ua[i], sizes[i]);
		cr_assert_geq(ub[i], sizes[i], "memc_size %zu < requested %zu", ub[i], sizes[i]);
		cr_assert_eq((uintptr_t)must_ptr(c, a[i]) % 16, 0, "block not 16-byte aligned");
		pattern_fill(must_ptr(c, a[i]), ua[i], (uint32_t)(2 * i + 1));
		pattern_fill(must_ptr(c, b[i]), ub[i], (uint32_t)(2 * i + 2));
	}
	for (size_t i = 0; i < NS; i++) {
		cr_assert_eq(pattern_check(must_ptr(c, a[i]), ua[i], (uint32_t)(2 * i + 1)), -1,
		             "block of %zu (usable %zu) was overwritten", sizes[i], ua[i]);
		cr_assert_eq(pattern_check(must_ptr(c, b[i]), ub[i], (uint32_t)(2 * i + 2)), -1,
		             "block of %zu (usable %zu) was overwritten", sizes[i], ub[i]);
		cr_assert_eq(memc_free(c, a[i]), 0);
		cr_assert_eq(memc_free(c, b[i]), 0);
	}
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

Test(blocks, ref_of_round_trips_ptr_and_is_zero_outside_pools, .fini = harness_fini)
{
	static const size_t sizes[] = {32, 4096, 200000};
	int on_stack = 0;
	memc_client *c;
	char *heap;

	memd_start(&H, NULL);
	c = must_connect();
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memc_ref ref = must_alloc(c, NULL, sizes[i], 0);
		char *p = must_ptr(c, ref);

		cr_assert_eq(memc_ref_of(c, p), ref, "ref_of(ptr(%#llx)) = %#llx",
		             (unsigned long long)ref, (unsigned long long)memc_ref_of(c, p));
		cr_assert_eq(memc_ref_of(c, p + 10), ref + 10, "interior pointer");
		cr_assert_eq(memc_ptr(c, ref + 10), p + 10, "interior reference");
		cr_assert_eq(memc_ptr(c, ref), p, "memc_ptr is not stable");
	}
	heap = malloc(64);
	cr_assert_eq(memc_ref_of(c, &on_stack), 0, "stack address gave a reference");
	cr_assert_eq(memc_ref_of(c, heap), 0, "malloc'd address gave a reference");
	cr_assert_eq(memc_ref_of(c, NULL), 0, "NULL gave a reference");
	free(heap);
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

/* memc_ref_of remembers where it found addresses (a memo of 1 MiB
 * granules): with many small segments, granules straddle two mappings
 * and memo slots collide, and every answer must still be exact, the
 * first time and from the memo. */
Test(blocks, ref_of_is_exact_across_many_small_segments, .fini = harness_fini)
{
	enum { N = 600 };
	static memc_ref refs[N];
	static size_t usable[N];
	memc_client *c;

	memd_start(&H, "[pool default]\nsegment_size = 64K\nmax_size = 64M\n");
	c = must_connect();
	for (int i = 0; i < N; i++) {
		refs[i] = must_alloc(c, NULL, 40000 + (size_t)(i % 7) * 1000, 0);
		cr_assert_eq(memc_size(c, refs[i], &usable[i]), 0);
	}
	for (int pass = 0; pass < 2; pass++) {
		for (int k = 0; k < N; k++) {
			int i = (k * 7919) % N; /* scattered order: memo slots collide */
			char *p = must_ptr(c, refs[i]);

			cr_assert_eq(memc_ref_of(c, p), refs[i], "pass %d block %d", pass, i);
			cr_assert_eq(memc_ref_of(c, p + usable[i] - 1), refs[i] + usable[i] - 1,
			             "pass %d block %d, last byte", pass, i);
		}
	}
	for (int i = 0; i < N; i++)
		cr_assert_eq(memc_free(c, refs[i]), 0);
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

/* Assert that ref is refused by memc_free and memc_size with -EINVAL. */
static void assert_refused(memc_client *c, memc_ref ref, const char *what)
{
	size_t sz = 12345;
	int rc;

	rc = memc_size(c, ref, &sz);
	cr_assert_eq(rc, -EINVAL, "memc_size(%s %#llx) = %d (%s), want -EINVAL", what,
	             (unsigned long long)ref, rc, memc_strerror(rc));
	rc = memc_free(c, ref);
	cr_assert_eq(rc, -EINVAL, "memc_free(%s %#llx) = %d (%s), want -EINVAL", what,
	             (unsigned long long)ref, rc, memc_strerror(rc));
}

/* Assert that memc_ptr refuses ref with NULL and errno EINVAL. */
static void assert_ptr_refused(memc_client *c, memc_ref ref, const char *what)
{
	void *p;

	errno = 0;
	p = memc_ptr(c, ref);
	cr_assert_null(p, "memc_ptr(%s %#llx) = %p, want NULL", what, (unsigned long long)ref, p);
	cr_assert_eq(errno, EINVAL, "memc_ptr(%s) errno %d (%s), want EINVAL", what, errno,
	             strerror(errno));
}

Test(blocks, bad_references_are_refused, .fini = harness_fini)
{
	memc_ref small, large, keep, gone_small, gone_large;
	memc_client *c;
	uint32_t seg;

	memd_start(&H, NULL);
	c = must_connect();
	small = must_alloc(c, NULL, 64, 0);
	large = must_alloc(c, NULL, 256 * 1024, 0);
	keep = must_alloc(c, NULL, 64, 0);
	pattern_fill(must_ptr(c, keep), 64, 77);
	seg = memd_ref_seg(small);

	assert_refused(c, 0, "null");
	assert_ptr_refused(c, 0, "null");

	assert_refused(c, small + 8, "interior of small");
	assert_refused(c, large + 16, "interior of large");
	assert_refused(c, large + 4096, "page-interior of large");

	assert_refused(c, memd_ref_make(MEMD_SEG_ID_MAX, 0), "unknown segment");
	assert_refused(c, memd_ref_make(MEMD_SEG_ID_MAX - 1, 4096), "unknown segment");
	assert_ptr_refused(c, memd_ref_make(MEMD_SEG_ID_MAX, 0), "unknown segment");

	assert_refused(c, memd_ref_make(seg, UINT64_C(1) << 39), "offset past the end");
	assert_refused(c, memd_ref_make(seg, MEMD_REF_OFFSET_MASK & ~UINT64_C(15)),
	               "offset past the end");
	assert_ptr_refused(c, memd_ref_make(seg, UINT64_C(1) << 39), "offset past the end");
	assert_ptr_refused(c, memd_ref_make(seg, MEMD_REF_OFFSET_MASK & ~UINT64_C(15)),
	                   "offset past the end");

	gone_small = small;
	gone_large = large;
	cr_assert_eq(memc_free(c, small), 0);
	cr_assert_eq(memc_free(c, large), 0);
	assert_refused(c, gone_small, "double free of small");
	assert_refused(c, gone_large, "double free of large");

	/* None of that disturbed a live block. */
	cr_assert_eq(pattern_check(must_ptr(c, keep), 64, 77), -1);
	cr_assert_eq(memc_free(c, keep), 0);
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

Test(blocks, free_of_a_block_another_client_allocated_is_eperm, .fini = harness_fini)
{
	static const size_t sizes[] = {48, 8192, 512 * 1024};
	memc_client *owner, *other;

	memd_start(&H, NULL);
	owner = must_connect();
	other = must_connect();
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memc_ref ref = must_alloc(owner, NULL, sizes[i], 0);
		size_t sz = 0;
		int rc;

		pattern_fill(must_ptr(owner, ref), sizes[i], 5);
		rc = memc_free(other, ref);
		cr_assert_eq(rc, -EPERM, "free by a non-holder of a %zu-byte block = %d (%s)",
		             sizes[i], rc, memc_strerror(rc));
		/* The block is still the owner's, untouched. */
		cr_assert_eq(memc_size(owner, ref, &sz), 0);
		cr_assert_geq(sz, sizes[i]);
		cr_assert_eq(pattern_check(must_ptr(owner, ref), sizes[i], 5), -1);
		cr_assert_eq(memc_free(owner, ref), 0);
	}
	memc_close(other);
	memc_close(owner);
	memd_stop_clean(&H, SIGTERM);
}

Test(blocks, bad_alloc_arguments_are_refused, .fini = harness_fini)
{
	memc_ref ref = 0;
	memc_client *c;
	int rc;

	memd_start(&H, NULL);
	c = must_connect();
	rc = memc_alloc(c, "no-such-pool", 64, 0, &ref);
	cr_assert_eq(rc, -ENOENT, "unknown pool: %d (%s)", rc, memc_strerror(rc));
	rc = memc_alloc(c, NULL, 0, 0, &ref);
	cr_assert_eq(rc, -EINVAL, "size 0: %d (%s)", rc, memc_strerror(rc));
	rc = memc_alloc(c, NULL, 64, 0x80000000u, &ref);
	cr_assert_eq(rc, -EINVAL, "unknown flag: %d (%s)", rc, memc_strerror(rc));
	rc = memc_alloc(c, NULL, 64, ~(MEMC_ZERO | MEMC_SHARED), &ref);
	cr_assert_eq(rc, -EINVAL, "unknown flags: %d (%s)", rc, memc_strerror(rc));
	rc = memc_alloc(c, NULL, 64, 0, NULL);
	cr_assert_eq(rc, -EINVAL, "NULL out: %d (%s)", rc, memc_strerror(rc));
	rc = memc_size(c, must_alloc(c, "default", 64, 0), NULL);
	cr_assert_eq(rc, -EINVAL, "memc_size NULL out: %d (%s)", rc, memc_strerror(rc));
	/* Named "default" and NULL are the same pool. */
	ref = must_alloc(c, "default", 64, 0);
	cr_assert_eq(memc_free(c, ref), 0);
	cr_assert_not_null(memc_strerror(-ENOENT));
	cr_assert_not_null(memc_strerror(-EPIPE));
	cr_assert_not_null(memc_strerror(12345));
	cr_assert_not_null(memc_strerror(0));
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

/* One worker of the many-threads test. */
struct thr_arg {
	memc_client *c; /* shared client */
	uint32_t id;    /* thread number */
	int failures;   /* steps that went wrong */
	char err[128];  /* the first of them */
};

/* Allocate, fill, check and free blocks of varied sizes on the shared
 * client; count what goes wrong. */
static void *thr_main(void *argp)
{
	struct thr_arg *a = argp;
	enum { LIVE = 16 };
	memc_ref live[LIVE] = {0};
	size_t len[LIVE] = {0};

	for (uint32_t i = 0; i < 2000; i++) {
		uint32_t slot = i % LIVE;
		void *p;
		int rc;

		if (live[slot]) {
			p = memc_ptr(a->c, live[slot]);
			if (!p || pattern_check(p, len[slot], a->id * 100000 + slot) != -1) {
				if (!a->failures++)
					snprintf(a->err, sizeof(a->err), "block %u bad", slot);
			}
			rc = memc_free(a->c, live[slot]);
			if (rc != 0 && !a->failures++)
				snprintf(a->err, sizeof(a->err), "free: %d", rc);
			live[slot] = 0;
		}
		len[slot] = 16 + (i * 37 + a->id * 11) % 3000;
		rc = memc_alloc(a->c, NULL, len[slot], 0, &live[slot]);
		if (rc != 0) {
			if (!a->failures++)
				snprintf(a->err, sizeof(a->err), "alloc: %d", rc);
			live[slot] = 0;
			continue;
		}
		p = memc_ptr(a->c, live[slot]);
		if (!p) {
			if (!a->failures++)
				snprintf(a->err, sizeof(a->err), "ptr NULL");
			continue;
		}
		pattern_fill(p, len[slot], a->id * 100000 + slot);
	}
	for (uint32_t s = 0; s < LIVE; s++) {
		if (live[s] && memc_free(a->c, live[s]) != 0 && !a->failures++)
			snprintf(a->err, sizeof(a->err), "final free failed");
	}
	return NULL;
}

Test(blocks, one_client_is_safe_from_many_threads, .fini = harness_fini)
{
	enum { T = 4 };
	struct thr_arg args[T];
	pthread_t th[T];
	memc_client *c;

	memd_start(&H, NULL);
	c = must_connect();
	for (int i = 0; i < T; i++) {
		args[i] = (struct thr_arg){.c = c, .id = (uint32_t)i + 1};
		cr_assert_eq(pthread_create(&th[i], NULL, thr_main, &args[i]), 0);
	}
	for (int i = 0; i < T; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < T; i++)
		cr_assert_eq(args[i].failures, 0, "thread %d: %d failures, first: %s", i,
		             args[i].failures, args[i].err);
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

Test(blocks, huge_sizes_are_refused_without_overflow, .fini = harness_fini)
{
	static const size_t sizes[] = {SIZE_MAX,        SIZE_MAX - 15,         SIZE_MAX / 2 + 1,
	                               (size_t)1 << 40, ((size_t)1 << 30) + 1, (size_t)1 << 31};
	memc_client *c;
	memc_ref ref;

	memd_start(&H, NULL); /* default pool: max_size 1 GiB */
	c = must_connect();
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int rc;

		ref = 0;
		rc = memc_alloc(c, NULL, sizes[i], 0, &ref);
		cr_assert(rc == -ENOMEM || rc == -EINVAL,
		          "alloc of %zu bytes in a 1 GiB pool: %d (%s), ref %#llx", sizes[i], rc,
		          memc_strerror(rc), (unsigned long long)ref);
		rc = memc_alloc(c, NULL, sizes[i], MEMC_ZERO, &ref);
		cr_assert(rc == -ENOMEM || rc == -EINVAL, "zeroed alloc of %zu bytes: %d", sizes[i],
		          rc);
	}
	/* Still serving, and the pool is not poisoned. */
	ref = must_alloc(c, NULL, 1u << 20, 0);
	pattern_fill(must_ptr(c, ref), 1u << 20, 21);
	cr_assert_eq(pattern_check(must_ptr(c, ref), 1u << 20, 21), -1);
	cr_assert_eq(memc_free(c, ref), 0);
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}
