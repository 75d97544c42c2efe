/*
 * test_proto.c - the wire protocol's encoder and validators (common/proto.c).
 *
 * Every opcode's well-formed request and reply body is accepted; every
 * malformed case proto.h documents is refused with the documented error:
 * headers with lengths outside 16..MEMD_FRAME_MAX or non-zero flags, unknown
 * and reply opcodes sent as requests, short and long bodies, bad counts,
 * count/length mismatches, bad names, non-zero pad and flags, bad
 * alignments, size 0, and replies that do not match their request.
 * CACHE_PAGE (the client cache's counters page) and the sharing and
 * naming opcodes have their own files, test_proto_cache.c and
 * test_proto_share.c.
 *
 * Bodies are built into a byte buffer at an odd offset so the validators
 * are also shown not to depend on alignment.
 */
#include "proto.h"
#include "ref.h"

#include "proto_frames.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

static const uint16_t all_ops[] = {
        MEMD_OP_HELLO,      MEMD_OP_POOL,   MEMD_OP_ALLOC,     MEMD_OP_ALLOC_BATCH, MEMD_OP_FREE,
        MEMD_OP_FREE_BATCH, MEMD_OP_SIZE,   MEMD_OP_MAP,       MEMD_OP_SHARE,       MEMD_OP_RETAIN,
        MEMD_OP_PUBLISH,    MEMD_OP_LOOKUP, MEMD_OP_UNPUBLISH, MEMD_OP_CACHE_PAGE,
};
#define N_OPS (sizeof(all_ops) / sizeof(all_ops[0]))

/* Write a valid request body for op into body_buf; returns its length. */
static size_t valid_req(uint16_t op)
{
	switch (op) {
	case MEMD_OP_HELLO: {
		struct memd_hello_req r = {.version = MEMD_PROTO_VERSION};
		strcpy(r.name, "test");
		return put(&r, sizeof(r));
	}
	case MEMD_OP_POOL: {
		struct memd_pool_req r = {.name = "default"};
		return put(&r, sizeof(r));
	}
	case MEMD_OP_ALLOC: {
		struct memd_alloc_req r = {.pool_id = 1, .size = 100, .align = 16};
		return put(&r, sizeof(r));
	}
	case MEMD_OP_ALLOC_BATCH: {
		struct memd_alloc_batch_req r = {.pool_id = 1, .size = 64, .count = 8};
		return put(&r, sizeof(r));
	}
	case MEMD_OP_FREE:
	case MEMD_OP_SIZE: {
		struct memd_ref_req r = {.ref = memd_ref_make(1, 4096)};
		return put(&r, sizeof(r));
	}
	case MEMD_OP_FREE_BATCH: {
		struct memd_free_batch_req r = {.count = 3};
		uint64_t refs[3] = {memd_ref_make(1, 0), memd_ref_make(1, 64),
		                    memd_ref_make(2, 128)};
		put(&r, sizeof(r));
		memcpy(body_buf + sizeof(r), refs, sizeof(refs));
		return sizeof(r) + sizeof(refs);
	}
	case MEMD_OP_MAP: {
		struct memd_map_req r = {.seg_id = 1};
		return put(&r, sizeof(r));
	}
	case MEMD_OP_SHARE:
	case MEMD_OP_RETAIN: {
		struct memd_ref_req r = {.ref = memd_ref_make(1, 4096)};
		return put(&r, sizeof(r));
	}
	case MEMD_OP_PUBLISH: {
		struct memd_publish_req r = {.ref = memd_ref_make(1, 4096), .len = 5};
		memcpy(r.name, "frame", 5);
		return put(&r, sizeof(r));
	}
	case MEMD_OP_LOOKUP:
	case MEMD_OP_UNPUBLISH: {
		struct memd_name_req r = {.len = 5};
		memcpy(r.name, "frame", 5);
		return put(&r, sizeof(r));
	}
	case MEMD_OP_CACHE_PAGE: {
		struct memd_cache_page_req r = {0};
		return put(&r, sizeof(r));
	}
	}
	cr_assert_fail("no valid request for op %u", op);
	return 0;
}

/* Write a valid status-0 reply body for req_op into body_buf. */
static size_t valid_rep(uint16_t op)
{
	switch (op) {
	case MEMD_OP_HELLO: {
		struct memd_hello_rep r = {MEMD_PROTO_VERSION, 1, MEMD_FRAME_MAX, MEMD_BATCH_MAX,
		                           42};
		return put(&r, sizeof(r));
	}
	case MEMD_OP_POOL: {
		struct memd_pool_rep r = {.pool_id = 1, .access = 3, .max_size = 1 << 30};
		return put(&r, sizeof(r));
	}
	case MEMD_OP_ALLOC: {
		struct memd_alloc_rep r = {.ref = memd_ref_make(1, 64), .size = 112};
		return put(&r, sizeof(r));
	}
	case MEMD_OP_ALLOC_BATCH: {
		struct memd_alloc_batch_rep r = {.size = 64, .count = 2};
		uint64_t refs[2] = {memd_ref_make(1, 0), memd_ref_make(1, 64)};
		put(&r, sizeof(r));
		memcpy(body_buf + sizeof(r), refs, sizeof(refs));
		return sizeof(r) + sizeof(refs);
	}
	case MEMD_OP_FREE:
		return 0;
	case MEMD_OP_FREE_BATCH: {
		struct memd_free_batch_rep r = {.count = 2};
		int32_t res[2] = {0, 0};
		put(&r, sizeof(r));
		memcpy(body_buf + sizeof(r), res, sizeof(res));
		return sizeof(r) + sizeof(res);
	}
	case MEMD_OP_SIZE: {
		struct memd_size_rep r = {.size = 112};
		return put(&r, sizeof(r));
	}
	case MEMD_OP_MAP: {
		struct memd_map_rep r = {.seg_id = 1, .access = MEMD_ACCESS_READ, .size = 1 << 20};
		return put(&r, sizeof(r));
	}
	case MEMD_OP_SHARE:
	case MEMD_OP_RETAIN:
	case MEMD_OP_PUBLISH:
	case MEMD_OP_UNPUBLISH:
		return 0;
	case MEMD_OP_LOOKUP: {
		struct memd_lookup_rep r = {.ref = memd_ref_make(1, 64), .size = 112};
		return put(&r, sizeof(r));
	}
	case MEMD_OP_CACHE_PAGE: {
		struct memd_cache_page_rep r = {.size = MEMD_CACHE_PAGE_SIZE,
		                                .slots = MEMD_CACHE_SLOTS};
		return put(&r, sizeof(r));
	}
	}
	cr_assert_fail("no valid reply for op %u", op);
	return 0;
}

/* ---- header ---------------------------------------------------------- */

Test(proto_hdr, init_counts_header_in_length_and_clears_flags)
{
	struct memd_hdr h;

	memset(&h, 0xff, sizeof(h));
	proto_hdr_init(&h, MEMD_OP_ALLOC, 99, -ENOMEM, 24);
	cr_assert_eq(h.len, MEMD_HDR_SIZE + 24);
	cr_assert_eq(h.op, MEMD_OP_ALLOC);
	cr_assert_eq(h.flags, 0);
	cr_assert_eq(h.id, 99);
	cr_assert_eq(h.status, -ENOMEM);
}

/* Encode a header with the given len and flags and decode it. */
static int decode_with(uint32_t len, uint16_t flags, struct memd_hdr *out)
{
	struct memd_hdr h = {.len = len, .op = MEMD_OP_ALLOC, .flags = flags, .id = 5};

	memcpy(frame_store + 3, &h, sizeof(h));
	return proto_hdr_decode(frame_store + 3, out);
}

Test(proto_hdr, decode_round_trips_an_encoded_header_from_unaligned_bytes)
{
	struct memd_hdr h, out;

	proto_hdr_init(&h, MEMD_OP_MAP, 0xdeadbeef, -EACCES, 16);
	memcpy(frame_store + 3, &h, sizeof(h));
	cr_assert_eq(proto_hdr_decode(frame_store + 3, &out), 0);
	cr_assert_eq(memcmp(&h, &out, sizeof(h)), 0);
}

Test(proto_hdr, decode_accepts_lengths_from_header_size_to_frame_max)
{
	struct memd_hdr out;

	cr_assert_eq(decode_with(MEMD_HDR_SIZE, 0, &out), 0);
	cr_assert_eq(decode_with(MEMD_HDR_SIZE + 1, 0, &out), 0);
	cr_assert_eq(decode_with(MEMD_FRAME_MAX, 0, &out), 0);
}

Test(proto_hdr, decode_refuses_length_below_header_size)
{
	struct memd_hdr out;

	cr_assert_eq(decode_with(0, 0, &out), -EMSGSIZE);
	cr_assert_eq(decode_with(MEMD_HDR_SIZE - 1, 0, &out), -EMSGSIZE);
}

Test(proto_hdr, decode_refuses_length_above_frame_max)
{
	struct memd_hdr out;

	cr_assert_eq(decode_with(MEMD_FRAME_MAX + 1, 0, &out), -EMSGSIZE);
	cr_assert_eq(decode_with(UINT32_MAX, 0, &out), -EMSGSIZE);
}

Test(proto_hdr, decode_refuses_nonzero_flags)
{
	struct memd_hdr out;

	cr_assert_eq(decode_with(MEMD_HDR_SIZE, 1, &out), -EPROTO);
	cr_assert_eq(decode_with(MEMD_HDR_SIZE, 0x8000, &out), -EPROTO);
}

/* ---- requests: generic ----------------------------------------------- */

Test(proto_req, every_opcode_accepts_its_valid_body)
{
	for (size_t i = 0; i < N_OPS; i++) {
		size_t len = valid_req(all_ops[i]);
		cr_expect_eq(req(all_ops[i], len), 0, "op %s", proto_op_name(all_ops[i]));
	}
}

Test(proto_req, every_opcode_refuses_a_body_one_byte_short)
{
	for (size_t i = 0; i < N_OPS; i++) {
		size_t len = valid_req(all_ops[i]);
		cr_expect_eq(req(all_ops[i], len - 1), -EINVAL, "op %s", proto_op_name(all_ops[i]));
	}
}

Test(proto_req, every_opcode_refuses_a_body_one_byte_long)
{
	for (size_t i = 0; i < N_OPS; i++) {
		size_t len = valid_req(all_ops[i]);
		body_buf[len] = 0;
		cr_expect_eq(req(all_ops[i], len + 1), -EINVAL, "op %s", proto_op_name(all_ops[i]));
	}
}

Test(proto_req, every_opcode_refuses_an_empty_body)
{
	for (size_t i = 0; i < N_OPS; i++)
		cr_expect_eq(req(all_ops[i], 0), -EINVAL, "op %s", proto_op_name(all_ops[i]));
}

Test(proto_req, body_length_disagreeing_with_header_is_refused)
{
	struct memd_hdr h;
	size_t len = valid_req(MEMD_OP_ALLOC);

	proto_hdr_init(&h, MEMD_OP_ALLOC, 1, 0, len + 8);
	cr_assert_eq(proto_req_validate(&h, body_buf, len), -EINVAL);
}

Test(proto_req, nonzero_status_in_a_request_is_refused)
{
	struct memd_hdr h;
	size_t len = valid_req(MEMD_OP_SIZE);

	proto_hdr_init(&h, MEMD_OP_SIZE, 1, -EINVAL, len);
	cr_assert_eq(proto_req_validate(&h, body_buf, len), -EINVAL);
}

Test(proto_req, unknown_opcode_is_not_supported)
{
	const uint16_t bad[] = {0, MEMD_OP_MAX_, 17, 31, MEMD_OP_STATS_END_, 0x7fff};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(req(bad[i], 8), -EOPNOTSUPP, "op %u", bad[i]);
}

Test(proto_req, reply_opcode_sent_as_request_is_not_supported)
{
	for (size_t i = 0; i < N_OPS; i++) {
		size_t len = valid_req(all_ops[i]);
		cr_expect_eq(req(all_ops[i] | MEMD_OP_REPLY, len), -EOPNOTSUPP, "op %s",
		             proto_op_name(all_ops[i]));
	}
	cr_expect_eq(req(MEMD_OP_REPLY, 0), -EOPNOTSUPP);
}

/* ---- requests: per opcode -------------------------------------------- */

Test(proto_req, hello_with_unterminated_name_is_refused)
{
	struct memd_hello_req r = {.version = MEMD_PROTO_VERSION};

	memset(r.name, 'x', sizeof(r.name));
	cr_assert_eq(req(MEMD_OP_HELLO, put(&r, sizeof(r))), -EINVAL);
}

Test(proto_req, hello_with_empty_name_is_refused)
{
	struct memd_hello_req r = {.version = MEMD_PROTO_VERSION};

	cr_assert_eq(req(MEMD_OP_HELLO, put(&r, sizeof(r))), -EINVAL);
}

Test(proto_req, hello_with_longest_name_is_accepted)
{
	struct memd_hello_req r = {.version = MEMD_PROTO_VERSION};

	memset(r.name, 'x', sizeof(r.name) - 1);
	cr_assert_eq(req(MEMD_OP_HELLO, put(&r, sizeof(r))), 0);
}

Test(proto_req, hello_with_nonzero_flags_is_refused)
{
	struct memd_hello_req r = {.version = MEMD_PROTO_VERSION, .flags = 1, .name = "a"};

	cr_assert_eq(req(MEMD_OP_HELLO, put(&r, sizeof(r))), -EINVAL);
}

Test(proto_req, hello_with_other_version_passes_validation_for_the_daemon_to_refuse)
{
	struct memd_hello_req r = {.version = MEMD_PROTO_VERSION + 1, .name = "a"};

	cr_assert_eq(req(MEMD_OP_HELLO, put(&r, sizeof(r))), 0);
}

Test(proto_req, pool_with_unterminated_name_is_refused)
{
	struct memd_pool_req r;

	memset(r.name, 'p', sizeof(r.name));
	cr_assert_eq(req(MEMD_OP_POOL, put(&r, sizeof(r))), -EINVAL);
}

Test(proto_req, pool_with_empty_name_is_refused)
{
	struct memd_pool_req r = {.name = ""};

	cr_assert_eq(req(MEMD_OP_POOL, put(&r, sizeof(r))), -EINVAL);
}

Test(proto_req, pool_with_63_byte_name_is_accepted)
{
	struct memd_pool_req r = {.name = ""};

	memset(r.name, 'p', MEMD_POOL_NAME_MAX - 1);
	cr_assert_eq(req(MEMD_OP_POOL, put(&r, sizeof(r))), 0);
}

Test(proto_req, alloc_of_size_zero_is_refused)
{
	struct memd_alloc_req r = {.pool_id = 1, .size = 0};

	cr_assert_eq(req(MEMD_OP_ALLOC, put(&r, sizeof(r))), -EINVAL);
}

Test(proto_req, alloc_with_unknown_flags_is_refused)
{
	struct memd_alloc_req r = {.pool_id = 1, .size = 8, .flags = 2};

	cr_assert_eq(req(MEMD_OP_ALLOC, put(&r, sizeof(r))), -EINVAL);
	r.flags = 0x80000000u;
	cr_assert_eq(req(MEMD_OP_ALLOC, put(&r, sizeof(r))), -EINVAL);
}

Test(proto_req, alloc_with_shared_flag_is_accepted)
{
	struct memd_alloc_req r = {.pool_id = 1, .size = 8, .flags = MEMD_ALLOC_SHARED};

	cr_assert_eq(req(MEMD_OP_ALLOC, put(&r, sizeof(r))), 0);
}

Test(proto_req, alloc_with_align_not_a_power_of_two_is_refused)
{
	const uint64_t bad[] = {3, 6, 48, 4097, UINT64_MAX};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct memd_alloc_req r = {.pool_id = 1, .size = 8, .align = bad[i]};
		cr_expect_eq(req(MEMD_OP_ALLOC, put(&r, sizeof(r))), -EINVAL, "align %lu",
		             (unsigned long)bad[i]);
	}
}

Test(proto_req, alloc_with_align_zero_or_any_power_of_two_is_accepted)
{
	struct memd_alloc_req r = {.pool_id = 1, .size = 8, .align = 0};

	cr_assert_eq(req(MEMD_OP_ALLOC, put(&r, sizeof(r))), 0);
	for (int b = 0; b < 64; b++) {
		r.align = UINT64_C(1) << b;
		cr_expect_eq(req(MEMD_OP_ALLOC, put(&r, sizeof(r))), 0, "align 2^%d", b);
	}
}

Test(proto_req, alloc_batch_with_count_zero_is_refused)
{
	struct memd_alloc_batch_req r = {.pool_id = 1, .size = 8, .count = 0};

	cr_assert_eq(req(MEMD_OP_ALLOC_BATCH, put(&r, sizeof(r))), -EINVAL);
}

Test(proto_req, alloc_batch_with_count_above_batch_max_is_refused)
{
	struct memd_alloc_batch_req r = {.pool_id = 1, .size = 8, .count = MEMD_BATCH_MAX + 1};

	cr_assert_eq(req(MEMD_OP_ALLOC_BATCH, put(&r, sizeof(r))), -EINVAL);
	r.count = UINT32_MAX;
	cr_assert_eq(req(MEMD_OP_ALLOC_BATCH, put(&r, sizeof(r))), -EINVAL);
}

Test(proto_req, alloc_batch_with_count_batch_max_is_accepted)
{
	struct memd_alloc_batch_req r = {.pool_id = 1, .size = 8, .count = MEMD_BATCH_MAX};

	cr_assert_eq(req(MEMD_OP_ALLOC_BATCH, put(&r, sizeof(r))), 0);
}

Test(proto_req, alloc_batch_with_nonzero_pad_is_refused)
{
	struct memd_alloc_batch_req r = {.pool_id = 1, .size = 8, .count = 1, .pad = 1};

	cr_assert_eq(req(MEMD_OP_ALLOC_BATCH, put(&r, sizeof(r))), -EINVAL);
}

Test(proto_req, alloc_batch_of_size_zero_is_refused)
{
	struct memd_alloc_batch_req r = {.pool_id = 1, .size = 0, .count = 1};

	cr_assert_eq(req(MEMD_OP_ALLOC_BATCH, put(&r, sizeof(r))), -EINVAL);
}

Test(proto_req, alloc_batch_with_unknown_flags_is_refused)
{
	struct memd_alloc_batch_req r = {.pool_id = 1, .size = 8, .count = 1, .flags = 4};

	cr_assert_eq(req(MEMD_OP_ALLOC_BATCH, put(&r, sizeof(r))), -EINVAL);
}

/* Build a FREE_BATCH request claiming count refs and carrying nrefs. */
static size_t free_batch(uint32_t count, uint32_t nrefs, uint32_t pad)
{
	struct memd_free_batch_req r = {.count = count, .pad = pad};

	put(&r, sizeof(r));
	for (uint32_t i = 0; i < nrefs; i++) {
		uint64_t ref = memd_ref_make(1, (uint64_t)i * 16);
		memcpy(body_buf + sizeof(r) + i * sizeof(ref), &ref, sizeof(ref));
	}
	return sizeof(r) + (size_t)nrefs * sizeof(uint64_t);
}

Test(proto_req, free_batch_of_one_and_of_batch_max_refs_is_accepted)
{
	cr_assert_eq(req(MEMD_OP_FREE_BATCH, free_batch(1, 1, 0)), 0);
	cr_assert_eq(req(MEMD_OP_FREE_BATCH, free_batch(MEMD_BATCH_MAX, MEMD_BATCH_MAX, 0)), 0);
}

Test(proto_req, free_batch_with_count_zero_is_refused)
{
	cr_assert_eq(req(MEMD_OP_FREE_BATCH, free_batch(0, 0, 0)), -EINVAL);
}

Test(proto_req, free_batch_with_count_above_batch_max_is_refused)
{
	cr_assert_eq(req(MEMD_OP_FREE_BATCH, free_batch(MEMD_BATCH_MAX + 1, MEMD_BATCH_MAX + 1, 0)),
	             -EINVAL);
}

Test(proto_req, free_batch_with_fewer_refs_than_count_is_refused)
{
	cr_assert_eq(req(MEMD_OP_FREE_BATCH, free_batch(3, 2, 0)), -EINVAL);
}

Test(proto_req, free_batch_with_more_refs_than_count_is_refused)
{
	cr_assert_eq(req(MEMD_OP_FREE_BATCH, free_batch(2, 3, 0)), -EINVAL);
}

Test(proto_req, free_batch_with_huge_count_does_not_overflow_the_length_check)
{
	cr_assert_eq(req(MEMD_OP_FREE_BATCH, free_batch(UINT32_MAX, 4, 0)), -EINVAL);
}

Test(proto_req, free_batch_with_nonzero_pad_is_refused)
{
	cr_assert_eq(req(MEMD_OP_FREE_BATCH, free_batch(1, 1, 7)), -EINVAL);
}

Test(proto_req, free_batch_body_too_short_for_its_header_is_refused)
{
	free_batch(1, 0, 0);
	cr_assert_eq(req(MEMD_OP_FREE_BATCH, 4), -EINVAL);
}

Test(proto_req, map_with_nonzero_pad_is_refused)
{
	struct memd_map_req r = {.seg_id = 1, .pad = 1};

	cr_assert_eq(req(MEMD_OP_MAP, put(&r, sizeof(r))), -EINVAL);
}

Test(proto_req, map_of_segment_zero_or_beyond_24_bits_is_refused)
{
	struct memd_map_req r = {.seg_id = 0};

	cr_assert_eq(req(MEMD_OP_MAP, put(&r, sizeof(r))), -EINVAL);
	r.seg_id = MEMD_SEG_ID_MAX + 1;
	cr_assert_eq(req(MEMD_OP_MAP, put(&r, sizeof(r))), -EINVAL);
	r.seg_id = MEMD_SEG_ID_MAX;
	cr_assert_eq(req(MEMD_OP_MAP, put(&r, sizeof(r))), 0);
}

/* ---- replies --------------------------------------------------------- */

Test(proto_rep, every_opcode_accepts_its_valid_reply)
{
	for (size_t i = 0; i < N_OPS; i++) {
		size_t len = valid_rep(all_ops[i]);
		cr_expect_eq(rep(all_ops[i], 0, len), 0, "op %s", proto_op_name(all_ops[i]));
	}
}

Test(proto_rep, every_opcode_refuses_a_reply_one_byte_long)
{
	for (size_t i = 0; i < N_OPS; i++) {
		size_t len = valid_rep(all_ops[i]);
		body_buf[len] = 0;
		cr_expect_eq(rep(all_ops[i], 0, len + 1), -EPROTO, "op %s",
		             proto_op_name(all_ops[i]));
	}
}

Test(proto_rep, every_opcode_with_a_body_refuses_a_reply_one_byte_short)
{
	for (size_t i = 0; i < N_OPS; i++) {
		size_t len = valid_rep(all_ops[i]);
		if (len == 0)
			continue;
		cr_expect_eq(rep(all_ops[i], 0, len - 1), -EPROTO, "op %s",
		             proto_op_name(all_ops[i]));
	}
}

Test(proto_rep, error_reply_with_empty_body_is_accepted_except_for_hello)
{
	for (size_t i = 0; i < N_OPS; i++) {
		int want = all_ops[i] == MEMD_OP_HELLO ? -EPROTO : 0;
		cr_expect_eq(rep(all_ops[i], -EINVAL, 0), want, "op %s", proto_op_name(all_ops[i]));
	}
}

Test(proto_rep, error_reply_carrying_a_body_is_refused)
{
	const uint16_t ops[] = {MEMD_OP_POOL, MEMD_OP_ALLOC, MEMD_OP_ALLOC_BATCH,
	                        MEMD_OP_SIZE, MEMD_OP_MAP,   MEMD_OP_CACHE_PAGE};

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t len = valid_rep(ops[i]);
		cr_expect_eq(rep(ops[i], -ENOMEM, len), -EPROTO, "op %s", proto_op_name(ops[i]));
	}
}

Test(proto_rep, hello_error_reply_still_carries_the_daemon_version)
{
	size_t len = valid_rep(MEMD_OP_HELLO);

	cr_assert_eq(rep(MEMD_OP_HELLO, -EPROTO, len), 0);
}

Test(proto_rep, positive_or_absurd_status_is_refused)
{
	cr_assert_eq(rep(MEMD_OP_FREE, 1, 0), -EPROTO);
	cr_assert_eq(rep(MEMD_OP_FREE, -100000, 0), -EPROTO);
	cr_assert_eq(rep(MEMD_OP_FREE, INT32_MIN, 0), -EPROTO);
}

Test(proto_rep, reply_with_another_opcode_is_refused)
{
	struct memd_hdr h;
	size_t len = valid_rep(MEMD_OP_SIZE);

	proto_hdr_init(&h, MEMD_OP_SIZE, 1, 0, len); /* reply bit missing */
	cr_assert_eq(proto_rep_validate(MEMD_OP_SIZE, &h, body_buf, len), -EPROTO);
	proto_hdr_init(&h, MEMD_OP_FREE | MEMD_OP_REPLY, 1, 0, len);
	cr_assert_eq(proto_rep_validate(MEMD_OP_SIZE, &h, body_buf, len), -EPROTO);
}

Test(proto_rep, reply_to_unknown_request_opcode_is_refused)
{
	struct memd_hdr h;

	proto_hdr_init(&h, 0 | MEMD_OP_REPLY, 1, 0, 0);
	cr_assert_eq(proto_rep_validate(0, &h, body_buf, 0), -EPROTO);
	proto_hdr_init(&h, MEMD_OP_MAX_ | MEMD_OP_REPLY, 1, 0, 0);
	cr_assert_eq(proto_rep_validate(MEMD_OP_MAX_, &h, body_buf, 0), -EPROTO);
}

Test(proto_rep, reply_length_disagreeing_with_header_is_refused)
{
	struct memd_hdr h;
	size_t len = valid_rep(MEMD_OP_ALLOC);

	proto_hdr_init(&h, MEMD_OP_ALLOC | MEMD_OP_REPLY, 1, 0, len - 8);
	cr_assert_eq(proto_rep_validate(MEMD_OP_ALLOC, &h, body_buf, len), -EPROTO);
}

Test(proto_rep, pool_reply_granting_no_or_unknown_access_is_refused)
{
	struct memd_pool_rep r = {.pool_id = 1, .access = 0};

	cr_assert_eq(rep(MEMD_OP_POOL, 0, put(&r, sizeof(r))), -EPROTO);
	r.access = 4;
	cr_assert_eq(rep(MEMD_OP_POOL, 0, put(&r, sizeof(r))), -EPROTO);
	r.access = MEMD_ACCESS_READ;
	cr_assert_eq(rep(MEMD_OP_POOL, 0, put(&r, sizeof(r))), 0);
}

Test(proto_rep, alloc_reply_with_null_ref_or_size_zero_is_refused)
{
	struct memd_alloc_rep r = {.ref = 0, .size = 16};

	cr_assert_eq(rep(MEMD_OP_ALLOC, 0, put(&r, sizeof(r))), -EPROTO);
	r.ref = memd_ref_make(0, 64); /* segment 0 is never assigned */
	cr_assert_eq(rep(MEMD_OP_ALLOC, 0, put(&r, sizeof(r))), -EPROTO);
	r.ref = memd_ref_make(3, 64);
	r.size = 0;
	cr_assert_eq(rep(MEMD_OP_ALLOC, 0, put(&r, sizeof(r))), -EPROTO);
}

/* Build an ALLOC_BATCH reply claiming count refs and carrying nrefs. */
static size_t alloc_batch_rep(uint32_t count, uint32_t nrefs, uint32_t pad)
{
	struct memd_alloc_batch_rep r = {.size = 32, .count = count, .pad = pad};

	put(&r, sizeof(r));
	for (uint32_t i = 0; i < nrefs; i++) {
		uint64_t ref = memd_ref_make(2, (uint64_t)i * 32);
		memcpy(body_buf + sizeof(r) + i * sizeof(ref), &ref, sizeof(ref));
	}
	return sizeof(r) + (size_t)nrefs * sizeof(uint64_t);
}

Test(proto_rep, alloc_batch_reply_of_batch_max_refs_is_accepted)
{
	cr_assert_eq(
	        rep(MEMD_OP_ALLOC_BATCH, 0, alloc_batch_rep(MEMD_BATCH_MAX, MEMD_BATCH_MAX, 0)), 0);
}

Test(proto_rep, alloc_batch_reply_with_bad_count_is_refused)
{
	cr_assert_eq(rep(MEMD_OP_ALLOC_BATCH, 0, alloc_batch_rep(0, 0, 0)), -EPROTO);
	cr_assert_eq(rep(MEMD_OP_ALLOC_BATCH, 0,
	                 alloc_batch_rep(MEMD_BATCH_MAX + 1, MEMD_BATCH_MAX + 1, 0)),
	             -EPROTO);
	cr_assert_eq(rep(MEMD_OP_ALLOC_BATCH, 0, alloc_batch_rep(3, 2, 0)), -EPROTO);
	cr_assert_eq(rep(MEMD_OP_ALLOC_BATCH, 0, alloc_batch_rep(2, 3, 0)), -EPROTO);
}

Test(proto_rep, alloc_batch_reply_with_nonzero_pad_or_null_ref_is_refused)
{
	uint64_t zero = 0;

	cr_assert_eq(rep(MEMD_OP_ALLOC_BATCH, 0, alloc_batch_rep(2, 2, 1)), -EPROTO);
	size_t len = alloc_batch_rep(2, 2, 0);
	memcpy(body_buf + sizeof(struct memd_alloc_batch_rep) + 8, &zero, 8);
	cr_assert_eq(rep(MEMD_OP_ALLOC_BATCH, 0, len), -EPROTO);
}

/* Build a FREE_BATCH reply with results res[0..n) and padding word pad_word
 * (written only if with_pad). */
static size_t free_batch_rep(uint32_t count, const int32_t *res, uint32_t n, int with_pad,
                             int32_t pad_word)
{
	struct memd_free_batch_rep r = {.count = count};
	size_t len = sizeof(r);

	put(&r, sizeof(r));
	memcpy(body_buf + len, res, n * sizeof(int32_t));
	len += n * sizeof(int32_t);
	if (with_pad) {
		memcpy(body_buf + len, &pad_word, sizeof(pad_word));
		len += sizeof(pad_word);
	}
	return len;
}

Test(proto_rep, free_batch_reply_with_odd_count_needs_one_zero_padding_word)
{
	const int32_t res[3] = {0, 0, 0};

	cr_assert_eq(rep(MEMD_OP_FREE_BATCH, 0, free_batch_rep(3, res, 3, 1, 0)), 0);
	cr_assert_eq(rep(MEMD_OP_FREE_BATCH, 0, free_batch_rep(3, res, 3, 0, 0)), -EPROTO);
	cr_assert_eq(rep(MEMD_OP_FREE_BATCH, 0, free_batch_rep(3, res, 3, 1, -1)), -EPROTO);
}

Test(proto_rep, free_batch_reply_status_is_the_first_failed_result)
{
	const int32_t res[4] = {0, -EPERM, -EINVAL, 0};

	cr_assert_eq(rep(MEMD_OP_FREE_BATCH, -EPERM, free_batch_rep(4, res, 4, 0, 0)), 0);
	cr_assert_eq(rep(MEMD_OP_FREE_BATCH, -EINVAL, free_batch_rep(4, res, 4, 0, 0)), -EPROTO);
	cr_assert_eq(rep(MEMD_OP_FREE_BATCH, 0, free_batch_rep(4, res, 4, 0, 0)), -EPROTO);
}

Test(proto_rep, free_batch_reply_with_positive_result_is_refused)
{
	const int32_t res[2] = {0, 5};

	cr_assert_eq(rep(MEMD_OP_FREE_BATCH, 0, free_batch_rep(2, res, 2, 0, 0)), -EPROTO);
}

Test(proto_rep, free_batch_reply_with_bad_count_is_refused)
{
	const int32_t res[2] = {0, 0};

	cr_assert_eq(rep(MEMD_OP_FREE_BATCH, 0, free_batch_rep(0, res, 0, 0, 0)), -EPROTO);
	cr_assert_eq(rep(MEMD_OP_FREE_BATCH, 0, free_batch_rep(4, res, 2, 0, 0)), -EPROTO);
	cr_assert_eq(rep(MEMD_OP_FREE_BATCH, 0, free_batch_rep(MEMD_BATCH_MAX + 2, res, 2, 0, 0)),
	             -EPROTO);
}

Test(proto_rep, free_batch_success_needs_results)
{
	cr_assert_eq(rep(MEMD_OP_FREE_BATCH, 0, 0), -EPROTO);
}

Test(proto_rep, size_reply_of_zero_is_refused)
{
	struct memd_size_rep r = {.size = 0};

	cr_assert_eq(rep(MEMD_OP_SIZE, 0, put(&r, sizeof(r))), -EPROTO);
}

Test(proto_rep, map_reply_with_bad_fields_is_refused)
{
	struct memd_map_rep r = {.seg_id = 1, .access = 0, .size = 4096};

	cr_assert_eq(rep(MEMD_OP_MAP, 0, put(&r, sizeof(r))), -EPROTO);
	r.access = MEMD_ACCESS_READ | MEMD_ACCESS_WRITE;
	r.size = 0;
	cr_assert_eq(rep(MEMD_OP_MAP, 0, put(&r, sizeof(r))), -EPROTO);
	r.size = MEMD_SEG_SIZE_MAX + 1;
	cr_assert_eq(rep(MEMD_OP_MAP, 0, put(&r, sizeof(r))), -EPROTO);
	r.size = 4096;
	r.seg_id = 0;
	cr_assert_eq(rep(MEMD_OP_MAP, 0, put(&r, sizeof(r))), -EPROTO);
	r.seg_id = 1;
	cr_assert_eq(rep(MEMD_OP_MAP, 0, put(&r, sizeof(r))), 0);
}

/* ---- names ----------------------------------------------------------- */

Test(proto_names, every_opcode_has_a_name_and_unknown_ones_are_question_marks)
{
	cr_assert_str_eq(proto_op_name(MEMD_OP_ALLOC), "ALLOC");
	cr_assert_str_eq(proto_op_name(MEMD_OP_FREE_BATCH), "FREE_BATCH");
	cr_assert_str_eq(proto_op_name(MEMD_OP_MAP | MEMD_OP_REPLY), "MAP");
	cr_assert_str_eq(proto_op_name(0), "?");
	cr_assert_str_eq(proto_op_name(MEMD_OP_MAX_), "?");
	cr_assert_str_eq(proto_op_name(0xffff), "?");
	for (size_t i = 0; i < N_OPS; i++)
		cr_expect_str_neq(proto_op_name(all_ops[i]), "?");
}
