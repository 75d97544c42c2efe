/*
 * sdnotify.h - the service manager's notification protocol, without
 * libsystemd: READY=1, STATUS=..., WATCHDOG=1, STOPPING=1.
 *
 * Under systemd with Type=notify, $NOTIFY_SOCKET names an AF_UNIX datagram
 * socket (a path, or "@name" for the abstract namespace); each message is
 * one datagram of newline-separated VAR=value assignments.  Outside
 * systemd the variable is unset and every call here does nothing.
 *
 * The watchdog: $WATCHDOG_USEC (microseconds) asks for WATCHDOG=1 at least
 * that often; $WATCHDOG_PID, when set, says which process is meant.
 */
#ifndef MEMD_SDNOTIFY_H
#define MEMD_SDNOTIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Where notifications go. */
struct sdnotify {
	int fd;                  /* datagram socket, -1 when disabled */
	struct sockaddr_un addr; /* the manager's socket */
	socklen_t addr_len;      /* bytes of addr in use */
	uint64_t watchdog_usec;  /* requested watchdog interval, 0: none */
};

/* Read $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID (the caller's pid
 * is compared with the latter) into n.  Without $NOTIFY_SOCKET n is
 * disabled (fd -1) and 0 is returned.  -EINVAL for a malformed variable
 * (n disabled), -errno if the socket cannot be made. */
int sdnotify_init(struct sdnotify *n);

/* Is anybody listening? */
bool sdnotify_enabled(const struct sdnotify *n);

/* Send state (e.g. "READY=1\nSTATUS=serving") as one datagram.  0 (also
 * when disabled), or -errno from sendto (the caller logs; the daemon keeps
 * running: a lost notification is not fatal). */
int sdnotify_send(const struct sdnotify *n, const char *state);

/* Send printf-style state.  Returns like sdnotify_send(). */
int sdnotify_sendf(const struct sdnotify *n, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* The watchdog interval the manager asked for, in microseconds (0 when
 * there is none or it is meant for another process). */
uint64_t sdnotify_watchdog_usec(const struct sdnotify *n);

/* Close the socket; n is disabled afterwards.  Idempotent. */
void sdnotify_close(struct sdnotify *n);

#endif /* MEMD_SDNOTIFY_H */
