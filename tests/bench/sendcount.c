/*
 * sendcount.c - count the writes this process makes, to count round trips.
 *
 * libmemclient offers no request counter, and memd none that a client can
 * read, so memd-bench counts on the client side what every request has to
 * do: leave the process through one of send, sendto, sendmsg, write or
 * writev.  memd-bench is linked with -Wl,--wrap=<each> (tests/bench/
 * meson.build) and libmemclient statically, so the linker routes every
 * such call in the executable, the library's included, through the
 * __wrap_ functions here.  During a client replay the bench itself makes
 * none of these calls, so the count over the replay is the number of
 * request frames the library wrote (several frames pipelined in one write
 * count once, which is what a round trip is: one wait for the daemon).
 * A partial write retried would count twice; requests are a few dozen
 * bytes, far below a socket buffer, so that does not happen here.
 */
#include "bench.h"

#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

ssize_t __real_send(int fd, const void *buf, size_t len, int flags);
ssize_t __real_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
                      socklen_t tolen);
ssize_t __real_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t __real_write(int fd, const void *buf, size_t len);
ssize_t __real_writev(int fd, const struct iovec *iov, int iovcnt);

ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags);
ssize_t __wrap_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
                      socklen_t tolen);
ssize_t __wrap_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t __wrap_write(int fd, const void *buf, size_t len);
ssize_t __wrap_writev(int fd, const struct iovec *iov, int iovcnt);

static _Atomic uint64_t sends;

static inline void count(void)
{
	atomic_fetch_add_explicit(&sends, 1, memory_order_relaxed);
}

uint64_t bench_sends(void)
{
	return atomic_load_explicit(&sends, memory_order_relaxed);
}

ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags)
{
	count();
	return __real_send(fd, buf, len, flags);
}

ssize_t __wrap_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
                      socklen_t tolen)
{
	count();
	return __real_sendto(fd, buf, len, flags, to, tolen);
}

ssize_t __wrap_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	count();
	return __real_sendmsg(fd, msg, flags);
}

ssize_t __wrap_write(int fd, const void *buf, size_t len)
{
	count();
	return __real_write(fd, buf, len);
}

ssize_t __wrap_writev(int fd, const struct iovec *iov, int iovcnt)
{
	count();
	return __real_writev(fd, iov, iovcnt);
}
