/*
 * shm_entries.c - see shm_entries.h.
 */
#include "shm_entries.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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
