/*
 * statsconn.c - memctl's connection to memd and the stats exchange.
 *
 * What it does: connects a blocking Unix socket (common/sock.c), says
 * HELLO with the protocol version, and then sends one stats request at a
 * time and reads its one reply.  Every reply is checked with
 * proto_rep_validate() (common/proto.c, the same code the daemon and the
 * fuzzer use) and its id against the request's; anything else is a
 * protocol error and ends the run.  Lists are fetched page by page,
 * following each page's `next` cursor, into one growing array.
 *
 * Why not libmemclient: its public API (memclient.h) has no way to send a
 * stats request, and memctl must not become a second session that shows
 * up in its own listings.  memctl still takes the default socket and the
 * error texts from memclient.h, so it names things as every client does.
 *
 * Ownership: struct memctl owns the socket and the reply buffer; list
 * arrays belong to the caller.
 */
#include "memctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memclient.h"
#include "sock.h"

#define MC_NAME "memctl"

int mc_fail(struct memctl *m, int err, const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", m->prog, what, memc_strerror(err));
	switch (err) {
	case -EPERM:
	case -EACCES:
		return MEMCTL_EX_NOPERM;
	case -EPIPE:
	case -ECONNRESET:
	case -ECONNREFUSED:
	case -ENOENT:
		return err == -ENOENT && m->fd >= 0 ? MEMCTL_EX_FAIL : MEMCTL_EX_UNAVAILABLE;
	case -EPROTO:
		return MEMCTL_EX_PROTOCOL;
	default:
		return MEMCTL_EX_FAIL;
	}
}

/* Write one request frame and read the reply frame into m->rx.  0 with *h
 * set, or -errno. */
static int mc_exchange(struct memctl *m, uint16_t op, const void *req, size_t req_len,
                       struct memd_hdr *h)
{
	uint8_t frame[MEMD_HDR_SIZE + 64];
	uint32_t id = m->next_id++;
	int err;

	proto_hdr_init(h, op, id, 0, req_len);
	memcpy(frame, h, sizeof(*h));
	memcpy(frame + MEMD_HDR_SIZE, req, req_len);
	err = sock_write_all(m->fd, frame, MEMD_HDR_SIZE + req_len);
	if (err < 0)
		return err;
	err = sock_read_all(m->fd, m->rx, MEMD_HDR_SIZE);
	if (err < 0)
		return err;
	err = proto_hdr_decode(m->rx, h);
	if (err < 0)
		return -EPROTO;
	err = sock_read_all(m->fd, m->rx + MEMD_HDR_SIZE, h->len - MEMD_HDR_SIZE);
	if (err < 0)
		return err;
	if (h->id != id)
		return -EPROTO;
	return proto_rep_validate(op, h, m->rx + MEMD_HDR_SIZE, h->len - MEMD_HDR_SIZE);
}

int mc_connect(struct memctl *m)
{
	struct memd_hello_req req = {.version = MEMD_PROTO_VERSION};
	struct memd_hdr h;
	int fd, err;

	m->rx = malloc(MEMD_FRAME_MAX);
	if (m->rx == NULL)
		return mc_fail(m, -ENOMEM, "connect");
	fd = sock_connect_unix(m->socket);
	if (fd < 0) {
		fprintf(stderr, "%s: cannot connect to memd at %s: %s\n", m->prog, m->socket,
		        strerror(-fd));
		return fd == -EACCES || fd == -EPERM ? MEMCTL_EX_NOPERM : MEMCTL_EX_UNAVAILABLE;
	}
	m->fd = fd;
	snprintf(req.name, sizeof(req.name), "%s", MC_NAME);
	err = mc_exchange(m, MEMD_OP_HELLO, &req, sizeof(req), &h);
	if (err == 0 && h.status != 0)
		err = h.status;
	if (err < 0) {
		fprintf(stderr, "%s: memd at %s did not accept HELLO: %s\n", m->prog, m->socket,
		        memc_strerror(err));
		return err == -EPROTO ? MEMCTL_EX_PROTOCOL : MEMCTL_EX_UNAVAILABLE;
	}
	memcpy(&m->hello, m->rx + MEMD_HDR_SIZE, sizeof(m->hello));
	return 0;
}

void mc_close(struct memctl *m)
{
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	free(m->rx);
	m->rx = NULL;
}

int mc_call(struct memctl *m, uint16_t op, const struct memd_stats_req *req, const void **body,
            size_t *len)
{
	struct memd_hdr h;
	int err;

	err = mc_exchange(m, op, req, sizeof(*req), &h);
	if (err < 0)
		return err;
	*body = m->rx + MEMD_HDR_SIZE;
	*len = h.len - MEMD_HDR_SIZE;
	return h.status;
}

/* Append the page's records to *arr (grown as needed). */
static int mc_list_append(const void *body, size_t rec_size, uint8_t **arr, size_t *count,
                          size_t *cap)
{
	const uint8_t *b = body;
	struct memd_stats_page p;
	uint8_t *grown;

	memcpy(&p, b, sizeof(p));
	if (*count + p.count > *cap) {
		size_t ncap = (*cap == 0 ? 64 : *cap * 2) + p.count;

		grown = realloc(*arr, ncap * rec_size);
		if (grown == NULL)
			return -ENOMEM;
		*arr = grown;
		*cap = ncap;
	}
	for (uint32_t i = 0; i < p.count; i++)
		memcpy(*arr + (*count + i) * rec_size, b + sizeof(p) + (size_t)i * p.rec_size,
		       rec_size);
	*count += p.count;
	return 0;
}

int mc_list(struct memctl *m, uint16_t op, const struct memd_stats_req *req, size_t rec_size,
            void **out, size_t *count)
{
	struct memd_stats_req r = *req;
	struct memd_stats_page p;
	uint8_t *arr = NULL;
	size_t cap = 0, len;
	const void *body;
	int err;

	*count = 0;
	r.cursor = 0;
	do {
		err = mc_call(m, op, &r, &body, &len);
		if (err < 0)
			goto fail;
		memcpy(&p, body, sizeof(p));
		if (p.next != 0 && p.next <= r.cursor) {
			err = -EPROTO; /* a cursor must move forward */
			goto fail;
		}
		err = mc_list_append(body, rec_size, &arr, count, &cap);
		if (err < 0)
			goto fail;
		r.cursor = p.next;
	} while (r.cursor != 0);
	*out = arr;
	return 0;

fail:
	free(arr);
	*count = 0;
	return err;
}

int mc_pool_by_name(struct memctl *m, const char *name, struct memd_stats_pool *out)
{
	struct memd_stats_req req = {0};
	struct memd_stats_pool *pools;
	size_t n;
	int err;

	err = mc_list(m, MEMD_OP_STATS_POOLS, &req, sizeof(*pools), (void **)&pools, &n);
	if (err < 0)
		return err;
	err = -ENOENT;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(pools[i].name, name) == 0) {
			*out = pools[i];
			err = 0;
			break;
		}
	}
	free(pools);
	return err;
}
