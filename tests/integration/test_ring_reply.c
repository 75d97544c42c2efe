/*
 * test_ring_reply.c - libmemclient's side of the replies that come in the
 * request ring's slots (client/ring.c: client_ring_reply, ring_sleep;
 * client/client.c: client_read_slot_reply), with a scripted fake daemon in
 * front of it that answers late, wrongly, or never.
 *
 * A reply written into the frame's slot long after the client's spin ran
 * out reaches the client, which was asleep on head (waiting stored): a
 * lease (ALLOC_BATCH) and a plain ALLOC of a large block, both refused in
 * their slots with -ENOMEM, return -ENOMEM after the pause, and the
 * connection stays usable.  A malformed reply in the ring's last slot,
 * after sound ones (longer than a slot, where copying it whole would run
 * past the mapping; shorter than a header; with flags set; with another
 * request's id; another opcode's reply; the request's own opcode without
 * the reply bit) is a protocol error: -EPROTO, for that call and every
 * later one.  A daemon that hangs up while the client sleeps on a ring reply
 * costs -EPIPE (or -ECONNRESET) within a few of its wake-ups, not a hang.
 * And with MEMC_RING=0 the client asks for no ring: the lease goes on the
 * socket.
 *
 * The fake daemon (fake_daemon.h, with the client cache on) answers POOL,
 * refuses CACHE_PAGE, answers RING with a fresh memfd of MEMD_RING_SIZE
 * bytes that it maps too, ignores RING_KICK, and from then on polls the
 * socket and the ring's tail (every millisecond), answering each frame
 * published as the test's mode says, in the frame's own slot, then head,
 * a fence, and FUTEX_WAKE if the client waits, as memd does.  It exits
 * with a code of its own if the allocation requests come on the socket
 * while the ring is on (or a RING with it off), or if what the test
 * expected of the client never came.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "fake_daemon.h"
#include "harness.h"
#include "memclient.h"
#include "proto.h"

#define PAUSE_MS  100        /* M_LATE: the fake answers a ring frame this late */
#define HANGUP_MS 200        /* M_SILENT: it hangs up this long after RING */
#define LIMIT_MS  2000       /* a hung-up daemon must be noticed within this */
#define SMALL     100        /* a cached size: the cache leases (ALLOC_BATCH) */
#define LARGE     (1u << 20) /* past MEMD_SMALL_MAX: a plain ALLOC */

/* How the fake answers the frames in the ring. */
enum mode {
	M_LATE,   /* -ENOMEM, PAUSE_MS late */
	M_BAD,    /* a reply malformed as S.bad says */
	M_SILENT, /* never; hang up HANGUP_MS after RING */
	M_OFF,    /* the client has no ring: the lease comes on the socket */
};

/* What is wrong with the reply in M_BAD. */
enum bad { BAD_LONG, BAD_SHORT, BAD_FLAGS, BAD_ID, BAD_OP, BAD_NOREPLY };

static struct {
	enum mode mode;
	enum bad bad;
} S;

/* The fake's exit codes (0: all as expected). */
#define X_SOCKET  20 /* ALLOC or ALLOC_BATCH on the socket with the ring on, or RING with it off */
#define X_MISSING 21 /* what the client should have sent never came */
#define X_RING    22 /* a bad frame in the ring, or no ring to give */
#define X_AWAKE   23 /* M_LATE: the client was not waiting on head */
#define X_SEND    24 /* an answer on the socket failed */
#define X_READ    25 /* a bad request, or none for FAKE_REPLY_MS */

/* The fake's side of the ring. */
struct fring {
	unsigned char *base; /* its mapping (NULL until RING) */
	struct memd_ring_ctl *ctl;
	uint32_t taken;         /* frames answered */
	int64_t t0;             /* when RING was answered */
	unsigned ring_ops;      /* ALLOC and ALLOC_BATCH frames in the ring */
	unsigned ring_allocs;   /* ... of them ALLOC */
	unsigned socket_leases; /* ALLOC_BATCHes on the socket (M_OFF) */
	unsigned awake;         /* M_LATE: replies published with waiting 0 */
};

/* ---- the fake daemon (the child) ---- */

/* fake_answer's result as serve's: 0 go on, 1 the client has gone. */
static int sent(int err)
{
	return err < 0 ? X_SEND : err;
}

/* RING: a fresh memfd of MEMD_RING_SIZE bytes, kept mapped here. */
static int give_ring(int cfd, const struct memd_hdr *h, struct fring *r)
{
	struct memd_ring_rep rep = {
	        .size = MEMD_RING_SIZE, .slots = MEMD_RING_SLOTS, .slot_size = MEMD_RING_SLOT_SIZE};
	int fd, err;
	void *p;

	if (S.mode == M_OFF)
		return X_SOCKET;
	fd = memfd_create("memd-fake-ring", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, MEMD_RING_SIZE) < 0 || r->base != NULL)
		return X_RING;
	p = mmap(NULL, MEMD_RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return X_RING;
	r->base = p;
	r->ctl = p;
	err = fake_answer(cfd, h, 0, &rep, sizeof(rep), fd);
	close(fd);
	r->t0 = now_ms();
	return sent(err);
}

/* One request that came on the socket. */
static int on_socket(int cfd, const struct memd_hdr *h, const uint8_t *body, struct fring *r)
{
	struct memd_pool_rep pool = {.pool_id = 1,
	                             .access = MEMD_ACCESS_READ | MEMD_ACCESS_WRITE,
	                             .max_size = 64u << 20};

	(void)body;
	switch (h->op) {
	case MEMD_OP_POOL:
		return sent(fake_answer(cfd, h, 0, &pool, sizeof(pool), -1));
	case MEMD_OP_RING:
		return give_ring(cfd, h, r);
	case MEMD_OP_RING_KICK:
		return 0; /* never answered */
	case MEMD_OP_ALLOC_BATCH:
	case MEMD_OP_ALLOC:
		if (S.mode != M_OFF)
			return X_SOCKET;
		r->socket_leases += h->op == MEMD_OP_ALLOC_BATCH;
		return sent(fake_answer(cfd, h, -ENOMEM, NULL, 0, -1));
	default: /* CACHE_PAGE, and anything else */
		return sent(fake_answer(cfd, h, -ENOMEM, NULL, 0, -1));
	}
}

/* Publish the reply in the slot of frame i as memd does: head, a fence,
 * and a wake-up if the client waits.  Was it waiting? */
static int publish(struct fring *r, uint32_t i)
{
	int waiting;

	__atomic_store_n(&r->ctl->head, i + 1, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	waiting = __atomic_load_n(&r->ctl->waiting, __ATOMIC_RELAXED) != 0;
	if (waiting)
		syscall(SYS_futex, &r->ctl->head, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	return waiting;
}

/* Answer the next frame in the ring (M_LATE, M_BAD). */
static int on_frame(struct fring *r)
{
	unsigned char *slot = MEMD_RING_SLOT(r->base, r->taken);
	struct memd_hdr h, rep;

	memcpy(&h, slot, sizeof(h));
	if (h.len < MEMD_HDR_SIZE || h.len > MEMD_RING_SLOT_SIZE || h.flags != 0 ||
	    (h.op != MEMD_OP_ALLOC_BATCH && h.op != MEMD_OP_ALLOC))
		return X_RING;
	r->ring_ops++;
	r->ring_allocs += h.op == MEMD_OP_ALLOC;
	rep = (struct memd_hdr){.len = MEMD_HDR_SIZE,
	                        .op = (uint16_t)(h.op | MEMD_OP_REPLY),
	                        .id = h.id,
	                        .status = -ENOMEM};
	if (S.mode == M_LATE)
		sleep_ms(PAUSE_MS);
	else if (r->taken != MEMD_RING_SLOTS - 1)
		; /* M_BAD: sound replies until the ring's last slot */
	else if (S.bad == BAD_LONG)
		rep.len = MEMD_FRAME_MAX; /* past the slot, and the mapping's end */
	else if (S.bad == BAD_SHORT)
		rep.len = MEMD_HDR_SIZE - 8;
	else if (S.bad == BAD_FLAGS)
		rep.flags = 1;
	else if (S.bad == BAD_ID)
		rep.id = h.id + 1;
	else if (S.bad == BAD_OP)
		rep.op = MEMD_OP_FREE | MEMD_OP_REPLY; /* a sound reply to a FREE */
	else
		rep.op = h.op;
	memcpy(slot, &rep, sizeof(rep));
	if (!publish(r, r->taken++) && S.mode == M_LATE)
		r->awake++;
	return 0;
}

/* The client hung up: did it send what the test expected? */
static int done(const struct fring *r)
{
	switch (S.mode) {
	case M_LATE:
		if (r->ring_ops < 2 || r->ring_allocs < 1)
			return X_MISSING;
		return r->awake == 0 ? 0 : X_AWAKE;
	case M_BAD:
		return r->ring_ops == MEMD_RING_SLOTS ? 0 : X_MISSING;
	case M_OFF:
		return r->socket_leases >= 1 ? 0 : X_MISSING;
	default:
		return X_MISSING; /* M_SILENT hangs up first */
	}
}

/* The fake daemon's script (fake_daemon.h answered HELLO). */
static int serve(int cfd)
{
	static uint8_t body[1024];
	struct fring r = {.base = NULL};

	for (;;) {
		struct pollfd p = {.fd = cfd, .events = POLLIN};
		int n = poll(&p, 1, r.base != NULL ? 1 : FAKE_REPLY_MS), err;

		if (n == 0 && r.base == NULL)
			return X_READ;
		if (n > 0) {
			struct memd_hdr h;

			err = fake_next(cfd, &h, body, sizeof(body));
			if (err < 0)
				return X_READ;
			if (err == 0)
				err = on_socket(cfd, &h, body, &r);
			if (err == 1)
				return done(&r);
			if (err != 0)
				return err;
		}
		if (r.base == NULL)
			continue;
		if (S.mode == M_SILENT) {
			if (now_ms() - r.t0 < HANGUP_MS)
				continue;
			/* Exit: the socket closes, and nothing ever answers. */
			return __atomic_load_n(&r.ctl->tail, __ATOMIC_ACQUIRE) != 0 ? 0 : X_MISSING;
		}
		while (r.taken != __atomic_load_n(&r.ctl->tail, __ATOMIC_ACQUIRE)) {
			err = on_frame(&r);
			if (err != 0)
				return err;
		}
	}
}

/* ---- the test's side ---- */

/* Start the fake daemon in mode and connect a client (its cache on). */
static memc_client *start(enum mode mode)
{
	S.mode = mode;
	fake_listen(serve);
	return fake_connect();
}

/* Close c and assert the fake daemon saw what it expected. */
static void finish(memc_client *c)
{
	memc_close(c);
	fake_assert_done();
}

/* memc_alloc of size bytes must fail with want; its time in ms. */
static int64_t alloc_fails(memc_client *c, size_t size, int want, const char *what)
{
	memc_ref ref = 0;
	int64_t t0 = now_ms();
	int rc = memc_alloc(c, NULL, size, 0, &ref);

	cr_assert_eq(rc, want, "%s: alloc of %zu bytes: %d (%s), want %d (%s); block %#llx", what,
	             size, rc, memc_strerror(rc), want, memc_strerror(want),
	             (unsigned long long)ref);
	return now_ms() - t0;
}

/* ---- a late reply ---- */

Test(ring_reply, a_reply_written_late_into_its_slot_wakes_the_sleeping_client, .fini = fake_fini)
{
	memc_client *c = start(M_LATE);
	int64_t ms;

	/* The lease, then a plain ALLOC: both through the ring. */
	ms = alloc_fails(c, SMALL, -ENOMEM, "the lease refused late");
	cr_assert_geq(ms, PAUSE_MS, "the lease's reply came after %lld ms, before it was written",
	              (long long)ms);
	ms = alloc_fails(c, LARGE, -ENOMEM, "the ALLOC refused late");
	cr_assert_geq(ms, PAUSE_MS, "the ALLOC's reply came after %lld ms, before it was written",
	              (long long)ms);
	/* An answer, not a broken connection: the next call is answered too. */
	alloc_fails(c, SMALL, -ENOMEM, "the lease asked again");
	finish(c); /* the fake checks: all came through the ring, the client waited */
}

/* ---- malformed replies ---- */

/* The ring's first frames get sound replies (-ENOMEM), the frame in its
 * last slot one malformed as bad: -EPROTO, for good. */
static void bad_reply(enum bad bad)
{
	memc_client *c;
	memc_ref ref = 0;
	int rc = -ENOMEM, calls;

	S.bad = bad;
	c = start(M_BAD);
	for (calls = 0; calls < (int)MEMD_RING_SLOTS && rc == -ENOMEM; calls++)
		rc = memc_alloc(c, NULL, SMALL, 0, &ref);
	cr_assert_eq(rc, -EPROTO, "alloc %d: %d (%s), want -EPROTO for the malformed reply", calls,
	             rc, memc_strerror(rc));
	alloc_fails(c, SMALL, -EPROTO, "a lease after it");
	alloc_fails(c, LARGE, -EPROTO, "an ALLOC after it");
	finish(c);
}

Test(ring_reply, a_reply_longer_than_its_slot_is_a_protocol_error, .fini = fake_fini)
{
	bad_reply(BAD_LONG);
}

Test(ring_reply, a_reply_shorter_than_a_header_is_a_protocol_error, .fini = fake_fini)
{
	bad_reply(BAD_SHORT);
}

Test(ring_reply, a_reply_with_flags_is_a_protocol_error, .fini = fake_fini)
{
	bad_reply(BAD_FLAGS);
}

Test(ring_reply, a_reply_with_another_id_is_a_protocol_error, .fini = fake_fini)
{
	bad_reply(BAD_ID);
}

Test(ring_reply, a_reply_of_another_opcode_is_a_protocol_error, .fini = fake_fini)
{
	bad_reply(BAD_OP);
}

Test(ring_reply, a_reply_without_the_reply_bit_is_a_protocol_error, .fini = fake_fini)
{
	bad_reply(BAD_NOREPLY);
}

/* ---- a daemon that hangs up ---- */

/* The alloc that waits in the ring while the fake hangs up: its result,
 * checked, and how long it took. */
static void hangup_alloc(void)
{
	memc_client *c = start(M_SILENT);
	memc_ref ref = 0;
	int64_t t0 = now_ms(), ms;
	int rc = memc_alloc(c, NULL, SMALL, 0, &ref);

	ms = now_ms() - t0;
	cr_assert(rc == -EPIPE || rc == -ECONNRESET,
	          "alloc while the daemon hangs up: %d (%s), want -EPIPE or -ECONNRESET", rc,
	          memc_strerror(rc));
	cr_assert_leq(ms, LIMIT_MS, "the hang-up took %lld ms to notice", (long long)ms);
	alloc_fails(c, LARGE, rc, "an ALLOC after the hang-up");
	finish(c); /* the fake checks: the lease was in the ring */
}

Test(ring_reply, a_daemon_hanging_up_during_a_ring_wait_breaks_the_call, .fini = fake_fini,
     .timeout = 10)
{
	hangup_alloc();
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* A signal every 5 ms cuts every futex wait short (EINTR: a wait with a
 * timeout is not restarted, SA_RESTART or not): the hang-up must still be
 * noticed. */
Test(ring_reply, a_hang_up_is_noticed_while_signals_keep_interrupting_the_wait, .fini = fake_fini,
     .timeout = 10)
{
	struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
	struct itimerval every = {.it_interval = {0, 5000}, .it_value = {0, 5000}};
	struct itimerval off = {{0, 0}, {0, 0}};

	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGALRM, &sa, NULL), 0);
	cr_assert_eq(setitimer(ITIMER_REAL, &every, NULL), 0);
	hangup_alloc();
	cr_assert_eq(setitimer(ITIMER_REAL, &off, NULL), 0);
}

/* ---- no ring ---- */

Test(ring_reply, with_memc_ring_0_the_lease_goes_on_the_socket, .fini = fake_fini)
{
	memc_client *c;

	cr_assert_eq(setenv("MEMC_RING", "0", 1), 0);
	c = start(M_OFF);
	cr_assert_eq(unsetenv("MEMC_RING"), 0);
	alloc_fails(c, SMALL, -ENOMEM, "the lease on the socket");
	finish(c); /* the fake checks: no RING, the ALLOC_BATCH on the socket */
}
