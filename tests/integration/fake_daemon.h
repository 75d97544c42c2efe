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
 * wants.  The client cache is off (MEMC_CACHE_BYTES=0), so the client
 * sends exactly the requests the test makes.  Used by test_replies.c and
 * test_spin.c; every test names fake_fini as its Criterion .fini.
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

/* Build the reply frame to req (status, body) in out; returns its length. */
size_t fake_frame(uint8_t *out, const struct memd_hdr *req, int32_t status, const void *body,
                  size_t blen);

/* One sendmsg of buf[0..len) with nfds fds attached.  0 if it all went. */
int fake_send(int cfd, const void *buf, size_t len, const int *fds, int nfds);

/* Wait until the client hangs up.  0 on EOF, 1 if it sent more, 2 on a
 * timeout. */
int fake_wait_eof(int cfd);

/* Start the fake daemon running script; the client connects to F.sock. */
void fake_start(int (*script)(int cfd));

/* Connect libmemclient to the fake daemon. */
memc_client *fake_connect(void);

/* Assert the fake daemon's child finished its script. */
void fake_assert_done(void);

#endif
