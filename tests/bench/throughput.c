/*
 * throughput.c - `memd-bench throughput`: N client processes against one
 * memd.
 *
 * Each run starts a private memd (unless --socket names one) and forks
 * --clients processes.  Every client connects, allocates a ring of
 * THR_RING blocks of --size bytes (memc_alloc, memc_ptr, a write to every
 * page) and reports ready; when all are ready the parent starts them at
 * once (it closes the "go" pipe) and each client loops for --seconds:
 * free the oldest block of its ring, allocate a new one and touch it.  An
 * op is one memc_alloc (with its memc_ptr and touch) or one memc_free, so
 * one turn of the loop is two ops; ops are counted between the go signal
 * and the client's own deadline, then the ring is freed untimed.
 *
 * Reported per run: ops (all clients), ops_per_s (the sum of each client's
 * ops / its own elapsed time), per-client ops/s (mean, min, max); the
 * summary is the median over runs of ops_per_s and of the per-client mean.
 * On a 2-core machine with one memd (one libuv thread) the daemon is the
 * bottleneck from 2 clients on, so more clients mostly share it.
 */
#include "bench.h"
#include "memd_proc.h"

#include "memclient.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define THR_RING        16
#define THR_CLIENTS_MAX 512

struct thr_opts {
	const char *socket;    /* --socket, or NULL: private memd */
	unsigned long clients; /* --clients */
	unsigned long seconds; /* --seconds */
	unsigned long size;    /* --size */
	unsigned long runs;    /* --runs */
};

/* What a client sends back.  Smaller than PIPE_BUF: one atomic write. */
struct thr_result {
	int status;          /* 0 ok */
	unsigned index;      /* client number */
	uint64_t ops;        /* allocs + frees in the timed loop */
	uint64_t elapsed_ns; /* go -> the client's deadline passed */
	char err[160];       /* when status != 0 */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Allocate and touch one block.  0 or an error. */
static int thr_alloc(memc_client *c, size_t size, memc_ref *out)
{
	volatile unsigned char *p;
	int err = memc_alloc(c, NULL, size, 0, out);

	if (err < 0)
		return err;
	p = memc_ptr(c, *out);
	if (!p)
		return -errno;
	for (size_t off = 0; off < size; off += 4096)
		p[off] = 1;
	p[size - 1] = 1;
	return 0;
}

/* A client process.  Never returns. */
static void thr_client(const struct thr_opts *o, const char *sock, unsigned index, int ready_fd,
                       int go_fd, int res_fd)
{
	struct thr_result r = {.index = index};
	memc_ref ring[THR_RING] = {0};
	memc_client *c = NULL;
	unsigned char ok = 0, dummy;
	uint64_t t0, deadline, t;
	unsigned head = 0;
	int err;

	err = memc_connect(sock, &c);
	if (err < 0) {
		snprintf(r.err, sizeof r.err, "memc_connect: %s", memc_strerror(err));
		goto out;
	}
	for (unsigned i = 0; i < THR_RING; i++) {
		err = thr_alloc(c, o->size, &ring[i]);
		if (err < 0) {
			snprintf(r.err, sizeof r.err, "set-up alloc: %s", memc_strerror(err));
			goto out;
		}
	}
	ok = 1;
out:
	bench_write_full(ready_fd, &ok, 1);
	close(ready_fd);
	if (!ok) {
		r.status = 1;
		bench_write_full(res_fd, &r, sizeof r);
		_exit(1);
	}
	while (read(go_fd, &dummy, 1) < 0 && errno == EINTR) /* EOF: go */
		;
	t0 = now_ns();
	deadline = t0 + o->seconds * 1000000000u;
	do {
		err = memc_free(c, ring[head]);
		if (err == 0)
			err = thr_alloc(c, o->size, &ring[head]);
		if (err < 0) {
			ring[head] = 0;
			r.status = 1;
			snprintf(r.err, sizeof r.err, "after %llu ops: %s",
			         (unsigned long long)r.ops, memc_strerror(err));
			break;
		}
		r.ops += 2;
		head = (head + 1) % THR_RING;
		t = now_ns();
	} while (t < deadline);
	r.elapsed_ns = now_ns() - t0;
	for (unsigned i = 0; i < THR_RING; i++)
		if (ring[i])
			memc_free(c, ring[i]);
	memc_close(c);
	bench_write_full(res_fd, &r, sizeof r);
	_exit(r.status);
}

static int parse(int argc, char **argv, struct thr_opts *o)
{
	static const struct option longopts[] = {
	        {"socket", required_argument, NULL, 'S'},
	        {"clients", required_argument, NULL, 'c'},
	        {"seconds", required_argument, NULL, 's'},
	        {"size", required_argument, NULL, 'b'},
	        {"runs", required_argument, NULL, 'r'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	int ch;

	*o = (struct thr_opts){.seconds = 2, .size = 64, .runs = 3};
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		if (ch == 'S')
			o->socket = optarg;
		else if (ch == 'c' && !bench_parse_uint(optarg, 1, THR_CLIENTS_MAX, &o->clients))
			return bench_usage_error("--clients wants a number from 1 to 512", optarg);
		else if (ch == 's' && !bench_parse_uint(optarg, 1, 300, &o->seconds))
			return bench_usage_error("--seconds wants a number from 1 to 300", optarg);
		else if (ch == 'b' && !bench_parse_uint(optarg, 1, 64u << 20, &o->size))
			return bench_usage_error("--size wants bytes from 1 to 67108864", optarg);
		else if (ch == 'r' && !bench_parse_uint(optarg, 1, 100, &o->runs))
			return bench_usage_error("--runs wants a number from 1 to 100", optarg);
		else if (ch == 'h') {
			printf("usage: memd-bench throughput --clients N [--seconds S] [--size B] "
			       "[--runs N] [--socket PATH]\n"
			       "  defaults: --seconds 2 --size 64 --runs 3; a private memd per "
			       "run\n");
			return -1;
		} else if (ch == ':')
			return bench_usage_error("option needs an argument", argv[optind - 1]);
		else if (ch == '?')
			return bench_usage_error("unknown option", argv[optind - 1]);
	}
	if (optind < argc)
		return bench_usage_error("unexpected argument", argv[optind]);
	if (o->clients == 0)
		return bench_usage_error("--clients N is required", NULL);
	return 0;
}

/* Figures of one run. */
struct thr_run {
	double ops_per_s;   /* sum over clients */
	double client_mean; /* per-client ops/s */
	double client_min;
	double client_max;
};

/* Fork the clients against sock, start them together, collect.  0 or 1. */
static int thr_run_once(const struct thr_opts *o, const char *sock, unsigned run,
                        struct thr_run *out)
{
	int ready[2], go[2], res[2], rc = 0;
	unsigned long n = o->clients, started = 0, got = 0;
	pid_t *pid = calloc(n, sizeof(pid_t));
	uint64_t ops = 0;
	json_t *j;

	*out = (struct thr_run){.client_min = 1e300};
	if (!pid || pipe(ready) < 0 || pipe(go) < 0 || pipe(res) < 0) {
		fprintf(stderr, "memd-bench: throughput: cannot set up: %s\n", strerror(errno));
		free(pid);
		return 1;
	}
	fflush(NULL);
	for (; started < n; started++) {
		pid[started] = fork();
		if (pid[started] < 0) {
			fprintf(stderr, "memd-bench: fork: %s\n", strerror(errno));
			rc = 1;
			break;
		}
		if (pid[started] == 0) {
			close(ready[0]);
			close(go[1]);
			close(res[0]);
			thr_client(o, sock, (unsigned)started, ready[1], go[0], res[1]);
		}
	}
	close(ready[1]);
	close(go[0]);
	close(res[1]);
	for (unsigned long i = 0; i < started; i++) {
		unsigned char ok = 0;

		if (!bench_read_full(ready[0], &ok, 1) || !ok)
			rc = 1;
	}
	close(go[1]); /* go */
	for (unsigned long i = 0; i < started; i++) {
		struct thr_result r;
		double rate;

		if (!bench_read_full(res[0], &r, sizeof r)) {
			fprintf(stderr, "memd-bench: throughput: a client died without a result\n");
			rc = 1;
			break;
		}
		got++;
		if (r.status != 0) {
			fprintf(stderr, "memd-bench: throughput client %u: %s\n", r.index, r.err);
			rc = 1;
			continue;
		}
		rate = (double)r.ops * 1e9 / (double)r.elapsed_ns;
		ops += r.ops;
		out->ops_per_s += rate;
		out->client_mean += rate / (double)n;
		if (rate < out->client_min)
			out->client_min = rate;
		if (rate > out->client_max)
			out->client_max = rate;
	}
	close(ready[0]);
	close(res[0]);
	for (unsigned long i = 0; i < started; i++) {
		int ws;

		while (waitpid(pid[i], &ws, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
			rc = 1;
	}
	free(pid);
	if (rc != 0 || got != n)
		return 1;
	j = json_object();
	json_object_set_new(j, "bench", json_string("throughput"));
	json_object_set_new(j, "run", json_integer(run));
	json_object_set_new(j, "clients", json_integer((json_int_t)n));
	json_object_set_new(j, "seconds", json_integer((json_int_t)o->seconds));
	json_object_set_new(j, "size", json_integer((json_int_t)o->size));
	json_object_set_new(j, "ops", json_integer((json_int_t)ops));
	json_object_set_new(j, "ops_per_s", json_real(out->ops_per_s));
	json_object_set_new(j, "per_client_ops_per_s", json_real(out->client_mean));
	json_object_set_new(j, "per_client_min_ops_per_s", json_real(out->client_min));
	json_object_set_new(j, "per_client_max_ops_per_s", json_real(out->client_max));
	bench_emit(j);
	return 0;
}

int cmd_throughput(int argc, char **argv)
{
	struct thr_opts o;
	struct thr_run *runs;
	double *v;
	int rc = parse(argc, argv, &o);

	if (rc != 0)
		return rc < 0 ? 0 : rc;
	runs = calloc(o.runs, sizeof(*runs));
	v = calloc(o.runs, sizeof(double));
	if (!runs || !v) {
		fprintf(stderr, "memd-bench: out of memory\n");
		free(runs);
		free(v);
		return 1;
	}
	for (unsigned long i = 0; i < o.runs && rc == 0; i++) {
		struct memd_proc m = {0};

		if (!o.socket && memd_proc_start(&m, -1) < 0) {
			rc = 1;
			break;
		}
		rc = thr_run_once(&o, o.socket ? o.socket : m.sock, (unsigned)i + 1, &runs[i]);
		if (memd_proc_stop(&m) < 0)
			rc = 1;
	}
	if (rc == 0) {
		json_t *j = json_object();
		double total;

		json_object_set_new(j, "bench", json_string("throughput"));
		json_object_set_new(j, "runs", json_integer((json_int_t)o.runs));
		json_object_set_new(j, "clients", json_integer((json_int_t)o.clients));
		json_object_set_new(j, "seconds", json_integer((json_int_t)o.seconds));
		json_object_set_new(j, "size", json_integer((json_int_t)o.size));
		for (unsigned long i = 0; i < o.runs; i++)
			v[i] = runs[i].ops_per_s;
		total = bench_median(v, o.runs);
		json_object_set_new(j, "ops_per_s", json_real(total));
		for (unsigned long i = 0; i < o.runs; i++)
			v[i] = runs[i].client_mean;
		json_object_set_new(j, "per_client_ops_per_s", json_real(bench_median(v, o.runs)));
		json_object_set_new(j, "ns_per_op_aggregate", json_real(1e9 / total));
		json_object_set_new(j, "memd", json_string(o.socket ? o.socket : "private"));
		bench_emit(j);
	}
	free(runs);
	free(v);
	return rc;
}
