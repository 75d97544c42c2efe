/*
 * replay.c - run the fuzz entry point over a corpus without libFuzzer.
 *
 * Usage: fuzz-proto-replay PATH...  Each PATH is a file (one input) or a
 * directory (every regular file in it, not recursive).  Exits 0 after
 * running every input, 1 if an input could not be read or no input was
 * found (a missing corpus must not pass silently).  A crash or abort in
 * the entry point fails the run, which is the point.
 *
 * Built with any compiler (gcc by default) and registered as a unit test,
 * so the committed corpus is exercised by every `meson test`.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read the file at path and feed it to the entry point.  0 or -1. */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (f == NULL)
		goto fail;
	if (fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0)
		goto fail_close_file;
	buf = malloc(len > 0 ? (size_t)len : 1);
	if (buf == NULL)
		goto fail_close_file;
	if (fread(buf, 1, (size_t)len, f) != (size_t)len)
		goto fail_free_buf;
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	fclose(f);
	return 0;

fail_free_buf:
	free(buf);
fail_close_file:
	fclose(f);
fail:
	fprintf(stderr, "replay: cannot read %s\n", path);
	return -1;
}

/* Replay every regular file in dir; adds to *count.  0 or -1. */
static int replay_dir(const char *dir, unsigned *count)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];
	struct stat st;
	int ret = 0;

	if (d == NULL) {
		fprintf(stderr, "replay: cannot open %s\n", dir);
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (replay_file(path) < 0)
			ret = -1;
		else
			(*count)++;
	}
	closedir(d);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned count = 0;
	int ret = 0;
	struct stat st;

	for (int i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if (replay_dir(argv[i], &count) < 0)
				ret = 1;
		} else if (replay_file(argv[i]) < 0) {
			ret = 1;
		} else {
			count++;
		}
	}
	printf("replayed %u inputs\n", count);
	return count == 0 ? 1 : ret;
}
