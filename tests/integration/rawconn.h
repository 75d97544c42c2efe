/*
 * rawconn.h - speak the memd wire protocol by hand, for tests that send
 * what libmemclient never would (garbage, truncated or oversize frames,
 * unknown opcodes, a wrong version).  Frames are built from proto.h's
 * structs directly, not through common/proto.c, so the tests do not share
 * a bug with the code under test.
 */
#ifndef MEMD_TEST_RAWCONN_H
#define MEMD_TEST_RAWCONN_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* Results of raw_recv_frame() besides a negative errno. */
#define RAW_FRAME  1 /* a frame arrived */
#define RAW_CLOSED 0 /* the daemon closed the connection (EOF or reset) */

/* Connect a SOCK_STREAM Unix socket to path.  fd, or -errno. */
int raw_connect(const char *path);

/* Write all len bytes (MSG_NOSIGNAL).  0, or -errno (-EPIPE once the daemon
 * closed). */
int raw_send(int fd, const void *buf, size_t len);

/* Send one frame: a header with len = 16 + body_len, op, id, status 0,
 * then the body. */
int raw_send_frame(int fd, uint16_t op, uint32_t id, const void *body, size_t body_len);

/* Read one frame within timeout_ms.  RAW_FRAME with *h and up to cap body
 * bytes in body (*body_len set to the frame's body length; a longer body
 * is read and dropped past cap), RAW_CLOSED on EOF/ECONNRESET (also in the
 * middle of a frame), -ETIMEDOUT, -EBADMSG (header len < 16), or -errno. */
int raw_recv_frame(int fd, struct memd_hdr *h, void *body, size_t cap, size_t *body_len,
                   int timeout_ms);

/* As raw_recv_frame, and *fd_out gets a file descriptor that arrived as
 * SCM_RIGHTS with the frame (or -1).  The caller closes it. */
int raw_recv_frame_fd(int fd, struct memd_hdr *h, void *body, size_t cap, size_t *body_len,
                      int *fd_out, int timeout_ms);

/* Send HELLO with version and read its reply into *h and *rep (rep may be
 * NULL).  RAW_FRAME, RAW_CLOSED, or -errno as raw_recv_frame. */
int raw_hello(int fd, uint32_t version, struct memd_hdr *h, struct memd_hello_rep *rep);

/* Read and drop frames until EOF.  0 on EOF, -ETIMEDOUT if the connection
 * is still open after timeout_ms.  *frames (if non-NULL) counts the frames
 * read; *ok_frames (if non-NULL) those with status 0. */
int raw_drain_until_closed(int fd, int timeout_ms, int *frames, int *ok_frames);

#endif /* MEMD_TEST_RAWCONN_H */
