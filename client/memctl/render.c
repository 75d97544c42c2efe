/*
 * render.c - human output: sizes, times and aligned tables.
 *
 * Sizes are binary (KiB, MiB, GiB, TiB) with one decimal, bytes below
 * 1 KiB.  Tables collect every cell first (so each column can be as wide
 * as its widest cell), then print with two spaces between columns; a
 * header beginning with '>' right-aligns its column (numbers and sizes).
 *
 * Ownership: a table owns its cells until mc_table_print frees it.
 */
#include "memctl.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *mc_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
		return buf;
	}
	v /= 1024;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

const char *mc_duration(uint64_t ns, char *buf, size_t len)
{
	uint64_t s = ns / 1000000000u;
	unsigned long long d = s / 86400;

	if (d > 0)
		snprintf(buf, len, "%llud %02u:%02u:%02u", d, (unsigned)(s / 3600 % 24),
		         (unsigned)(s / 60 % 60), (unsigned)(s % 60));
	else
		snprintf(buf, len, "%02u:%02u:%02u", (unsigned)(s / 3600), (unsigned)(s / 60 % 60),
		         (unsigned)(s % 60));
	return buf;
}

const char *mc_time(uint64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;

	if (ns == 0 || localtime_r(&t, &tm) == NULL || strftime(buf, len, "%F %T", &tm) == 0)
		snprintf(buf, len, "-");
	return buf;
}

struct mc_table {
	size_t ncols; /* columns */
	size_t nrows; /* rows, the header included */
	size_t cap;   /* rows allocated */
	char **cells; /* nrows * ncols strings (malloc'd) */
	bool *right;  /* per column: right-aligned */
};

static void mc_table_add(struct mc_table *t, char **row)
{
	if (t->nrows == t->cap) {
		size_t ncap = t->cap * 2 + 8;
		char **cells = realloc(t->cells, ncap * t->ncols * sizeof(*cells));

		if (cells == NULL) {
			for (size_t i = 0; i < t->ncols; i++)
				free(row[i]);
			return; /* out of memory: the row is dropped */
		}
		t->cells = cells;
		t->cap = ncap;
	}
	memcpy(t->cells + t->nrows * t->ncols, row, t->ncols * sizeof(*row));
	t->nrows++;
}

struct mc_table *mc_table_new(size_t ncols, const char *const *headers)
{
	struct mc_table *t = calloc(1, sizeof(*t));
	char **row;

	if (t == NULL)
		return NULL;
	t->ncols = ncols;
	t->right = calloc(ncols, sizeof(*t->right));
	row = calloc(ncols, sizeof(*row));
	if (t->right == NULL || row == NULL) {
		free(row);
		free(t->right);
		free(t);
		return NULL;
	}
	for (size_t i = 0; i < ncols; i++) {
		t->right[i] = headers[i][0] == '>';
		row[i] = strdup(headers[i] + t->right[i]);
	}
	mc_table_add(t, row);
	free(row);
	return t;
}

void mc_table_row(struct mc_table *t, const char *fmt, ...)
{
	char *line = NULL, *save = NULL, *tok, **row;
	va_list ap;
	size_t i = 0;

	if (t == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		line = NULL;
	va_end(ap);
	row = calloc(t->ncols, sizeof(*row));
	if (line == NULL || row == NULL)
		goto out;
	for (tok = strtok_r(line, "\t", &save); tok != NULL && i < t->ncols;
	     tok = strtok_r(NULL, "\t", &save))
		row[i++] = strdup(tok);
	while (i < t->ncols)
		row[i++] = strdup("");
	mc_table_add(t, row);
out:
	free(row);
	free(line);
}

void mc_table_print(struct mc_table *t, FILE *f)
{
	size_t *w;

	if (t == NULL)
		return;
	w = calloc(t->ncols, sizeof(*w));
	for (size_t r = 0; w != NULL && r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			size_t l = s != NULL ? strlen(s) : 0;

			if (l > w[c])
				w[c] = l;
		}
	for (size_t r = 0; w != NULL && r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			int width = (int)w[c];

			if (s == NULL)
				s = "";
			if (c + 1 == t->ncols && !t->right[c])
				fprintf(f, "%s", s);
			else
				fprintf(f, t->right[c] ? "%*s" : "%-*s", width, s);
			if (c + 1 < t->ncols)
				fputs("  ", f);
		}
		fputc('\n', f);
	}
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->right);
	free(w);
	free(t);
}
