/*
 * fake_daemon.c - the scripted stand-in for memd (fake_daemon.h).
 */
#include "fake_daemon.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

struct fake F;

/* Criterion .fini of the fake-daemon tests: reap the child, remove the
 * socket and the directory. */
void fake_fini(void)
{
	harness_fini();
	if (F.sock[0] != '\0')
		unlink(F.sock);
	if (F.dir[0] != '\0')
		rmdir(F.dir);
	F.sock[0] = '\0';
	F.dir[0] = '\0';
}

/* Read exactly len bytes (the fake's requests carry no fds).  0, or -1 on
 * EOF or error. */
int fake_read(int cfd, void *buf, size_t len)
{
	return len == 0 || recv(cfd, buf, len, MSG_WAITALL) == (ssize_t)len ? 0 : -1;
}

/* Read one request; 0 if its opcode is op, else -1.  The body (up to cap
 * bytes) goes to body. */
int fake_expect(int cfd, uint16_t op, struct memd_hdr *h, void *body, size_t cap)
{
	uint8_t rest[1024];
	size_t blen;

	if (fake_read(cfd, h, sizeof(*h)) < 0 || h->len < MEMD_HDR_SIZE)
		return -1;
	blen = h->len - MEMD_HDR_SIZE;
	if (blen > sizeof(rest) || fake_read(cfd, rest, blen) < 0)
		return -1;
	memcpy(body, rest, blen < cap ? blen : cap);
	return h->op == op ? 0 : -1;
}

int fake_next(int cfd, struct memd_hdr *h, void *body, size_t cap)
{
	struct pollfd pfd = {.fd = cfd, .events = POLLIN};
	ssize_t r;

	if (poll(&pfd, 1, FAKE_REPLY_MS) <= 0)
		return -1;
	r = recv(cfd, h, sizeof(*h), MSG_WAITALL);
	if (r == 0 || (r < 0 && errno == ECONNRESET))
		return 1;
	if (r != (ssize_t)sizeof(*h) || h->len < MEMD_HDR_SIZE || h->len - MEMD_HDR_SIZE > cap)
		return -1;
	return fake_read(cfd, body, h->len - MEMD_HDR_SIZE);
}

int fake_answer(int cfd, const struct memd_hdr *req, int32_t status, const void *body, size_t blen,
                int fd)
{
	static uint8_t frame[MEMD_FRAME_MAX];

	if (MEMD_HDR_SIZE + blen > sizeof(frame))
		return -1;
	if (blen == 0)
		body = frame; /* memcpy of nothing, from somewhere */
	if (fake_send(cfd, frame, fake_frame(frame, req, status, body, blen), &fd, fd >= 0) == 0)
		return 0;
	return errno == EPIPE || errno == ECONNRESET ? 1 : -1;
}

/* Build the reply frame to req (status, body) in out; returns its length. */
size_t fake_frame(uint8_t *out, const struct memd_hdr *req, int32_t status, const void *body,
                  size_t blen)
{
	struct memd_hdr h = {.len = (uint32_t)(MEMD_HDR_SIZE + blen),
	                     .op = (uint16_t)(req->op | MEMD_OP_REPLY),
	                     .id = req->id,
	                     .status = status};

	memcpy(out, &h, sizeof(h));
	memcpy(out + MEMD_HDR_SIZE, body, blen);
	return h.len;
}

/* One sendmsg of buf[0..len) with nfds fds attached.  0 if it all went. */
int fake_send(int cfd, const void *buf, size_t len, const int *fds, int nfds)
{
	union {
		struct cmsghdr align;                  /* alignment for the control buffer */
		char buf[CMSG_SPACE(2 * sizeof(int))]; /* room for two fds */
	} ctl;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

	if (nfds > 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	return sendmsg(cfd, &msg, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* Wait until the client hangs up.  0 on EOF, 1 if it sent more, 2 on a
 * timeout. */
int fake_wait_eof(int cfd)
{
	struct pollfd pfd = {.fd = cfd, .events = POLLIN};
	char b;

	if (poll(&pfd, 1, FAKE_REPLY_MS) <= 0)
		return 2;
	return recv(cfd, &b, 1, 0) <= 0 ? 0 : 1;
}

/* Answer HELLO as memd would. */
static int fake_hello(int cfd)
{
	struct memd_hello_rep rep = {.version = MEMD_PROTO_VERSION,
	                             .pid = (uint32_t)getpid(),
	                             .frame_max = MEMD_FRAME_MAX,
	                             .batch_max = MEMD_BATCH_MAX,
	                             .session = 1};
	uint8_t frame[MEMD_HDR_SIZE + sizeof(rep)];
	struct memd_hello_req req;
	struct memd_hdr h;

	if (fake_expect(cfd, MEMD_OP_HELLO, &h, &req, sizeof(req)) < 0)
		return -1;
	return fake_send(cfd, frame, fake_frame(frame, &h, 0, &rep, sizeof(rep)), NULL, 0);
}

/* The child: accept, HELLO, script.  Exit codes: the script's, or 90+. */
static int fake_main(void *arg)
{
	struct fake *f = arg;
	int cfd = accept(f->lfd, NULL, NULL);

	if (cfd < 0)
		return 90;
	close(f->lfd);
	if (fake_hello(cfd) < 0)
		return 91;
	return f->script(cfd);
}

/* Start the fake daemon running script; the client connects to F.sock. */
void fake_start(int (*script)(int cfd))
{
	/* No client-side cache: only the requests the tests make. */
	cr_assert_eq(setenv("MEMC_CACHE_BYTES", "0", 1), 0);
	fake_listen(script);
}

void fake_listen(int (*script)(int cfd))
{
	const char *tmp = getenv("TMPDIR");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n;

	snprintf(F.dir, sizeof(F.dir), "%s/memd-replies-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(F.dir), "mkdtemp: %s", strerror(errno));
	n = snprintf(F.sock, sizeof(F.sock), "%s/fake.sock", F.dir);
	cr_assert(n > 0 && (size_t)n < sizeof(F.sock), "socket path too long: %s", F.dir);
	memcpy(sa.sun_path, F.sock, strlen(F.sock) + 1);
	F.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(F.lfd, 0);
	cr_assert_eq(bind(F.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind: %s",
	             strerror(errno));
	cr_assert_eq(listen(F.lfd, 1), 0);
	F.script = script;
	F.pid = child_fork(fake_main, &F);
	close(F.lfd);
}

/* Connect libmemclient to the fake daemon. */
memc_client *fake_connect(void)
{
	memc_client *c = NULL;
	int rc = memc_connect(F.sock, &c);

	cr_assert_eq(rc, 0, "connect to the fake daemon: %d (%s)", rc, memc_strerror(rc));
	return c;
}

/* Assert the fake daemon's child finished its script. */
void fake_assert_done(void)
{
	char why[64];
	int st = child_wait(F.pid, FAKE_REPLY_MS);

	cr_assert_eq(st, 0, "fake daemon: %s", child_status_str(st, why, sizeof(why)));
}
