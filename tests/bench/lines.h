/*
 * lines.h - read a plain or gzip-compressed text file line by line without
 * touching the C heap.
 *
 * gzopen() would malloc its state and buffers; memd-bench parses its trace
 * in the process that later forks the malloc replays, so the parser must
 * leave malloc untouched.  This reader keeps its buffers and zlib's state
 * in anonymous mmap memory (zlib's zalloc/zfree hooks).
 */
#ifndef MEMD_BENCH_LINES_H
#define MEMD_BENCH_LINES_H

#include <stdbool.h>
#include <stddef.h>

struct lines;

/* Open path.  A file starting with the gzip magic is inflated (several
 * concatenated members are fine); anything else is read as is.  0 with *out
 * set, or -errno (-EISDIR for a directory, -ENOMEM). */
int lines_open(const char *path, struct lines **out);

/* Next line, without its '\n', NUL-terminated, valid until the next call;
 * NULL at the end of the file or on an error (see lines_error).  *toolong is
 * set when the line did not fit in buf and was cut. */
const char *lines_next(struct lines *l, char *buf, size_t len, bool *toolong);

/* After lines_next returned NULL: NULL at a clean end of file, else a
 * description of the read or decompression error. */
const char *lines_error(const struct lines *l);

/* True if lines_error is an I/O error (not corrupt data). */
bool lines_error_is_io(const struct lines *l);

/* Close and unmap everything.  Safe on NULL. */
void lines_close(struct lines *l);

#endif /* MEMD_BENCH_LINES_H */
