/*
 * criterion/criterion.h (stand-in) - just enough of Criterion's API to run
 * the integration tests under ThreadSanitizer.
 *
 * Why: Criterion (boxfort) maps its inheritable arena at a random address
 * between 0x2000_0000_0000 and 0x7f00_0000_0000, ten tries, and gives up
 * ("Could not initialize inheritable arena: Resource temporarily
 * unavailable") when ThreadSanitizer has reserved nearly all of that range
 * for its shadow memory: upstream issue Snaipe/Criterion#274.  So a test
 * binary built with -fsanitize=thread takes this header instead of the real
 * one (tests/integration/meson.build puts this directory first on the
 * include path and leaves libcriterion out) and runner.c supplies main().
 *
 * What it keeps of Criterion: Test(suite, name, .init, .fini, .timeout);
 * every test in its own forked process; cr_assert* ends the test (its
 * .fini still runs) and cr_expect* marks it failed but goes on; both only
 * from the test's main thread.  The message arguments must start with a
 * string literal, as all of ours do.
 */
#ifndef MEMD_NOCRITERION_H
#define MEMD_NOCRITERION_H

#include <stdbool.h>
#include <stddef.h>

/* The options a Test() may set. */
struct cri_test_opts {
	void (*init)(void); /* before the body */
	void (*fini)(void); /* after the body, also after a failed cr_assert */
	double timeout;     /* seconds; 0: the runner's default */
	bool disabled;      /* skip it */
};

/* One registered test. */
struct cri_test {
	const char *suite;         /* the suite name */
	const char *name;          /* the test name */
	void (*body)(void);        /* the test */
	struct cri_test_opts opts; /* its options */
	struct cri_test *next;     /* the registry list */
};

/* Add t to the runner's list (from a constructor). */
void cri_register(struct cri_test *t);

/* A check failed: print where and why (fmt may be "": then expr); fatal
 * ends the test.  (No format attribute: an empty format would warn.) */
void cri_fail(const char *file, int line, bool fatal, const char *expr, const char *fmt, ...);

/* End the test as skipped. */
void cri_skip(const char *fmt, ...) __attribute__((noreturn));

/* Print an informational line. */
void cri_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define Test(Suite, Name, ...)                                                                     \
	static void cri_body_##Suite##_##Name(void);                                               \
	static struct cri_test cri_test_##Suite##_##Name = {                                       \
	        #Suite, #Name, cri_body_##Suite##_##Name, {__VA_ARGS__}, NULL};                    \
	__attribute__((constructor)) static void cri_reg_##Suite##_##Name(void)                    \
	{                                                                                          \
		cri_register(&cri_test_##Suite##_##Name);                                          \
	}                                                                                          \
	static void cri_body_##Suite##_##Name(void)

#define CRI_CHECK(Fatal, Cond, Expr, ...)                                                          \
	do {                                                                                       \
		if (!(Cond))                                                                       \
			cri_fail(__FILE__, __LINE__, Fatal, Expr, "" __VA_ARGS__);                 \
	} while (0)

#define cr_assert(Cond, ...)       CRI_CHECK(true, Cond, #Cond, __VA_ARGS__)
#define cr_assert_eq(A, B, ...)    CRI_CHECK(true, (A) == (B), #A " == " #B, __VA_ARGS__)
#define cr_assert_neq(A, B, ...)   CRI_CHECK(true, (A) != (B), #A " != " #B, __VA_ARGS__)
#define cr_assert_lt(A, B, ...)    CRI_CHECK(true, (A) < (B), #A " < " #B, __VA_ARGS__)
#define cr_assert_leq(A, B, ...)   CRI_CHECK(true, (A) <= (B), #A " <= " #B, __VA_ARGS__)
#define cr_assert_gt(A, B, ...)    CRI_CHECK(true, (A) > (B), #A " > " #B, __VA_ARGS__)
#define cr_assert_geq(A, B, ...)   CRI_CHECK(true, (A) >= (B), #A " >= " #B, __VA_ARGS__)
#define cr_assert_null(A, ...)     CRI_CHECK(true, (A) == NULL, #A " == NULL", __VA_ARGS__)
#define cr_assert_not_null(A, ...) CRI_CHECK(true, (A) != NULL, #A " != NULL", __VA_ARGS__)
#define cr_assert_fail(...)        CRI_CHECK(true, false, "failure", __VA_ARGS__)
#define cr_expect(Cond, ...)       CRI_CHECK(false, Cond, #Cond, __VA_ARGS__)
#define cr_expect_eq(A, B, ...)    CRI_CHECK(false, (A) == (B), #A " == " #B, __VA_ARGS__)
#define cr_expect_neq(A, B, ...)   CRI_CHECK(false, (A) != (B), #A " != " #B, __VA_ARGS__)
#define cr_expect_lt(A, B, ...)    CRI_CHECK(false, (A) < (B), #A " < " #B, __VA_ARGS__)
#define cr_expect_leq(A, B, ...)   CRI_CHECK(false, (A) <= (B), #A " <= " #B, __VA_ARGS__)
#define cr_expect_gt(A, B, ...)    CRI_CHECK(false, (A) > (B), #A " > " #B, __VA_ARGS__)
#define cr_expect_geq(A, B, ...)   CRI_CHECK(false, (A) >= (B), #A " >= " #B, __VA_ARGS__)
#define cr_expect_null(A, ...)     CRI_CHECK(false, (A) == NULL, #A " == NULL", __VA_ARGS__)
#define cr_expect_not_null(A, ...) CRI_CHECK(false, (A) != NULL, #A " != NULL", __VA_ARGS__)
#define cr_skip_test(...)          cri_skip("" __VA_ARGS__)
#define cr_log_info(...)           cri_info(__VA_ARGS__)

#endif /* MEMD_NOCRITERION_H */
