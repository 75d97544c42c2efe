/*
 * consumer.c - read a message another process left in a memd block.
 *
 *   memd-example-consumer [--socket PATH] [REF]
 *
 * The consumer takes a block reference (from argv, else the first line of
 * stdin, as printed by memd-example-producer), connects to memd over its own
 * connection and calls memc_ptr(): the library maps the block's segment
 * (the daemon sends the segment's fd over the socket) and returns the
 * address of the very bytes the producer wrote.  Nothing is copied.
 *
 * The block is borrowed: the consumer does not hold it (holds on another
 * process's block come with sharing, in the next issue), so it must not
 * free it, and it relies on the producer keeping the block alive until the
 * consumer exits.  A reference is just a number and may be wrong: memc_ptr
 * refuses one that names no segment, and the consumer checks the frame's
 * magic and length against memc_size() before printing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "memclient.h"

/* Parse a reference ("0x..." or decimal).  0 on failure. */
static memc_ref parse_ref(const char *s)
{
	char *end = NULL;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || (*end != '\0' && *end != '\n'))
		return 0;
	return (memc_ref)v;
}

/* Map the reference, check the frame and print its text.  Exit 0, or 1
 * with a message on stderr. */
int main(int argc, char **argv)
{
	const char *sock = NULL, *arg = NULL;
	const struct example_frame *f;
	memc_client *c = NULL;
	char line[64];
	memc_ref ref;
	size_t size = 0;
	int rc, argi = 1;

	if (argc > 2 && strcmp(argv[1], "--socket") == 0) {
		sock = argv[2];
		argi = 3;
	}
	if (argi < argc) {
		arg = argv[argi];
	} else {
		if (!fgets(line, sizeof(line), stdin)) {
			fprintf(stderr, "consumer: no reference on stdin\n");
			goto fail;
		}
		arg = line;
	}
	ref = parse_ref(arg);
	if (ref == 0) {
		fprintf(stderr, "consumer: not a reference: %s\n", arg);
		goto fail;
	}

	rc = memc_connect(sock, &c);
	if (rc < 0) {
		fprintf(stderr, "consumer: connect: %s\n", memc_strerror(rc));
		goto fail;
	}
	f = memc_ptr(c, ref);
	if (!f) {
		fprintf(stderr, "consumer: map 0x%016" PRIx64 ": %s\n", ref, strerror(errno));
		goto fail_close;
	}
	rc = memc_size(c, ref, &size);
	if (rc < 0) {
		fprintf(stderr, "consumer: size: %s\n", memc_strerror(rc));
		goto fail_close;
	}
	if (size < sizeof(*f) + 1 || f->magic != EXAMPLE_FRAME_MAGIC ||
	    f->len > size - sizeof(*f) - 1 || f->text[f->len] != '\0') {
		fprintf(stderr, "consumer: 0x%016" PRIx64 " holds no valid frame\n", ref);
		goto fail_close;
	}
	printf("from pid %" PRIu32 ": %s\n", f->pid, f->text);
	memc_close(c);
	return 0;

fail_close:
	memc_close(c);
fail:
	return 1;
}
