/*
 * test_proto_ring.c - RING and RING_KICK, the request ring, in the wire
 * protocol (common/proto.c): RING's request is exactly 8 zero bytes and
 * its reply must describe exactly the ring proto.h defines (an error reply
 * has an empty body); RING_KICK has no body and no reply, so no reply to
 * it can ever validate.  And the ring's layout itself: the head on lines
 * of its own, a slot for the largest FREE_BATCH, whole pages.
 */
#include "proto.h"

#include "proto_frames.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

/* A RING request body with the given fields. */
static size_t ring_req(uint32_t flags, uint32_t pad)
{
	struct memd_ring_req r = {.flags = flags, .pad = pad};

	return put(&r, sizeof(r));
}

/* A RING reply body with the given fields. */
static size_t ring_rep(uint64_t size, uint32_t slots, uint32_t slot_size)
{
	struct memd_ring_rep r = {.size = size, .slots = slots, .slot_size = slot_size};

	return put(&r, sizeof(r));
}

Test(proto_ring, ring_request_of_eight_zero_bytes_is_accepted)
{
	cr_assert_eq(req(MEMD_OP_RING, ring_req(0, 0)), 0);
}

Test(proto_ring, ring_request_short_long_empty_or_with_flags_is_refused)
{
	size_t len = ring_req(0, 0);

	body_buf[len] = 0;
	cr_expect_eq(req(MEMD_OP_RING, 0), -EINVAL, "empty");
	cr_expect_eq(req(MEMD_OP_RING, len - 1), -EINVAL, "7 bytes");
	cr_expect_eq(req(MEMD_OP_RING, len + 1), -EINVAL, "9 bytes");
	cr_expect_eq(req(MEMD_OP_RING, ring_req(1, 0)), -EINVAL, "a flag");
	cr_expect_eq(req(MEMD_OP_RING, ring_req(UINT32_MAX, 0)), -EINVAL, "every flag");
	cr_expect_eq(req(MEMD_OP_RING, ring_req(0, 1)), -EINVAL, "pad");
}

Test(proto_ring, ring_reply_must_describe_exactly_the_documented_ring)
{
	const uint64_t size = MEMD_RING_SIZE;

	cr_expect_eq(rep(MEMD_OP_RING, 0, ring_rep(size, MEMD_RING_SLOTS, MEMD_RING_SLOT_SIZE)), 0);
	cr_expect_eq(rep(MEMD_OP_RING, 0, ring_rep(0, MEMD_RING_SLOTS, MEMD_RING_SLOT_SIZE)),
	             -EPROTO, "size 0");
	cr_expect_eq(
	        rep(MEMD_OP_RING, 0, ring_rep(size - 4096, MEMD_RING_SLOTS, MEMD_RING_SLOT_SIZE)),
	        -EPROTO, "a page short");
	cr_expect_eq(rep(MEMD_OP_RING, 0, ring_rep(size * 2, MEMD_RING_SLOTS, MEMD_RING_SLOT_SIZE)),
	             -EPROTO, "twice the size");
	cr_expect_eq(rep(MEMD_OP_RING, 0, ring_rep(size, MEMD_RING_SLOTS * 2, MEMD_RING_SLOT_SIZE)),
	             -EPROTO, "more slots");
	cr_expect_eq(rep(MEMD_OP_RING, 0, ring_rep(size, MEMD_RING_SLOTS, MEMD_RING_SLOT_SIZE / 2)),
	             -EPROTO, "smaller slots");
	cr_expect_eq(rep(MEMD_OP_RING, 0, ring_rep(size, 0, MEMD_RING_SLOT_SIZE)), -EPROTO,
	             "0 slots");
}

Test(proto_ring, ring_reply_of_the_wrong_length_is_refused)
{
	size_t len = ring_rep(MEMD_RING_SIZE, MEMD_RING_SLOTS, MEMD_RING_SLOT_SIZE);

	cr_expect_eq(rep(MEMD_OP_RING, 0, 0), -EPROTO, "empty success");
	cr_expect_eq(rep(MEMD_OP_RING, 0, 8), -EPROTO, "8 bytes");
	cr_expect_eq(rep(MEMD_OP_RING, 0, len + 8), -EPROTO, "24 bytes");
}

Test(proto_ring, ring_error_reply_has_an_empty_body)
{
	size_t len = ring_rep(MEMD_RING_SIZE, MEMD_RING_SLOTS, MEMD_RING_SLOT_SIZE);

	cr_expect_eq(rep(MEMD_OP_RING, -EEXIST, 0), 0);
	cr_expect_eq(rep(MEMD_OP_RING, -ENOMEM, 0), 0);
	cr_expect_eq(rep(MEMD_OP_RING, -EEXIST, len), -EPROTO, "-EEXIST with a body");
}

Test(proto_ring, kick_has_no_body)
{
	cr_expect_eq(req(MEMD_OP_RING_KICK, 0), 0);
	cr_expect_eq(req(MEMD_OP_RING_KICK, 1), -EINVAL, "1 byte");
	cr_expect_eq(req(MEMD_OP_RING_KICK, 8), -EINVAL, "8 bytes");
}

Test(proto_ring, no_reply_to_a_kick_is_ever_valid)
{
	cr_expect_eq(rep(MEMD_OP_RING_KICK, 0, 0), -EPROTO, "an empty success");
	cr_expect_eq(rep(MEMD_OP_RING_KICK, 0, 8), -EPROTO, "a body");
	cr_expect_eq(rep(MEMD_OP_RING_KICK, -EINVAL, 0), -EPROTO, "an error");
}

Test(proto_ring, ring_opcodes_are_named_and_the_next_one_is_not)
{
	cr_expect_str_eq(proto_op_name(MEMD_OP_RING), "RING");
	cr_expect_str_eq(proto_op_name(MEMD_OP_RING | MEMD_OP_REPLY), "RING");
	cr_expect_str_eq(proto_op_name(MEMD_OP_RING_KICK), "RING_KICK");
	cr_expect_str_eq(proto_op_name(MEMD_OP_RING_KICK + 1), "?");
	cr_expect_eq(req(MEMD_OP_RING_KICK + 1, 0), -EOPNOTSUPP);
}

Test(proto_ring, the_layout_is_whole_pages_with_the_head_on_its_own_lines)
{
	cr_expect_eq(offsetof(struct memd_ring_ctl, tail), 0);
	cr_expect_eq(offsetof(struct memd_ring_ctl, head), 64);
	cr_expect_eq(offsetof(struct memd_ring_ctl, sleeping), 68);
	cr_expect_leq(sizeof(struct memd_ring_ctl), MEMD_RING_SLOTS_OFFSET);
	cr_expect_eq(MEMD_RING_SLOTS_OFFSET % 4096, 0);
	cr_expect_eq(MEMD_RING_SLOT_SIZE % 4096, 0);
	cr_expect_eq(MEMD_RING_SIZE,
	             MEMD_RING_SLOTS_OFFSET + MEMD_RING_SLOTS * MEMD_RING_SLOT_SIZE);
	cr_expect_leq(MEMD_HDR_SIZE + sizeof(struct memd_free_batch_req) + MEMD_RING_BATCH_MAX * 8,
	              MEMD_RING_SLOT_SIZE, "a FREE_BATCH of MEMD_RING_BATCH_MAX refs fits a slot");
	cr_expect_gt(MEMD_HDR_SIZE + sizeof(struct memd_free_batch_req) +
	                     (MEMD_RING_BATCH_MAX + 1) * 8,
	             MEMD_RING_SLOT_SIZE, "... and one more ref does not");
	cr_expect_eq((size_t)(MEMD_RING_SLOT((unsigned char *)0, MEMD_RING_SLOTS + 1) -
	                      (unsigned char *)0),
	             MEMD_RING_SLOTS_OFFSET + MEMD_RING_SLOT_SIZE, "slot numbers wrap");
}
