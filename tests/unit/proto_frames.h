/*
 * proto_frames.h - building frames for the protocol unit tests
 * (test_proto.c, test_proto_stats.c): bodies go into a byte buffer at an
 * odd offset, so the validators are also shown not to depend on alignment.
 */
#ifndef MEMD_TEST_PROTO_FRAMES_H
#define MEMD_TEST_PROTO_FRAMES_H

#include "proto.h"

#include <string.h>

/* A frame under construction: header plus body bytes, body misaligned. */
static unsigned char frame_store[MEMD_FRAME_MAX + 16];
static unsigned char *const body_buf = frame_store + 1;

/* Validate len bytes of body_buf as a request for op. */
static inline int req(uint16_t op, size_t len)
{
	struct memd_hdr h;

	proto_hdr_init(&h, op, 7, 0, len);
	return proto_req_validate(&h, body_buf, len);
}

/* Validate len bytes of body_buf as a reply to req_op with status. */
static inline int rep(uint16_t req_op, int32_t status, size_t len)
{
	struct memd_hdr h;

	proto_hdr_init(&h, req_op | MEMD_OP_REPLY, 7, status, len);
	return proto_rep_validate(req_op, &h, body_buf, len);
}

/* Copy a struct into body_buf; returns its size. */
static inline size_t put(const void *s, size_t n)
{
	memcpy(body_buf, s, n);
	return n;
}

#endif /* MEMD_TEST_PROTO_FRAMES_H */
