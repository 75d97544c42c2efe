/*
 * sizeclass.h - the small-block size classes, shared by the heap core and
 * the client cache.
 *
 * Blocks of at most MEMD_SMALL_MAX bytes are carved from slabs of one size
 * class: 16-byte steps up to 256 bytes, then 8 classes per doubling up to
 * MEMD_SMALL_MAX, so rounding a request up to its class wastes at most
 * 12.5%.  The daemon's heap (daemon/heap.c) keeps the slab geometry of each
 * class; libmemclient's cache bins blocks by the same classes, so a block
 * leased for one request size serves every request of its class.  Both
 * sides come from one build and agree by construction; the client also
 * checks the usable size the daemon reports against memd_class_size().
 */
#ifndef MEMD_SIZECLASS_H
#define MEMD_SIZECLASS_H

#include <stdint.h>

#define MEMD_SMALL_MAX   (32u * 1024u) /* largest size-class size, bytes */
#define MEMD_CLASS_COUNT 72u           /* 16 + 8 per doubling from 256 to 32 KiB */

/* Class index (0..MEMD_CLASS_COUNT-1) of a request of 1..MEMD_SMALL_MAX
 * bytes. */
static inline uint32_t memd_size_class(uint64_t size)
{
	uint32_t v, k;

	if (size <= 256)
		return (uint32_t)((size + 15) >> 4) - 1;
	v = (uint32_t)(size - 1);
	k = 31u - (uint32_t)__builtin_clz(v);
	return 16 + (k - 8) * 8 + ((v >> (k - 3)) & 7);
}

/* Slot size in bytes of class cls (< MEMD_CLASS_COUNT). */
static inline uint32_t memd_class_size(uint32_t cls)
{
	uint32_t k;

	if (cls < 16)
		return (cls + 1) * 16;
	k = (cls - 16) / 8 + 8; /* the class lies in (2^k, 2^(k+1)] */
	return (1u << k) + ((cls - 16) % 8 + 1) * (1u << (k - 3));
}

#endif /* MEMD_SIZECLASS_H */
