/*
 * fake_daemon.h - a scripted stand-in for memd in front of libmemclient.
 *
 * A test starts it with a script (fake_start), connects libmemclient to
 * F.sock (fake_connect), and checks at the end that the script ran to its
 * end (fake_assert_done).  The stand-in is a forked child that accepts one
 * connection, answers HELLO as memd would, and then runs the script on
 * the connected socket: reading requests (fake_expect) and answering with
 * frames built by fake_frame, sent by fake_send (with fds if the reply
 * carries any), whole or in pieces and with whatever delays the test
 * wants; or it serves whatever comes (fake_next, fake_answer) until the
 * client hangs up.  fake_start turns the client cache off
 * (MEMC_CACHE_BYTES=0), so the client sends exactly the requests the test
 * makes; fake_listen leaves it on.  Used by test_replies.c, test_spin.c
 * and test_cache_lease.c; every test names fake_fini as its Criterion
 * .fini.
 */
#ifndef MEMD_TEST_FAKE_DAEMON_H
#define MEMD_TEST_FAKE_DAEMON_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include "memclient.h"
#include "proto.h"

#define FAKE_REPLY_MS 5000 /* how long one reply (or the script's end) may take */

/* The fake daemon of the current test: a socket of its own and a child
 * that accepts one connection, answers HELLO, then runs a script. */
struct fake {
	char dir[PATH_MAX];                                     /* private temp dir (mkdtemp) */
	char sock[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* its socket */
	int lfd;                /* listening socket (the child's copy serves) */
	int (*script)(int cfd); /* what the child does after HELLO: 0 = as planned */
	pid_t pid;              /* the child */
};

/* The fake daemon of the current test. */
extern struct fake F;

/* Criterion .fini of the fake-daemon tests: reap the child, remove the
 * socket and the directory.  Also between two fake daemons of one test. */
void fake_fini(void);

/* Read exactly len bytes (the fake's requests carry no fds).  0, or -1 on
 * EOF or error. */
int fake_read(int cfd, void *buf, size_t len);

/* Read one request; 0 if its opcode is op, else -1.  The body (up to cap
 * bytes) goes to body. */
int fake_expect(int cfd, uint16_t op, struct memd_hdr *h, void *body, size_t cap);

/* Read the next request, whatever it is, waiting up to FAKE_REPLY_MS for
 * it: *h, and its body into body (cap bytes at most).  0, 1 if the client
 * has gone (EOF, or a reset: a client may close with a reply unread), -1
 * on an error, a timeout or a body larger than cap. */
int fake_next(int cfd, struct memd_hdr *h, void *body, size_t cap);

/* Answer req with status and body (blen bytes, MEMD_FRAME_MAX at most in
 * all), with fd attached if fd >= 0.  0 if sent, 1 if the client has
 * gone, -1 on another error. */
int fake_answer(int cfd, const struct memd_hdr *req, int32_t status, const void *body, size_t blen,
                int fd);

/* Build the reply frame to req (status, body) in out; returns its length. */
size_t fake_frame(uint8_t *out, const struct memd_hdr *req, int32_t status, const void *body,
                  size_t blen);

/* One sendmsg of buf[0..len) with nfds fds attached.  0 if it all went. */
int fake_send(int cfd, const void *buf, size_t len, const int *fds, int nfds);

/* Wait until the client hangs up.  0 on EOF, 1 if it sent more, 2 on a
 * timeout. */
int fake_wait_eof(int cfd);

/* Start the fake daemon running script, with the client cache off for the
 * clients this test connects ($MEMC_CACHE_BYTES=0); the client connects
 * to F.sock. */
void fake_start(int (*script)(int cfd));

/* fake_start, leaving the environment (and so the client cache) alone. */
void fake_listen(int (*script)(int cfd));

/* Connect libmemclient to the fake daemon. */
memc_client *fake_connect(void);

/* Assert the fake daemon's child finished its script. */
void fake_assert_done(void);

#endif
