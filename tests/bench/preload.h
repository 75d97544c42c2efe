/*
 * preload.h - run a malloc replay under another allocator through
 * LD_PRELOAD, and find jemalloc (preload.c).
 *
 * None of these functions touches the C heap of the calling process,
 * except preload_exec(), which runs in a forked child that is about to
 * replace its image.
 */
#ifndef MEMD_BENCH_PRELOAD_H
#define MEMD_BENCH_PRELOAD_H

#include <stdbool.h>

/* The name memd-bench uses when it says jemalloc is missing. */
#define PRELOAD_NO_JEMALLOC "jemalloc not installed"

/* Find a libjemalloc.so.2 this executable can preload: $MEMD_BENCH_JEMALLOC
 * when set, else the multiarch and usual library directories, else what
 * `ldconfig -p` lists; each candidate must be an ELF shared object of this
 * executable's class and machine.  Returns its path (static storage), or
 * NULL with *why set to a one-line reason that starts with
 * PRELOAD_NO_JEMALLOC, or says that this build cannot preload at all. */
const char *preload_find_jemalloc(const char **why);

/* Check that lib can be preloaded by this executable (exists, readable,
 * an ELF object of the same class and machine, and this build is not
 * sanitized).  true, or false with *why set (static storage). */
bool preload_usable(const char *lib, const char **why);

/* In a freshly forked child: execute this program again as
 * `memd-bench __replay-child MODE RUN FD TRACE` with LD_PRELOAD=lib (the
 * rest of the environment unchanged).  Returns -errno only when exec
 * failed. */
int preload_exec(const char *lib, const char *mode, unsigned run, int fd, const char *trace);

/* In the re-executed child: true if jemalloc's API (mallctl) is in the
 * process, that is if the preload took effect. */
bool preload_jemalloc_active(void);

#endif /* MEMD_BENCH_PRELOAD_H */
