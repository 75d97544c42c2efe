/*
 * sock.c - full reads and writes, fd passing and peer identity on Unix
 * stream sockets.
 *
 * What it does: wraps send/recv/sendmsg/recvmsg so callers see either a
 * complete transfer or a negative errno.  EINTR is always retried; short
 * transfers are retried by the "all" functions only.  Writes carry
 * MSG_NOSIGNAL so a dead peer shows up as -EPIPE instead of killing the
 * process with SIGPIPE.
 *
 * File descriptors: a passed fd rides as SCM_RIGHTS on the first byte of a
 * sendmsg().  On the receiving side the kernel hands the fd over together
 * with the first byte of that message that a recvmsg() returns, so every
 * read that might cover such a byte must go through recvmsg() with a
 * control buffer (a plain read() would silently drop the fd).  Received
 * fds are close-on-exec (MSG_CMSG_CLOEXEC).  sock_read_min_fd() reads "at
 * least this much, up to that much", so a reader that knows only the
 * header size gets a whole small frame with one recvmsg(); it and
 * sock_read_all_fd() treat a second fd within one read as a protocol
 * error (-EPROTO), while the single-shot sock_recv_fd() keeps the first
 * fd of a call and closes the others.
 *
 * Ownership: fds passed in by the caller stay the caller's.  An fd this
 * module receives belongs to the caller once returned; on any error path
 * this module closes what it received, so no fd ever leaks.
 */
#include "sock.h"

#include "debug.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#define SOCK_FDS_MAX 8 /* fds we make room for when receiving (extras closed) */

int sock_write_all(int fd, const void *buf, size_t len)
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

int sock_read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = recv(fd, p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t sock_sendmsg_fd(int fd, const void *buf, size_t len, int fd_pass)
{
	union {
		struct cmsghdr align; /* forces cmsghdr alignment */
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	memd_assert(len >= 1);
	if (fd_pass >= 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd_pass, sizeof(int));
	}
	do
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

int sock_send_fd(int fd, const void *buf, size_t len, int fd_pass)
{
	ssize_t n;

	memd_assert(fd_pass >= 0);
	n = sock_sendmsg_fd(fd, buf, len, fd_pass);
	if (n < 0)
		return (int)n;
	return sock_write_all(fd, (const char *)buf + n, len - (size_t)n);
}

/* Walk the control messages of msg: keep the first SCM_RIGHTS fd in
 * *fd_out, close every other one.  Returns how many fds arrived. */
static size_t sock_take_fds(struct msghdr *msg, int *fd_out)
{
	size_t total = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
		size_t nfds;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfds; i++) {
			int rfd;

			memcpy(&rfd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (*fd_out < 0)
				*fd_out = rfd;
			else
				close(rfd);
		}
		total += nfds;
	}
	return total;
}

/* sock_recv_fd, also counting in *nfds the fds that arrived (all but the
 * one in *fd_out already closed). */
static ssize_t sock_recvmsg_fds(int fd, void *buf, size_t len, int *fd_out, size_t *nfds)
{
	union {
		struct cmsghdr align; /* forces cmsghdr alignment */
		char buf[CMSG_SPACE(sizeof(int) * SOCK_FDS_MAX)];
	} ctl;
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr msg;
	ssize_t n;

	memd_assert(len >= 1);
	*fd_out = -1;
	do {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	*nfds = 0;
	if (n < 0)
		return -errno;
	*nfds = sock_take_fds(&msg, fd_out);
	if (msg.msg_flags & MSG_CTRUNC) {
		if (*fd_out >= 0)
			close(*fd_out);
		*fd_out = -1;
		return -EPROTO;
	}
	return n;
}

ssize_t sock_recv_fd(int fd, void *buf, size_t len, int *fd_out)
{
	size_t nfds;

	return sock_recvmsg_fds(fd, buf, len, fd_out, &nfds);
}

ssize_t sock_read_min_fd(int fd, void *buf, size_t min, size_t cap, int *fd_io)
{
	char *p = buf;
	size_t got = 0;
	ssize_t err;

	memd_assert(min >= 1 && min <= cap);
	while (got < min) {
		size_t nfds;
		int rfd;
		ssize_t n = sock_recvmsg_fds(fd, p + got, cap - got, &rfd, &nfds);

		if (n < 0) {
			err = n;
			goto fail_close_fd;
		}
		if (nfds > 1 || (rfd >= 0 && *fd_io >= 0)) {
			if (rfd >= 0)
				close(rfd);
			err = -EPROTO;
			goto fail_close_fd;
		}
		if (rfd >= 0)
			*fd_io = rfd;
		if (n == 0) {
			err = -ECONNRESET;
			goto fail_close_fd;
		}
		got += (size_t)n;
	}
	return (ssize_t)got;

fail_close_fd:
	if (*fd_io >= 0)
		close(*fd_io);
	*fd_io = -1;
	return err;
}

int sock_read_all_fd(int fd, void *buf, size_t len, int *fd_out)
{
	ssize_t n;

	*fd_out = -1;
	if (len == 0)
		return 0;
	n = sock_read_min_fd(fd, buf, len, len, fd_out);
	return n < 0 ? (int)n : 0;
}

int sock_peercred(int fd, struct sock_peer *out)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	if (len != sizeof(cred))
		return -EPROTO;
	out->pid = cred.pid;
	out->uid = cred.uid;
	out->gid = cred.gid;
	return 0;
}

int sock_unix_addr(const char *path, struct sockaddr_un *sa, socklen_t *sa_len)
{
	size_t len;

	if (path == NULL || path[0] == '\0')
		return -EINVAL;
	len = strlen(path);
	if (len >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, len + 1);
	*sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	return 0;
}

/* A blocking connect() interrupted by a signal goes on in the background:
 * wait for it to finish and fetch its result.  0 or -errno. */
static int sock_connect_finish(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	while (poll(&pfd, 1, -1) < 0)
		if (errno != EINTR)
			return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		return -errno;
	return -soerr;
}

int sock_connect_unix(const char *path)
{
	struct sockaddr_un sa;
	socklen_t sa_len;
	int fd;
	int err;

	err = sock_unix_addr(path, &sa, &sa_len);
	if (err < 0)
		return err;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sa_len) < 0) {
		err = errno == EINTR ? sock_connect_finish(fd) : -errno;
		if (err < 0)
			goto fail_close_fd;
	}
	return fd;

fail_close_fd:
	close(fd);
	return err;
}
