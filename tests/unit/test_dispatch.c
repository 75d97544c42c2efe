/*
 * test_dispatch.c - the daemon's server, connections and handlers, in
 * process.
 *
 * Each test builds a real struct memd_server on a socket in a fresh temp
 * directory with a unique shm prefix, runs its loop on a second thread and
 * talks to it over raw sockets from the test thread.  The daemon is
 * stopped the way an operator stops it (SIGTERM; libuv forwards it to the
 * loop thread), and every test then checks that the loop closed cleanly,
 * that no segment is left in /dev/shm and that the socket file is gone.
 *
 * These tests look at what the integration suite cannot see from outside:
 * the back-pressure of a client that pipelines without reading (including
 * MAP replies whose fds must wait for libuv's queue to drain), the release
 * of a session's holds at EOF, per-ref FREE_BATCH results, and the
 * listener's stale-socket rules.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "proto.h"
#include "ref.h"
#include "server.h"
#include "sock.h"

/* One daemon under test. */
struct fixture {
	char dir[64];            /* temp directory holding socket and config */
	char sock[128];          /* socket path */
	struct memd_config cfg;  /* its configuration */
	struct memd_server *srv; /* the server (malloc'd: it is large) */
	pthread_t thread;        /* runs server_run */
	int run_rc;              /* server_run's result */
};

static struct fixture F;

static void *loop_thread(void *arg)
{
	struct fixture *f = arg;

	f->run_rc = server_run(f->srv);
	return NULL;
}

/* Start a daemon whose "default" pool has max_size/segment_size bytes. */
static void start(const char *max_size, const char *segment_size)
{
	char conf[160], err[256];
	FILE *fp;
	sigset_t set;

	strcpy(F.dir, "/tmp/memd-tdisp-XXXXXX");
	cr_assert_not_null(mkdtemp(F.dir));
	snprintf(F.sock, sizeof(F.sock), "%s/memd.sock", F.dir);
	snprintf(conf, sizeof(conf), "%s/memd.conf", F.dir);
	fp = fopen(conf, "w");
	cr_assert_not_null(fp);
	fprintf(fp,
	        "[memd]\nsocket_mode = 0600\n[pool default]\nmax_size = %s\nsegment_size = %s\n",
	        max_size, segment_size);
	fclose(fp);
	cr_assert_eq(config_load_file(&F.cfg, conf, err, sizeof(err)), 0, "%s", err);
	free(F.cfg.socket_path);
	F.cfg.socket_path = strdup(F.sock);
	snprintf(F.cfg.shm_prefix, sizeof(F.cfg.shm_prefix), "memdtd%d", (int)getpid());
	F.cfg.log_level = MEMD_LOG_WARN;
	log_set_level(F.cfg.log_level);
	F.srv = malloc(sizeof(*F.srv));
	cr_assert_not_null(F.srv);
	cr_assert_eq(server_init(F.srv, &F.cfg, err, sizeof(err)), 0, "%s", err);
	/* SIGTERM must reach libuv's handler, whichever thread takes it. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	cr_assert_eq(pthread_create(&F.thread, NULL, loop_thread, &F), 0);
}

/* SIGTERM the daemon and check it left nothing behind. */
static void stop(void)
{
	char shm[256];
	struct stat st;

	kill(getpid(), SIGTERM);
	pthread_join(F.thread, NULL);
	cr_expect_eq(F.run_rc, 0);
	cr_expect_eq(server_fini(F.srv), 0, "the loop closed with handles open");
	snprintf(shm, sizeof(shm), "/dev/shm/%s-default-1", F.cfg.shm_prefix);
	cr_expect_neq(stat(shm, &st), 0, "%s left behind", shm);
	cr_expect_neq(lstat(F.sock, &st), 0, "socket file left behind");
	free(F.srv);
	config_free(&F.cfg);
	unlink(F.sock);
	snprintf(shm, sizeof(shm), "%s/memd.conf", F.dir);
	unlink(shm);
	rmdir(F.dir);
}

static uint32_t next_id = 1;

static void send_frame(int fd, uint16_t op, const void *body, size_t len)
{
	uint8_t buf[MEMD_FRAME_MAX];
	struct memd_hdr h = {.len = (uint32_t)(MEMD_HDR_SIZE + len), .op = op, .id = next_id++};

	memcpy(buf, &h, sizeof(h));
	if (len > 0)
		memcpy(buf + sizeof(h), body, len);
	cr_assert_eq(sock_write_all(fd, buf, sizeof(h) + len), 0);
}

/* Read one reply; body into out (up to cap), fd into *fdp (or closed). */
static struct memd_hdr recv_frame(int fd, void *out, size_t cap, int *fdp)
{
	uint8_t body[MEMD_FRAME_MAX];
	struct memd_hdr h;
	int rfd = -1, bfd = -1;

	cr_assert_eq(sock_read_all_fd(fd, &h, sizeof(h), &rfd), 0, "connection closed");
	cr_assert_geq(h.len, MEMD_HDR_SIZE);
	if (h.len > MEMD_HDR_SIZE) {
		cr_assert_eq(sock_read_all_fd(fd, body, h.len - MEMD_HDR_SIZE, &bfd), 0);
		if (bfd >= 0)
			rfd = bfd;
		if (out != NULL)
			memcpy(out, body,
			       h.len - MEMD_HDR_SIZE < cap ? h.len - MEMD_HDR_SIZE : cap);
	}
	if (fdp != NULL)
		*fdp = rfd;
	else if (rfd >= 0)
		close(rfd);
	return h;
}

static int32_t call(int fd, uint16_t op, const void *body, size_t len, void *out, size_t cap)
{
	struct memd_hdr h;

	send_frame(fd, op, body, len);
	h = recv_frame(fd, out, cap, NULL);
	cr_assert_eq(h.op, op | MEMD_OP_REPLY);
	return h.status;
}

static int hello(uint32_t version, struct memd_hello_rep *rep)
{
	struct memd_hello_req req = {.version = version, .name = "test"};
	int fd = sock_connect_unix(F.sock);

	cr_assert_geq(fd, 0, "connect: %s", strerror(-fd));
	cr_assert_eq(call(fd, MEMD_OP_HELLO, &req, sizeof(req), rep, sizeof(*rep)), 0);
	return fd;
}

static uint32_t open_pool(int fd, const char *name)
{
	struct memd_pool_req req = {{0}};
	struct memd_pool_rep rep = {0};

	strcpy(req.name, name);
	cr_assert_eq(call(fd, MEMD_OP_POOL, &req, sizeof(req), &rep, sizeof(rep)), 0);
	return rep.pool_id;
}

static int32_t alloc(int fd, uint32_t pool, uint64_t size, uint64_t *ref)
{
	struct memd_alloc_req req = {.pool_id = pool, .size = size};
	struct memd_alloc_rep rep = {0};
	int32_t st = call(fd, MEMD_OP_ALLOC, &req, sizeof(req), &rep, sizeof(rep));

	*ref = rep.ref;
	return st;
}

static int32_t ref_op(int fd, uint16_t op, uint64_t ref)
{
	struct memd_ref_req req = {.ref = ref};

	return call(fd, op, &req, sizeof(req), NULL, 0);
}

/* Is the peer's end closed (EOF) within a second? */
static bool closed_by_daemon(int fd)
{
	struct timeval tv = {.tv_sec = 1};
	char c;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return recv(fd, &c, 1, 0) == 0;
}

/* Allocate 64 KiB blocks until the pool says -ENOMEM; the count. */
static int fill_pool(int fd, uint32_t pool)
{
	uint64_t ref;
	int n = 0;

	while (alloc(fd, pool, 64 * 1024, &ref) == 0)
		n++;
	return n;
}

Test(dispatch, hello_reports_versions_limits_and_session)
{
	struct memd_hello_rep rep = {0};
	int fd;

	start("1M", "1M");
	fd = hello(MEMD_PROTO_VERSION, &rep);
	cr_expect_eq(rep.version, MEMD_PROTO_VERSION);
	cr_expect_eq(rep.pid, (uint32_t)getpid());
	cr_expect_eq(rep.frame_max, MEMD_FRAME_MAX);
	cr_expect_eq(rep.batch_max, MEMD_BATCH_MAX);
	cr_expect_geq(rep.session, 1);
	close(fd);
	stop();
}

Test(dispatch, second_hello_is_einval_and_connection_stays)
{
	struct memd_hello_req req = {.version = MEMD_PROTO_VERSION, .name = "again"};
	struct memd_hello_rep rep = {0};
	int fd;

	start("1M", "1M");
	fd = hello(MEMD_PROTO_VERSION, &rep);
	cr_expect_eq(call(fd, MEMD_OP_HELLO, &req, sizeof(req), &rep, sizeof(rep)), -EINVAL);
	cr_expect_eq(rep.version, MEMD_PROTO_VERSION, "HELLO replies always carry the version");
	cr_expect_eq(open_pool(fd, "default"), 1);
	close(fd);
	stop();
}

Test(dispatch, longer_hello_of_a_newer_client_gets_eproto_with_our_version)
{
	uint8_t body[80] = {0};
	struct memd_hello_rep rep = {0};
	uint32_t v = MEMD_PROTO_VERSION + 1;
	int fd;

	start("1M", "1M");
	fd = sock_connect_unix(F.sock);
	memcpy(body, &v, sizeof(v));
	cr_expect_eq(call(fd, MEMD_OP_HELLO, body, sizeof(body), &rep, sizeof(rep)), -EPROTO);
	cr_expect_eq(rep.version, MEMD_PROTO_VERSION);
	cr_expect(closed_by_daemon(fd));
	close(fd);
	stop();
}

Test(dispatch, alloc_needs_a_pool_id_from_this_session)
{
	struct memd_hello_rep rep;
	uint64_t ref;
	int a, b;

	start("1M", "1M");
	a = hello(MEMD_PROTO_VERSION, &rep);
	b = hello(MEMD_PROTO_VERSION, &rep);
	cr_assert_eq(open_pool(a, "default"), 1);
	cr_expect_eq(alloc(b, 1, 100, &ref), -EINVAL, "b never sent POOL");
	cr_expect_eq(alloc(a, 1, 100, &ref), 0);
	close(a);
	close(b);
	stop();
}

Test(dispatch, shared_alloc_gives_a_block_another_session_can_retain)
{
	struct memd_alloc_req req = {.pool_id = 1, .size = 64, .flags = MEMD_ALLOC_SHARED};
	struct memd_alloc_rep arep;
	struct memd_ref_req rr;
	struct memd_hello_rep rep;
	int a, b;

	start("1M", "1M");
	a = hello(MEMD_PROTO_VERSION, &rep);
	b = hello(MEMD_PROTO_VERSION, &rep);
	open_pool(a, "default");
	cr_assert_eq(call(a, MEMD_OP_ALLOC, &req, sizeof(req), &arep, sizeof(arep)), 0);
	rr.ref = arep.ref;
	cr_expect_eq(call(b, MEMD_OP_RETAIN, &rr, sizeof(rr), NULL, 0), 0);
	cr_expect_eq(call(a, MEMD_OP_FREE, &rr, sizeof(rr), NULL, 0), 0);
	cr_expect_eq(call(b, MEMD_OP_SIZE, &rr, sizeof(rr), NULL, 0), 0);
	cr_expect_eq(call(b, MEMD_OP_FREE, &rr, sizeof(rr), NULL, 0), 0);
	cr_expect_eq(call(b, MEMD_OP_SIZE, &rr, sizeof(rr), NULL, 0), -EINVAL);
	close(a);
	close(b);
	stop();
}

Test(dispatch, free_distinguishes_held_foreign_and_dead_blocks)
{
	struct memd_hello_rep rep;
	uint64_t ref, size = 0;
	int a, b;

	start("1M", "1M");
	a = hello(MEMD_PROTO_VERSION, &rep);
	b = hello(MEMD_PROTO_VERSION, &rep);
	cr_assert_eq(alloc(a, open_pool(a, "default"), 1000, &ref), 0);
	cr_expect_eq(ref_op(b, MEMD_OP_FREE, ref), -EPERM, "b does not hold it");
	cr_expect_eq(ref_op(b, MEMD_OP_SIZE, ref), 0, "SIZE works for any live block");
	{
		struct memd_ref_req req = {.ref = ref};

		cr_expect_eq(call(b, MEMD_OP_SIZE, &req, sizeof(req), &size, sizeof(size)), 0);
		cr_expect_geq(size, 1000);
	}
	cr_expect_eq(ref_op(a, MEMD_OP_FREE, ref + 16), -EINVAL, "interior offset");
	cr_expect_eq(ref_op(a, MEMD_OP_FREE, ref), 0);
	cr_expect_eq(ref_op(a, MEMD_OP_FREE, ref), -EINVAL, "double free");
	cr_expect_eq(ref_op(b, MEMD_OP_FREE, ref), -EINVAL);
	cr_expect_eq(ref_op(a, MEMD_OP_SIZE, ref), -EINVAL);
	cr_expect_eq(ref_op(a, MEMD_OP_FREE, 0), -EINVAL);
	cr_expect_eq(ref_op(a, MEMD_OP_FREE, memd_ref_make(MEMD_SEG_ID_MAX, 0)), -EINVAL);
	close(a);
	close(b);
	stop();
}

Test(dispatch, batches_allocate_and_report_per_ref_results)
{
	uint8_t out[16 + 8 * MEMD_BATCH_MAX], in[8 + 8 * 5];
	struct memd_alloc_batch_req areq = {.size = 48, .count = 4};
	struct memd_free_batch_req freq = {.count = 5};
	struct memd_alloc_batch_rep arep;
	struct memd_free_batch_rep frep;
	struct memd_hello_rep rep;
	uint64_t refs[5];
	int32_t res[6];
	int fd;

	start("1M", "1M");
	fd = hello(MEMD_PROTO_VERSION, &rep);
	areq.pool_id = open_pool(fd, "default");
	cr_assert_eq(call(fd, MEMD_OP_ALLOC_BATCH, &areq, sizeof(areq), out, sizeof(out)), 0);
	memcpy(&arep, out, sizeof(arep));
	cr_assert_eq(arep.count, 4);
	cr_expect_geq(arep.size, 48);
	memcpy(refs, out + sizeof(arep), 4 * sizeof(uint64_t));
	refs[4] = refs[1]; /* freed twice in one batch: the second is refused */
	memcpy(in, &freq, sizeof(freq));
	memcpy(in + sizeof(freq), refs, sizeof(refs));
	cr_expect_eq(call(fd, MEMD_OP_FREE_BATCH, in, sizeof(in), out, sizeof(out)), -EINVAL);
	memcpy(&frep, out, sizeof(frep));
	memcpy(res, out + sizeof(frep), sizeof(res));
	cr_expect_eq(frep.count, 5);
	cr_expect(res[0] == 0 && res[1] == 0 && res[2] == 0 && res[3] == 0);
	cr_expect_eq(res[4], -EINVAL);
	cr_expect_eq(res[5], 0, "padding");
	close(fd);
	stop();
}

Test(dispatch, map_sends_a_segment_fd_that_maps_the_block)
{
	struct memd_map_req req = {0};
	struct memd_map_rep mrep = {0};
	struct memd_hello_rep rep;
	struct memd_hdr h;
	struct stat st;
	uint64_t ref;
	int fd, mfd;

	start("1M", "1M");
	fd = hello(MEMD_PROTO_VERSION, &rep);
	cr_assert_eq(alloc(fd, open_pool(fd, "default"), 4096, &ref), 0);
	req.seg_id = memd_ref_seg(ref);
	send_frame(fd, MEMD_OP_MAP, &req, sizeof(req));
	h = recv_frame(fd, &mrep, sizeof(mrep), &mfd);
	cr_assert_eq(h.status, 0);
	cr_assert_geq(mfd, 0, "no fd with the MAP reply");
	cr_expect_eq(mrep.seg_id, req.seg_id);
	cr_expect_eq(mrep.access, MEMD_ACCESS_READ | MEMD_ACCESS_WRITE);
	cr_assert_eq(fstat(mfd, &st), 0);
	cr_expect_eq((uint64_t)st.st_size, mrep.size);
	cr_expect_geq(mrep.size, memd_ref_off(ref) + 4096);
	close(mfd);
	req.seg_id = 4000;
	send_frame(fd, MEMD_OP_MAP, &req, sizeof(req));
	h = recv_frame(fd, NULL, 0, &mfd);
	cr_expect_eq(h.status, -EINVAL);
	cr_expect_lt(mfd, 0);
	close(fd);
	stop();
}

Test(dispatch, end_of_session_returns_every_held_block)
{
	struct memd_hello_rep rep;
	int a, b, n, again = 0, tries;

	start("1M", "1M");
	a = hello(MEMD_PROTO_VERSION, &rep);
	n = fill_pool(a, open_pool(a, "default"));
	cr_assert_gt(n, 0);
	b = hello(MEMD_PROTO_VERSION, &rep);
	cr_expect_eq(fill_pool(b, open_pool(b, "default")), 0, "the pool is full");
	close(a); /* EOF: a's blocks go back */
	for (tries = 0; tries < 100 && again == 0; tries++) {
		again = fill_pool(b, 1);
		if (again == 0)
			usleep(10000);
	}
	cr_expect_eq(again, n);
	close(b);
	stop();
}

/* A client that pipelines without reading: the daemon must stop reading
 * (bounded memory), keep fd replies in order, and answer everything once
 * the client reads. */
Test(dispatch, pipelining_without_reading_is_throttled_then_answered_in_order, .timeout = 60)
{
	enum { PER_CHUNK = 512 };
	uint8_t chunk[24 * PER_CHUNK], body[64];
	struct memd_hello_rep rep;
	uint64_t sent = 0, frames, i, fds = 0;
	int fd, stalls = 0, rfd;
	struct memd_hdr h;
	size_t off = 0;

	start("1M", "1M");
	fd = hello(MEMD_PROTO_VERSION, &rep);
	for (i = 0; i < PER_CHUNK; i++) {
		struct memd_hdr rh = {.len = 24, .op = i % 64 ? MEMD_OP_SIZE : MEMD_OP_MAP};
		uint64_t arg = i % 64 ? 0 : 1; /* SIZE of ref 0; MAP of segment 1 */

		rh.id = (uint32_t)i;
		memcpy(chunk + i * 24, &rh, 16);
		memcpy(chunk + i * 24 + 16, &arg, 8);
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (stalls < 10) {
		ssize_t n = send(fd, chunk + off, sizeof(chunk) - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN) {
			stalls++;
			usleep(20000);
			continue;
		}
		cr_assert_gt(n, 0, "send: %s", strerror(errno));
		stalls = 0;
		sent += (uint64_t)n;
		off = (off + (size_t)n) % sizeof(chunk);
	}
	/* Daemon-side buffering is bounded: the kernel buffers plus about
	 * CONN_OUT_HIGH of replies, nowhere near what a daemon that kept
	 * reading would have accepted by now. */
	cr_expect_lt(sent, 16u * 1024 * 1024, "the daemon never stopped reading");
	fcntl(fd, F_SETFL, 0);
	frames = sent / 24;
	if (off % 24 != 0) {
		/* Finish the partial frame once the daemon reads again. */
		frames++;
	}
	for (i = 0; i < frames; i++) {
		uint16_t want = (i % PER_CHUNK) % 64 ? MEMD_OP_SIZE : MEMD_OP_MAP;

		if (i == frames / 2 && off % 24 != 0)
			cr_assert_eq(sock_write_all(fd, chunk + off, 24 - off % 24), 0);
		h = recv_frame(fd, body, sizeof(body), &rfd);
		cr_assert_eq(h.op, want | MEMD_OP_REPLY, "reply %llu out of order",
		             (unsigned long long)i);
		cr_assert_eq(h.id, (uint32_t)(i % PER_CHUNK));
		if (want == MEMD_OP_MAP) {
			cr_assert_eq(h.status, 0);
			cr_assert_geq(rfd, 0, "MAP reply %llu lost its fd", (unsigned long long)i);
			fds++;
		} else {
			cr_assert_eq(h.status, -EINVAL);
			cr_assert_lt(rfd, 0);
		}
		if (rfd >= 0)
			close(rfd);
	}
	cr_expect_gt(fds, 0);
	close(fd);
	stop();
}

Test(dispatch, a_second_daemon_on_a_live_socket_is_refused)
{
	struct memd_config cfg2 = {0};
	struct memd_server *srv2 = malloc(sizeof(*srv2));
	char err[256];

	start("1M", "1M");
	cr_assert_eq(config_load_file(&cfg2, NULL, err, sizeof(err)), 0);
	free(cfg2.socket_path);
	cfg2.socket_path = strdup(F.sock);
	snprintf(cfg2.shm_prefix, sizeof(cfg2.shm_prefix), "memdtd%d-b", (int)getpid());
	cr_expect_eq(server_init(srv2, &cfg2, err, sizeof(err)), -EADDRINUSE);
	cr_expect(strstr(err, "another memd") != NULL, "message: %s", err);
	config_free(&cfg2);
	free(srv2);
	stop();
}

Test(dispatch, a_stale_socket_file_is_replaced_and_mode_applied)
{
	struct sockaddr_un sa;
	socklen_t len;
	struct stat st;
	char dir[] = "/tmp/memd-tstale-XXXXXX", path[128];
	int fd;

	/* Leave a bound but unlistened socket behind, as a killed daemon
	 * would: connecting to it is refused. */
	log_set_level(MEMD_LOG_WARN);
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/memd.sock", dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(sock_unix_addr(path, &sa, &len), 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, len), 0);
	close(fd);
	{
		char err[256];
		struct memd_config cfg2 = {0};
		struct memd_server *srv2 = malloc(sizeof(*srv2));

		cr_assert_eq(config_load_file(&cfg2, NULL, err, sizeof(err)), 0);
		free(cfg2.socket_path);
		cfg2.socket_path = strdup(path);
		cfg2.socket_mode = 0600;
		snprintf(cfg2.shm_prefix, sizeof(cfg2.shm_prefix), "memdtd%d-s", (int)getpid());
		cr_assert_eq(server_init(srv2, &cfg2, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(stat(path, &st), 0);
		cr_expect(S_ISSOCK(st.st_mode));
		cr_expect_eq(st.st_mode & 0777, 0600);
		server_stop(srv2);
		cr_expect_eq(server_run(srv2), 0);
		cr_expect_eq(server_fini(srv2), 0);
		cr_expect_neq(lstat(path, &st), 0, "socket file left behind");
		config_free(&cfg2);
		free(srv2);
	}
	rmdir(dir);
}

Test(dispatch, alloc_batch_stops_at_the_client_quota_and_may_allocate_shared)
{
	struct memd_alloc_batch_req req = {.pool_id = 1, .size = 16384, .count = 8};
	struct {
		struct memd_alloc_batch_rep h;
		uint64_t refs[8];
	} rep;
	struct memd_hello_rep hrep;
	struct memd_ref_req rr;
	int a, b;

	start("4M", "1M");
	/* No client is connected yet: the loop thread is idle. */
	F.srv->pools.pools[0].cfg.client_quota = 65536;
	a = hello(MEMD_PROTO_VERSION, &hrep);
	b = hello(MEMD_PROTO_VERSION, &hrep);
	open_pool(a, "default");
	cr_assert_eq(call(a, MEMD_OP_ALLOC_BATCH, &req, sizeof(req), &rep, sizeof(rep)), 0);
	cr_expect_eq(rep.h.count, 4, "4 x 16K fill a 64K quota");
	cr_expect_eq(call(a, MEMD_OP_ALLOC_BATCH, &req, sizeof(req), &rep, sizeof(rep)), -EDQUOT);
	rr.ref = rep.refs[0];
	cr_expect_eq(call(b, MEMD_OP_RETAIN, &rr, sizeof(rr), NULL, 0), -EPERM, "private");
	cr_assert_eq(call(a, MEMD_OP_FREE, &rr, sizeof(rr), NULL, 0), 0);
	req.flags = MEMD_ALLOC_SHARED;
	cr_assert_eq(call(a, MEMD_OP_ALLOC_BATCH, &req, sizeof(req), &rep, sizeof(rep)), 0);
	cr_expect_eq(rep.h.count, 1, "room for one more");
	rr.ref = rep.refs[0];
	cr_expect_eq(call(b, MEMD_OP_RETAIN, &rr, sizeof(rr), NULL, 0), 0, "shared");
	close(a);
	close(b);
	stop();
}

/* ---- sharing model ------------------------------------------------------
 *
 * Random SHARE/RETAIN/FREE/PUBLISH/LOOKUP/UNPUBLISH/ALLOC and client
 * exits over three sessions, each reply compared with a simple model of
 * DESIGN.md section 3: per-session hold counts and name bindings per
 * block; a block lives while any count or name remains.  After every step
 * one block's liveness is checked with SIZE. */

#define MODEL_SESSIONS 3
#define MODEL_BLOCKS   64
#define MODEL_NAMES    4

struct model_block {
	uint64_t ref;                   /* 0: slot unused */
	bool live;                      /* allocated and not yet freed */
	bool shared;                    /* in the daemon's block table */
	uint32_t holds[MODEL_SESSIONS]; /* holds of each session */
	uint32_t names;                 /* names bound to it */
};

struct model {
	int fd[MODEL_SESSIONS];             /* connection of each session */
	struct model_block b[MODEL_BLOCKS]; /* blocks ever seen */
	int name_of[MODEL_NAMES];           /* block index a name binds, -1 */
	uint64_t rng;                       /* xorshift state */
};

static uint32_t model_rand(struct model *m, uint32_t n)
{
	m->rng ^= m->rng << 13;
	m->rng ^= m->rng >> 7;
	m->rng ^= m->rng << 17;
	return (uint32_t)(m->rng % n);
}

static void model_settle(struct model_block *b)
{
	uint32_t sum = b->names;

	for (int s = 0; s < MODEL_SESSIONS; s++)
		sum += b->holds[s];
	if (sum == 0) {
		b->live = false;
		b->shared = false;
	}
}

static void model_name_req(struct memd_name_req *r, int k)
{
	memset(r, 0, sizeof(*r));
	r->len = (uint32_t)snprintf(r->name, sizeof(r->name), "name %d", k);
}

static void model_alloc(struct model *m, int s)
{
	bool shared = model_rand(m, 2);
	struct memd_alloc_req req = {.pool_id = 1,
	                             .size = 16 + model_rand(m, 3) * 3000,
	                             .flags = shared ? MEMD_ALLOC_SHARED : 0};
	struct memd_alloc_rep rep;
	int i, free_slot = -1;

	cr_assert_eq(call(m->fd[s], MEMD_OP_ALLOC, &req, sizeof(req), &rep, sizeof(rep)), 0);
	for (i = 0; i < MODEL_BLOCKS; i++) {
		if (m->b[i].ref == rep.ref) {
			cr_assert_not(m->b[i].live, "ref %#llx handed out twice",
			              (unsigned long long)rep.ref);
			break;
		}
		if (free_slot < 0 && (m->b[i].ref == 0 || !m->b[i].live))
			free_slot = i;
	}
	if (i == MODEL_BLOCKS)
		i = free_slot;
	cr_assert_geq(i, 0, "model full");
	m->b[i] = (struct model_block){.ref = rep.ref, .live = true, .shared = shared};
	m->b[i].holds[s] = 1;
}

static void model_step(struct model *m)
{
	int s = (int)model_rand(m, MODEL_SESSIONS), k = (int)model_rand(m, MODEL_NAMES);
	int bi = (int)model_rand(m, MODEL_BLOCKS);
	struct model_block *b = &m->b[bi];
	uint32_t op = model_rand(m, 20);
	struct memd_publish_req pr;
	struct memd_name_req nr;
	struct memd_lookup_rep lr;
	int32_t want, got;

	if (op < 4 || b->ref == 0) {
		model_alloc(m, s);
		return;
	}
	if (op < 8) { /* FREE */
		want = !b->live ? -EINVAL : b->holds[s] == 0 ? -EPERM : 0;
		got = ref_op(m->fd[s], MEMD_OP_FREE, b->ref);
		if (want == 0) {
			b->holds[s]--;
			model_settle(b);
		}
	} else if (op < 10) { /* SHARE */
		want = !b->live ? -EINVAL : b->holds[s] == 0 ? -EPERM : 0;
		got = ref_op(m->fd[s], MEMD_OP_SHARE, b->ref);
		if (want == 0)
			b->shared = true;
	} else if (op < 13) { /* RETAIN */
		want = !b->live ? -EINVAL : !b->shared ? -EPERM : 0;
		got = ref_op(m->fd[s], MEMD_OP_RETAIN, b->ref);
		if (want == 0)
			b->holds[s]++;
	} else if (op < 15) { /* PUBLISH */
		memset(&pr, 0, sizeof(pr));
		pr.ref = b->ref;
		pr.len = (uint32_t)snprintf(pr.name, sizeof(pr.name), "name %d", k);
		want = !b->live             ? -EINVAL
		       : b->holds[s] == 0   ? -EPERM
		       : m->name_of[k] >= 0 ? -EEXIST
		                            : 0;
		got = call(m->fd[s], MEMD_OP_PUBLISH, &pr, sizeof(pr), NULL, 0);
		if (want == 0) {
			b->shared = true;
			b->names++;
			m->name_of[k] = bi;
		}
	} else if (op < 17) { /* LOOKUP */
		model_name_req(&nr, k);
		want = m->name_of[k] < 0 ? -ENOENT : 0;
		got = call(m->fd[s], MEMD_OP_LOOKUP, &nr, sizeof(nr), &lr, sizeof(lr));
		if (want == 0 && got == 0) {
			cr_assert_eq(lr.ref, m->b[m->name_of[k]].ref);
			m->b[m->name_of[k]].holds[s]++;
		}
	} else if (op < 19) { /* UNPUBLISH */
		model_name_req(&nr, k);
		want = m->name_of[k] < 0 ? -ENOENT : 0;
		got = call(m->fd[s], MEMD_OP_UNPUBLISH, &nr, sizeof(nr), NULL, 0);
		if (want == 0) {
			m->b[m->name_of[k]].names--;
			model_settle(&m->b[m->name_of[k]]);
			m->name_of[k] = -1;
		}
	} else { /* the client goes away: every hold of s drops */
		struct memd_hello_rep hrep;
		bool wait = false;

		close(m->fd[s]);
		for (int i = 0; i < MODEL_BLOCKS; i++) {
			m->b[i].holds[s] = 0;
			if (m->b[i].live) {
				model_settle(&m->b[i]);
				wait |= !m->b[i].live;
			}
		}
		m->fd[s] = hello(MEMD_PROTO_VERSION, &hrep);
		cr_assert_eq(open_pool(m->fd[s], "default"), 1);
		/* Blocks that died with the client die when the daemon sees
		 * its EOF: wait for that before going on. */
		for (int i = 0; wait && i < MODEL_BLOCKS; i++)
			for (int t = 0; m->b[i].ref && !m->b[i].live && t < 1000; t++) {
				if (ref_op(m->fd[s], MEMD_OP_SIZE, m->b[i].ref) == -EINVAL)
					break;
				usleep(1000);
			}
		return;
	}
	cr_assert_eq(got, want, "op %u session %d block %d: got %d want %d", op, s, bi, got, want);
}

Test(dispatch, random_sharing_matches_the_hold_model, .timeout = 60)
{
	struct memd_hello_rep hrep;
	struct model m;

	memset(&m, 0, sizeof(m));
	m.rng = 0x9e3779b97f4a7c15ull;
	for (int k = 0; k < MODEL_NAMES; k++)
		m.name_of[k] = -1;
	start("16M", "1M");
	for (int s = 0; s < MODEL_SESSIONS; s++) {
		m.fd[s] = hello(MEMD_PROTO_VERSION, &hrep);
		cr_assert_eq(open_pool(m.fd[s], "default"), 1);
	}
	for (int step = 0; step < 20000; step++) {
		struct model_block *b = &m.b[model_rand(&m, MODEL_BLOCKS)];

		model_step(&m);
		if (b->ref != 0)
			cr_assert_eq(ref_op(m.fd[0], MEMD_OP_SIZE, b->ref), b->live ? 0 : -EINVAL,
			             "step %d: liveness of %#llx", step,
			             (unsigned long long)b->ref);
	}
	for (int s = 0; s < MODEL_SESSIONS; s++)
		close(m.fd[s]);
	stop();
}
