/*
 * shm_entries.c - see shm_entries.h.
 */
#include "shm_entries.h"

#include "config.h"
#include "heap.h"
#include "pool.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <unistd.h>

bool tiny_dev_shm(const char *size)
{
	char opts[32];

	if (unshare(CLONE_NEWNS) < 0)
		return false;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return false;
	snprintf(opts, sizeof(opts), "size=%s", size);
	return mount("tmpfs", "/dev/shm", "tmpfs", 0, opts) == 0;
}

struct pool *pool_fixture_open(struct memd_config *cfg, struct pool_set *set, const char *tag,
                               uint64_t seg, uint64_t max, uint64_t trim)
{
	char err[512];

	cr_assert_eq(config_load_file(cfg, NULL, err, sizeof(err)), 0, "%s", err);
	snprintf(cfg->shm_prefix, sizeof(cfg->shm_prefix), "%s-%d", tag, (int)getpid());
	cfg->pools[0].segment_size = seg;
	cfg->pools[0].max_size = max;
	cfg->pools[0].trim_threshold = trim;
	cr_assert_eq(pool_set_create(set, cfg, err, sizeof(err)), 0, "%s", err);
	return pool_set_find(set, "default");
}

void pool_fixture_close(struct memd_config *cfg, struct pool_set *set, struct pool *p,
                        const char *tag)
{
	char err[256] = "";

	cr_assert_eq(heap_check(p->heap, err, sizeof(err)), 0, "%s", err);
	pool_set_destroy(set);
	config_free(cfg);
	cr_assert_eq(shm_entries_of(tag, false), 0, "segments left behind in /dev/shm");
}

long shm_entries_of(const char *tag, bool unlink)
{
	char prefix[64], name[320];
	struct dirent *e;
	long n = 0;
	size_t len;
	DIR *d;

	len = (size_t)snprintf(prefix, sizeof(prefix), "%s-%d-", tag, (int)getpid());
	d = opendir("/dev/shm");
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, prefix, len) != 0)
			continue;
		n++;
		snprintf(name, sizeof(name), "/%s", e->d_name);
		if (unlink)
			shm_unlink(name);
	}
	closedir(d);
	return n;
}
