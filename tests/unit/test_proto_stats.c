/*
 * test_proto_stats.c - the STATS part of the wire protocol (opcodes 32 and
 * up, common/proto.c): minimal requests accepted, unused fields, flags and
 * pad refused, list replies made of whole records, texts terminated and
 * padded, names for every opcode.
 */
#include "proto.h"
#include "proto_frames.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

static const uint16_t stats_ops[] = {
        MEMD_OP_STATS_STATUS,  MEMD_OP_STATS_POOLS,  MEMD_OP_STATS_POOL,
        MEMD_OP_STATS_CLIENTS, MEMD_OP_STATS_BLOCKS, MEMD_OP_STATS_NAMES,
        MEMD_OP_STATS_MAP,     MEMD_OP_STATS_CHECK,  MEMD_OP_STATS_TRIM,
};
#define N_STATS_OPS (sizeof(stats_ops) / sizeof(stats_ops[0]))

/* Validate a stats request body r for op. */
static int stats_req(uint16_t op, struct memd_stats_req r)
{
	return req(op, put(&r, sizeof(r)));
}

/* The smallest valid request for op (POOL and MAP need a pool). */
static struct memd_stats_req stats_req_min(uint16_t op)
{
	struct memd_stats_req r = {0};

	if (op == MEMD_OP_STATS_POOL || op == MEMD_OP_STATS_MAP)
		r.pool_id = 1;
	return r;
}

Test(proto_stats, every_stats_opcode_accepts_its_minimal_request)
{
	for (size_t i = 0; i < N_STATS_OPS; i++)
		cr_expect_eq(stats_req(stats_ops[i], stats_req_min(stats_ops[i])), 0, "op %s",
		             proto_op_name(stats_ops[i]));
}

Test(proto_stats, request_of_the_wrong_length_is_refused)
{
	memset(body_buf, 0, 64);
	for (size_t i = 0; i < N_STATS_OPS; i++) {
		cr_expect_eq(req(stats_ops[i], 0), -EINVAL);
		cr_expect_eq(req(stats_ops[i], sizeof(struct memd_stats_req) - 8), -EINVAL);
		cr_expect_eq(req(stats_ops[i], sizeof(struct memd_stats_req) + 8), -EINVAL);
	}
}

Test(proto_stats, nonzero_flags_or_pad_are_refused)
{
	for (size_t i = 0; i < N_STATS_OPS; i++) {
		struct memd_stats_req r = stats_req_min(stats_ops[i]);

		r.flags = 1;
		cr_expect_eq(stats_req(stats_ops[i], r), -EINVAL);
		r.flags = 0;
		r.pad = 1;
		cr_expect_eq(stats_req(stats_ops[i], r), -EINVAL);
	}
}

Test(proto_stats, fields_an_opcode_does_not_use_must_be_zero)
{
	struct memd_stats_req r = {.cursor = 5};

	cr_expect_eq(stats_req(MEMD_OP_STATS_STATUS, r), -EINVAL, "STATUS takes no cursor");
	cr_expect_eq(stats_req(MEMD_OP_STATS_TRIM, r), -EINVAL, "TRIM takes no cursor");
	cr_expect_eq(stats_req(MEMD_OP_STATS_BLOCKS, r), 0);
	r = (struct memd_stats_req){.pid = 5};
	cr_expect_eq(stats_req(MEMD_OP_STATS_CLIENTS, r), -EINVAL, "only BLOCKS filters by pid");
	cr_expect_eq(stats_req(MEMD_OP_STATS_BLOCKS, r), 0);
	r = (struct memd_stats_req){.pool_id = 2};
	cr_expect_eq(stats_req(MEMD_OP_STATS_STATUS, r), -EINVAL);
	cr_expect_eq(stats_req(MEMD_OP_STATS_NAMES, r), -EINVAL);
	cr_expect_eq(stats_req(MEMD_OP_STATS_CHECK, r), 0);
	cr_expect_eq(stats_req(MEMD_OP_STATS_TRIM, r), 0);
	r = (struct memd_stats_req){0};
	cr_expect_eq(stats_req(MEMD_OP_STATS_POOL, r), -EINVAL, "POOL needs a pool id");
	cr_expect_eq(stats_req(MEMD_OP_STATS_MAP, r), -EINVAL, "MAP needs a pool id");
}

Test(proto_stats, stats_reply_opcode_sent_as_request_is_not_supported)
{
	for (size_t i = 0; i < N_STATS_OPS; i++) {
		struct memd_stats_req r = stats_req_min(stats_ops[i]);

		cr_expect_eq(req(stats_ops[i] | MEMD_OP_REPLY, put(&r, sizeof(r))), -EOPNOTSUPP);
	}
}

Test(proto_stats, status_reply_needs_its_size_and_a_terminated_socket)
{
	struct memd_stats_status st = {.version = MEMD_PROTO_VERSION, .socket = "/run/memd/s"};

	cr_expect_eq(rep(MEMD_OP_STATS_STATUS, 0, put(&st, sizeof(st))), 0);
	cr_expect_eq(rep(MEMD_OP_STATS_STATUS, 0, sizeof(st) - 8), -EPROTO);
	memset(st.socket, 'x', sizeof(st.socket));
	cr_expect_eq(rep(MEMD_OP_STATS_STATUS, 0, put(&st, sizeof(st))), -EPROTO);
}

/* A page of count records of rec_size bytes in body_buf; its length. */
static size_t stats_page(uint64_t next, uint32_t count, uint32_t rec_size)
{
	struct memd_stats_page p = {.next = next, .count = count, .rec_size = rec_size};

	memset(body_buf, 0, sizeof(p) + (size_t)count * rec_size);
	put(&p, sizeof(p));
	return sizeof(p) + (size_t)count * rec_size;
}

Test(proto_stats, list_replies_are_pages_of_whole_records)
{
	const uint32_t blk = sizeof(struct memd_stats_block);
	size_t len;

	cr_expect_eq(rep(MEMD_OP_STATS_BLOCKS, 0, stats_page(0, 0, blk)), 0, "an empty list");
	cr_expect_eq(rep(MEMD_OP_STATS_BLOCKS, 0, stats_page(99, 3, blk)), 0);
	len = stats_page(0, 3, blk);
	cr_expect_eq(rep(MEMD_OP_STATS_BLOCKS, 0, len - 8), -EPROTO, "a record cut short");
	cr_expect_eq(rep(MEMD_OP_STATS_BLOCKS, 0, 8), -EPROTO, "no page head");
	cr_expect_eq(rep(MEMD_OP_STATS_BLOCKS, 0, stats_page(0, 2, blk - 8)), -EPROTO,
	             "records smaller than the struct");
	cr_expect_eq(rep(MEMD_OP_STATS_BLOCKS, 0, stats_page(0, 2, blk + 4)), -EPROTO,
	             "rec_size not a multiple of 8");
	cr_expect_eq(rep(MEMD_OP_STATS_BLOCKS, 0, stats_page(0, 2, blk + 16)), 0,
	             "longer records (a newer daemon) are accepted");
	cr_expect_eq(
	        rep(MEMD_OP_STATS_CLIENTS, 0, stats_page(0, 1, sizeof(struct memd_stats_client))),
	        0);
	cr_expect_eq(rep(MEMD_OP_STATS_MAP, 0, stats_page(0, 1, sizeof(struct memd_stats_run))), 0);
	cr_expect_eq(rep(MEMD_OP_STATS_NAMES, 0, stats_page(0, 1, sizeof(struct memd_stats_name))),
	             0);
	cr_expect_eq(rep(MEMD_OP_STATS_POOLS, 0, stats_page(0, 1, sizeof(struct memd_stats_pool))),
	             0);
}

/* A POOL reply with classes and text_len bytes of text (copied from
 * text, the rest zero) in body_buf; its length. */
static size_t stats_pool_rep(uint32_t classes, const char *text, uint32_t text_len)
{
	struct memd_stats_pool_detail d = {.class_count = classes, .text_len = text_len};
	size_t off = sizeof(d) + classes * sizeof(struct memd_stats_class);

	strcpy(d.pool.name, "default");
	memset(body_buf, 0, off + text_len);
	put(&d, sizeof(d));
	memcpy(body_buf + off, text, strnlen(text, text_len));
	return off + text_len;
}

Test(proto_stats, pool_reply_carries_classes_and_a_padded_terminated_text)
{
	size_t len;

	cr_expect_eq(rep(MEMD_OP_STATS_POOL, 0, stats_pool_rep(72, "open\n", 8)), 0);
	cr_expect_eq(rep(MEMD_OP_STATS_POOL, 0, stats_pool_rep(0, "", 0)), 0);
	cr_expect_eq(rep(MEMD_OP_STATS_POOL, 0, stats_pool_rep(2, "12345678", 8)), -EPROTO,
	             "text without its NUL");
	cr_expect_eq(rep(MEMD_OP_STATS_POOL, 0, stats_pool_rep(2, "ab", 6)), -EPROTO,
	             "text not padded to 8");
	len = stats_pool_rep(2, "ab", 8);
	body_buf[len - 1] = 'x';
	cr_expect_eq(rep(MEMD_OP_STATS_POOL, 0, len), -EPROTO, "garbage after the NUL");
	len = stats_pool_rep(2, "ab", 8);
	cr_expect_eq(rep(MEMD_OP_STATS_POOL, 0, len - 16), -EPROTO, "classes overrun the body");
	len = stats_pool_rep(1, "", 0);
	memset(body_buf, 'n', MEMD_POOL_NAME_MAX);
	cr_expect_eq(rep(MEMD_OP_STATS_POOL, 0, len), -EPROTO, "unterminated pool name");
}

/* A CHECK reply in body_buf; its length. */
static size_t stats_check_rep(uint32_t pools, uint32_t failed, const char *text, uint32_t len)
{
	struct memd_stats_check c = {.pools = pools, .failed = failed, .text_len = len};

	memset(body_buf, 0, sizeof(c) + len);
	put(&c, sizeof(c));
	memcpy(body_buf + sizeof(c), text, strnlen(text, len));
	return sizeof(c) + len;
}

Test(proto_stats, check_reply_has_text_exactly_when_something_failed)
{
	cr_expect_eq(rep(MEMD_OP_STATS_CHECK, 0, stats_check_rep(2, 0, "", 0)), 0);
	cr_expect_eq(rep(MEMD_OP_STATS_CHECK, 0, stats_check_rep(2, 1, "pool a: x\n", 16)), 0);
	cr_expect_eq(rep(MEMD_OP_STATS_CHECK, 0, stats_check_rep(2, 1, "", 0)), -EPROTO);
	cr_expect_eq(rep(MEMD_OP_STATS_CHECK, 0, stats_check_rep(2, 0, "x\n", 8)), -EPROTO);
	cr_expect_eq(rep(MEMD_OP_STATS_CHECK, 0, stats_check_rep(1, 2, "x\n", 8)), -EPROTO,
	             "more failures than pools");
}

Test(proto_stats, trim_reply_has_its_size_and_errors_have_no_body)
{
	struct memd_stats_trim t = {.punched = 4096, .pools = 1};

	cr_expect_eq(rep(MEMD_OP_STATS_TRIM, 0, put(&t, sizeof(t))), 0);
	cr_expect_eq(rep(MEMD_OP_STATS_TRIM, 0, 8), -EPROTO);
	cr_expect_eq(rep(MEMD_OP_STATS_TRIM, -EPERM, 0), 0);
	cr_expect_eq(rep(MEMD_OP_STATS_TRIM, -EPERM, sizeof(t)), -EPROTO);
	cr_expect_eq(rep(MEMD_OP_STATS_BLOCKS, -ENOENT, 0), 0);
}

Test(proto_stats, stats_opcodes_have_names)
{
	cr_expect_str_eq(proto_op_name(MEMD_OP_STATS_STATUS), "STATS_STATUS");
	cr_expect_str_eq(proto_op_name(MEMD_OP_STATS_TRIM | MEMD_OP_REPLY), "STATS_TRIM");
	cr_expect_str_eq(proto_op_name(MEMD_OP_STATS_END_), "?");
	for (size_t i = 0; i < N_STATS_OPS; i++)
		cr_expect_str_neq(proto_op_name(stats_ops[i]), "?");
}
