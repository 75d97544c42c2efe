/*
 * lines.c - a line reader over plain or gzip files that never calls malloc.
 *
 * One anonymous mapping holds the reader: the file descriptor, the zlib
 * stream, an input buffer and an output buffer.  zlib's own state (about
 * 7 KiB plus a 32 KiB window) comes from zalloc/zfree hooks that mmap and
 * munmap, each block prefixed with its mapped length.
 *
 * Invariants: out[pos, len) are decoded bytes not yet returned; for gzip,
 * zs.next_in/avail_in are the read but not yet inflated bytes; `done` is set
 * once neither the file nor zlib will produce more.  The first read decides
 * the format: a file that starts with 1f 8b is gzip (members may follow one
 * another, as `cat a.gz b.gz` makes), anything else is plain text.
 */
#include "lines.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define BUF_BYTES (256u * 1024u)
#define ZHDR      16u /* bytes before each zalloc block: its mapped length */

struct lines {
	int fd;                       /* the file */
	bool gz;                      /* inflating */
	bool in_eof;                  /* read() has returned 0 */
	bool done;                    /* nothing more will come */
	bool io_err;                  /* err describes an I/O error */
	z_stream zs;                  /* inflate state (gz only) */
	size_t pos;                   /* next unread byte of out */
	size_t len;                   /* bytes valid in out */
	char err[160];                /* error description, "" if none */
	unsigned char in[BUF_BYTES];  /* compressed input */
	unsigned char out[BUF_BYTES]; /* decoded text */
};

/* zlib allocation hook: an anonymous mapping with a length prefix. */
static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
	size_t bytes = (size_t)items * size + ZHDR;
	unsigned char *p =
	        mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)opaque;
	if (p == MAP_FAILED)
		return Z_NULL;
	memcpy(p, &bytes, sizeof bytes);
	return p + ZHDR;
}

/* zlib free hook: unmap a block from z_alloc. */
static void z_free(voidpf opaque, voidpf addr)
{
	unsigned char *p = (unsigned char *)addr - ZHDR;
	size_t bytes;

	(void)opaque;
	memcpy(&bytes, p, sizeof bytes);
	munmap(p, bytes);
}

/* Read up to len bytes into buf, retrying on EINTR.  Bytes read (0 at end
 * of file) or -1 with l->err and errno set. */
static ssize_t read_some(struct lines *l, unsigned char *buf, size_t len)
{
	ssize_t n;

	do
		n = read(l->fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int saved = errno;

		snprintf(l->err, sizeof l->err, "read error: %s", strerror(saved));
		l->io_err = true;
		errno = saved;
	}
	if (n == 0)
		l->in_eof = true;
	return n;
}

/* Make sure zlib has input if the file has any left.  0 or -1. */
static int feed(struct lines *l)
{
	ssize_t n;

	if (l->zs.avail_in > 0 || l->in_eof)
		return 0;
	n = read_some(l, l->in, BUF_BYTES);
	if (n < 0)
		return -1;
	l->zs.next_in = l->in;
	l->zs.avail_in = (uInt)n;
	return 0;
}

/* Record a zlib failure. */
static int z_fail(struct lines *l, const char *what)
{
	snprintf(l->err, sizeof l->err, "gzip data: %s", what);
	return -1;
}

/* Inflate into out.  Bytes produced (0: end of data) or -1. */
static ssize_t refill_gz(struct lines *l)
{
	for (;;) {
		int rc;

		if (feed(l) < 0)
			return -1;
		l->zs.next_out = l->out;
		l->zs.avail_out = BUF_BYTES;
		rc = inflate(&l->zs, Z_NO_FLUSH);
		if (rc == Z_STREAM_END) {
			if (feed(l) < 0)
				return -1;
			if (l->zs.avail_in == 0)
				l->done = true;
			else if (inflateReset(&l->zs) != Z_OK)
				return z_fail(l, "cannot restart");
		} else if (rc == Z_BUF_ERROR && l->zs.avail_in == 0 && l->in_eof) {
			return z_fail(l, "truncated");
		} else if (rc != Z_OK && rc != Z_BUF_ERROR) {
			return z_fail(l, l->zs.msg ? l->zs.msg : "corrupt");
		}
		if (l->zs.avail_out < BUF_BYTES || l->done)
			return (ssize_t)(BUF_BYTES - l->zs.avail_out);
	}
}

/* Decode more text into out.  Bytes now available, 0 at the end, or -1. */
static ssize_t refill(struct lines *l)
{
	ssize_t n;

	l->pos = l->len = 0;
	if (l->done)
		return 0;
	n = l->gz ? refill_gz(l) : read_some(l, l->out, BUF_BYTES);
	if (n == 0)
		l->done = true;
	if (n > 0)
		l->len = (size_t)n;
	return n;
}

/* Look at the first bytes and set up plain or gzip reading.  0 or -errno. */
static int sniff(struct lines *l)
{
	ssize_t n = read_some(l, l->in, BUF_BYTES);

	if (n < 0)
		return -errno;
	if (n >= 2 && l->in[0] == 0x1f && l->in[1] == 0x8b) {
		l->gz = true;
		l->zs.zalloc = z_alloc;
		l->zs.zfree = z_free;
		l->zs.next_in = l->in;
		l->zs.avail_in = (uInt)n;
		return inflateInit2(&l->zs, 15 + 16) == Z_OK ? 0 : -ENOMEM;
	}
	memcpy(l->out, l->in, (size_t)n);
	l->len = (size_t)n;
	return 0;
}

int lines_open(const char *path, struct lines **out)
{
	struct stat st;
	struct lines *l;
	int rc, fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	rc = fstat(fd, &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? -EISDIR : 0;
	if (rc < 0)
		goto fail_close_fd;
	l = mmap(NULL, sizeof(*l), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (l == MAP_FAILED) {
		rc = -ENOMEM;
		goto fail_close_fd;
	}
	l->fd = fd;
	rc = sniff(l);
	if (rc < 0)
		goto fail_unmap;
	*out = l;
	return 0;

fail_unmap:
	munmap(l, sizeof(*l));
fail_close_fd:
	close(fd);
	return rc;
}

/* Append up to n bytes of src to buf (holding *used of len bytes), keeping
 * room for the NUL; sets *toolong when bytes are dropped. */
static void append(char *buf, size_t len, size_t *used, const void *src, size_t n, bool *toolong)
{
	size_t room = len - 1 - *used;

	if (n > room) {
		*toolong = true;
		n = room;
	}
	memcpy(buf + *used, src, n);
	*used += n;
}

const char *lines_next(struct lines *l, char *buf, size_t len, bool *toolong)
{
	size_t used = 0;
	bool any = false;

	*toolong = false;
	for (;;) {
		const unsigned char *p, *nl;
		ssize_t n = l->pos < l->len ? 1 : refill(l);

		if (n < 0 || (n == 0 && !any))
			return NULL;
		if (n == 0)
			break;
		p = l->out + l->pos;
		nl = memchr(p, '\n', l->len - l->pos);
		append(buf, len, &used, p, nl ? (size_t)(nl - p) : l->len - l->pos, toolong);
		any = true;
		l->pos = nl ? (size_t)(nl - l->out) + 1 : l->len;
		if (nl)
			break;
	}
	buf[used] = '\0';
	return buf;
}

const char *lines_error(const struct lines *l)
{
	return l->err[0] ? l->err : NULL;
}

bool lines_error_is_io(const struct lines *l)
{
	return l->io_err;
}

void lines_close(struct lines *l)
{
	if (!l)
		return;
	if (l->gz)
		inflateEnd(&l->zs);
	close(l->fd);
	munmap(l, sizeof(*l));
}
