/*
 * ring_util.h - what the request-ring tests (test_ring.c, test_ring_bad.c)
 * share: a raw session with memd, and the client's side of the ring
 * written from proto.h alone (publish: a release store of tail, then a
 * full fence and a read of sleeping), not with libmemclient, so that the
 * tests do not share a bug with the client.
 */
#ifndef MEMD_TEST_RING_UTIL_H
#define MEMD_TEST_RING_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

#define REPLY_MS      5000        /* how long memd has to answer (or close) */
#define QUIET_MS      200         /* "not answered": nothing arrives for this long */
#define WAIT_MS       5000        /* how long memd has to tidy up after a client */
#define FEED_MS       20000       /* a deaf client must get its frames run within this */
#define RSS_GROWTH_KB (32 * 1024) /* memd may grow this much for one deaf client */
#define BLOCK_SIZE    100u        /* bytes of each block the tests ask for */

#define POOL_INI       "[pool default]\nmax_size = 64M\nsegment_size = 1M\n"
#define CONFIG_ASLEEP  "[memd]\nbusy_poll_us = 0\n" POOL_INI     /* memd sleeps at once */
#define CONFIG_POLLING "[memd]\nbusy_poll_us = 10000\n" POOL_INI /* memd polls 10 ms */

/* The body of the last frame read. */
extern unsigned char rx[MEMD_FRAME_MAX];

/* A connection with its ring mapped here. */
struct rconn {
	int fd;                    /* the socket */
	uint32_t pool_id;          /* "default" */
	struct memd_ring_ctl *ctl; /* the ring, MEMD_RING_SIZE bytes, read-write */
	uint32_t tail;             /* frames published (our copy) */
	uint32_t answered;         /* replies read from their slots */
};

/* What one RING request got back. */
struct ring_reply {
	struct memd_hdr h;        /* the reply's header */
	size_t blen;              /* its body's length */
	struct memd_ring_rep rep; /* the body, when it fits */
	int fd;                   /* the fd that came with it, or -1 */
};

/* A raw connection to H that said HELLO. */
int raw_ready(void);

/* Read the next frame on fd (body in rx) and check it answers op id. */
struct memd_hdr recv_reply(int fd, uint16_t op, uint32_t id, size_t *blen, const char *what);

/* One request on the socket; the reply's header (body in rx). */
struct memd_hdr call(int fd, uint16_t op, uint32_t id, const void *req, size_t len, size_t *blen);

/* POOL "default": its id. */
uint32_t pool_default(int fd);

/* Live blocks in every pool (STATS_STATUS). */
uint64_t live_blocks(int fd);

/* Poll live_blocks on fd until it is want (up to WAIT_MS); the last value. */
uint64_t wait_blocks(int fd, uint64_t want);

/* Send RING (id, body) on fd and take its reply and fd. */
struct ring_reply ring_request(int fd, uint32_t id, const void *body, size_t len);

/* Map the ring of fd rfd read-write. */
struct memd_ring_ctl *ring_map(int rfd);

/* Unmap r's ring and close its socket. */
void rconn_close(struct rconn *r);

/* memd's head, as it published it (acquire). */
uint32_t ring_head(struct rconn *r);

/* Assert that nothing arrives on fd for ms. */
void expect_quiet(int fd, int ms, const char *what);

/* Send RING_KICK (no body; id is whatever: nothing answers it). */
void send_kick(int fd);

/* A fresh connection that must be served: HELLO, POOL, ALLOC, SIZE, FREE. */
void bystander_check(const char *when);

/* Connect, HELLO, POOL, RING, and map the ring (its fd is closed again). */
void rconn_open(struct rconn *r);

/* Write a frame into the next free slot (not published): header fields
 * as given, then body_len bytes of body. */
void ring_write(struct rconn *r, uint32_t len, uint16_t op, uint16_t flags, uint32_t id,
                const void *body, size_t body_len);

/* Publish the slot written last: tail + 1, a release store. */
void ring_publish(struct rconn *r);

/* The client's side of waking memd: after publishing, a full fence, then
 * a look at sleeping. */
bool ring_memd_asleep(struct rconn *r);

/* Write and publish a well-formed request. */
void ring_put(struct rconn *r, uint16_t op, uint32_t id, const void *body, size_t len);

/* Publish ALLOC_BATCH of count blocks of BLOCK_SIZE bytes. */
void ring_put_alloc(struct rconn *r, uint32_t id, uint32_t count);

/* Publish FREE_BATCH of refs[0..n). */
void ring_put_free(struct rconn *r, uint32_t id, const uint64_t *refs, uint32_t n);

/* Has memd answered the oldest unread ring frame within ms (head passed
 * it)?  Nothing is read. */
bool ring_answered_within(struct rconn *r, int ms);

/* Read the reply to the oldest unread ring frame from its slot (body in
 * rx), waiting up to REPLY_MS for head to pass it, and check that it
 * answers op id. */
struct memd_hdr ring_recv(struct rconn *r, uint16_t op, uint32_t id, size_t *blen,
                          const char *what);

/* Read the reply to ring frame ALLOC_BATCH id of count blocks: status 0,
 * count distinct non-zero refs, copied to refs (may be NULL). */
void expect_alloc_reply(struct rconn *r, uint32_t id, uint32_t count, uint64_t *refs,
                        const char *what);

/* Wait (up to REPLY_MS) until sleeping reads want. */
void wait_sleeping(struct rconn *r, uint32_t want, const char *when);

#endif
