/*
 * shm_entries.h - the unit tests' look at /dev/shm.
 *
 * Tests that make pools name their segments "<tag>-<pid>-..." and, in a
 * suite fini, unlink what a failed test left behind; some also count
 * what is there.  One implementation for all of them.
 */
#ifndef MEMD_TEST_SHM_ENTRIES_H
#define MEMD_TEST_SHM_ENTRIES_H

#include <stdbool.h>

/* Entries of /dev/shm named "<tag>-<this pid>-*"; with unlink, remove
 * them.  How many there were, or -1 if /dev/shm cannot be read. */
long shm_entries_of(const char *tag, bool unlink);

#endif
