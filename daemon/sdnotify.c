/*
 * sdnotify.c - sd_notify(3) without libsystemd.
 *
 * What it does: the notification protocol is small enough to speak
 * directly.  $NOTIFY_SOCKET holds an AF_UNIX address: a filesystem path
 * ("/run/systemd/notify") or, with a leading '@', a name in the abstract
 * namespace (the '@' becomes a NUL byte and the address length counts
 * only the name, no trailing NUL).  A notification is one datagram sent to
 * that address from an unbound SOCK_DGRAM socket; the manager learns our
 * pid from the socket's credentials.  Several assignments go in one
 * datagram, separated by newlines ("READY=1\nSTATUS=...").
 *
 * The watchdog contract (sd_watchdog_enabled(3)): $WATCHDOG_USEC is the
 * interval after which the manager deems us hung; $WATCHDOG_PID, if set,
 * names the process it applies to, so a child that inherited the
 * environment does not send pings for its parent.  Pinging at half the
 * interval, as the server does, leaves room for one late tick.
 *
 * Invariants: a struct sdnotify is either disabled (fd -1, sends are
 * no-ops that succeed) or holds a connected-by-address datagram socket;
 * the environment is only read, never changed (memd does not fork, so
 * nothing could inherit it by mistake).
 *
 * Ownership: the struct owns its fd; sdnotify_close() releases it.
 */
#include "sdnotify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SDNOTIFY_MSG_MAX 1024 /* bytes of one formatted notification */

/* Parse $NOTIFY_SOCKET into n->addr.  0 or -EINVAL. */
static int sdnotify_parse_addr(struct sdnotify *n, const char *v)
{
	size_t len = strlen(v);

	if ((v[0] != '/' && v[0] != '@') || len < 2 || len > sizeof(n->addr.sun_path) - 1)
		return -EINVAL;
	memset(&n->addr, 0, sizeof(n->addr));
	n->addr.sun_family = AF_UNIX;
	memcpy(n->addr.sun_path, v, len);
	if (v[0] == '@') {
		n->addr.sun_path[0] = '\0';
		n->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	} else {
		n->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	}
	return 0;
}

/* Parse $WATCHDOG_USEC / $WATCHDOG_PID.  0 or -EINVAL. */
static int sdnotify_parse_watchdog(struct sdnotify *n)
{
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	unsigned long long v;
	char *end;

	if (usec == NULL)
		return 0;
	errno = 0;
	v = strtoull(usec, &end, 10);
	if (errno != 0 || end == usec || *end != '\0' || v == 0)
		return -EINVAL;
	if (pid != NULL) {
		long p;

		errno = 0;
		p = strtol(pid, &end, 10);
		if (errno != 0 || end == pid || *end != '\0' || p <= 0)
			return -EINVAL;
		if ((pid_t)p != getpid())
			return 0; /* meant for another process */
	}
	n->watchdog_usec = (uint64_t)v;
	return 0;
}

int sdnotify_init(struct sdnotify *n)
{
	const char *v = getenv("NOTIFY_SOCKET");
	int rc;

	memset(n, 0, sizeof(*n));
	n->fd = -1;
	if (v == NULL || v[0] == '\0')
		return 0;
	rc = sdnotify_parse_addr(n, v);
	if (rc < 0)
		return rc;
	rc = sdnotify_parse_watchdog(n);
	if (rc < 0)
		return rc;
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (n->fd < 0) {
		rc = -errno;
		n->watchdog_usec = 0;
		return rc;
	}
	return 0;
}

bool sdnotify_enabled(const struct sdnotify *n)
{
	return n->fd >= 0;
}

int sdnotify_send(const struct sdnotify *n, const char *state)
{
	ssize_t r;

	if (n->fd < 0)
		return 0;
	do {
		r = sendto(n->fd, state, strlen(state), MSG_NOSIGNAL,
		           (const struct sockaddr *)&n->addr, n->addr_len);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

int sdnotify_sendf(const struct sdnotify *n, const char *fmt, ...)
{
	char msg[SDNOTIFY_MSG_MAX];
	va_list ap;

	if (n->fd < 0)
		return 0;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sdnotify_send(n, msg);
}

uint64_t sdnotify_watchdog_usec(const struct sdnotify *n)
{
	return n->fd >= 0 ? n->watchdog_usec : 0;
}

void sdnotify_close(struct sdnotify *n)
{
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
	n->watchdog_usec = 0;
}
