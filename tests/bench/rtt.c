/*
 * rtt.c - `memd-bench rtt`: one request/response through libmemclient and
 * memd against a bare one over a Unix socket pair, in the same run.
 *
 * The daemon side: memc_size() on a live block too large for the client's
 * per-thread caches (client/cache.c answers the size of its own small
 * blocks without a round trip), so libmemclient must ask the daemon
 * (client.c: memc_size -> client_call_ref(SIZE)) and memd must look the
 * block up to answer.  Its frames: a 24-byte request (16-byte header + memd_ref_req)
 * and a 24-byte reply (header + memd_size_rep).
 *
 * The bare side: the same sizes over socketpair(AF_UNIX, SOCK_STREAM)
 * between this process and a forked child: the parent write()s 24 bytes,
 * the child read()s them fully and write()s 24 bytes back, the parent
 * read()s them fully.  No framing, no event loop, no lookup: what any
 * request/response over a local socket must cost.
 *
 * Timing: every iteration is timed on its own (CLOCK_MONOTONIC through the
 * vDSO, ~20 ns, small against ~10 us).  A run is --iters iterations of each
 * kind, after a warm-up of max(1000, iters / 10) of each, done in chunks of
 * RTT_CHUNK iterations that alternate between the kinds (which kind goes
 * first alternates too), so both see the same background load on a shared
 * machine while each chunk is still a steady stream of one kind.  A run's
 * figure is the median of its iterations (p10 and p90 are printed too); the
 * summary takes the median of the runs' medians for each kind, and "ratio"
 * is daemon_ns / bare_ns of those.
 *
 * --detail adds two diagnostic kinds to the same interleaving, to show
 * where the daemon's extra time goes: "bare_epoll" is the bare exchange
 * with a peer that waits in epoll_wait() before each read(), as memd's
 * libuv loop does; "bare_split" is the bare exchange with the client side
 * of libmemclient's transport: send(MSG_NOSIGNAL), then recvmsg() of the
 * 16-byte header and recvmsg() of the 8-byte body.
 *
 * The daemon is a private memd (memd_proc.h) unless --socket names one.
 *
 * CPUs: by default (when at least two CPUs are allowed) the client, this
 * process, is pinned to the first allowed CPU and both servers, memd and
 * the bare peer, to the last one, so both kinds pay the same cross-CPU
 * wakeups and share the same CPU with whatever else runs there.  Unpinned
 * (--no-pin), on a busy 2-CPU machine one server or the other can end up
 * sharing a CPU with a CPU-bound process for a whole run and the ratio
 * swings from 0.5 to 2.5 from one run to the next; pinned, both suffer
 * alike.  A memd given by --socket is not pinned by us.
 */
#include "bench.h"
#include "memd_proc.h"

#include "memclient.h"
#include "proto.h"
#include "sizeclass.h"

#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define RTT_REQ_BYTES (MEMD_HDR_SIZE + sizeof(struct memd_ref_req))
#define RTT_REP_BYTES (MEMD_HDR_SIZE + sizeof(struct memd_size_rep))
#define RTT_BLOCK     (MEMD_SMALL_MAX + 1) /* memc_size's block: never a cached one */
#define RTT_CHUNK     10                   /* iterations of one kind before switching */

_Static_assert(RTT_REQ_BYTES == 24 && RTT_REP_BYTES == 24, "SIZE frames are 24 bytes");

/* What is timed.  The first two always, the others with --detail. */
enum rtt_kind { K_BARE, K_DAEMON, K_EPOLL, K_SPLIT, K_COUNT };

static const char *const kind_name[K_COUNT] = {[K_BARE] = "bare",
                                               [K_DAEMON] = "daemon",
                                               [K_EPOLL] = "bare_epoll",
                                               [K_SPLIT] = "bare_split"};

struct rtt_opts {
	const char *socket;  /* --socket, or NULL: private memd */
	unsigned long iters; /* --iters: timed iterations per run and kind */
	unsigned long runs;  /* --runs */
	bool pin;            /* not --no-pin */
	bool detail;         /* --detail */
};

/* What the kinds need during a run. */
struct rtt_ctx {
	memc_client *c;          /* connected client */
	memc_ref ref;            /* the live block */
	int fd[K_COUNT];         /* bare kinds: our end of the socket pair; else -1 */
	pid_t peer[K_COUNT];     /* bare kinds: the peer process; else 0 */
	double *sample[K_COUNT]; /* per-iteration times of each kind measured, ns */
	int nkinds;              /* 2, or K_COUNT with --detail */
	int client_cpu;          /* CPU this process is pinned to, or -1 */
	int server_cpu;          /* CPU of memd and the bare peers, or -1 */
};

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A bare peer: answer every 24-byte request with 24 bytes until EOF; with
 * use_epoll, wait in epoll_wait() before each read as an event loop does.
 * Never returns. */
static void bare_peer(int fd, bool use_epoll)
{
	unsigned char req[RTT_REQ_BYTES], rep[RTT_REP_BYTES];
	struct epoll_event ev = {.events = EPOLLIN};
	int ep = -1;

	memset(rep, 0x5a, sizeof rep);
	if (use_epoll) {
		ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			_exit(1);
	}
	for (;;) {
		if (use_epoll) {
			int n = epoll_wait(ep, &ev, 1, -1);

			if (n < 0 && errno == EINTR)
				continue;
			if (n != 1)
				_exit(1);
		}
		if (!bench_read_full(fd, req, sizeof req))
			_exit(0);
		if (!bench_write_full(fd, rep, sizeof rep))
			_exit(1);
	}
}

/* libmemclient's way of reading a reply: recvmsg of exactly len bytes
 * (with room for ancillary data, as sock_recv_fd has).  true on success. */
static bool recvmsg_full(int fd, void *buf, size_t len)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	unsigned char *p = buf;

	while (len > 0) {
		struct iovec iov = {.iov_base = p, .iov_len = len};
		struct msghdr msg = {.msg_iov = &iov,
		                     .msg_iovlen = 1,
		                     .msg_control = ctl.buf,
		                     .msg_controllen = sizeof ctl.buf};
		ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* One request/response of kind k.  true on success. */
static inline bool once(const struct rtt_ctx *x, int k)
{
	unsigned char req[RTT_REQ_BYTES], rep[RTT_REP_BYTES];
	size_t sz = 0;

	if (k == K_DAEMON)
		return memc_size(x->c, x->ref, &sz) == 0 && sz >= RTT_BLOCK;
	memset(req, 0xa5, sizeof req);
	if (k == K_SPLIT)
		return send(x->fd[k], req, sizeof req, MSG_NOSIGNAL) == (ssize_t)sizeof req &&
		       recvmsg_full(x->fd[k], rep, MEMD_HDR_SIZE) &&
		       recvmsg_full(x->fd[k], rep + MEMD_HDR_SIZE, RTT_REP_BYTES - MEMD_HDR_SIZE);
	return bench_write_full(x->fd[k], req, sizeof req) &&
	       bench_read_full(x->fd[k], rep, sizeof rep);
}

/* n untimed iterations of kind k.  true on success. */
static bool warm(const struct rtt_ctx *x, int k, unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		if (!once(x, k))
			return false;
	return true;
}

/* Figures of one batch, ns. */
struct rtt_batch {
	double median, mean, p10, p90;
};

/* Time n iterations of kind k into v[0..n); add their total to *sum.
 * true on success. */
static bool timed(const struct rtt_ctx *x, int k, double *v, unsigned long n, double *sum)
{
	for (unsigned long i = 0; i < n; i++) {
		uint64_t t0 = now_ns(), t1;
		bool ok = once(x, k);

		t1 = now_ns();
		if (!ok)
			return false;
		v[i] = (double)(t1 - t0);
		*sum += v[i];
	}
	return true;
}

/* Summarize n samples (sorted in place) and their sum. */
static void summarize(double *v, unsigned long n, double sum, struct rtt_batch *b)
{
	b->mean = sum / (double)n;
	b->median = bench_median(v, n);
	b->p10 = v[n / 10];
	b->p90 = v[n * 9 / 10];
}

/* One run: iters of each kind in rotating chunks.  true on success, else
 * *failed is the kind that failed. */
static bool run_kinds(struct rtt_ctx *x, unsigned long iters, unsigned long run,
                      struct rtt_batch b[K_COUNT], int *failed)
{
	double sum[K_COUNT] = {0};
	unsigned long done = 0, chunk = 0;

	while (done < iters) {
		unsigned long n = iters - done < RTT_CHUNK ? iters - done : RTT_CHUNK;

		for (int i = 0; i < x->nkinds; i++) {
			int k = (int)((i + run + chunk) % (unsigned long)x->nkinds);

			if (!timed(x, k, x->sample[k] + done, n, &sum[k])) {
				*failed = k;
				return false;
			}
		}
		done += n;
		chunk++;
	}
	for (int k = 0; k < x->nkinds; k++)
		summarize(x->sample[k], iters, sum[k], &b[k]);
	return true;
}

static int parse(int argc, char **argv, struct rtt_opts *o)
{
	static const struct option longopts[] = {
	        {"socket", required_argument, NULL, 's'},
	        {"iters", required_argument, NULL, 'i'},
	        {"runs", required_argument, NULL, 'r'},
	        {"no-pin", no_argument, NULL, 'n'},
	        {"detail", no_argument, NULL, 'd'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	int ch;

	*o = (struct rtt_opts){.iters = 20000, .runs = 5, .pin = true};
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		if (ch == 's')
			o->socket = optarg;
		else if (ch == 'n')
			o->pin = false;
		else if (ch == 'd')
			o->detail = true;
		else if (ch == 'i' && !bench_parse_uint(optarg, 10, 10000000, &o->iters))
			return bench_usage_error("--iters wants a number from 10 to 10000000",
			                         optarg);
		else if (ch == 'r' && !bench_parse_uint(optarg, 1, 1000, &o->runs))
			return bench_usage_error("--runs wants a number from 1 to 1000", optarg);
		else if (ch == 'h') {
			printf("usage: memd-bench rtt [--socket PATH] [--iters N] [--runs N] "
			       "[--no-pin] [--detail]\n"
			       "  --iters  timed iterations per run and kind (default 20000)\n"
			       "  --runs   runs; the summary is the median of their medians "
			       "(default "
			       "5)\n"
			       "  --no-pin leave the CPUs to the scheduler (default: client on the "
			       "first\n           allowed CPU, memd and the bare peers on the "
			       "last)\n"
			       "  --detail also time bare_epoll (peer waits in epoll_wait) and "
			       "bare_split\n           (client reads header and body apart, as "
			       "libmemclient does)\n");
			return -1;
		} else if (ch == ':')
			return bench_usage_error("option needs an argument", argv[optind - 1]);
		else if (ch == '?')
			return bench_usage_error("unknown option", argv[optind - 1]);
	}
	if (optind < argc)
		return bench_usage_error("unexpected argument", argv[optind]);
	return 0;
}

/* The first and the last CPU this process may run on; false if it may
 * run on one only (or the mask cannot be read). */
static bool pick_cpus(int *client, int *server)
{
	cpu_set_t set;

	*client = *server = -1;
	if (sched_getaffinity(0, sizeof set, &set) < 0)
		return false;
	for (int i = 0; i < CPU_SETSIZE; i++) {
		if (!CPU_ISSET(i, &set))
			continue;
		if (*client < 0)
			*client = i;
		*server = i;
	}
	return *client >= 0 && *server != *client;
}

/* Set "<kind>_<what>" in j. */
static void set_kind(json_t *j, int k, const char *what, double v)
{
	char key[48];

	snprintf(key, sizeof key, "%s_%s", kind_name[k], what);
	json_object_set_new(j, key, json_real(v));
}

/* The runs proper, once everything is set up.  0 or an exit status. */
static int rtt_measure(struct rtt_ctx *x, const struct rtt_opts *o)
{
	unsigned long n = o->runs;
	unsigned long warmup = o->iters / 10 > 1000 ? o->iters / 10 : 1000;
	double *med[K_COUNT], *mean[K_COUNT], *p10[K_COUNT];
	double *all = calloc(3 * K_COUNT * n, sizeof(double));
	struct rtt_batch b[K_COUNT];
	int failed = 0, rc = 1;
	json_t *j;

	if (!all) {
		fprintf(stderr, "memd-bench: out of memory\n");
		return 1;
	}
	for (int k = 0; k < K_COUNT; k++) {
		med[k] = all + (3 * k) * n;
		mean[k] = all + (3 * k + 1) * n;
		p10[k] = all + (3 * k + 2) * n;
	}
	for (unsigned long r = 0; r < n; r++) {
		for (int k = 0; k < x->nkinds; k++)
			if (!warm(x, k, warmup)) {
				failed = k;
				goto fail;
			}
		if (!run_kinds(x, o->iters, r, b, &failed))
			goto fail;
		j = json_object();
		json_object_set_new(j, "bench", json_string("rtt"));
		json_object_set_new(j, "run", json_integer((json_int_t)r + 1));
		json_object_set_new(j, "iters", json_integer((json_int_t)o->iters));
		json_object_set_new(j, "daemon_ns", json_real(b[K_DAEMON].median));
		json_object_set_new(j, "bare_ns", json_real(b[K_BARE].median));
		json_object_set_new(j, "ratio", json_real(b[K_DAEMON].median / b[K_BARE].median));
		for (int k = 0; k < x->nkinds; k++) {
			med[k][r] = b[k].median;
			mean[k][r] = b[k].mean;
			p10[k][r] = b[k].p10;
			if (k >= K_EPOLL)
				set_kind(j, k, "ns", b[k].median);
			set_kind(j, k, "mean_ns", b[k].mean);
			set_kind(j, k, "p10_ns", b[k].p10);
			set_kind(j, k, "p90_ns", b[k].p90);
		}
		bench_emit(j);
	}
	{
		double dm = bench_median(med[K_DAEMON], n), bm = bench_median(med[K_BARE], n);
		double dp = bench_median(p10[K_DAEMON], n), bp = bench_median(p10[K_BARE], n);

		j = json_object();
		json_object_set_new(j, "bench", json_string("rtt"));
		json_object_set_new(j, "runs", json_integer((json_int_t)n));
		json_object_set_new(j, "iters", json_integer((json_int_t)o->iters));
		json_object_set_new(j, "daemon_ns", json_real(dm));
		json_object_set_new(j, "bare_ns", json_real(bm));
		json_object_set_new(j, "ratio", json_real(dm / bm));
		for (int k = K_EPOLL; k < x->nkinds; k++)
			set_kind(j, k, "ns", bench_median(med[k], n));
		for (int k = 0; k < x->nkinds; k++)
			set_kind(j, k, "mean_ns", bench_median(mean[k], n));
		for (int k = 0; k < x->nkinds; k++)
			set_kind(j, k, "p10_ns", bench_median(p10[k], n));
		json_object_set_new(j, "ratio_p10", json_real(dp / bp));
		json_object_set_new(j, "req_bytes", json_integer(RTT_REQ_BYTES));
		json_object_set_new(j, "rep_bytes", json_integer(RTT_REP_BYTES));
		json_object_set_new(j, "memd", json_string(o->socket ? o->socket : "private"));
		json_object_set_new(j, "client_cpu",
		                    x->client_cpu >= 0 ? json_integer(x->client_cpu) : json_null());
		json_object_set_new(j, "server_cpu",
		                    x->server_cpu >= 0 ? json_integer(x->server_cpu) : json_null());
		bench_emit(j);
	}
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "memd-bench: rtt: a %s request failed\n", kind_name[failed]);
out:
	free(all);
	return rc;
}

/* Start the bare peer of kind k (a socket pair and a forked process).
 * 0, or -1 after printing why. */
static int peer_start(struct rtt_ctx *x, int k)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		fprintf(stderr, "memd-bench: socketpair: %s\n", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "memd-bench: fork: %s\n", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		for (int i = 0; i < K_COUNT; i++)
			if (x->fd[i] >= 0)
				close(x->fd[i]);
		if (x->server_cpu >= 0 && memd_proc_pin(x->server_cpu) < 0)
			_exit(1);
		bare_peer(sv[1], k == K_EPOLL);
	}
	close(sv[1]);
	x->fd[k] = sv[0];
	x->peer[k] = pid;
	return 0;
}

/* Close the bare peers' sockets (they exit on EOF) and reap them. */
static void peers_stop(struct rtt_ctx *x)
{
	for (int k = 0; k < K_COUNT; k++) {
		int ws;

		if (x->fd[k] >= 0)
			close(x->fd[k]);
		x->fd[k] = -1;
		while (x->peer[k] > 0 && waitpid(x->peer[k], &ws, 0) < 0 && errno == EINTR)
			;
		x->peer[k] = 0;
	}
}

int cmd_rtt(int argc, char **argv)
{
	struct rtt_ctx x = {.client_cpu = -1, .server_cpu = -1};
	struct memd_proc m = {0};
	struct rtt_opts o;
	int err, rc = parse(argc, argv, &o);
	void *p;

	if (rc != 0)
		return rc < 0 ? 0 : rc;
	for (int k = 0; k < K_COUNT; k++)
		x.fd[k] = -1;
	x.nkinds = o.detail ? K_COUNT : 2;
	rc = 1;
	for (int k = 0; k < x.nkinds; k++) {
		x.sample[k] = calloc(o.iters, sizeof(double));
		if (!x.sample[k]) {
			fprintf(stderr, "memd-bench: out of memory\n");
			goto out_free;
		}
	}
	if (o.pin && !pick_cpus(&x.client_cpu, &x.server_cpu))
		x.client_cpu = x.server_cpu = -1;
	/* The bare peers first, so they inherit nothing of memd's. */
	for (int k = 0; k < x.nkinds; k++)
		if (k != K_DAEMON && peer_start(&x, k) < 0)
			goto out_peers;
	if (!o.socket && memd_proc_start(&m, x.server_cpu) < 0)
		goto out_peers;
	if (x.client_cpu >= 0 && memd_proc_pin(x.client_cpu) < 0) {
		fprintf(stderr, "memd-bench: cannot pin to CPU %d: %s\n", x.client_cpu,
		        strerror(errno));
		goto out_memd;
	}
	err = memc_connect(o.socket ? o.socket : m.sock, &x.c);
	if (err < 0) {
		fprintf(stderr, "memd-bench: memc_connect: %s\n", memc_strerror(err));
		goto out_memd;
	}
	err = memc_alloc(x.c, NULL, RTT_BLOCK, 0, &x.ref);
	if (err < 0) {
		fprintf(stderr, "memd-bench: memc_alloc: %s\n", memc_strerror(err));
		goto out_close;
	}
	p = memc_ptr(x.c, x.ref);
	if (!p) {
		fprintf(stderr, "memd-bench: memc_ptr: %s\n", strerror(errno));
		goto out_close;
	}
	memset(p, 1, RTT_BLOCK);
	rc = rtt_measure(&x, &o);
	if (memc_free(x.c, x.ref) < 0 && rc == 0) {
		fprintf(stderr, "memd-bench: memc_free failed\n");
		rc = 1;
	}
out_close:
	memc_close(x.c);
out_memd:
	if (memd_proc_stop(&m) < 0)
		rc = 1;
out_peers:
	peers_stop(&x);
out_free:
	for (int k = 0; k < K_COUNT; k++)
		free(x.sample[k]);
	return rc;
}
