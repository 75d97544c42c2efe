/*
 * producer.c - write a message into a memd block and hand its reference on.
 *
 *   memd-example-producer [--socket PATH] [MESSAGE] | memd-example-consumer [--socket PATH]
 *
 * The producer connects to memd (--socket, else $MEMD_SOCKET, else
 * /run/memd/memd.sock), allocates one block, writes a small frame into it
 * (frame.h: magic, its pid, the text) and prints the block's reference -
 * one 64-bit number, e.g. 0x0000010000000040 - on stdout.  That number is
 * all another process needs: the consumer passes it to memc_ptr() and reads
 * the same bytes through its own mapping of the segment, no copy made.
 *
 * Lifetime: until sharing exists (the next issue: memc_share/memc_retain),
 * the block belongs to the producer alone and the consumer only borrows
 * it; nothing keeps a borrowed block alive.  So the producer must not free
 * the block (or exit, which frees it too) before the consumer is done.  It
 * waits: when stdout is a pipe, until the reader closes it (the consumer
 * exited); otherwise until a line or end of file on stdin, so in two
 * terminals you run the producer, copy the reference to the consumer, then
 * press Enter here.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frame.h"
#include "memclient.h"

/* Block until whoever reads our stdout is done with the reference. */
static void wait_for_consumer(void)
{
	struct stat st;
	char line[64];

	if (fstat(STDOUT_FILENO, &st) == 0 && S_ISFIFO(st.st_mode)) {
		/* A pipe's write end polls POLLERR once its reader is gone. */
		struct pollfd pfd = {.fd = STDOUT_FILENO, .events = 0};

		while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
			;
		return;
	}
	fprintf(stderr, "producer: press Enter when the consumer is done\n");
	if (!fgets(line, sizeof(line), stdin))
		return;
}

/* Allocate, fill, publish (print) and keep the block until the consumer is
 * done.  Exit 0, or 1 with a message on stderr. */
int main(int argc, char **argv)
{
	const char *sock = NULL, *msg = "hello from the producer";
	struct example_frame *f;
	memc_client *c = NULL;
	memc_ref ref = 0;
	size_t len;
	int rc, argi = 1;

	if (argc > 2 && strcmp(argv[1], "--socket") == 0) {
		sock = argv[2];
		argi = 3;
	}
	if (argi < argc)
		msg = argv[argi];
	len = strlen(msg);

	rc = memc_connect(sock, &c);
	if (rc < 0) {
		fprintf(stderr, "producer: connect: %s\n", memc_strerror(rc));
		goto fail;
	}
	rc = memc_alloc(c, NULL, sizeof(*f) + len + 1, 0, &ref);
	if (rc < 0) {
		fprintf(stderr, "producer: alloc: %s\n", memc_strerror(rc));
		goto fail_close;
	}
	f = memc_ptr(c, ref);
	if (!f) {
		fprintf(stderr, "producer: map: %s\n", strerror(errno));
		goto fail_free;
	}
	f->magic = EXAMPLE_FRAME_MAGIC;
	f->pid = (uint32_t)getpid();
	f->len = len;
	memcpy(f->text, msg, len + 1);

	printf("0x%016llx\n", (unsigned long long)ref);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "producer: stdout: %s\n", strerror(errno));
		goto fail_free;
	}
	wait_for_consumer();

	memc_free(c, ref);
	memc_close(c);
	return 0;

fail_free:
	memc_free(c, ref);
fail_close:
	memc_close(c);
fail:
	return 1;
}
