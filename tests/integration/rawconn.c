/*
 * rawconn.c - a hand-rolled memd protocol peer for malformed-input tests.
 *
 * The daemon must answer bad input with an error reply or by closing that
 * one connection (DESIGN.md invariant 9, proto.h "Malformed input").  To
 * observe which, the tests need a peer that reads with deadlines and can
 * tell "the daemon replied", "the daemon closed" and "the daemon is still
 * waiting" apart; libmemclient hides exactly those differences.  Every
 * read here goes through poll() with a deadline, so a daemon that neither
 * answers nor closes makes a test fail with -ETIMEDOUT instead of hanging.
 *
 * Nothing here is shared with common/proto.c: headers are filled field by
 * field from proto.h's struct layout.
 */
#include "rawconn.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Monotonic milliseconds (local copy: rawconn has no harness dependency). */
static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int raw_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

int raw_send(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int raw_send_frame(int fd, uint16_t op, uint32_t id, const void *body, size_t body_len)
{
	char buf[MEMD_HDR_SIZE + 4096];
	struct memd_hdr h = {
	        .len = (uint32_t)(MEMD_HDR_SIZE + body_len),
	        .op = op,
	        .flags = 0,
	        .id = id,
	        .status = 0,
	};

	if (body_len > sizeof(buf) - MEMD_HDR_SIZE)
		return -EMSGSIZE;
	memcpy(buf, &h, sizeof(h));
	if (body_len)
		memcpy(buf + MEMD_HDR_SIZE, body, body_len);
	return raw_send(fd, buf, MEMD_HDR_SIZE + body_len);
}

/* Read exactly len bytes (into buf, or dropped if buf is NULL) before the
 * deadline.  RAW_FRAME (all read), RAW_CLOSED, -ETIMEDOUT or -errno. */
static int read_full(int fd, void *buf, size_t len, int64_t deadline)
{
	char scratch[512];
	char *p = buf;

	while (len > 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - mono_ms();
		size_t want = len;
		ssize_t n;
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		if (!p && want > sizeof(scratch))
			want = sizeof(scratch);
		n = recv(fd, p ? p : scratch, want, 0);
		if (n == 0)
			return RAW_CLOSED;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno == ECONNRESET)
				return RAW_CLOSED;
			return -errno;
		}
		if (p)
			p += n;
		len -= (size_t)n;
	}
	return RAW_FRAME;
}

int raw_recv_frame(int fd, struct memd_hdr *h, void *body, size_t cap, size_t *body_len,
                   int timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms;
	size_t blen, keep;
	int r;

	r = read_full(fd, h, sizeof(*h), deadline);
	if (r != RAW_FRAME)
		return r;
	if (h->len < MEMD_HDR_SIZE)
		return -EBADMSG;
	blen = h->len - MEMD_HDR_SIZE;
	keep = blen < cap ? blen : cap;
	if (body_len)
		*body_len = blen;
	r = read_full(fd, body, keep, deadline);
	if (r != RAW_FRAME)
		return r;
	return read_full(fd, NULL, blen - keep, deadline);
}

int raw_recv_frame_fd(int fd, struct memd_hdr *h, void *body, size_t cap, size_t *body_len,
                      int *fd_out, int timeout_ms)
{
	union {
		struct cmsghdr align;              /* alignment for the control buffer */
		char buf[CMSG_SPACE(sizeof(int))]; /* room for one fd */
	} ctl;
	struct iovec iov = {.iov_base = h, .iov_len = 1};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	struct cmsghdr *cm;
	ssize_t n;
	int r;

	*fd_out = -1;
	/* The fd rides on the frame's first byte: read that byte alone with
	 * recvmsg, then the rest as usual. */
	r = poll(&pfd, 1, timeout_ms);
	if (r <= 0)
		return r == 0 ? -ETIMEDOUT : -errno;
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof(ctl.buf);
	n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	if (n == 0 || (n < 0 && errno == ECONNRESET))
		return RAW_CLOSED;
	if (n < 0)
		return -errno;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			memcpy(fd_out, CMSG_DATA(cm), sizeof(int));
	}
	{
		int64_t deadline = mono_ms() + timeout_ms;
		size_t blen, keep;

		r = read_full(fd, (char *)h + 1, sizeof(*h) - 1, deadline);
		if (r != RAW_FRAME)
			return r;
		if (h->len < MEMD_HDR_SIZE)
			return -EBADMSG;
		blen = h->len - MEMD_HDR_SIZE;
		keep = blen < cap ? blen : cap;
		if (body_len)
			*body_len = blen;
		r = read_full(fd, body, keep, deadline);
		if (r != RAW_FRAME)
			return r;
		return read_full(fd, NULL, blen - keep, deadline);
	}
}

int raw_hello(int fd, uint32_t version, struct memd_hdr *h, struct memd_hello_rep *rep)
{
	struct memd_hello_req req = {.version = version};
	struct memd_hello_rep scratch;
	size_t blen;
	int r;

	strcpy(req.name, "rawconn");
	r = raw_send_frame(fd, MEMD_OP_HELLO, 1, &req, sizeof(req));
	if (r < 0)
		return r;
	return raw_recv_frame(fd, h, rep ? rep : &scratch, sizeof(scratch), &blen, 5000);
}

int raw_drain_until_closed(int fd, int timeout_ms, int *frames, int *ok_frames)
{
	int64_t deadline = mono_ms() + timeout_ms;
	char body[4096];
	struct memd_hdr h;
	size_t blen;

	if (frames)
		*frames = 0;
	if (ok_frames)
		*ok_frames = 0;
	for (;;) {
		int64_t left = deadline - mono_ms();
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = raw_recv_frame(fd, &h, body, sizeof(body), &blen, (int)left);
		if (r == RAW_CLOSED)
			return 0;
		if (r == -EBADMSG) /* a bogus header from the daemon: keep reading */
			continue;
		if (r < 0)
			return r;
		if (frames)
			(*frames)++;
		if (ok_frames && h.status == 0)
			(*ok_frames)++;
	}
}
