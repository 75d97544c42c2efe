/*
 * sock.h - blocking-safe helpers for the memd Unix socket.
 *
 * Full reads and writes that retry EINTR and short transfers, sendmsg and
 * recvmsg carrying one SCM_RIGHTS fd, the peer's kernel-verified identity
 * (SO_PEERCRED), and filling/connecting a sockaddr_un with -ENAMETOOLONG
 * for paths that do not fit.  No libuv; the daemon uses the single-shot
 * functions (sock_sendmsg_fd) on its non-blocking fds, the client the
 * "all" functions on its blocking one.
 *
 * Every function returns 0 (or a byte count where documented) or -errno.
 * Writes use MSG_NOSIGNAL: a vanished peer gives -EPIPE, never SIGPIPE.
 * Every fd this module creates or receives is close-on-exec.
 */
#ifndef MEMD_SOCK_H
#define MEMD_SOCK_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

/* The identity of the process at the other end of a Unix socket, as the
 * kernel recorded it at connect() time. */
struct sock_peer {
	pid_t pid; /* peer's pid */
	uid_t uid; /* peer's effective uid */
	gid_t gid; /* peer's effective gid */
};

/* Write all len bytes of buf to fd (a socket), retrying EINTR and short
 * writes.  0, or -errno (-EPIPE / -ECONNRESET when the peer is gone,
 * -EAGAIN if fd is non-blocking and full: part may have been written). */
int sock_write_all(int fd, const void *buf, size_t len);

/* Read exactly len bytes into buf, retrying EINTR and short reads.  0, or
 * -ECONNRESET on end of file before len bytes (including before the first
 * byte), or -errno. */
int sock_read_all(int fd, void *buf, size_t len);

/* One sendmsg() of buf[0..len) (len >= 1) with fd_pass attached as
 * SCM_RIGHTS to the first byte (fd_pass < 0: no fd).  Retries EINTR only.
 * Returns the number of bytes sent (>= 1; the fd went with them), or
 * -errno (-EAGAIN on a full non-blocking socket: nothing was sent and the
 * fd was not passed).  The caller keeps ownership of fd_pass. */
ssize_t sock_sendmsg_fd(int fd, const void *buf, size_t len, int fd_pass);

/* Send all len bytes (len >= 1) with fd_pass (>= 0) riding on the first
 * byte, then the rest with plain writes.  0 or -errno as sock_write_all.
 * The caller keeps ownership of fd_pass (close it after the call). */
int sock_send_fd(int fd, const void *buf, size_t len, int fd_pass);

/* One recvmsg() of up to len bytes (len >= 1), capturing at most one fd
 * sent as SCM_RIGHTS (received with MSG_CMSG_CLOEXEC).  Retries EINTR.
 * Returns bytes read (0 at end of file) or -errno.  *fd_out is set to the
 * received fd (the caller owns it) or -1; extra fds are closed, and a
 * truncated control message gives -EPROTO (any fd received is closed). */
ssize_t sock_recv_fd(int fd, void *buf, size_t len, int *fd_out);

/* Read at least min and at most cap bytes into buf (1 <= min <= cap) with
 * recvmsg, retrying EINTR and short reads until min bytes have arrived.
 * Every recvmsg asks for all of buf's remaining room, so bytes past min
 * that are already there come with the same call: a caller that expects a
 * frame of unknown length reads its header as min and usually gets the
 * whole frame in one system call.  At most one SCM_RIGHTS fd may arrive:
 * *fd_io is -1, or an fd (the caller's) received by an earlier read of the
 * same message, on entry; it receives the fd that arrives.  Returns the
 * bytes read (min..cap), or -errno: -ECONNRESET on end of file before min
 * bytes, -EPROTO if a second fd arrives; on error *fd_io has been closed
 * (whether it came in or arrived here) and set to -1. */
ssize_t sock_read_min_fd(int fd, void *buf, size_t min, size_t cap, int *fd_io);

/* Read exactly len bytes like sock_read_all, capturing one SCM_RIGHTS fd
 * if the peer attached one to any of those bytes.  0 with *fd_out set (an
 * fd the caller owns, or -1), or -errno (-ECONNRESET on early EOF, -EPROTO
 * if more than one fd arrived); on error no fd is left open. */
int sock_read_all_fd(int fd, void *buf, size_t len, int *fd_out);

/* The peer's credentials (SO_PEERCRED).  0 or -errno. */
int sock_peercred(int fd, struct sock_peer *out);

/* Fill *sa for path; *sa_len gets the length to pass to bind/connect.
 * 0, -EINVAL (empty path), -ENAMETOOLONG (path does not fit sun_path with
 * its NUL). */
int sock_unix_addr(const char *path, struct sockaddr_un *sa, socklen_t *sa_len);

/* Create a blocking, close-on-exec SOCK_STREAM socket connected to the
 * Unix socket at path.  The fd (>= 0, caller owns it), or -ENAMETOOLONG,
 * -EINVAL, -ENOENT / -ECONNREFUSED (nobody listening), -EACCES, -errno. */
int sock_connect_unix(const char *path);

#endif /* MEMD_SOCK_H */
