/*
 * frame.h - the little frame format the producer and consumer examples
 * agree on.  A block starts with this header; the text follows it.  The
 * consumer trusts nothing: it checks the magic and that the text fits in
 * the block (memc_size) before printing it.
 */
#ifndef MEMD_EXAMPLE_FRAME_H
#define MEMD_EXAMPLE_FRAME_H

#include <stdint.h>

#define EXAMPLE_FRAME_MAGIC 0x4d454d44u /* "MEMD" */

/* Header at the start of the shared block. */
struct example_frame {
	uint32_t magic; /* EXAMPLE_FRAME_MAGIC */
	uint32_t pid;   /* producer's pid, to show the bytes crossed processes */
	uint64_t len;   /* bytes of text after the header, no NUL counted */
	char text[];    /* the message, NUL-terminated */
};

#endif /* MEMD_EXAMPLE_FRAME_H */
