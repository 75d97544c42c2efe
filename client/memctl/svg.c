/*
 * svg.c - the pool map as an SVG picture (`memctl map POOL --svg FILE`).
 *
 * One horizontal bar per segment, MC_SVG_W pixels wide for the whole
 * segment, with one rectangle per page run at its exact offset and
 * length: free runs light grey, punched runs white with a grey outline,
 * large blocks green (private) or purple (shared); a slab is split into
 * private, shared and free parts by its occupancy.  A title, a label per
 * segment and a legend are included.  The document starts with "<svg"
 * and ends with "</svg>\n"; pool names are XML-escaped.
 *
 * Ownership: the file is created (truncated) and closed here; on a write
 * error it is left incomplete and the error returned.
 */
#include "memctl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MC_SVG_W      1024 /* bar width in px */
#define MC_SVG_BAR    24   /* bar height */
#define MC_SVG_ROW    48   /* vertical pitch of a segment */
#define MC_SVG_X      16   /* left margin */
#define MC_SVG_TOP    40   /* space for the title */
#define MC_COL_PRIV   "#2e9e4f"
#define MC_COL_SHARED "#8e44ad"
#define MC_COL_FREE   "#d9d9d9"
#define MC_COL_PUNCH  "#ffffff"

/* Write s XML-escaped. */
static void mc_svg_text(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

/* One rectangle of w px at x in row y, if it is at least a hair wide. */
static void mc_svg_rect(FILE *f, double x, double y, double w, const char *fill)
{
	if (w <= 0)
		return;
	fprintf(f,
	        "<rect x=\"%.2f\" y=\"%.0f\" width=\"%.2f\" height=\"%d\" fill=\"%s\" "
	        "stroke=\"%s\" stroke-width=\"0.3\"/>\n",
	        x, y, w, MC_SVG_BAR, fill, strcmp(fill, MC_COL_PUNCH) == 0 ? "#999999" : "none");
}

/* The rectangles of run r of a segment of size bytes, in row y. */
static void mc_svg_run(FILE *f, const struct memd_stats_run *r, uint64_t size, double y)
{
	struct mc_occupancy o = {0};
	double scale = (double)MC_SVG_W / (double)size, x = MC_SVG_X + (double)r->off * scale;

	mc_run_occupancy(r, r->off, r->off + r->len, &o);
	mc_svg_rect(f, x, y, (double)o.private_bytes * scale, MC_COL_PRIV);
	x += (double)o.private_bytes * scale;
	mc_svg_rect(f, x, y, (double)o.shared_bytes * scale, MC_COL_SHARED);
	x += (double)o.shared_bytes * scale;
	mc_svg_rect(f, x, y, (double)o.free_bytes * scale, MC_COL_FREE);
	x += (double)o.free_bytes * scale;
	mc_svg_rect(f, x, y, (double)o.punched_bytes * scale, MC_COL_PUNCH);
}

static void mc_svg_legend(FILE *f, double y)
{
	static const char *const label[] = {"private", "shared", "free", "punched"};
	static const char *const color[] = {MC_COL_PRIV, MC_COL_SHARED, MC_COL_FREE, MC_COL_PUNCH};

	for (int i = 0; i < 4; i++) {
		fprintf(f,
		        "<rect x=\"%d\" y=\"%.0f\" width=\"14\" height=\"14\" fill=\"%s\" "
		        "stroke=\"#999999\" stroke-width=\"0.5\"/>\n",
		        MC_SVG_X + i * 120, y, color[i]);
		fprintf(f, "<text x=\"%d\" y=\"%.0f\" font-size=\"12\">%s</text>\n",
		        MC_SVG_X + i * 120 + 20, y + 12, label[i]);
	}
}

int mc_svg_write(const char *path, const char *pool, const struct memd_stats_run *runs,
                 size_t count)
{
	size_t nseg = 0, i = 0, j;
	double y;
	FILE *f;
	char sz[32];
	int err = 0;

	for (size_t k = 0; k < count; k++)
		nseg += k == 0 || runs[k].seg_id != runs[k - 1].seg_id;
	f = fopen(path, "w");
	if (f == NULL)
		return -errno;
	fprintf(f,
	        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%zu\" "
	        "font-family=\"monospace\">\n",
	        MC_SVG_W + 2 * MC_SVG_X, MC_SVG_TOP + nseg * MC_SVG_ROW + 40);
	fputs("<title>memd pool ", f);
	mc_svg_text(f, pool);
	fputs("</title>\n<text x=\"16\" y=\"24\" font-size=\"16\">memd pool ", f);
	mc_svg_text(f, pool);
	fputs("</text>\n", f);
	y = MC_SVG_TOP;
	while (i < count) {
		uint64_t size;

		for (j = i; j < count && runs[j].seg_id == runs[i].seg_id; j++)
			;
		size = runs[j - 1].off + runs[j - 1].len;
		fprintf(f, "<text x=\"%d\" y=\"%.0f\" font-size=\"11\">segment %u (%s)</text>\n",
		        MC_SVG_X, y + 10, runs[i].seg_id, mc_size(size, sz, sizeof(sz)));
		for (size_t k = i; k < j; k++)
			mc_svg_run(f, &runs[k], size, y + 14);
		y += MC_SVG_ROW;
		i = j;
	}
	mc_svg_legend(f, y + 8);
	fputs("</svg>\n", f);
	if (ferror(f))
		err = -EIO;
	if (fclose(f) != 0 && err == 0)
		err = -errno;
	return err;
}
