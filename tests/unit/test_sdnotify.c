/*
 * test_sdnotify.c - the notify protocol without libsystemd: addresses from
 * $NOTIFY_SOCKET (paths and '@' abstract names), one datagram per
 * notification, and the $WATCHDOG_USEC / $WATCHDOG_PID rules.
 *
 * Each Criterion test runs in its own process, so setting the environment
 * here cannot leak into another test.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sdnotify.h"

/* A datagram receiver at name ('@' abstract) or a path; the fd. */
static int receiver(const char *name)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	memcpy(sa.sun_path, name, len);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	else
		len++;
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa,
	                  (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)),
	             0, "bind %s: %s", name, strerror(errno));
	return fd;
}

/* Receive one datagram within a second into buf. */
static void recv_one(int fd, char *buf, size_t len)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n;

	cr_assert_eq(poll(&p, 1, 1000), 1, "no datagram arrived");
	n = recv(fd, buf, len - 1, 0);
	cr_assert_geq(n, 0);
	buf[n] = '\0';
}

Test(sdnotify, without_notify_socket_it_is_disabled_and_sends_succeed)
{
	struct sdnotify n;

	unsetenv("NOTIFY_SOCKET");
	setenv("WATCHDOG_USEC", "1000", 1);
	cr_assert_eq(sdnotify_init(&n), 0);
	cr_assert_not(sdnotify_enabled(&n));
	cr_assert_eq(sdnotify_send(&n, "READY=1"), 0);
	cr_assert_eq(sdnotify_watchdog_usec(&n), 0, "a watchdog without a socket to ping");
	sdnotify_close(&n);
}

Test(sdnotify, abstract_name_receives_one_datagram_per_notification)
{
	char name[64], buf[256];
	struct sdnotify n;
	int fd;

	snprintf(name, sizeof(name), "@memdt-unit-notify-%d", (int)getpid());
	fd = receiver(name);
	setenv("NOTIFY_SOCKET", name, 1);
	cr_assert_eq(sdnotify_init(&n), 0);
	cr_assert(sdnotify_enabled(&n));
	cr_assert_eq(sdnotify_sendf(&n, "READY=1\nSTATUS=%d pools", 3), 0);
	recv_one(fd, buf, sizeof(buf));
	cr_assert_str_eq(buf, "READY=1\nSTATUS=3 pools");
	cr_assert_eq(sdnotify_send(&n, "STOPPING=1"), 0);
	recv_one(fd, buf, sizeof(buf));
	cr_assert_str_eq(buf, "STOPPING=1");
	sdnotify_close(&n);
	sdnotify_close(&n); /* idempotent */
	cr_assert_not(sdnotify_enabled(&n));
	close(fd);
}

Test(sdnotify, path_name_receives_notifications)
{
	char dir[] = "/tmp/memdt-sdn-XXXXXX", path[128], buf[64];
	struct sdnotify n;
	int fd;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/notify", dir);
	fd = receiver(path);
	setenv("NOTIFY_SOCKET", path, 1);
	cr_assert_eq(sdnotify_init(&n), 0);
	cr_assert_eq(sdnotify_send(&n, "WATCHDOG=1"), 0);
	recv_one(fd, buf, sizeof(buf));
	cr_assert_str_eq(buf, "WATCHDOG=1");
	sdnotify_close(&n);
	close(fd);
	unlink(path);
	rmdir(dir);
}

Test(sdnotify, a_vanished_receiver_is_an_error_not_a_crash)
{
	struct sdnotify n;

	setenv("NOTIFY_SOCKET", "/nonexistent/memd-notify", 1);
	cr_assert_eq(sdnotify_init(&n), 0);
	cr_assert_eq(sdnotify_send(&n, "READY=1"), -ENOENT);
	sdnotify_close(&n);
}

Test(sdnotify, malformed_variables_are_refused)
{
	static const char *const bad_sockets[] = {"relative/path", "@", "/", "vsock:2:1"};
	struct sdnotify n;

	for (size_t i = 0; i < sizeof(bad_sockets) / sizeof(bad_sockets[0]); i++) {
		setenv("NOTIFY_SOCKET", bad_sockets[i], 1);
		cr_expect_eq(sdnotify_init(&n), -EINVAL, "NOTIFY_SOCKET=%s", bad_sockets[i]);
		cr_expect_not(sdnotify_enabled(&n));
	}
	setenv("NOTIFY_SOCKET", "@memdt-unit-x", 1);
	setenv("WATCHDOG_USEC", "12x", 1);
	cr_expect_eq(sdnotify_init(&n), -EINVAL);
	cr_expect_not(sdnotify_enabled(&n));
	setenv("WATCHDOG_USEC", "0", 1);
	cr_expect_eq(sdnotify_init(&n), -EINVAL);
	setenv("WATCHDOG_USEC", "1000", 1);
	setenv("WATCHDOG_PID", "-3", 1);
	cr_expect_eq(sdnotify_init(&n), -EINVAL);
}

Test(sdnotify, watchdog_applies_only_to_the_named_pid)
{
	char pid[32];
	struct sdnotify n;

	setenv("NOTIFY_SOCKET", "@memdt-unit-wd", 1);
	setenv("WATCHDOG_USEC", "30000000", 1);
	unsetenv("WATCHDOG_PID");
	cr_assert_eq(sdnotify_init(&n), 0);
	cr_expect_eq(sdnotify_watchdog_usec(&n), 30000000u);
	sdnotify_close(&n);

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	cr_assert_eq(sdnotify_init(&n), 0);
	cr_expect_eq(sdnotify_watchdog_usec(&n), 30000000u);
	sdnotify_close(&n);

	snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	cr_assert_eq(sdnotify_init(&n), 0);
	cr_expect(sdnotify_enabled(&n), "notifications still go out");
	cr_expect_eq(sdnotify_watchdog_usec(&n), 0, "pings for another process's watchdog");
	sdnotify_close(&n);
}
