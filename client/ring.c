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
 * Sending (c->lock held, so one writer): a request goes into the ring when
 * there is a free slot (tail - head < MEMD_RING_SLOTS; head is only ever
 * trusted to say which slots are free) and no request sent on the socket
 * is still unanswered (ring.on_socket, counted by client.c's pending
 * ring: the daemon runs the ring's frames before the socket's, so a frame
 * published after a socket request could be answered first), else on the
 * socket.  The frame is
 * written in full, then tail is published with a release store; a full
 * fence later, sleeping is read, and if the daemon may be asleep a
 * RING_KICK goes on the socket to wake it (proto.h explains why one of
 * the two always sees the other).  The reply comes on the socket in
 * request order, and client.c's pending ring counts it like any other.
 * Because the daemon runs every published frame before any later socket
 * frame, sending one request through the ring and the next on the socket
 * keeps their order.
 */
#include "client_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != MEMD_RING_SIZE)
		goto out_close_fd;
	p = mmap(NULL, MEMD_RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto out_close_fd;
	c->ring.base = p;
	c->ring.tail = __atomic_load_n(&ring_ctl(c)->tail, __ATOMIC_RELAXED);
	c->ring.state = 1;
out_close_fd:
	close(fd);
}

bool client_ring_put(memc_client *c, uint16_t op, uint32_t id, const void *req, size_t req_len)
{
	struct memd_ring_ctl *ctl = ring_ctl(c);
	unsigned char *slot;
	struct memd_hdr h;

	if (c->ring.state != 1 || c->ring.on_socket > 0 ||
	    (op != MEMD_OP_ALLOC_BATCH && op != MEMD_OP_FREE_BATCH) ||
	    MEMD_HDR_SIZE + req_len > MEMD_RING_SLOT_SIZE)
		return false;
	if (c->ring.tail - __atomic_load_n(&ctl->head, __ATOMIC_ACQUIRE) >= MEMD_RING_SLOTS)
		return false; /* full: the socket it is */
	slot = MEMD_RING_SLOT(c->ring.base, c->ring.tail);
	proto_hdr_init(&h, op, id, 0, req_len);
	memcpy(slot, &h, sizeof(h));
	memcpy(slot + MEMD_HDR_SIZE, req, req_len);
	c->ring.tail++;
	__atomic_store_n(&ctl->tail, c->ring.tail, __ATOMIC_RELEASE);
	c->ring.frames++;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&ctl->sleeping, __ATOMIC_RELAXED) != 0) {
		c->ring.kicks++;
		(void)client_send(c, MEMD_OP_RING_KICK, 0, NULL, 0); /* an error sticks in c */
	}
	return true;
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
