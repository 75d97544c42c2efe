/*
 * test_proto_share.c - the sharing and naming opcodes in the wire protocol
 * (common/proto.c): SHARE, RETAIN, PUBLISH, LOOKUP and UNPUBLISH.  Names of
 * 1..255 printable bytes are accepted; empty, too long, non-printable or
 * unterminated ones, bodies of the wrong size, non-zero pad and the null
 * reference are refused; a LOOKUP reply needs a ref and a size.
 */
#include "proto.h"
#include "ref.h"

#include "proto_frames.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

/* A LOOKUP (or UNPUBLISH) body with the given length field and name bytes
 * (n bytes copied from name; the rest of the field zero). */
static size_t name_req(uint16_t op, uint32_t len, const char *name, size_t n, uint32_t pad)
{
	struct memd_name_req r = {.len = len, .pad = pad};

	(void)op;
	memcpy(r.name, name, n);
	return put(&r, sizeof(r));
}

/* A PUBLISH body. */
static size_t publish_req(uint64_t ref, uint32_t len, const char *name, size_t n, uint32_t pad)
{
	struct memd_publish_req r = {.ref = ref, .len = len, .pad = pad};

	memcpy(r.name, name, n);
	return put(&r, sizeof(r));
}

static const uint16_t name_ops[] = {MEMD_OP_LOOKUP, MEMD_OP_UNPUBLISH};

/* Validate a name body for op: LOOKUP/UNPUBLISH directly, PUBLISH with a
 * valid ref. */
static int name_check(uint16_t op, uint32_t len, const char *name, size_t n)
{
	size_t blen = op == MEMD_OP_PUBLISH ? publish_req(memd_ref_make(1, 0), len, name, n, 0)
	                                    : name_req(op, len, name, n, 0);
	return req(op, blen);
}

static const uint16_t all_name_ops[] = {MEMD_OP_PUBLISH, MEMD_OP_LOOKUP, MEMD_OP_UNPUBLISH};
#define N_NAME_OPS (sizeof(all_name_ops) / sizeof(all_name_ops[0]))

Test(proto_share, names_of_1_and_255_printable_bytes_are_accepted)
{
	char name[MEMD_NAME_MAX];

	for (size_t i = 0; i < sizeof(name); i++)
		name[i] = (char)(0x20 + i % 95); /* every printable byte, space to tilde */
	for (size_t i = 0; i < N_NAME_OPS; i++) {
		cr_expect_eq(name_check(all_name_ops[i], 1, "x", 1), 0);
		cr_expect_eq(name_check(all_name_ops[i], MEMD_NAME_MAX, name, sizeof(name)), 0);
		cr_expect_eq(name_check(all_name_ops[i], 1, " ", 1), 0);
		cr_expect_eq(name_check(all_name_ops[i], 1, "~", 1), 0);
	}
}

Test(proto_share, empty_name_is_refused)
{
	for (size_t i = 0; i < N_NAME_OPS; i++) {
		cr_expect_eq(name_check(all_name_ops[i], 0, "", 0), -EINVAL);
		/* length 0 even though bytes follow */
		cr_expect_eq(name_check(all_name_ops[i], 0, "abc", 3), -EINVAL);
	}
}

Test(proto_share, name_length_of_256_or_more_is_refused)
{
	char name[MEMD_NAME_MAX + 1];

	memset(name, 'a', sizeof(name));
	for (size_t i = 0; i < N_NAME_OPS; i++) {
		cr_expect_eq(name_check(all_name_ops[i], 256, name, sizeof(name)), -EINVAL);
		cr_expect_eq(name_check(all_name_ops[i], 256, name, MEMD_NAME_MAX), -EINVAL);
		cr_expect_eq(name_check(all_name_ops[i], UINT32_MAX, name, MEMD_NAME_MAX), -EINVAL);
	}
}

Test(proto_share, non_printable_bytes_in_a_name_are_refused)
{
	const char bad[] = {'\0', '\t', '\n', 0x1f, 0x7f, (char)0x80, (char)0xff};

	for (size_t i = 0; i < N_NAME_OPS; i++) {
		for (size_t j = 0; j < sizeof(bad); j++) {
			char name[3] = {'a', bad[j], 'b'};
			cr_expect_eq(name_check(all_name_ops[i], 3, name, 3), -EINVAL, "byte %#x",
			             (unsigned char)bad[j]);
		}
	}
}

Test(proto_share, bytes_after_the_name_must_be_zero)
{
	for (size_t i = 0; i < N_NAME_OPS; i++) {
		/* len says 3, a fourth byte follows: not canonical */
		cr_expect_eq(name_check(all_name_ops[i], 3, "abcd", 4), -EINVAL);
	}
	/* even at the very end of the field */
	{
		struct memd_name_req r = {.len = 1};
		r.name[0] = 'a';
		r.name[MEMD_NAME_MAX] = 'z';
		cr_expect_eq(req(MEMD_OP_LOOKUP, put(&r, sizeof(r))), -EINVAL);
	}
}

Test(proto_share, nonzero_pad_is_refused)
{
	for (size_t i = 0; i < sizeof(name_ops) / sizeof(name_ops[0]); i++)
		cr_expect_eq(req(name_ops[i], name_req(name_ops[i], 1, "a", 1, 1)), -EINVAL);
	cr_expect_eq(req(MEMD_OP_PUBLISH, publish_req(memd_ref_make(1, 0), 1, "a", 1, 1)), -EINVAL);
}

Test(proto_share, publish_of_the_null_ref_is_refused)
{
	cr_expect_eq(req(MEMD_OP_PUBLISH, publish_req(0, 1, "a", 1, 0)), -EINVAL);
}

Test(proto_share, share_and_retain_take_exactly_a_ref)
{
	const uint16_t ops[] = {MEMD_OP_SHARE, MEMD_OP_RETAIN};

	for (size_t i = 0; i < 2; i++) {
		cr_expect_eq(req(ops[i], 8), 0);
		cr_expect_eq(req(ops[i], 7), -EINVAL);
		cr_expect_eq(req(ops[i], 16), -EINVAL);
		cr_expect_eq(req(ops[i], 0), -EINVAL);
	}
}

Test(proto_share, name_bodies_of_the_wrong_size_are_refused)
{
	size_t len = name_req(MEMD_OP_LOOKUP, 5, "frame", 5, 0);

	cr_expect_eq(req(MEMD_OP_LOOKUP, 8), -EINVAL); /* just len and pad */
	cr_expect_eq(req(MEMD_OP_LOOKUP, len - 1), -EINVAL);
	cr_expect_eq(req(MEMD_OP_UNPUBLISH, 8 + 5), -EINVAL); /* a "length + bytes" body */
	len = publish_req(memd_ref_make(1, 4096), 5, "frame", 5, 0);
	cr_expect_eq(req(MEMD_OP_PUBLISH, sizeof(struct memd_name_req)), -EINVAL);
	cr_expect_eq(req(MEMD_OP_PUBLISH, len + 8), -EINVAL);
}

Test(proto_share, lookup_reply_with_null_ref_or_size_zero_is_refused)
{
	struct memd_lookup_rep r = {.ref = 0, .size = 64};

	cr_expect_eq(rep(MEMD_OP_LOOKUP, 0, put(&r, sizeof(r))), -EPROTO);
	r.ref = memd_ref_make(1, 0);
	r.size = 0;
	cr_expect_eq(rep(MEMD_OP_LOOKUP, 0, put(&r, sizeof(r))), -EPROTO);
	r.size = 64;
	cr_expect_eq(rep(MEMD_OP_LOOKUP, 0, put(&r, sizeof(r))), 0);
	cr_expect_eq(rep(MEMD_OP_LOOKUP, -ENOENT, put(&r, sizeof(r))), -EPROTO);
	cr_expect_eq(rep(MEMD_OP_LOOKUP, -ENOENT, 0), 0);
}

Test(proto_share, proto_name_valid_matches_the_documented_rule)
{
	char field[MEMD_NAME_MAX + 1] = "hello world";

	cr_expect(proto_name_valid(field, 11));
	cr_expect_not(proto_name_valid(field, 10)); /* 'd' after the length */
	cr_expect_not(proto_name_valid(field, 12)); /* NUL inside the length */
	cr_expect_not(proto_name_valid(field, 0));
	cr_expect_not(proto_name_valid(field, 256));
}

Test(proto_share, sharing_opcodes_have_names)
{
	cr_expect_str_eq(proto_op_name(MEMD_OP_SHARE), "SHARE");
	cr_expect_str_eq(proto_op_name(MEMD_OP_RETAIN), "RETAIN");
	cr_expect_str_eq(proto_op_name(MEMD_OP_PUBLISH | MEMD_OP_REPLY), "PUBLISH");
	cr_expect_str_eq(proto_op_name(MEMD_OP_LOOKUP), "LOOKUP");
	cr_expect_str_eq(proto_op_name(MEMD_OP_UNPUBLISH), "UNPUBLISH");
}
