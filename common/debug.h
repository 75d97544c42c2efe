/*
 * debug.h - graded internal assertions (after mimalloc's MI_DEBUG).
 *
 * MEMD_DEBUG is set by the build (meson option memd_debug):
 *   0  no internal assertions at all (benchmark builds may choose this);
 *   1  cheap O(1) assertions on programmer errors (the default);
 *   2  expensive assertions (O(n) in the size of a structure);
 *   3  full integrity walks after mutations (tests only; very slow).
 * Assertions are for programmer errors only.  Errors caused by input from
 * clients or the environment are returned as -errno, never asserted.
 */
#ifndef MEMD_DEBUG_H
#define MEMD_DEBUG_H

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef MEMD_DEBUG
#define MEMD_DEBUG 1
#endif

#define memd_assert_fail(expr, file, line)                                                         \
	(fprintf(stderr, "memd: assertion failed: %s (%s:%d)\n", expr, file, line), abort())

#if MEMD_DEBUG >= 1
#define memd_assert(e) ((e) ? (void)0 : memd_assert_fail(#e, __FILE__, __LINE__))
#else
/* Not evaluated, but the operands still count as used. */
#define memd_assert(e) ((void)sizeof(!(e)))
#endif

#if MEMD_DEBUG >= 2
#define memd_assert_expensive(e) memd_assert(e)
#else
#define memd_assert_expensive(e) ((void)sizeof(!(e)))
#endif

#define memd_likely(x)   __builtin_expect(!!(x), 1)
#define memd_unlikely(x) __builtin_expect(!!(x), 0)

#endif /* MEMD_DEBUG_H */
