/*
 * config_cli.c - memd's command line and environment on top of the file.
 *
 * config_load() scans argv first (so --help, --version and --check-config
 * need no valid file), then loads the file (--config, else $MEMD_CONFIG)
 * through config_load_file(), then applies the environment and the flags
 * of the option table (config_int.h), in that order: flag > environment >
 * file > default.  No getopt: its optind is a global.
 */
#include "config.h"
#include "config_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MEMD_VERSION
#define MEMD_VERSION "0.1.0"
#endif

void config_usage(const char *argv0, FILE *f)
{
	fprintf(f, "usage: %s [options]\n\n", argv0);
	fprintf(f, "  %-22s %s\n", "--config FILE", "INI configuration file ($MEMD_CONFIG)");
	for (size_t i = 0; i < OPT_COUNT; i++) {
		char left[64];
		const struct opt_def *o = &opt_table[i];
		if (o->flag == NULL)
			continue;
		snprintf(left, sizeof(left), "%s %s", o->flag, o->metavar);
		fprintf(f, "  %-22s %s", left, o->help);
		if (o->env != NULL)
			fprintf(f, " ($%s)", o->env);
		fputc('\n', f);
	}
	fprintf(f, "  %-22s %s\n", "-h, --help", "print this help and exit");
	fprintf(f, "  %-22s %s\n", "-V, --version", "print the version and exit");
	fprintf(f, "  %-22s %s\n", "--check-config FILE",
	        "check FILE, print one line, exit 0 (or 64 on error)");
	fprintf(f, "\nPrecedence: flag > environment > file > default.  Default socket %s.\n",
	        CONFIG_DEFAULT_SOCKET);
}

/* A scanned CLI: values are argv strings, applied after the file. */
struct cli {
	const char *config;           /* --config value, or NULL */
	const char *value[OPT_COUNT]; /* flag values by option index, or NULL */
	bool help;                    /* --help seen */
	bool version;                 /* --version seen */
	const char *check;            /* --check-config value, or NULL */
};

/* Does arg name flag, as "--flag" (value in the next argv: *inline_val
 * NULL) or "--flag=value" (*inline_val points at value)? */
static bool flag_match(const char *arg, const char *flag, const char **inline_val)
{
	size_t n = strlen(flag);

	if (strncmp(arg, flag, n) != 0)
		return false;
	if (arg[n] == '\0') {
		*inline_val = NULL;
		return true;
	}
	if (arg[n] == '=') {
		*inline_val = arg + n + 1;
		return true;
	}
	return false;
}

/* Which flag arg is: an opt_table index, OPT_COUNT for --config, -1. */
static int cli_which(const char *arg, const char **inline_val)
{
	if (flag_match(arg, "--config", inline_val))
		return (int)OPT_COUNT;
	for (size_t i = 0; i < OPT_COUNT; i++)
		if (opt_table[i].flag != NULL && flag_match(arg, opt_table[i].flag, inline_val))
			return (int)i;
	return -1;
}

static int cli_scan(struct cli *cli, int argc, char **argv, char *err, size_t errlen)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val = NULL;
		int which;

		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			cli->help = true;
			continue;
		}
		if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) {
			cli->version = true;
			continue;
		}
		if (flag_match(arg, "--check-config", &val)) {
			if (val == NULL && i + 1 >= argc) {
				snprintf(err, errlen, "%s: missing value", arg);
				return -EINVAL;
			}
			cli->check = val != NULL ? val : argv[++i];
			continue;
		}
		which = cli_which(arg, &val);
		if (which < 0) {
			snprintf(err, errlen, "%s: unknown %s (try --help)", arg,
			         arg[0] == '-' ? "option" : "argument");
			return -EINVAL;
		}
		if (val == NULL) {
			if (i + 1 >= argc) {
				snprintf(err, errlen, "%s: missing value", arg);
				return -EINVAL;
			}
			val = argv[++i];
		}
		if (which == (int)OPT_COUNT)
			cli->config = val;
		else
			cli->value[which] = val;
	}
	return 0;
}

/* Apply one [memd]-level value from the environment or the CLI. */
static int apply_top(struct memd_config *cfg, size_t i, const char *value, const char *where,
                     char *err, size_t errlen)
{
	char why[200];
	int rc = opt_apply(&opt_table[i], cfg, value, why, sizeof(why));

	if (rc < 0)
		snprintf(err, errlen, "%s: %s", where, why);
	return rc;
}

static int apply_env_and_cli(struct memd_config *cfg, const struct cli *cli, char *err,
                             size_t errlen)
{
	char where[64];
	int rc;

	for (size_t i = 0; i < OPT_COUNT; i++) {
		const char *v = opt_table[i].env != NULL ? getenv(opt_table[i].env) : NULL;
		if (v == NULL)
			continue;
		snprintf(where, sizeof(where), "$%s", opt_table[i].env);
		rc = apply_top(cfg, i, v, where, err, errlen);
		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; i < OPT_COUNT; i++) {
		if (cli->value[i] == NULL)
			continue;
		rc = apply_top(cfg, i, cli->value[i], opt_table[i].flag, err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* --check-config: parse path alone (no environment, no other flags) and
 * print one line.  CONFIG_EXIT when it is valid, else the load's error. */
static int check_file(const char *path, char *err, size_t errlen)
{
	struct memd_config tmp;
	int rc = config_load_file(&tmp, path, err, errlen);

	if (rc < 0)
		return rc;
	printf("%s: OK (%zu pool%s)\n", path, tmp.pool_count, tmp.pool_count == 1 ? "" : "s");
	config_free(&tmp);
	return CONFIG_EXIT;
}

int config_load(struct memd_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	struct cli cli = {0};
	const char *path;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (errlen > 0)
		err[0] = '\0';
	rc = cli_scan(&cli, argc, argv, err, errlen);
	if (rc < 0)
		return rc;
	if (cli.help || cli.version) {
		if (cli.help)
			config_usage(argc > 0 ? argv[0] : "memd", stdout);
		else
			printf("memd %s\n", MEMD_VERSION);
		return CONFIG_EXIT;
	}
	if (cli.check != NULL)
		return check_file(cli.check, err, errlen);
	path = cli.config != NULL ? cli.config : getenv("MEMD_CONFIG");
	if (path != NULL && path[0] == '\0')
		path = NULL;
	rc = config_load_file(cfg, path, err, errlen);
	if (rc < 0)
		return rc;
	rc = apply_env_and_cli(cfg, &cli, err, errlen);
	if (rc < 0)
		goto fail_free;
	return 0;

fail_free:
	config_free(cfg);
	return rc;
}
