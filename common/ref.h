/*
 * ref.h - the 64-bit block reference.
 *
 * A reference names one block in one pool segment and means the same thing
 * in every process: the segment id sits in the high 24 bits and the byte
 * offset inside that segment in the low 40 bits.  It never contains an
 * address.  The value 0 means "no block"; segment id 0 is never assigned,
 * so no real block encodes to 0.
 *
 * This header is shared by the daemon, the heap core, the client library
 * and the tools; it has no dependencies beyond <stdint.h>.
 */
#ifndef MEMD_REF_H
#define MEMD_REF_H

#include <stdint.h>

#define MEMD_REF_OFFSET_BITS 40
#define MEMD_REF_SEG_BITS    24
#define MEMD_REF_OFFSET_MASK ((UINT64_C(1) << MEMD_REF_OFFSET_BITS) - 1)
#define MEMD_SEG_ID_MAX      ((UINT32_C(1) << MEMD_REF_SEG_BITS) - 1)
/* Largest segment a reference can address. */
#define MEMD_SEG_SIZE_MAX (UINT64_C(1) << MEMD_REF_OFFSET_BITS)

/* Build a reference; seg must be 1..MEMD_SEG_ID_MAX, off < 2^40. */
static inline uint64_t memd_ref_make(uint32_t seg, uint64_t off)
{
	return ((uint64_t)seg << MEMD_REF_OFFSET_BITS) | (off & MEMD_REF_OFFSET_MASK);
}

/* Segment id of a reference (0 for the null reference). */
static inline uint32_t memd_ref_seg(uint64_t ref)
{
	return (uint32_t)(ref >> MEMD_REF_OFFSET_BITS);
}

/* Byte offset of a reference inside its segment. */
static inline uint64_t memd_ref_off(uint64_t ref)
{
	return ref & MEMD_REF_OFFSET_MASK;
}

#endif /* MEMD_REF_H */
