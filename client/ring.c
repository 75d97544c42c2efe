/*
 * ring.c - the request ring (common/proto.h, "The request ring"): the
 * requests libmemclient does not wait for (a lease sent ahead:
 * ALLOC_BATCH; returns: FREE_BATCH) go into shared memory instead of
 * through send(), which here costs ~3.4 us a request, most of a cached
 * client's system-call time.
 *
 * Set-up: the first thread cache to start asks the daemon for the ring
 * (RING, under c->lock, like the counters page) unless $MEMC_RING is "0";
 * a daemon that refuses (an older one: -EOPNOTSUPP), a reply without its
 * fd, or a mapping that fails leaves the ring off for good, and every
 * request then goes on the socket as before.
 *
 * What goes there: ALLOC, FREE, ALLOC_BATCH (of at most
 * MEMD_RING_ALLOC_MAX blocks) and FREE_BATCH requests, sent ahead
 * (client_send_async) or waited for (client_call).
 *
 * Sending (c->lock held, so one writer): a request goes into the ring when
 * there is a free slot (fewer than MEMD_RING_SLOTS frames published whose
 * replies are not read yet) and no request sent on the socket is still
 * unanswered (ring.on_socket, counted by client.c's pending ring: the
 * daemon runs the ring's frames before the socket's, so a frame published
 * after a socket request could be answered first), else on the socket.
 * The frame is written in full, then tail is published with a release
 * store; a full fence later, sleeping is read, and if the daemon may be
 * asleep a RING_KICK goes on the socket to wake it (proto.h explains why
 * one of the two always sees the other).
 *
 * Replies come in the frame's slot: client.c's pending ring knows which
 * requests went through the ring and reads their replies here, in request
 * order with those that come on the socket (the daemon answers a ring
 * frame before it runs anything after it).  Reading one costs no system
 * call when it is there: head (a release store by the daemon, after the
 * reply) is read with an acquire load.  When it is not there yet the
 * thread spins for up to c->spin_ns, as it does for a reply on the
 * socket, then sleeps on head with FUTEX_WAIT after storing waiting = 1
 * (the daemon wakes it; proto.h has the handshake), waking every
 * RING_WAIT_MS to check that the socket has not hung up: a daemon that
 * died never writes head again.  The reply is copied out of the slot
 * before it is looked at, and only the copy is checked and used.
 */
#include "client_int.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* How long a thread sleeps on head before it checks the socket. */
#define RING_WAIT_MS 20

/* The ring's head, at the start of the mapping. */
static struct memd_ring_ctl *ring_ctl(const memc_client *c)
{
	return (struct memd_ring_ctl *)(void *)c->ring.base;
}

void client_ring_init(memc_client *c)
{
	const char *env = getenv("MEMC_RING");

	c->ring.base = NULL;
	c->ring.tail = 0;
	c->ring.answered = 0;
	c->ring.frames = 0;
	c->ring.kicks = 0;
	c->ring.on_socket = 0;
	c->ring.state = env != NULL && strcmp(env, "0") == 0 ? -1 : 0;
}

void client_ring_get(memc_client *c)
{
	struct memd_ring_req req = {.flags = 0, .pad = 0};
	struct memd_ring_rep rep;
	struct stat st;
	void *p;
	int fd, err;

	if (c->ring.state != 0)
		return;
	c->ring.state = -1;
	err = client_call(c, 1, MEMD_OP_RING, &req, sizeof(req), &rep, sizeof(rep), NULL, &fd);
	if (err < 0)
		return;
	if (rep.size != MEMD_RING_SIZE || rep.slots != MEMD_RING_SLOTS ||
	    rep.slot_size != MEMD_RING_SLOT_SIZE || fstat(fd, &st) < 0 ||
	    (uint64_t)st.st_size != MEMD_RING_SIZE)
		goto out_close_fd;
	p = mmap(NULL, MEMD_RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto out_close_fd;
	c->ring.base = p;
	c->ring.tail = __atomic_load_n(&ring_ctl(c)->tail, __ATOMIC_RELAXED);
	c->ring.answered = c->ring.tail;
	c->ring.state = 1;
out_close_fd:
	close(fd);
}

/* May request op (body req) go into the ring at all? */
static bool ring_takes(uint16_t op, const void *req, size_t req_len)
{
	struct memd_alloc_batch_req ab;

	if (MEMD_HDR_SIZE + req_len > MEMD_RING_SLOT_SIZE)
		return false;
	if (op == MEMD_OP_FREE_BATCH || op == MEMD_OP_ALLOC || op == MEMD_OP_FREE)
		return true;
	if (op != MEMD_OP_ALLOC_BATCH || req_len != sizeof(ab))
		return false;
	memcpy(&ab, req, sizeof(ab));
	return ab.count <= MEMD_RING_ALLOC_MAX; /* its reply fits the slot */
}

bool client_ring_put(memc_client *c, uint16_t op, uint32_t id, const void *req, size_t req_len,
                     uint32_t *frame)
{
	struct memd_ring_ctl *ctl = ring_ctl(c);
	unsigned char *slot;
	struct memd_hdr h;

	if (c->ring.state != 1 || c->ring.on_socket > 0 || !ring_takes(op, req, req_len))
		return false;
	if (c->ring.tail - c->ring.answered >= MEMD_RING_SLOTS)
		return false; /* full: the socket it is */
	slot = MEMD_RING_SLOT(c->ring.base, c->ring.tail);
	proto_hdr_init(&h, op, id, 0, req_len);
	memcpy(slot, &h, sizeof(h));
	memcpy(slot + MEMD_HDR_SIZE, req, req_len);
	*frame = c->ring.tail++;
	__atomic_store_n(&ctl->tail, c->ring.tail, __ATOMIC_RELEASE);
	c->ring.frames++;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&ctl->sleeping, __ATOMIC_RELAXED) != 0) {
		c->ring.kicks++;
		(void)client_send(c, MEMD_OP_RING_KICK, 0, NULL, 0); /* an error sticks in c */
	}
	return true;
}

bool client_ring_answered(const memc_client *c, uint32_t frame)
{
	uint32_t head = __atomic_load_n(&ring_ctl(c)->head, __ATOMIC_ACQUIRE);

	return (int32_t)(head - frame) > 0;
}

static inline void ring_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static uint64_t ring_now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Spin until frame is answered or c->spin_ns have passed: true if it was. */
static bool ring_spin(memc_client *c, uint32_t frame)
{
	uint64_t end;
	unsigned i;

	if (c->spin_ns == 0)
		return false;
	end = ring_now_ns() + c->spin_ns;
	do {
		for (i = 0; i < 64; i++) {
			if (client_ring_answered(c, frame))
				return true;
			ring_cpu_relax();
		}
	} while (ring_now_ns() < end);
	return false;
}

/* Has the daemon hung up c's socket?  (Nothing else may come on it while
 * a ring reply is awaited: the replies before it were read, and the
 * daemon answers the ring frame before anything after it.) */
static bool ring_hung_up(memc_client *c)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN | POLLRDHUP};

	return atomic_load(&c->broken) < 0 ||
	       (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL)));
}

/* Sleep until frame is answered; 0, or the sticky error when the daemon
 * hung up.  The socket is looked at every RING_WAIT_MS by the clock, not
 * only when a wait times out: signals that keep cutting the waits short
 * (EINTR: a futex wait with a timeout is never restarted) must not keep
 * it from being looked at. */
static int ring_sleep(memc_client *c, uint32_t frame)
{
	struct memd_ring_ctl *ctl = ring_ctl(c);
	const struct timespec ts = {.tv_sec = 0, .tv_nsec = RING_WAIT_MS * 1000000L};
	uint64_t look = ring_now_ns() + RING_WAIT_MS * 1000000ull;
	uint32_t head;
	int err = 0;

	for (;;) {
		__atomic_store_n(&ctl->waiting, 1, __ATOMIC_RELAXED);
		/* Either the daemon sees waiting after it publishes head, or
		 * this load sees head (proto.h). */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		head = __atomic_load_n(&ctl->head, __ATOMIC_ACQUIRE);
		if ((int32_t)(head - frame) > 0)
			break;
		(void)syscall(SYS_futex, &ctl->head, FUTEX_WAIT, head, &ts, NULL, 0);
		if (ring_now_ns() < look || client_ring_answered(c, frame))
			continue;
		if (ring_hung_up(c)) {
			err = client_break(c, -EPIPE);
			break;
		}
		look = ring_now_ns() + RING_WAIT_MS * 1000000ull;
	}
	__atomic_store_n(&ctl->waiting, 0, __ATOMIC_RELAXED);
	return err;
}

int client_ring_reply(memc_client *c, uint32_t frame, struct memd_hdr *h)
{
	const unsigned char *slot = MEMD_RING_SLOT(c->ring.base, frame);
	int err;

	memd_assert(frame == c->ring.answered);
	if (!client_ring_answered(c, frame) && !ring_spin(c, frame)) {
		err = ring_sleep(c, frame);
		if (err < 0)
			return err;
	}
	memcpy(c->rx, slot, MEMD_HDR_SIZE);
	__atomic_signal_fence(__ATOMIC_SEQ_CST); /* decide on the copy only */
	if (proto_hdr_decode(c->rx, h) < 0 || h->len > MEMD_RING_SLOT_SIZE)
		return client_break(c, -EPROTO);
	memcpy(c->rx, slot + MEMD_HDR_SIZE, h->len - MEMD_HDR_SIZE);
	c->ring.answered++;
	return 0;
}

uint64_t client_ring_frames(const memc_client *c)
{
	return c->ring.frames;
}

uint64_t client_ring_kicks(const memc_client *c)
{
	return c->ring.kicks;
}

void client_ring_fini(memc_client *c)
{
	if (c->ring.base != NULL)
		munmap(c->ring.base, MEMD_RING_SIZE);
	c->ring.base = NULL;
	c->ring.state = -1;
}
