/*
 * test_replies.c - replies come back whole, in request order, with their
 * fds, and a client that does not read cannot make memd buffer without
 * bound; libmemclient reads each reply whole and refuses what is not
 * exactly one reply.
 *
 * The daemon side (daemon/conn.c) reuses its reply buffers instead of
 * allocating one per reply, and sends fd-carrying replies with sendmsg()
 * only when nothing of the connection is inside libuv.  The first tests
 * drive it with raw sockets: a long pipeline read late (the connection is
 * throttled and resumes), a pipeline that mixes MAP replies (fds) with
 * plain ones, and, around both, a libmemclient client that must keep
 * being served.
 *
 * The client side (client/client.c client_recv, on sock_read_min_fd)
 * reads replies through a buffer, asking each recvmsg() for all the room
 * it has, so a whole reply normally takes one system call.  The last tests
 * put libmemclient in front of a scripted fake daemon (a forked child on a
 * socket of its own) that does what memd never does: split a reply into
 * pieces, send the fd with the body instead of the first byte, add bytes
 * after the reply, attach two fds, hang up in the middle of a frame.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fake_daemon.h"
#include "harness.h"
#include "memclient.h"
#include "proto.h"
#include "rawconn.h"
#include "ref.h"

#define REPLY_MS      5000          /* how long one reply may take */
#define STALL_MS      300           /* sends refused this long: memd stopped reading */
#define SEND_LIMIT_MS 20000         /* a pipeline that never stalls fails after this */
#define RSS_GROWTH_KB (32 * 1024)   /* memd may grow this much for one deaf client */
#define FAKE_SEG_SIZE (64u * 1024u) /* size of the fake daemon's segments */

/* ---- helpers: the real daemon ---- */

/* Raw connection to H that has completed HELLO. */
static int raw_ready(void)
{
	struct memd_hdr h;
	int fd = raw_connect(H.sock);
	int r;

	cr_assert_geq(fd, 0, "raw connect: %s", strerror(-fd));
	r = raw_hello(fd, MEMD_PROTO_VERSION, &h, NULL);
	cr_assert_eq(r, RAW_FRAME, "HELLO got no reply (%d)", r);
	cr_assert_eq(h.status, 0, "HELLO status %d", h.status);
	return fd;
}

/* One request/reply on a raw connection; the reply must have status 0 and
 * a body of exactly rep_len bytes. */
static void raw_call(int fd, uint16_t op, uint32_t id, const void *req, size_t req_len, void *rep,
                     size_t rep_len)
{
	struct memd_hdr h;
	size_t blen = 0;

	cr_assert_eq(raw_send_frame(fd, op, id, req, req_len), 0);
	cr_assert_eq(raw_recv_frame(fd, &h, rep, rep_len, &blen, REPLY_MS), RAW_FRAME);
	cr_assert_eq(h.id, id);
	cr_assert_eq(h.status, 0, "op %u: status %d", op, h.status);
	cr_assert_eq(blen, rep_len, "op %u: %zu-byte reply body", op, blen);
}

/* Allocate a block of size bytes from pool "default" on a raw connection. */
static struct memd_alloc_rep raw_alloc(int fd, uint64_t size)
{
	struct memd_pool_req preq = {.name = "default"};
	struct memd_pool_rep prep;
	struct memd_alloc_req areq = {.size = size};
	struct memd_alloc_rep arep;

	raw_call(fd, MEMD_OP_POOL, 1, &preq, sizeof(preq), &prep, sizeof(prep));
	areq.pool_id = prep.pool_id;
	raw_call(fd, MEMD_OP_ALLOC, 2, &areq, sizeof(areq), &arep, sizeof(arep));
	return arep;
}

/* Open file descriptors of process pid (0: this process). */
static int fd_count(pid_t pid)
{
	char path[64];
	int n = 0;

	for (int fd = 0; fd < 4096; fd++) {
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid ? (int)pid : (int)getpid(), fd);
		n += access(path, F_OK) == 0;
	}
	return n;
}

/* Wait (up to REPLY_MS) until memd has want open fds; returns the last count. */
static int memd_fds_settle(int want)
{
	int64_t end = now_ms() + REPLY_MS;
	int n;

	while ((n = fd_count(H.pid)) != want && now_ms() < end)
		sleep_ms(10);
	return n;
}

/* Connect a libmemclient client to H with its block cache off, so that
 * every memc_size is a round trip through memd. */
static memc_client *served_connect(void)
{
	memc_client *c = NULL;
	int rc;

	cr_assert_eq(setenv("MEMC_CACHE_BYTES", "0", 1), 0);
	rc = memc_connect(H.sock, &c);
	cr_assert_eq(rc, 0, "connect: %d (%s)", rc, memc_strerror(rc));
	return c;
}

/* A libmemclient client that must keep getting answers: n round trips. */
static void served_check(memc_client *c, memc_ref ref, int n, const char *when)
{
	for (int i = 0; i < n; i++) {
		size_t sz = 0;
		int rc = memc_size(c, ref, &sz);

		cr_assert_eq(rc, 0, "%s: memc_size %d: %d (%s)", when, i, rc, memc_strerror(rc));
		cr_assert_geq(sz, 100);
	}
}

/* ---- a pipeline of SIZE requests, sent without reading ---- */

#define PIPE_BATCH 256 /* frames per send() */

/* The requests of a pipeline, built PIPE_BATCH frames at a time. */
struct pipeline {
	int fd;       /* raw connection (non-blocking) */
	uint64_t ref; /* the block every SIZE asks about */
	uint8_t buf[PIPE_BATCH * (MEMD_HDR_SIZE + sizeof(struct memd_ref_req))]; /* a batch */
	size_t off;           /* bytes of buf already sent */
	uint32_t next_id;     /* id of buf's first frame */
	uint64_t frames_sent; /* complete frames sent */
};

#define PIPE_FRAME (MEMD_HDR_SIZE + sizeof(struct memd_ref_req))

/* Fill p->buf with the next PIPE_BATCH SIZE frames. */
static void pipeline_fill(struct pipeline *p)
{
	struct memd_ref_req req = {.ref = p->ref};

	for (uint32_t i = 0; i < PIPE_BATCH; i++) {
		struct memd_hdr h = {.len = PIPE_FRAME, .op = MEMD_OP_SIZE, .id = p->next_id + i};

		memcpy(p->buf + i * PIPE_FRAME, &h, sizeof(h));
		memcpy(p->buf + i * PIPE_FRAME + MEMD_HDR_SIZE, &req, sizeof(req));
	}
	p->off = 0;
}

/* Send what the socket takes now.  true if anything went. */
static bool pipeline_push(struct pipeline *p)
{
	ssize_t n =
	        send(p->fd, p->buf + p->off, sizeof(p->buf) - p->off, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0) {
		cr_assert(errno == EAGAIN || errno == EINTR, "pipeline send: %s", strerror(errno));
		return false;
	}
	p->frames_sent += (p->off + (size_t)n) / PIPE_FRAME - p->off / PIPE_FRAME;
	p->off += (size_t)n;
	if (p->off == sizeof(p->buf)) {
		p->next_id += PIPE_BATCH;
		pipeline_fill(p);
	}
	return n > 0;
}

/* Send until the socket has refused everything for STALL_MS. */
static void pipeline_until_stalled(struct pipeline *p)
{
	int64_t start = now_ms(), last = start;

	while (now_ms() - last < STALL_MS) {
		cr_assert_lt(now_ms() - start, SEND_LIMIT_MS,
		             "%llu requests sent and memd still reads: no back-pressure",
		             (unsigned long long)p->frames_sent);
		if (pipeline_push(p))
			last = now_ms();
		else
			sleep_ms(2);
	}
}

/* Read one SIZE reply and check it is the next in order. */
static void pipeline_read_one(struct pipeline *p, uint32_t want_id, uint64_t size)
{
	struct memd_size_rep rep;
	struct memd_hdr h;
	size_t blen = 0;
	int r = raw_recv_frame(p->fd, &h, &rep, sizeof(rep), &blen, REPLY_MS);

	cr_assert_eq(r, RAW_FRAME, "reply %u missing (%d)", want_id, r);
	cr_assert_eq(h.id, want_id, "reply id %u where %u was due: out of order", h.id, want_id);
	cr_assert_eq(h.op, MEMD_OP_SIZE | MEMD_OP_REPLY);
	cr_assert_eq(h.status, 0, "reply %u: status %d", want_id, h.status);
	cr_assert_eq(blen, sizeof(rep));
	cr_assert_eq(rep.size, size);
}

Test(replies, deaf_client_is_throttled_and_gets_every_reply_in_order_later, .fini = harness_fini)
{
	static struct pipeline p;
	struct memd_alloc_rep blk;
	memc_client *c;
	memc_ref ref;
	long rss0, rss1;
	uint32_t got = 0;

	memd_start(&H, NULL);
	c = served_connect();
	cr_assert_eq(memc_alloc(c, NULL, 100, 0, &ref), 0);
	p.fd = raw_ready();
	blk = raw_alloc(p.fd, 64);
	p.ref = blk.ref;
	pipeline_fill(&p);
	served_check(c, ref, 10, "before the pipeline");
	rss0 = proc_status_kb(H.pid, "VmRSS");

	/* Pipeline without reading a reply until memd stops reading us. */
	pipeline_until_stalled(&p);
	rss1 = proc_status_kb(H.pid, "VmRSS");
	cr_log_info("deaf client: %llu requests sent before memd stopped reading; memd RSS %ld -> "
	            "%ld kB",
	            (unsigned long long)p.frames_sent, rss0, rss1);
	cr_assert_gt(p.frames_sent, 0);
	cr_assert_lt(rss1 - rss0, RSS_GROWTH_KB, "memd grew by %ld kB for one deaf client",
	             rss1 - rss0);
	served_check(c, ref, 200, "while a client does not read");

	/* Now read everything, finishing the batch under way: every reply,
	 * in order, none lost while the connection was throttled. */
	while (p.off != 0 || got < p.frames_sent) {
		if (p.off != 0)
			pipeline_push(&p);
		if (got < p.frames_sent)
			pipeline_read_one(&p, got++, blk.size);
	}
	served_check(c, ref, 10, "after the pipeline drained");
	pipeline_push(&p); /* one more batch: the connection reads again */
	while (p.off != 0)
		pipeline_push(&p);
	while (got < p.frames_sent)
		pipeline_read_one(&p, got++, blk.size);
	close(p.fd);
	cr_assert_eq(memc_free(c, ref), 0);
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

/* ---- MAP replies (fds) inside a pipeline ---- */

#define MIX_N     6000                /* requests in the mixed pipeline */
#define MIX_EVERY 16                  /* every MIX_EVERY-th request is a MAP */
#define MIX_FRAME (MEMD_HDR_SIZE + 8) /* MAP and SIZE requests are this long */
#define MIX_BURST 4096                /* bytes per send() */

/* Frame i of the mixed pipeline: MAP of seg for every MIX_EVERY-th, else
 * SIZE of ref.  Returns its length. */
static size_t mix_frame(uint8_t *out, uint32_t i, uint32_t seg, uint64_t ref)
{
	struct memd_map_req mreq = {.seg_id = seg};
	struct memd_ref_req sreq = {.ref = ref};
	bool map = i % MIX_EVERY == 0;
	struct memd_hdr h = {.len = MIX_FRAME, .op = map ? MEMD_OP_MAP : MEMD_OP_SIZE, .id = i};

	_Static_assert(sizeof(mreq) == 8 && sizeof(sreq) == 8, "MIX_FRAME");
	memcpy(out, &h, sizeof(h));
	if (map)
		memcpy(out + MEMD_HDR_SIZE, &mreq, sizeof(mreq));
	else
		memcpy(out + MEMD_HDR_SIZE, &sreq, sizeof(sreq));
	return h.len;
}

/* Read reply i of the mixed pipeline (with recvmsg, so an fd is kept) and
 * check it: in order, MAP replies with a segment fd, others without. */
static void mix_read_one(int fd, uint32_t i, uint32_t seg, uint64_t size)
{
	union {
		struct memd_map_rep map;   /* MAP reply body */
		struct memd_size_rep size; /* SIZE reply body */
	} rep;
	struct memd_hdr h;
	struct stat st;
	size_t blen = 0;
	int seg_fd = -1;
	int r = raw_recv_frame_fd(fd, &h, &rep, sizeof(rep), &blen, &seg_fd, REPLY_MS);

	cr_assert_eq(r, RAW_FRAME, "reply %u missing (%d)", i, r);
	cr_assert_eq(h.id, i, "reply id %u where %u was due: out of order", h.id, i);
	cr_assert_eq(h.status, 0, "reply %u: status %d", i, h.status);
	if (i % MIX_EVERY != 0) {
		cr_assert_eq(h.op, MEMD_OP_SIZE | MEMD_OP_REPLY);
		cr_assert_eq(seg_fd, -1, "SIZE reply %u came with an fd", i);
		cr_assert_eq(rep.size.size, size);
		return;
	}
	cr_assert_eq(h.op, MEMD_OP_MAP | MEMD_OP_REPLY);
	cr_assert_geq(seg_fd, 0, "MAP reply %u came without its fd", i);
	cr_assert_eq(blen, sizeof(rep.map));
	cr_assert_eq(rep.map.seg_id, seg);
	cr_assert_eq(fstat(seg_fd, &st), 0);
	cr_assert_eq((uint64_t)st.st_size, rep.map.size, "MAP reply %u: fd of %lld bytes, not %llu",
	             i, (long long)st.st_size, (unsigned long long)rep.map.size);
	close(seg_fd);
}

Test(replies, map_replies_in_a_pipeline_keep_their_fds_and_order, .fini = harness_fini)
{
	static uint8_t stream[MIX_N * MIX_FRAME];
	struct memd_ref_req sreq;
	struct memd_size_rep srep;
	struct memd_alloc_rep blk;
	size_t len = 0, off = 0;
	memc_client *c;
	memc_ref ref;
	uint32_t seg, got = 0;
	int fd, fds0, fds;

	memd_start(&H, NULL);
	c = served_connect();
	cr_assert_eq(memc_alloc(c, NULL, 100, 0, &ref), 0);
	cr_assert_not_null(memc_ptr(c, ref));
	/* memd closes its dup of a MAP reply's fd after sendmsg returns, which
	 * may be after we got the reply: one more round trip settles it. */
	served_check(c, ref, 1, "after the first MAP");
	fds0 = fd_count(H.pid);
	fd = raw_ready();
	blk = raw_alloc(fd, 64);
	seg = memd_ref_seg(blk.ref);
	for (uint32_t i = 0; i < MIX_N; i++)
		len += mix_frame(stream + len, i, seg, blk.ref);
	cr_assert_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);

	/* Send in bursts and read only after every other burst, so that MAP
	 * replies find plain replies queued (or inside libuv) ahead of them
	 * and plain replies find MAP replies waiting ahead of them. */
	for (int round = 0; off < len || got < MIX_N; round++) {
		size_t burst = len - off < MIX_BURST ? len - off : MIX_BURST;
		uint32_t sent;

		if (burst > 0) {
			ssize_t n = send(fd, stream + off, burst, MSG_NOSIGNAL | MSG_DONTWAIT);

			cr_assert(n >= 0 || errno == EAGAIN, "send: %s", strerror(errno));
			if (n > 0)
				off += (size_t)n;
		}
		sent = (uint32_t)(off / MIX_FRAME);
		if (round % 2 == 1 || off == len)
			while (got < sent)
				mix_read_one(fd, got++, seg, blk.size);
		if (round % 64 == 0)
			served_check(c, ref, 2, "during the mixed pipeline");
	}
	sreq.ref = blk.ref;
	raw_call(fd, MEMD_OP_SIZE, MIX_N, &sreq, sizeof(sreq), &srep, sizeof(srep));
	close(fd);
	fds = memd_fds_settle(fds0);
	cr_assert_eq(fds, fds0, "memd had %d fds before the pipeline, %d after", fds0, fds);
	cr_assert_eq(memc_free(c, ref), 0);
	memc_close(c);
	memd_stop_clean(&H, SIGTERM);
}

/* ---- a scripted fake daemon in front of libmemclient (fake_daemon.h) ---- */

/* A SIZE reply of size, sent in the pieces [0, cut1), [cut1, cut2),
 * [cut2, end) with pauses between them (cut = 0: no cut). */
static int fake_size_reply(int cfd, uint64_t size, size_t cut1, size_t cut2)
{
	struct memd_size_rep rep = {.size = size};
	uint8_t frame[MEMD_HDR_SIZE + sizeof(rep)];
	struct memd_ref_req req;
	struct memd_hdr h;
	size_t len, at = 0;
	size_t cuts[3];

	if (fake_expect(cfd, MEMD_OP_SIZE, &h, &req, sizeof(req)) < 0)
		return -1;
	len = fake_frame(frame, &h, 0, &rep, sizeof(rep));
	cuts[0] = cut1 ? cut1 : len;
	cuts[1] = cut2 ? cut2 : len;
	cuts[2] = len;
	for (int i = 0; i < 3; i++) {
		if (cuts[i] <= at)
			continue;
		if (at > 0)
			sleep_ms(30);
		if (fake_send(cfd, frame + at, cuts[i] - at, NULL, 0) < 0)
			return -1;
		at = cuts[i];
	}
	return 0;
}

static int script_split(int cfd)
{
	if (fake_size_reply(cfd, 4242, 5, 20) < 0) /* inside the header, inside the body */
		return 1;
	if (fake_size_reply(cfd, 4243, MEMD_HDR_SIZE, 0) < 0) /* header, then body */
		return 2;
	if (fake_size_reply(cfd, 4244, 0, 0) < 0) /* whole */
		return 3;
	return fake_wait_eof(cfd) == 0 ? 0 : 4;
}

Test(replies, client_reassembles_a_reply_that_arrives_in_pieces, .fini = fake_fini)
{
	memc_client *c;
	size_t sz = 0;

	fake_start(script_split);
	c = fake_connect();
	for (uint64_t i = 0; i < 3; i++) {
		int rc = memc_size(c, memd_ref_make(3, 64), &sz);

		cr_assert_eq(rc, 0, "reply %llu: %d (%s)", (unsigned long long)i, rc,
		             memc_strerror(rc));
		cr_assert_eq(sz, 4242 + i);
	}
	memc_close(c);
	fake_assert_done();
}

/* Read and drop whatever the client sends until it hangs up.  0 on EOF,
 * 1 on a timeout. */
static int fake_drain_until_eof(int cfd)
{
	struct pollfd pfd = {.fd = cfd, .events = POLLIN};
	char b[256];

	for (;;) {
		if (poll(&pfd, 1, REPLY_MS) <= 0)
			return 1;
		if (recv(cfd, b, sizeof(b), 0) <= 0)
			return 0;
	}
}

static int script_surplus(int cfd)
{
	struct memd_size_rep rep = {.size = 64};
	uint8_t frame[MEMD_HDR_SIZE + sizeof(rep) + MEMD_HDR_SIZE];
	struct memd_ref_req req;
	struct memd_hdr h;
	size_t len;

	if (fake_expect(cfd, MEMD_OP_SIZE, &h, &req, sizeof(req)) < 0)
		return 1;
	len = fake_frame(frame, &h, 0, &rep, sizeof(rep));
	memset(frame + len, 0xee, MEMD_HDR_SIZE); /* no header memd could send */
	if (fake_send(cfd, frame, len + MEMD_HDR_SIZE, NULL, 0) < 0)
		return 2;
	return fake_drain_until_eof(cfd) == 0 ? 0 : 3; /* the client must hang up */
}

Test(replies, client_never_takes_stray_bytes_for_a_reply, .fini = fake_fini)
{
	memc_client *c;
	size_t sz = 0;
	int rc;

	fake_start(script_surplus);
	c = fake_connect();
	/* A client that reads past the reply sees the stray bytes at once; one
	 * that reads exactly one frame meets them as the next reply.  Either
	 * way they never pass for a reply, and the error sticks. */
	rc = memc_size(c, memd_ref_make(3, 64), &sz);
	cr_assert(rc == -EPROTO || (rc == 0 && sz == 64), "reply then stray bytes: %d (%s)", rc,
	          memc_strerror(rc));
	rc = memc_size(c, memd_ref_make(3, 64), &sz);
	cr_assert_eq(rc, -EPROTO, "stray bytes read as a reply: %d (%s)", rc, memc_strerror(rc));
	fake_assert_done();
	rc = memc_size(c, memd_ref_make(3, 64), &sz);
	cr_assert_eq(rc, -EPROTO, "the error must stick: %d", rc);
	memc_close(c);
}

/* A memfd of FAKE_SEG_SIZE bytes standing in for a segment, or -1. */
static int fake_segment(void)
{
	int fd = memfd_create("memd-fake-seg", MFD_CLOEXEC);

	if (fd >= 0 && ftruncate(fd, FAKE_SEG_SIZE) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Answer a MAP with seg's fd on the first byte (split = false: one
 * sendmsg) or on the body (split = true: the header goes first, alone). */
static int fake_map_reply(int cfd, int seg, bool split)
{
	uint8_t frame[MEMD_HDR_SIZE + sizeof(struct memd_map_rep)];
	struct memd_map_rep rep = {.access = MEMD_ACCESS_READ | MEMD_ACCESS_WRITE,
	                           .size = FAKE_SEG_SIZE};
	struct memd_map_req req;
	struct memd_hdr h;

	if (fake_expect(cfd, MEMD_OP_MAP, &h, &req, sizeof(req)) < 0)
		return -1;
	rep.seg_id = req.seg_id;
	fake_frame(frame, &h, 0, &rep, sizeof(rep));
	if (!split)
		return fake_send(cfd, frame, sizeof(frame), &seg, 1);
	if (fake_send(cfd, frame, MEMD_HDR_SIZE, NULL, 0) < 0)
		return -1;
	sleep_ms(30);
	return fake_send(cfd, frame + MEMD_HDR_SIZE, sizeof(rep), &seg, 1);
}

/* Answer a SIZE with 100 if seg holds byte at off, else -EIO. */
static int fake_check_reply(int cfd, int seg, off_t off, uint8_t byte)
{
	struct memd_size_rep rep = {.size = 100};
	uint8_t frame[MEMD_HDR_SIZE + sizeof(rep)];
	struct memd_ref_req req;
	struct memd_hdr h;
	uint8_t b = 0;
	size_t len;

	if (fake_expect(cfd, MEMD_OP_SIZE, &h, &req, sizeof(req)) < 0)
		return -1;
	if (pread(seg, &b, 1, off) == 1 && b == byte)
		len = fake_frame(frame, &h, 0, &rep, sizeof(rep));
	else
		len = fake_frame(frame, &h, -EIO, NULL, 0);
	return fake_send(cfd, frame, len, NULL, 0);
}

static int script_map(int cfd)
{
	int a = fake_segment(), b = fake_segment();

	if (a < 0 || b < 0)
		return 1;
	if (fake_map_reply(cfd, a, true) < 0 || fake_check_reply(cfd, a, 4096, 0x5a) < 0)
		return 2;
	if (fake_map_reply(cfd, b, false) < 0 || fake_check_reply(cfd, b, 0, 0xa5) < 0)
		return 3;
	return fake_wait_eof(cfd) == 0 ? 0 : 4;
}

Test(replies, client_takes_the_segment_fd_from_any_byte_of_the_map_reply, .fini = fake_fini)
{
	memc_ref ref_a = memd_ref_make(7, 4096), ref_b = memd_ref_make(8, 0);
	memc_client *c;
	uint8_t *p;
	size_t sz = 0;
	int rc;

	fake_start(script_map);
	c = fake_connect();
	p = memc_ptr(c, ref_a); /* fd with the body, after the header */
	cr_assert_not_null(p, "MAP with the fd on the body: %s", strerror(errno));
	memset(p, 0x5a, 16);
	rc = memc_size(c, ref_a, &sz);
	cr_assert_eq(rc, 0, "the fake daemon does not see our write through the mapping: %d", rc);
	p = memc_ptr(c, ref_b); /* fd with the first byte, one piece */
	cr_assert_not_null(p, "MAP with the fd on the first byte: %s", strerror(errno));
	memset(p, 0xa5, 16);
	rc = memc_size(c, ref_b, &sz);
	cr_assert_eq(rc, 0, "the fake daemon does not see our write through the mapping: %d", rc);
	memc_close(c);
	fake_assert_done();
}

static int script_two_fds_split(int cfd)
{
	uint8_t frame[MEMD_HDR_SIZE + sizeof(struct memd_map_rep)];
	struct memd_map_rep rep = {.access = MEMD_ACCESS_READ, .size = FAKE_SEG_SIZE};
	struct memd_map_req req;
	struct memd_hdr h;
	int seg = fake_segment();

	if (seg < 0 || fake_expect(cfd, MEMD_OP_MAP, &h, &req, sizeof(req)) < 0)
		return 1;
	rep.seg_id = req.seg_id;
	fake_frame(frame, &h, 0, &rep, sizeof(rep));
	if (fake_send(cfd, frame, MEMD_HDR_SIZE, &seg, 1) < 0)
		return 2;
	sleep_ms(30);
	if (fake_send(cfd, frame + MEMD_HDR_SIZE, sizeof(rep), &seg, 1) < 0)
		return 3;
	return fake_wait_eof(cfd) == 0 ? 0 : 4;
}

static int script_two_fds_together(int cfd)
{
	uint8_t frame[MEMD_HDR_SIZE + sizeof(struct memd_map_rep)];
	struct memd_map_rep rep = {.access = MEMD_ACCESS_READ, .size = FAKE_SEG_SIZE};
	struct memd_map_req req;
	struct memd_hdr h;
	int segs[2] = {fake_segment(), fake_segment()};

	if (segs[0] < 0 || segs[1] < 0 || fake_expect(cfd, MEMD_OP_MAP, &h, &req, sizeof(req)) < 0)
		return 1;
	rep.seg_id = req.seg_id;
	fake_frame(frame, &h, 0, &rep, sizeof(rep));
	if (fake_send(cfd, frame, sizeof(frame), segs, 2) < 0)
		return 2;
	return fake_wait_eof(cfd) == 0 ? 0 : 3;
}

/* Run a MAP against a fake daemon that sends two fds; the client must
 * refuse the reply with EPROTO and keep neither fd. */
static void two_fds_refused(int (*script)(int cfd))
{
	memc_client *c;
	int fds0, fds;
	void *p;

	fake_start(script);
	c = fake_connect();
	fds0 = fd_count(0);
	errno = 0;
	p = memc_ptr(c, memd_ref_make(9, 0));
	cr_assert_null(p, "a MAP reply with two fds was accepted");
	cr_assert_eq(errno, EPROTO, "a MAP reply with two fds: %s", strerror(errno));
	fake_assert_done();
	fds = fd_count(0);
	cr_assert_eq(fds, fds0, "%d fds open before the bad reply, %d after", fds0, fds);
	memc_close(c);
}

Test(replies, client_refuses_a_second_fd_on_the_body, .fini = fake_fini)
{
	two_fds_refused(script_two_fds_split);
}

Test(replies, client_refuses_two_fds_on_one_byte, .fini = fake_fini)
{
	two_fds_refused(script_two_fds_together);
}

static int script_eof_in_body(int cfd)
{
	struct memd_size_rep rep = {.size = 64};
	uint8_t frame[MEMD_HDR_SIZE + sizeof(rep)];
	struct memd_ref_req req;
	struct memd_hdr h;

	if (fake_expect(cfd, MEMD_OP_SIZE, &h, &req, sizeof(req)) < 0)
		return 1;
	fake_frame(frame, &h, 0, &rep, sizeof(rep));
	if (fake_send(cfd, frame, MEMD_HDR_SIZE + 3, NULL, 0) < 0)
		return 2;
	sleep_ms(30);
	return 0; /* exit: the connection closes in the middle of the body */
}

Test(replies, client_reports_a_reply_cut_short_as_a_reset, .fini = fake_fini)
{
	memc_client *c;
	size_t sz = 0;
	int rc;

	fake_start(script_eof_in_body);
	c = fake_connect();
	rc = memc_size(c, memd_ref_make(3, 64), &sz);
	cr_assert_eq(rc, -ECONNRESET, "reply cut short: %d (%s)", rc, memc_strerror(rc));
	fake_assert_done();
	memc_close(c);
}
