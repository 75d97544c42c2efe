/*
 * test_shmlock.c - the shm prefix's instance lock and the removal of
 * segments a dead daemon left behind (shm.c).
 *
 * The lock is an OFD lock, so two opens in one process conflict just as
 * two processes do; the tests need no fork.  Every name here starts with
 * "memdt<pid>u" and is removed at the end.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm.h"

static char prefix[48]; /* this test's prefix */

static void setup(void)
{
	snprintf(prefix, sizeof(prefix), "memdt%du", (int)getpid());
}

/* Create SHM_DIR/<prefix><suffix>. */
static void plant(const char *suffix)
{
	char path[160];
	int fd;

	snprintf(path, sizeof(path), SHM_DIR "/%s%s", prefix, suffix);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(ftruncate(fd, 4096), 0);
	close(fd);
}

/* Does SHM_DIR/<prefix><suffix> exist?  Removes it if asked. */
static bool present(const char *suffix, bool remove)
{
	char path[160];
	bool there;

	snprintf(path, sizeof(path), SHM_DIR "/%s%s", prefix, suffix);
	there = access(path, F_OK) == 0;
	if (remove)
		unlink(path);
	return there;
}

Test(shmlock, a_held_prefix_cannot_be_locked_twice_and_is_freed_on_unlock, .init = setup)
{
	int a = -1, b = -1;

	cr_assert_eq(shm_prefix_lock(prefix, &a), 0);
	cr_assert(present(".lock", false));
	cr_assert_eq(shm_prefix_lock(prefix, &b), -EBUSY);
	cr_assert_eq(b, -1);
	shm_prefix_unlock(prefix, a);
	cr_assert_not(present(".lock", false), "the lock object outlived its holder");
	cr_assert_eq(shm_prefix_lock(prefix, &b), 0);
	shm_prefix_unlock(prefix, b);
	shm_prefix_unlock(prefix, -1); /* no-op */
}

Test(shmlock, a_left_behind_lock_object_is_taken_over, .init = setup)
{
	int fd = -1;

	plant(".lock"); /* a dead daemon's, unlocked */
	cr_assert_eq(shm_prefix_lock(prefix, &fd), 0);
	shm_prefix_unlock(prefix, fd);
}

Test(shmlock, only_exact_segment_names_of_the_prefix_are_removed, .init = setup)
{
	static const char *const stale[] = {"-default-1", "-video-4097", "-a.b_c-d-77"};
	static const char *const keep[] = {
	        "-default-0", "-default-01", "-default-",   "-default-1x",
	        "-nodash",    "x-default-1", "-bad!name-3", "-default-99999999999",
	        ".lock2",
	};
	int fd = -1, live = -1;
	char longer[80];

	/* A live daemon with the longer prefix "<prefix>-live" owns
	 * "<prefix>-live-default-1", which also parses as our pool
	 * "live-default". */
	snprintf(longer, sizeof(longer), "%s-live", prefix);
	cr_assert_eq(shm_prefix_lock(longer, &live), 0);
	plant("-live-default-1");
	for (size_t i = 0; i < sizeof(stale) / sizeof(stale[0]); i++)
		plant(stale[i]);
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		plant(keep[i]);

	cr_assert_eq(shm_prefix_lock(prefix, &fd), 0);
	cr_expect_eq(shm_remove_stale(prefix, 4095u * 4096u), 3);
	for (size_t i = 0; i < sizeof(stale) / sizeof(stale[0]); i++)
		cr_expect_not(present(stale[i], true), "%s%s was left", prefix, stale[i]);
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		cr_expect(present(keep[i], true), "%s%s was removed", prefix, keep[i]);
	cr_expect(present("-live-default-1", true), "a live daemon's segment was removed");
	shm_prefix_unlock(prefix, fd);
	shm_prefix_unlock(longer, live);
}

Test(shmlock, free_bytes_of_dev_shm_are_reported)
{
	uint64_t avail = 0;

	cr_assert_eq(shm_free_bytes(&avail), 0);
	cr_assert_gt(avail, 0);
}
