/*
 * test_protocol.c - malformed input on a raw socket hurts only its sender.
 *
 * DESIGN.md invariant 9 and proto.h's "Malformed input" paragraph: a frame
 * whose length is below the header size or above MEMD_FRAME_MAX, or a
 * reply opcode sent as a request, closes that connection; an unknown
 * opcode gets -EOPNOTSUPP and an invalid body -EINVAL with the connection
 * left open; a first request other than HELLO gets -EPROTO and a close; a
 * HELLO with a wrong version gets -EPROTO with the daemon's version in the
 * body.  Each test speaks the protocol by hand (rawconn.c) and, around
 * every abuse, checks that a well-behaved libmemclient client (the
 * "bystander") still allocates, maps and frees, and that a block it wrote
 * before is intact.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "memclient.h"
#include "proto.h"
#include "rawconn.h"
#include "ref.h"

#define REPLY_MS 5000 /* how long the daemon has to answer or close */

/* A well-behaved client that must keep working throughout. */
struct bystander {
	memc_client *c; /* its connection */
	memc_ref ref;   /* a block it filled with pattern 0xb1 */
};

/* Connect the bystander and give it a block. */
static void bystander_start(struct bystander *b)
{
	int rc = memc_connect(H.sock, &b->c);

	cr_assert_eq(rc, 0, "bystander connect: %d (%s)", rc, memc_strerror(rc));
	rc = memc_alloc(b->c, NULL, 1000, 0, &b->ref);
	cr_assert_eq(rc, 0, "bystander alloc: %d (%s)", rc, memc_strerror(rc));
	pattern_fill(memc_ptr(b->c, b->ref), 1000, 0xb1);
}

/* Assert that the bystander still works: its block is intact and a fresh
 * allocate/map/size/free round succeeds.  when names the moment. */
static void bystander_check(struct bystander *b, const char *when)
{
	memc_ref ref = 0;
	size_t sz = 0;
	void *p;
	int rc;

	p = memc_ptr(b->c, b->ref);
	cr_assert_not_null(p, "%s: bystander's block unmappable", when);
	cr_assert_eq(pattern_check(p, 1000, 0xb1), -1, "%s: bystander's block changed", when);
	rc = memc_alloc(b->c, NULL, 70000, 0, &ref);
	cr_assert_eq(rc, 0, "%s: bystander alloc: %d (%s)", when, rc, memc_strerror(rc));
	cr_assert_eq(memc_size(b->c, ref, &sz), 0, "%s: bystander size", when);
	cr_assert_geq(sz, 70000);
	p = memc_ptr(b->c, ref);
	cr_assert_not_null(p, "%s: bystander ptr", when);
	pattern_fill(p, 70000, 3);
	cr_assert_eq(pattern_check(p, 70000, 3), -1);
	rc = memc_free(b->c, ref);
	cr_assert_eq(rc, 0, "%s: bystander free: %d (%s)", when, rc, memc_strerror(rc));
}

/* Close the bystander. */
static void bystander_stop(struct bystander *b)
{
	cr_assert_eq(memc_free(b->c, b->ref), 0);
	memc_close(b->c);
}

/* Raw connection that has completed HELLO. */
static int raw_ready(void)
{
	struct memd_hello_rep rep;
	struct memd_hdr h;
	int fd = raw_connect(H.sock);
	int r;

	cr_assert_geq(fd, 0, "raw connect: %s", strerror(-fd));
	r = raw_hello(fd, MEMD_PROTO_VERSION, &h, &rep);
	cr_assert_eq(r, RAW_FRAME, "HELLO got no reply (%d)", r);
	cr_assert_eq(h.op, MEMD_OP_HELLO | MEMD_OP_REPLY, "HELLO reply op %#x", h.op);
	cr_assert_eq(h.status, 0, "HELLO status %d", h.status);
	cr_assert_eq(h.len, MEMD_HDR_SIZE + sizeof(rep), "HELLO reply len %u", h.len);
	cr_assert_eq(rep.version, MEMD_PROTO_VERSION);
	cr_assert_eq(rep.frame_max, MEMD_FRAME_MAX);
	cr_assert_eq(rep.pid, (uint32_t)H.pid, "HELLO reply pid %u, memd is %d", rep.pid,
	             (int)H.pid);
	return fd;
}

/* Send a POOL request for "default" with id and assert a good reply: the
 * connection still works. */
static void raw_assert_alive(int fd, uint32_t id, const char *when)
{
	struct memd_pool_req req = {.name = "default"};
	struct memd_pool_rep rep;
	struct memd_hdr h;
	size_t blen = 0;
	int r;

	cr_assert_eq(raw_send_frame(fd, MEMD_OP_POOL, id, &req, sizeof(req)), 0, "%s: send POOL",
	             when);
	r = raw_recv_frame(fd, &h, &rep, sizeof(rep), &blen, REPLY_MS);
	cr_assert_eq(r, RAW_FRAME, "%s: POOL got no reply (%d): connection not kept open", when, r);
	cr_assert_eq(h.id, id, "%s: reply id %u, want %u", when, h.id, id);
	cr_assert_eq(h.op, MEMD_OP_POOL | MEMD_OP_REPLY);
	cr_assert_eq(h.status, 0, "%s: POOL default status %d", when, h.status);
	cr_assert_eq(blen, sizeof(rep));
}

/* Assert the daemon closes fd within REPLY_MS, with any frames it sends
 * before that carrying an error status. */
static void raw_assert_closed(int fd, const char *what)
{
	int frames = 0, ok = 0;
	int r = raw_drain_until_closed(fd, REPLY_MS, &frames, &ok);

	cr_assert_eq(r, 0, "%s: connection still open after %d ms (%d frames read)", what, REPLY_MS,
	             frames);
	cr_assert_eq(ok, 0, "%s: %d success replies before the close", what, ok);
}

Test(protocol, raw_garbage_closes_only_that_connection, .fini = harness_fini)
{
	struct bystander b;
	char junk[4096];
	int fd;

	memd_start(&H, NULL);
	bystander_start(&b);

	/* Before HELLO: a "header" with len 0xa5a5a5a5 > MEMD_FRAME_MAX. */
	memset(junk, 0xa5, sizeof(junk));
	fd = raw_connect(H.sock);
	cr_assert_geq(fd, 0);
	raw_send(fd, junk, sizeof(junk));
	raw_assert_closed(fd, "0xa5 garbage before HELLO");
	close(fd);
	bystander_check(&b, "after 0xa5 garbage");

	/* After HELLO, the same. */
	fd = raw_ready();
	raw_send(fd, junk, sizeof(junk));
	raw_assert_closed(fd, "0xa5 garbage after HELLO");
	close(fd);
	bystander_check(&b, "after garbage past HELLO");

	/* Pseudo-random garbage from fixed seeds, closed by us whatever the
	 * daemon does with it. */
	for (unsigned seed = 1; seed <= 50; seed++) {
		srand(seed);
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (char)(rand() & 0xff);
		fd = seed % 2 ? raw_connect(H.sock) : raw_ready();
		cr_assert_geq(fd, 0);
		raw_send(fd, junk, 64 + (size_t)(rand() % 4000));
		close(fd);
	}
	bystander_check(&b, "after 50 random garbage connections");
	bystander_stop(&b);
	memd_stop_clean(&H, SIGTERM);
}

Test(protocol, truncated_frame_then_close_is_harmless, .fini = harness_fini)
{
	struct memd_alloc_req req = {.pool_id = 1, .size = 64};
	struct bystander b;
	char frame[MEMD_HDR_SIZE + sizeof(req)];
	struct memd_hdr h = {.len = sizeof(frame), .op = MEMD_OP_ALLOC, .id = 7};

	memd_start(&H, NULL);
	bystander_start(&b);
	memcpy(frame, &h, sizeof(h));
	memcpy(frame + MEMD_HDR_SIZE, &req, sizeof(req));
	/* Cut at every interesting point: inside the header, right after it,
	 * inside the body. */
	for (size_t cut = 1; cut < sizeof(frame); cut += 5) {
		int fd = raw_ready();

		cr_assert_eq(raw_send(fd, frame, cut), 0);
		close(fd);
	}
	bystander_check(&b, "after truncated frames");
	/* A truncated first frame, before HELLO. */
	{
		int fd = raw_connect(H.sock);

		cr_assert_geq(fd, 0);
		cr_assert_eq(raw_send(fd, frame, 10), 0);
		close(fd);
	}
	bystander_check(&b, "after a truncated frame before HELLO");
	bystander_stop(&b);
	memd_stop_clean(&H, SIGTERM);
}

Test(protocol, oversize_length_closes_the_connection, .fini = harness_fini)
{
	static const uint32_t lens[] = {MEMD_FRAME_MAX + 1, MEMD_FRAME_MAX * 2, 0xffffffffu};
	struct bystander b;

	memd_start(&H, NULL);
	bystander_start(&b);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct memd_hdr h = {.len = lens[i], .op = MEMD_OP_ALLOC, .id = 9};
		char what[64];
		int fd = raw_ready();

		snprintf(what, sizeof(what), "len %u", lens[i]);
		cr_assert_eq(raw_send(fd, &h, sizeof(h)), 0);
		raw_assert_closed(fd, what);
		close(fd);
		bystander_check(&b, what);
	}
	bystander_stop(&b);
	memd_stop_clean(&H, SIGTERM);
}

Test(protocol, length_below_header_size_closes_the_connection, .fini = harness_fini)
{
	static const uint32_t lens[] = {0, 1, 8, MEMD_HDR_SIZE - 1};
	struct bystander b;

	memd_start(&H, NULL);
	bystander_start(&b);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct memd_hdr h = {.len = lens[i], .op = MEMD_OP_SIZE, .id = 9};
		char what[64];
		int fd = raw_ready();

		snprintf(what, sizeof(what), "len %u", lens[i]);
		cr_assert_eq(raw_send(fd, &h, sizeof(h)), 0);
		raw_assert_closed(fd, what);
		close(fd);
		bystander_check(&b, what);
	}
	bystander_stop(&b);
	memd_stop_clean(&H, SIGTERM);
}

Test(protocol, unknown_opcode_gets_eopnotsupp_and_stays_open, .fini = harness_fini)
{
	static const uint16_t ops[] = {0, MEMD_OP_MAX_, 31, 0x7ffe, 0x7fff}; /* never assigned */
	struct bystander b;
	int fd;

	memd_start(&H, NULL);
	bystander_start(&b);
	fd = raw_ready();
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		char body[8] = {0};
		struct memd_hdr h;
		uint32_t id = 100 + (uint32_t)i;
		size_t blen = 99;
		int r;

		cr_assert_eq(raw_send_frame(fd, ops[i], id, body, i % 2 ? sizeof(body) : 0), 0);
		r = raw_recv_frame(fd, &h, body, sizeof(body), &blen, REPLY_MS);
		cr_assert_eq(r, RAW_FRAME, "opcode %u: no reply (%d)", ops[i], r);
		cr_assert_eq(h.status, -EOPNOTSUPP, "opcode %u: status %d, want -EOPNOTSUPP",
		             ops[i], h.status);
		cr_assert_eq(h.id, id, "opcode %u: reply id %u", ops[i], h.id);
		cr_assert_eq(blen, 0, "opcode %u: error reply with a %zu-byte body", ops[i], blen);
		raw_assert_alive(fd, 1000 + id, "after an unknown opcode");
	}
	close(fd);
	bystander_check(&b, "after unknown opcodes");
	bystander_stop(&b);
	memd_stop_clean(&H, SIGTERM);
}

Test(protocol, invalid_body_gets_einval_and_stays_open, .fini = harness_fini)
{
	struct memd_alloc_req bad_size = {.pool_id = 1, .size = 0};
	struct memd_alloc_req bad_align = {.pool_id = 1, .size = 64, .align = 3};
	struct memd_alloc_req bad_flags = {.pool_id = 1, .size = 64, .flags = 0x100};
	struct memd_pool_req unterminated;
	struct bystander b;
	struct {
		uint16_t op;      /* request opcode */
		const void *body; /* its body */
		size_t len;       /* body length */
		const char *what; /* description */
	} cases[] = {
	        {MEMD_OP_ALLOC, &bad_size, sizeof(bad_size), "ALLOC size 0"},
	        {MEMD_OP_ALLOC, &bad_align, sizeof(bad_align), "ALLOC align 3"},
	        {MEMD_OP_ALLOC, &bad_flags, sizeof(bad_flags), "ALLOC unknown flags"},
	        {MEMD_OP_ALLOC, &bad_size, 10, "ALLOC short body"},
	        {MEMD_OP_POOL, &unterminated, sizeof(unterminated), "POOL unterminated name"},
	        {MEMD_OP_SIZE, &bad_size, 4, "SIZE short body"},
	        {MEMD_OP_FREE, &bad_size, sizeof(bad_size), "FREE long body"},
	};
	int fd;

	memset(unterminated.name, 'x', sizeof(unterminated.name));
	memd_start(&H, NULL);
	bystander_start(&b);
	fd = raw_ready();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char body[64];
		struct memd_hdr h;
		uint32_t id = 50 + (uint32_t)i;
		size_t blen = 0;
		int r;

		cr_assert_eq(raw_send_frame(fd, cases[i].op, id, cases[i].body, cases[i].len), 0);
		r = raw_recv_frame(fd, &h, body, sizeof(body), &blen, REPLY_MS);
		cr_assert_eq(r, RAW_FRAME, "%s: no reply (%d)", cases[i].what, r);
		cr_assert_eq(h.status, -EINVAL, "%s: status %d, want -EINVAL", cases[i].what,
		             h.status);
		cr_assert_eq(h.id, id, "%s: reply id %u", cases[i].what, h.id);
		raw_assert_alive(fd, 1000 + id, cases[i].what);
	}
	close(fd);
	bystander_check(&b, "after invalid bodies");
	bystander_stop(&b);
	memd_stop_clean(&H, SIGTERM);
}

Test(protocol, reply_opcode_as_request_closes_the_connection, .fini = harness_fini)
{
	struct memd_ref_req req = {.ref = 0};
	struct bystander b;
	int fd;

	memd_start(&H, NULL);
	bystander_start(&b);
	fd = raw_ready();
	cr_assert_eq(raw_send_frame(fd, MEMD_OP_SIZE | MEMD_OP_REPLY, 3, &req, sizeof(req)), 0);
	raw_assert_closed(fd, "reply opcode as a request");
	close(fd);
	bystander_check(&b, "after a reply opcode");
	bystander_stop(&b);
	memd_stop_clean(&H, SIGTERM);
}

Test(protocol, request_before_hello_gets_eproto_and_close, .fini = harness_fini)
{
	struct memd_pool_req req = {.name = "default"};
	struct bystander b;
	struct memd_hdr h;
	char body[64];
	size_t blen = 0;
	int fd, r;

	memd_start(&H, NULL);
	bystander_start(&b);
	fd = raw_connect(H.sock);
	cr_assert_geq(fd, 0);
	cr_assert_eq(raw_send_frame(fd, MEMD_OP_POOL, 5, &req, sizeof(req)), 0);
	r = raw_recv_frame(fd, &h, body, sizeof(body), &blen, REPLY_MS);
	if (r == RAW_FRAME) {
		cr_assert_eq(h.status, -EPROTO, "POOL before HELLO: status %d, want -EPROTO",
		             h.status);
		cr_assert_eq(h.id, 5);
		raw_assert_closed(fd, "request before HELLO");
	} else {
		cr_assert_eq(r, RAW_CLOSED, "POOL before HELLO: neither reply nor close (%d)", r);
	}
	close(fd);
	bystander_check(&b, "after a request before HELLO");
	bystander_stop(&b);
	memd_stop_clean(&H, SIGTERM);
}

Test(protocol, hello_with_wrong_version_gets_eproto, .fini = harness_fini)
{
	static const uint32_t versions[] = {0, MEMD_PROTO_VERSION + 1, 0xffffffffu};
	struct bystander b;

	memd_start(&H, NULL);
	bystander_start(&b);
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		struct memd_hello_rep rep = {0};
		struct memd_hdr h;
		int fd = raw_connect(H.sock);
		int r;

		cr_assert_geq(fd, 0);
		r = raw_hello(fd, versions[i], &h, &rep);
		cr_assert_eq(r, RAW_FRAME, "HELLO version %u: no reply (%d)", versions[i], r);
		cr_assert_eq(h.op, MEMD_OP_HELLO | MEMD_OP_REPLY);
		cr_assert_eq(h.status, -EPROTO, "HELLO version %u: status %d, want -EPROTO",
		             versions[i], h.status);
		cr_assert_eq(h.len, MEMD_HDR_SIZE + sizeof(rep),
		             "HELLO -EPROTO reply must carry the daemon's version (len %u)", h.len);
		cr_assert_eq(rep.version, MEMD_PROTO_VERSION);
		close(fd);
		bystander_check(&b, "after a wrong HELLO version");
	}
	bystander_stop(&b);
	memd_stop_clean(&H, SIGTERM);
}

Test(protocol, pipelined_requests_get_replies_in_order, .fini = harness_fini)
{
	enum { N = 32 };
	struct memd_pool_req req = {.name = "default"};
	char buf[N * (MEMD_HDR_SIZE + sizeof(req))];
	size_t off = 0;
	int fd;

	memd_start(&H, NULL);
	fd = raw_ready();
	for (uint32_t i = 0; i < N; i++) {
		struct memd_hdr h = {
		        .len = MEMD_HDR_SIZE + sizeof(req), .op = MEMD_OP_POOL, .id = 500 + i};

		memcpy(buf + off, &h, sizeof(h));
		memcpy(buf + off + MEMD_HDR_SIZE, &req, sizeof(req));
		off += MEMD_HDR_SIZE + sizeof(req);
	}
	cr_assert_eq(raw_send(fd, buf, off), 0);
	for (uint32_t i = 0; i < N; i++) {
		struct memd_pool_rep rep;
		struct memd_hdr h;
		size_t blen = 0;
		int r = raw_recv_frame(fd, &h, &rep, sizeof(rep), &blen, REPLY_MS);

		cr_assert_eq(r, RAW_FRAME, "reply %u of %d missing (%d)", i, N, r);
		cr_assert_eq(h.id, 500 + i, "reply %u has id %u: out of order", i, h.id);
		cr_assert_eq(h.status, 0);
	}
	close(fd);
	memd_stop_clean(&H, SIGTERM);
}

/* Resolve pool name on a ready raw connection; returns its pool id. */
static uint32_t raw_pool_id(int fd, const char *name)
{
	struct memd_pool_req req = {{0}};
	struct memd_pool_rep rep;
	struct memd_hdr h;
	size_t blen = 0;

	strcpy(req.name, name);
	cr_assert_eq(raw_send_frame(fd, MEMD_OP_POOL, 77, &req, sizeof(req)), 0);
	cr_assert_eq(raw_recv_frame(fd, &h, &rep, sizeof(rep), &blen, REPLY_MS), RAW_FRAME);
	cr_assert_eq(h.status, 0, "POOL %s: %d", name, h.status);
	return rep.pool_id;
}

/* ALLOC_BATCH on fd; returns the reply status, fills refs and *count. */
static int raw_alloc_batch(int fd, uint32_t pool_id, uint64_t size, uint32_t want, uint64_t *refs,
                           uint32_t *count)
{
	struct memd_alloc_batch_req req = {.pool_id = pool_id, .size = size, .count = want};
	static char body[MEMD_FRAME_MAX];
	struct memd_alloc_batch_rep rep;
	struct memd_hdr h;
	size_t blen = 0;

	cr_assert_eq(raw_send_frame(fd, MEMD_OP_ALLOC_BATCH, 88, &req, sizeof(req)), 0);
	cr_assert_eq(raw_recv_frame(fd, &h, body, sizeof(body), &blen, REPLY_MS), RAW_FRAME);
	cr_assert_eq(h.op, MEMD_OP_ALLOC_BATCH | MEMD_OP_REPLY);
	*count = 0;
	if (h.status != 0) {
		cr_assert_eq(blen, 0, "ALLOC_BATCH error reply with a %zu-byte body", blen);
		return h.status;
	}
	cr_assert_geq(blen, sizeof(rep));
	memcpy(&rep, body, sizeof(rep));
	cr_assert_eq(blen, sizeof(rep) + rep.count * sizeof(uint64_t),
	             "ALLOC_BATCH reply: %zu bytes for %u refs", blen, rep.count);
	cr_assert_geq(rep.size, size);
	memcpy(refs, body + sizeof(rep), rep.count * sizeof(uint64_t));
	*count = rep.count;
	return 0;
}

Test(protocol, batch_alloc_and_free_report_per_block, .fini = harness_fini)
{
	static uint64_t refs[MEMD_BATCH_MAX];
	char frame[sizeof(struct memd_free_batch_req) + 5 * sizeof(uint64_t)];
	struct memd_free_batch_req fr = {.count = 5};
	struct memd_free_batch_rep rep;
	int32_t results[6];
	char body[64];
	struct memd_hdr h;
	uint64_t list[5];
	uint32_t count = 0, more = 0;
	uint32_t pool;
	size_t blen = 0;
	int fd, st;

	memd_start(&H, CONFIG_SMALL_POOL);
	fd = raw_ready();
	pool = raw_pool_id(fd, "default");
	st = raw_alloc_batch(fd, pool, 64, 4, refs, &count);
	cr_assert_eq(st, 0, "ALLOC_BATCH of 4: %d", st);
	cr_assert_eq(count, 4, "ALLOC_BATCH of 4 gave %u", count);
	for (uint32_t i = 0; i < count; i++)
		for (uint32_t j = 0; j < i; j++)
			cr_assert_neq(refs[i], refs[j], "ALLOC_BATCH returned a ref twice");

	/* good, interior, good, the same again, null */
	list[0] = refs[0];
	list[1] = refs[1] + 8;
	list[2] = refs[2];
	list[3] = refs[2];
	list[4] = 0;
	memcpy(frame, &fr, sizeof(fr));
	memcpy(frame + sizeof(fr), list, sizeof(list));
	cr_assert_eq(raw_send_frame(fd, MEMD_OP_FREE_BATCH, 90, frame, sizeof(frame)), 0);
	cr_assert_eq(raw_recv_frame(fd, &h, body, sizeof(body), &blen, REPLY_MS), RAW_FRAME);
	cr_assert_eq(h.status, -EINVAL, "FREE_BATCH status %d, want the first error -EINVAL",
	             h.status);
	cr_assert_eq(blen, sizeof(rep) + sizeof(results), "FREE_BATCH reply of %zu bytes", blen);
	memcpy(&rep, body, sizeof(rep));
	memcpy(results, body + sizeof(rep), sizeof(results));
	cr_assert_eq(rep.count, 5);
	cr_assert_eq(results[0], 0, "free of a good ref: %d", results[0]);
	cr_assert_eq(results[1], -EINVAL, "free of an interior ref: %d", results[1]);
	cr_assert_eq(results[2], 0, "free of a good ref: %d", results[2]);
	cr_assert_eq(results[3], -EINVAL, "second free in one batch: %d", results[3]);
	cr_assert_eq(results[4], -EINVAL, "free of ref 0: %d", results[4]);
	cr_assert_eq(results[5], 0, "padding: %d", results[5]);

	/* A batch bigger than the pool gets what there is, then -ENOMEM. */
	pool = raw_pool_id(fd, SMALL_POOL);
	st = raw_alloc_batch(fd, pool, 4096, MEMD_BATCH_MAX, refs, &count);
	cr_assert_eq(st, 0, "ALLOC_BATCH beyond the pool: %d, want partial success", st);
	cr_assert(count >= 1 && count <= SMALL_POOL_MAX / 4096, "got %u 4 KiB blocks from 1 MiB",
	          count);
	st = raw_alloc_batch(fd, pool, 4096, MEMD_BATCH_MAX, refs, &more);
	cr_assert(st == -ENOMEM || (st == 0 && count + more <= SMALL_POOL_MAX / 4096),
	          "second ALLOC_BATCH: status %d, %u more blocks after %u", st, more, count);

	/* Counts out of range are refused. */
	st = raw_alloc_batch(fd, pool, 64, 0, refs, &count);
	cr_assert_eq(st, -EINVAL, "ALLOC_BATCH count 0: %d", st);
	st = raw_alloc_batch(fd, pool, 64, MEMD_BATCH_MAX + 1, refs, &count);
	cr_assert_eq(st, -EINVAL, "ALLOC_BATCH count %u: %d", MEMD_BATCH_MAX + 1, st);
	fr.count = 2; /* but only one ref follows */
	memcpy(frame, &fr, sizeof(fr));
	cr_assert_eq(
	        raw_send_frame(fd, MEMD_OP_FREE_BATCH, 91, frame, sizeof(fr) + sizeof(uint64_t)),
	        0);
	cr_assert_eq(raw_recv_frame(fd, &h, body, sizeof(body), &blen, REPLY_MS), RAW_FRAME);
	cr_assert_eq(h.status, -EINVAL, "FREE_BATCH count 2 with one ref: %d", h.status);
	raw_assert_alive(fd, 92, "after bad batches");
	close(fd);
	memd_stop_clean(&H, SIGTERM);
}

Test(protocol, client_that_never_reads_replies_does_not_stall_others, .fini = harness_fini)
{
	struct memd_pool_req req = {.name = "default"};
	char frame[MEMD_HDR_SIZE + sizeof(req)];
	struct memd_hdr h = {.len = sizeof(frame), .op = MEMD_OP_POOL};
	struct bystander b;
	size_t sent = 0;
	int64_t end;
	int fd, full = 0;

	memd_start(&H, NULL);
	bystander_start(&b);
	fd = raw_ready();
	cr_assert_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	memcpy(frame + MEMD_HDR_SIZE, &req, sizeof(req));
	/* Pipeline requests for a second without reading a single reply:
	 * the daemon's replies to us pile up (or it stops reading us). */
	end = now_ms() + 1000;
	while (now_ms() < end && sent < 100000) {
		ssize_t n;

		h.id = (uint32_t)sent;
		memcpy(frame, &h, sizeof(h));
		n = send(fd, frame, sizeof(frame), MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == (ssize_t)sizeof(frame)) {
			sent++;
		} else if (n < 0 && errno == EAGAIN) {
			full++;
			bystander_check(&b, "while a client ignores its replies");
			sleep_ms(1);
		} else {
			break; /* partial frame or error: stop here */
		}
	}
	cr_assert_gt(sent, 0);
	cr_log_info("deaf client: %zu requests sent, %d times the socket was full", sent, full);
	bystander_check(&b, "while a client ignores its replies");
	close(fd);
	bystander_check(&b, "after the deaf client left");
	bystander_stop(&b);
	memd_stop_clean(&H, SIGTERM);
}

Test(protocol, map_reply_carries_a_usable_segment_fd, .fini = harness_fini)
{
	struct memd_alloc_req areq = {.size = 4096};
	struct memd_alloc_rep arep;
	struct memd_map_req mreq = {0};
	struct memd_map_rep mrep;
	struct memd_hdr h;
	struct stat st;
	char path[PATH_MAX];
	size_t blen = 0;
	int fd, seg_fd = -1;
	uint8_t *map;

	memd_start(&H, NULL);
	fd = raw_ready();
	areq.pool_id = raw_pool_id(fd, "default");
	cr_assert_eq(raw_send_frame(fd, MEMD_OP_ALLOC, 20, &areq, sizeof(areq)), 0);
	cr_assert_eq(raw_recv_frame(fd, &h, &arep, sizeof(arep), &blen, REPLY_MS), RAW_FRAME);
	cr_assert_eq(h.status, 0, "ALLOC: %d", h.status);
	cr_assert_geq(arep.size, 4096);

	mreq.seg_id = memd_ref_seg(arep.ref);
	cr_assert_eq(raw_send_frame(fd, MEMD_OP_MAP, 21, &mreq, sizeof(mreq)), 0);
	cr_assert_eq(raw_recv_frame_fd(fd, &h, &mrep, sizeof(mrep), &blen, &seg_fd, REPLY_MS),
	             RAW_FRAME);
	cr_assert_eq(h.status, 0, "MAP: %d", h.status);
	cr_assert_eq(h.id, 21);
	cr_assert_geq(seg_fd, 0, "MAP reply came without an fd");
	cr_assert_eq(mrep.seg_id, mreq.seg_id);
	cr_assert_eq(mrep.access, MEMD_ACCESS_READ | MEMD_ACCESS_WRITE);
	cr_assert_eq(fstat(seg_fd, &st), 0);
	cr_assert_eq((uint64_t)st.st_size, mrep.size, "fd size %lld, reply says %llu",
	             (long long)st.st_size, (unsigned long long)mrep.size);
	cr_assert_lt(memd_ref_off(arep.ref) + arep.size, mrep.size + 1);
	snprintf(path, sizeof(path), "/dev/shm/%s-default-%u", H.prefix, mreq.seg_id);
	{
		struct stat named;

		cr_assert_eq(stat(path, &named), 0, "segment %u is not %s", mreq.seg_id, path);
		cr_assert_eq(named.st_ino, st.st_ino, "the fd is not the segment %s", path);
		cr_assert_eq(named.st_mode & 0777, 0600, "segment mode %o, want 0600",
		             named.st_mode & 0777);
	}
	map = mmap(NULL, mrep.size, PROT_READ | PROT_WRITE, MAP_SHARED, seg_fd, 0);
	cr_assert_neq(map, MAP_FAILED, "mmap of the segment fd: %s", strerror(errno));
	memset(map + memd_ref_off(arep.ref), 0x3c, 4096);
	munmap(map, mrep.size);
	close(seg_fd);

	/* A segment that does not exist: -EINVAL and no fd. */
	mreq.seg_id = MEMD_SEG_ID_MAX;
	cr_assert_eq(raw_send_frame(fd, MEMD_OP_MAP, 22, &mreq, sizeof(mreq)), 0);
	cr_assert_eq(raw_recv_frame_fd(fd, &h, &mrep, sizeof(mrep), &blen, &seg_fd, REPLY_MS),
	             RAW_FRAME);
	cr_assert_eq(h.status, -EINVAL, "MAP of an unknown segment: %d", h.status);
	cr_assert_eq(seg_fd, -1, "an error reply carried an fd");
	raw_assert_alive(fd, 23, "after MAP");
	close(fd);
	memd_stop_clean(&H, SIGTERM);
}

/* Open file descriptors of process pid. */
static int fd_count(pid_t pid)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	cr_assert_not_null(d, "%s: %s", path, strerror(errno));
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

Test(protocol, daemon_does_not_leak_fds_over_many_connections, .fini = harness_fini)
{
	int before, after;

	memd_start(&H, NULL);
	before = fd_count(H.pid);
	for (int i = 0; i < 300; i++) {
		struct memd_map_req mreq = {0};
		struct memd_alloc_req areq = {.size = 64};
		struct memd_alloc_rep arep;
		struct memd_map_rep mrep;
		struct memd_hdr h;
		size_t blen;
		int fd = raw_ready(), seg_fd = -1;

		if (i % 3 == 0) { /* some map a segment, some leave mid-frame */
			areq.pool_id = raw_pool_id(fd, "default");
			cr_assert_eq(raw_send_frame(fd, MEMD_OP_ALLOC, 1, &areq, sizeof(areq)), 0);
			cr_assert_eq(raw_recv_frame(fd, &h, &arep, sizeof(arep), &blen, REPLY_MS),
			             RAW_FRAME);
			mreq.seg_id = memd_ref_seg(arep.ref);
			cr_assert_eq(raw_send_frame(fd, MEMD_OP_MAP, 2, &mreq, sizeof(mreq)), 0);
			cr_assert_eq(raw_recv_frame_fd(fd, &h, &mrep, sizeof(mrep), &blen, &seg_fd,
			                               REPLY_MS),
			             RAW_FRAME);
			cr_assert_geq(seg_fd, 0);
			close(seg_fd);
		} else if (i % 3 == 1) {
			raw_send(fd, "\x20\x00\x00", 3);
		}
		close(fd);
	}
	/* The daemon handles the closes asynchronously. */
	for (int64_t end = now_ms() + 3000; now_ms() < end; sleep_ms(20)) {
		after = fd_count(H.pid);
		if (after <= before)
			break;
	}
	after = fd_count(H.pid);
	cr_assert_leq(after, before, "memd had %d fds, %d after 300 connections came and went",
	              before, after);
	memd_stop_clean(&H, SIGTERM);
}

Test(protocol, huge_sizes_and_alignments_are_refused, .fini = harness_fini)
{
	static const struct memd_alloc_req reqs[] = {
	        {.size = UINT64_MAX},
	        {.size = UINT64_MAX - 4095},
	        {.size = UINT64_C(1) << 63},
	        {.size = 64, .align = UINT64_C(1) << 63},
	        {.size = 64, .align = UINT64_C(1) << 40},
	        {.size = UINT64_MAX, .align = 4096},
	};
	struct memd_alloc_batch_req breq = {.size = UINT64_MAX / 2, .count = MEMD_BATCH_MAX};
	struct bystander b;
	int fd;

	memd_start(&H, NULL);
	bystander_start(&b);
	fd = raw_ready();
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		struct memd_alloc_req req = reqs[i];
		struct memd_alloc_rep rep;
		struct memd_hdr h;
		size_t blen = 0;
		int r;

		req.pool_id = raw_pool_id(fd, "default");
		cr_assert_eq(raw_send_frame(fd, MEMD_OP_ALLOC, 60 + (uint32_t)i, &req, sizeof(req)),
		             0);
		r = raw_recv_frame(fd, &h, &rep, sizeof(rep), &blen, REPLY_MS);
		cr_assert_eq(r, RAW_FRAME, "ALLOC size %#llx align %#llx: no reply (%d)",
		             (unsigned long long)req.size, (unsigned long long)req.align, r);
		cr_assert(h.status == -ENOMEM || h.status == -EINVAL,
		          "ALLOC size %#llx align %#llx: status %d, ref %#llx",
		          (unsigned long long)req.size, (unsigned long long)req.align, h.status,
		          blen >= sizeof(rep) ? (unsigned long long)rep.ref : 0ull);
	}
	breq.pool_id = raw_pool_id(fd, "default");
	{
		static char body[MEMD_FRAME_MAX];
		struct memd_hdr h;
		size_t blen = 0;

		cr_assert_eq(raw_send_frame(fd, MEMD_OP_ALLOC_BATCH, 70, &breq, sizeof(breq)), 0);
		cr_assert_eq(raw_recv_frame(fd, &h, body, sizeof(body), &blen, REPLY_MS),
		             RAW_FRAME);
		cr_assert(h.status == -ENOMEM || h.status == -EINVAL,
		          "ALLOC_BATCH of %u x %#llx: status %d", breq.count,
		          (unsigned long long)breq.size, h.status);
	}
	raw_assert_alive(fd, 71, "after huge sizes");
	close(fd);
	bystander_check(&b, "after huge sizes");
	bystander_stop(&b);
	memd_stop_clean(&H, SIGTERM);
}
