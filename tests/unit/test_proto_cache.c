/*
 * test_proto_cache.c - CACHE_PAGE, the client cache's counters page, in the
 * wire protocol (common/proto.c): its request is exactly 8 zero bytes, and
 * its reply must describe exactly the page proto.h defines; an error reply
 * has an empty body.
 */
#include "proto.h"

#include "proto_frames.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

/* A CACHE_PAGE request body with the given fields. */
static size_t cache_page_req(uint32_t flags, uint32_t pad)
{
	struct memd_cache_page_req r = {.flags = flags, .pad = pad};

	return put(&r, sizeof(r));
}

/* A CACHE_PAGE reply body with the given fields. */
static size_t cache_page_rep(uint64_t size, uint32_t slots, uint32_t pad)
{
	struct memd_cache_page_rep r = {.size = size, .slots = slots, .pad = pad};

	return put(&r, sizeof(r));
}

Test(proto_cache, cache_page_request_of_eight_zero_bytes_is_accepted)
{
	cr_assert_eq(req(MEMD_OP_CACHE_PAGE, cache_page_req(0, 0)), 0);
}

Test(proto_cache, cache_page_request_short_long_or_empty_is_refused)
{
	size_t len = cache_page_req(0, 0);

	body_buf[len] = 0;
	cr_expect_eq(req(MEMD_OP_CACHE_PAGE, 0), -EINVAL, "empty");
	cr_expect_eq(req(MEMD_OP_CACHE_PAGE, 4), -EINVAL, "4 bytes");
	cr_expect_eq(req(MEMD_OP_CACHE_PAGE, len - 1), -EINVAL, "7 bytes");
	cr_expect_eq(req(MEMD_OP_CACHE_PAGE, len + 1), -EINVAL, "9 bytes");
	cr_expect_eq(req(MEMD_OP_CACHE_PAGE, 16), -EINVAL, "16 bytes");
}

Test(proto_cache, cache_page_request_with_any_flag_is_refused)
{
	cr_expect_eq(req(MEMD_OP_CACHE_PAGE, cache_page_req(1, 0)), -EINVAL);
	cr_expect_eq(req(MEMD_OP_CACHE_PAGE, cache_page_req(0x80000000u, 0)), -EINVAL);
	cr_expect_eq(req(MEMD_OP_CACHE_PAGE, cache_page_req(UINT32_MAX, 0)), -EINVAL);
}

Test(proto_cache, cache_page_request_with_nonzero_pad_is_refused)
{
	cr_expect_eq(req(MEMD_OP_CACHE_PAGE, cache_page_req(0, 1)), -EINVAL);
	cr_expect_eq(req(MEMD_OP_CACHE_PAGE, cache_page_req(0, 0x100)), -EINVAL);
}

Test(proto_cache, cache_page_reply_must_describe_exactly_the_documented_page)
{
	const uint64_t size = MEMD_CACHE_PAGE_SIZE;

	cr_expect_eq(rep(MEMD_OP_CACHE_PAGE, 0, cache_page_rep(size, MEMD_CACHE_SLOTS, 0)), 0);
	cr_expect_eq(rep(MEMD_OP_CACHE_PAGE, 0, cache_page_rep(0, MEMD_CACHE_SLOTS, 0)), -EPROTO,
	             "size 0");
	cr_expect_eq(rep(MEMD_OP_CACHE_PAGE, 0, cache_page_rep(size - 64, MEMD_CACHE_SLOTS, 0)),
	             -EPROTO, "one slot short");
	cr_expect_eq(rep(MEMD_OP_CACHE_PAGE, 0, cache_page_rep(size * 2, MEMD_CACHE_SLOTS, 0)),
	             -EPROTO, "twice the size");
	cr_expect_eq(rep(MEMD_OP_CACHE_PAGE, 0, cache_page_rep(size, MEMD_CACHE_SLOTS - 1, 0)),
	             -EPROTO, "slots - 1");
	cr_expect_eq(rep(MEMD_OP_CACHE_PAGE, 0, cache_page_rep(size, 0, 0)), -EPROTO, "0 slots");
	cr_expect_eq(rep(MEMD_OP_CACHE_PAGE, 0, cache_page_rep(size, MEMD_CACHE_SLOTS, 1)), -EPROTO,
	             "pad");
}

Test(proto_cache, cache_page_reply_of_the_wrong_length_is_refused)
{
	size_t len = cache_page_rep(MEMD_CACHE_PAGE_SIZE, MEMD_CACHE_SLOTS, 0);

	cr_expect_eq(rep(MEMD_OP_CACHE_PAGE, 0, 0), -EPROTO, "empty success");
	cr_expect_eq(rep(MEMD_OP_CACHE_PAGE, 0, 8), -EPROTO, "8 bytes");
	cr_expect_eq(rep(MEMD_OP_CACHE_PAGE, 0, len + 8), -EPROTO, "24 bytes");
}

Test(proto_cache, cache_page_error_reply_has_an_empty_body)
{
	size_t len = cache_page_rep(MEMD_CACHE_PAGE_SIZE, MEMD_CACHE_SLOTS, 0);

	cr_expect_eq(rep(MEMD_OP_CACHE_PAGE, -EEXIST, 0), 0);
	cr_expect_eq(rep(MEMD_OP_CACHE_PAGE, -EMFILE, 0), 0);
	cr_expect_eq(rep(MEMD_OP_CACHE_PAGE, -EEXIST, len), -EPROTO, "-EEXIST with a body");
}

Test(proto_cache, cache_page_opcode_is_named)
{
	cr_expect_str_eq(proto_op_name(MEMD_OP_CACHE_PAGE), "CACHE_PAGE");
	cr_expect_str_eq(proto_op_name(MEMD_OP_CACHE_PAGE | MEMD_OP_REPLY), "CACHE_PAGE");
}
