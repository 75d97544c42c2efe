/*
 * args.c - memctl's command-line handling shared by every command.
 *
 * Each command parses its own options with getopt_long through
 * mc_parse(), which adds the three options every command takes (--help,
 * --json, --socket PATH) so they may come before or after the command
 * name.  Usage errors print one line naming the command and a hint, and
 * map to exit code 64 (EX_USAGE).
 *
 * Nothing here allocates except the merged option table, freed before
 * mc_parse returns.
 */
#include "memctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MC_OPT_JSON   0x1001
#define MC_OPT_SOCKET 0x1002
#define MC_OPT_HELP   'h'

int mc_usage_error(struct memctl *m, const struct memctl_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s %s: ", m->prog, cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s %s --help'.\n", m->prog, cmd->name);
	return MEMCTL_EX_USAGE;
}

int mc_parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno != 0 || *end != '\0' ? -EINVAL : 0;
}

/* The command's options followed by the common ones, in a malloc'd table. */
static struct option *mc_merge_options(const struct option *own)
{
	static const struct option common[] = {
	        {"help", no_argument, NULL, MC_OPT_HELP},
	        {"json", no_argument, NULL, MC_OPT_JSON},
	        {"socket", required_argument, NULL, MC_OPT_SOCKET},
	        {NULL, 0, NULL, 0},
	};
	size_t n = 0;
	struct option *all;

	while (own != NULL && own[n].name != NULL)
		n++;
	all = calloc(n + 4, sizeof(*all));
	if (all == NULL)
		return NULL;
	if (n > 0)
		memcpy(all, own, n * sizeof(*all));
	memcpy(all + n, common, sizeof(common));
	return all;
}

int mc_parse(struct memctl *m, const struct memctl_cmd *cmd, int argc, char **argv,
             const struct option *own, int (*fn)(struct memctl *, void *, int, const char *),
             void *ctx, int *rest)
{
	struct option *all = mc_merge_options(own);
	int opt, rc = 0;

	if (all == NULL)
		return MEMCTL_EX_FAIL;
	optind = 0; /* 0: a full reset of getopt, after main()'s "+" parse */
	opterr = 0;
	while (rc == 0 && (opt = getopt_long(argc, argv, "h", all, NULL)) != -1) {
		switch (opt) {
		case MC_OPT_HELP:
			fputs(cmd->usage, stdout);
			rc = -1;
			break;
		case MC_OPT_JSON:
			m->json = true;
			break;
		case MC_OPT_SOCKET:
			m->socket = optarg;
			break;
		case '?':
			rc = mc_usage_error(m, cmd, "unknown option or missing value: '%s'",
			                    argv[optind - 1]);
			break;
		default:
			rc = fn != NULL ? fn(m, ctx, opt, optarg) : MEMCTL_EX_USAGE;
			break;
		}
	}
	free(all);
	*rest = optind;
	return rc;
}
