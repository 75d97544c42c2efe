/*
 * main.c - memctl: look into a running memd (and trim it).
 *
 *   memctl [--socket PATH] [--json] COMMAND [OPTIONS] [ARGS]
 *
 * main() reads the options that may precede the command (--socket,
 * --json, --help, --version), picks the command from the table below and
 * hands it the rest of argv (argv[0] being the command's name), so each
 * command parses its own options with mc_parse().  Commands connect only
 * after their arguments parsed, so `memctl CMD --help` and usage errors
 * never need a daemon.
 *
 * The socket defaults as memd's does: $MEMD_SOCKET, else
 * MEMC_DEFAULT_SOCKET (/run/memd/memd.sock).
 */
#include "memctl.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "memclient.h"

static const struct memctl_cmd *const mc_cmds[] = {
        &mc_cmd_status, &mc_cmd_pools, &mc_cmd_pool, &mc_cmd_clients, &mc_cmd_blocks, &mc_cmd_names,
        &mc_cmd_map,    &mc_cmd_check, &mc_cmd_trim, &mc_cmd_stats,   &mc_cmd_watch,
};
#define MC_NCMDS (sizeof(mc_cmds) / sizeof(mc_cmds[0]))

static void mc_main_usage(FILE *f)
{
	fputs("Usage: memctl [--socket PATH] [--json] COMMAND [OPTIONS] [ARGS]\n"
	      "\n"
	      "Look into a running memd: pools, clients, blocks, names, segment maps;\n"
	      "check the heap's integrity and return free pages to the OS.\n"
	      "\n"
	      "Commands:\n",
	      f);
	for (size_t i = 0; i < MC_NCMDS; i++)
		fprintf(f, "  %-9s %s\n", mc_cmds[i]->name, mc_cmds[i]->summary);
	fputs("\n"
	      "Options (before or after the command):\n"
	      "  --socket PATH  memd's socket (default: $MEMD_SOCKET, else " MEMC_DEFAULT_SOCKET
	      ")\n"
	      "  --json         print one JSON document (sizes in bytes)\n"
	      "  -h, --help     this text; 'memctl COMMAND --help' for a command\n"
	      "  --version      memctl's version and protocol version\n"
	      "\n"
	      "Exit status: 0 ok, 1 check failed or command failed, 64 usage,\n"
	      "69 daemon unavailable, 76 protocol error, 77 permission denied.\n",
	      f);
}

static const struct memctl_cmd *mc_find_cmd(const char *name)
{
	for (size_t i = 0; i < MC_NCMDS; i++)
		if (strcmp(mc_cmds[i]->name, name) == 0)
			return mc_cmds[i];
	return NULL;
}

/* Options before the command.  0 with *rest set, -1 (done, exit 0), or
 * MEMCTL_EX_USAGE. */
static int mc_global_options(struct memctl *m, int argc, char **argv, int *rest)
{
	static const struct option opts[] = {
	        {"help", no_argument, NULL, 'h'},
	        {"json", no_argument, NULL, 'j'},
	        {"socket", required_argument, NULL, 's'},
	        {"version", no_argument, NULL, 'V'},
	        {NULL, 0, NULL, 0},
	};
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			mc_main_usage(stdout);
			return -1;
		case 'j':
			m->json = true;
			break;
		case 's':
			m->socket = optarg;
			break;
		case 'V':
			printf("memctl %s (protocol %d)\n", MEMCTL_VERSION, MEMD_PROTO_VERSION);
			return -1;
		default:
			fprintf(stderr, "%s: unknown option or missing value: '%s'\n", m->prog,
			        argv[optind - 1]);
			fprintf(stderr, "Try '%s --help'.\n", m->prog);
			return MEMCTL_EX_USAGE;
		}
	}
	*rest = optind;
	return 0;
}

int main(int argc, char **argv)
{
	struct memctl m = {.prog = "memctl", .fd = -1, .next_id = 1};
	const struct memctl_cmd *cmd;
	const char *env = getenv("MEMD_SOCKET");
	int rc, rest = 1;

	m.socket = env != NULL && env[0] != '\0' ? env : MEMC_DEFAULT_SOCKET;
	rc = mc_global_options(&m, argc, argv, &rest);
	if (rc != 0)
		return rc < 0 ? MEMCTL_EX_OK : rc;
	if (rest >= argc) {
		fprintf(stderr, "%s: no command given\n", m.prog);
		mc_main_usage(stderr);
		return MEMCTL_EX_USAGE;
	}
	cmd = mc_find_cmd(argv[rest]);
	if (cmd == NULL) {
		fprintf(stderr, "%s: unknown command '%s'\nTry '%s --help'.\n", m.prog, argv[rest],
		        m.prog);
		return MEMCTL_EX_USAGE;
	}
	rc = cmd->run(&m, argc - rest, argv + rest);
	mc_close(&m);
	return rc;
}
