/*
 * shm_entries.h - the unit tests' look at /dev/shm, and their one-pool
 * fixture.
 *
 * Tests that make pools name their segments "<tag>-<pid>-..." and, in a
 * suite fini, unlink what a failed test left behind; some also count
 * what is there.  Some run in a private mount namespace with a small
 * tmpfs on /dev/shm, to see what a full /dev/shm does.  One
 * implementation for all of them.
 */
#ifndef MEMD_TEST_SHM_ENTRIES_H
#define MEMD_TEST_SHM_ENTRIES_H

#include <stdbool.h>
#include <stdint.h>

/* Entries of /dev/shm named "<tag>-<this pid>-*"; with unlink, remove
 * them.  How many there were, or -1 if /dev/shm cannot be read. */
long shm_entries_of(const char *tag, bool unlink);

/* Run the rest of the test in a private mount namespace with a tmpfs of
 * size ("1m", "8m") on /dev/shm; false if not permitted (not root / no
 * CAP_SYS_ADMIN: the caller skips). */
bool tiny_dev_shm(const char *size);

struct memd_config;
struct pool;
struct pool_set;

/* Load the default configuration into *cfg with shm prefix
 * "<tag>-<pid>" and the one pool "default" given these limits, create
 * *set from it, and return that pool. */
struct pool *pool_fixture_open(struct memd_config *cfg, struct pool_set *set, const char *tag,
                               uint64_t seg, uint64_t max, uint64_t trim);

/* Check p's heap, destroy *set, free *cfg, and assert that no segment of
 * tag is left in /dev/shm. */
void pool_fixture_close(struct memd_config *cfg, struct pool_set *set, struct pool *p,
                        const char *tag);

#endif
