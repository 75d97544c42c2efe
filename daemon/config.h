/*
 * config.h - memd's configuration: CLI flags, environment, INI file.
 *
 * One option table in config.c drives all three sources.  Precedence, per
 * setting: command-line flag > environment > config file > built-in
 * default.  Environment variables: $MEMD_SOCKET, $MEMD_SHM_PREFIX,
 * $MEMD_LOG_LEVEL (and $MEMD_CONFIG names the file when --config is not
 * given).
 *
 * The file (libinih syntax) has one [memd] section and any number of
 * [pool NAME] sections:
 *
 *   [memd]
 *   socket = /run/memd/memd.sock   ; path of the listening socket
 *   socket_mode = 0660             ; octal; the first access gate
 *   shm_prefix = memd              ; segments are /<prefix>-<pool>-<segid>
 *   log_level = info               ; error | warn | info | debug
 *   max_clients = 1024             ; connections past HELLO; 0: no limit
 *   max_names = 4096               ; published names, daemon-wide; 0: none
 *   admin = uid:0 group:wheel      ; who may change things via memctl
 *   scheduling = batch             ; batch | normal (sched_policy.c)
 *   busy_poll_us = 50              ; poll this long after a request; 0: off
 *
 *   [pool video]
 *   max_size = 1G                  ; the pool never reserves more
 *   segment_size = 4M              ; the first segment; later ones double
 *   trim_threshold = 256K          ; free runs this large are punched out
 *   read = group:video uid:1001    ; who may read (access.h)
 *   write = user:alice             ; who may read and write
 *   client_quota = 64M             ; bytes one session may hold here
 *   uid_quota = 256M               ; bytes all sessions of one uid may hold
 *
 * Access lists (read, write, admin) are described in access.h: entries
 * uid:N, user:NAME, gid:N, group:NAME or *; a pool with neither list is
 * open to everybody who can connect.  Quotas count the usable bytes of the
 * blocks a session holds in the pool (see dispatch.c for how shared blocks
 * are charged); absent means no quota.  max_names and max_clients accept
 * plain decimal counts.  scheduling = batch (the default) moves a memd
 * started under SCHED_OTHER to SCHED_BATCH; normal leaves the policy memd
 * was started with; any other starting policy is always left alone.
 * busy_poll_us (0..10000, default 50) is how long memd keeps polling
 * without sleeping after a request (busy_poll.c); 0 turns that off.
 *
 * Sizes are plain bytes or take a K, M or G suffix (binary, case-
 * insensitive, an optional trailing "B" or "iB" is accepted: 4M, 4MiB).
 * Without a file, or with no [pool] section, memd serves one pool named
 * "default" with the CONFIG_DEFAULT_* limits below.
 *
 * Errors name the file, the line and the key:
 *   "memd.conf:7: [pool video] segment_size: invalid size 'abc'"
 */
#ifndef MEMD_CONFIG_H
#define MEMD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "access.h"
#include "log.h"
#include "proto.h"

#define CONFIG_DEFAULT_SOCKET         "/run/memd/memd.sock"
#define CONFIG_DEFAULT_SOCKET_MODE    0660u /* daemon's user and group only */
#define CONFIG_DEFAULT_SHM_PREFIX     "memd"
#define CONFIG_DEFAULT_POOL           "default"
#define CONFIG_DEFAULT_MAX_SIZE       (UINT64_C(1) << 30)   /* 1 GiB */
#define CONFIG_DEFAULT_SEGMENT_SIZE   (UINT64_C(4) << 20)   /* 4 MiB */
#define CONFIG_DEFAULT_TRIM_THRESHOLD (UINT64_C(256) << 10) /* 256 KiB */
#define CONFIG_DEFAULT_MAX_CLIENTS    1024u                 /* sessions past HELLO */
#define CONFIG_DEFAULT_MAX_NAMES      4096u                 /* published names */
#define CONFIG_DEFAULT_BUSY_POLL_US   50u                   /* busy_poll.c */
#define CONFIG_SHM_PREFIX_MAX         64u                   /* bytes of the prefix, no NUL */
#define CONFIG_POOLS_MAX              4095u                 /* seg id space / 4096 per pool */

/* What memd does with its CPU scheduling policy (scheduling =). */
enum memd_scheduling {
	MEMD_SCHED_NORMAL, /* "normal": keep the policy memd was started with */
	MEMD_SCHED_BATCH,  /* "batch": SCHED_OTHER becomes SCHED_BATCH */
};

/* One [pool NAME] section (or the implicit "default" pool). */
struct memd_pool_config {
	char name[MEMD_POOL_NAME_MAX]; /* [A-Za-z0-9._-]{1,63}, NUL-terminated */
	uint64_t max_size;             /* bytes the pool may reserve, page multiple */
	uint64_t segment_size;         /* first segment's bytes, page multiple */
	uint64_t trim_threshold;       /* free runs >= this are punched, page multiple */
	struct access_list read;       /* who may read (read =); see access.h */
	struct access_list write;      /* who may read and write (write =) */
	uint64_t client_quota;         /* bytes one session may hold; 0: no quota */
	uint64_t uid_quota;            /* bytes one uid's sessions may hold; 0: none */
	unsigned line;                 /* line of the [pool] header; 0 if implicit */
};

/* The whole configuration.  Owned by the caller; release with
 * config_free(). */
struct memd_config {
	char *socket_path;                          /* listening socket path (malloc'd) */
	uint32_t socket_mode;                       /* chmod of the socket, 0..0777 */
	char shm_prefix[CONFIG_SHM_PREFIX_MAX + 1]; /* [A-Za-z0-9._-]{1,64} */
	enum log_level log_level;                   /* messages above it are dropped */
	char *config_path;                          /* file that was read (malloc'd), or NULL */
	struct memd_pool_config *pools;             /* pools in file order (malloc'd) */
	uint32_t max_clients;                       /* sessions allowed at once; 0: no limit */
	uint32_t max_names;                         /* published names allowed at once */
	struct access_list admin;                   /* memctl admins besides root and memd */
	enum memd_scheduling scheduling;            /* policy at start and reload */
	uint32_t busy_poll_us;                      /* polling window after a request */
	size_t pool_count;                          /* >= 1 after a successful load */
};

/* config_load() result meaning "--help, --version or a passed
 * --check-config was printed to stdout: exit 0 without running". */
#define CONFIG_EXIT 1

/* Build *cfg from argv (flags: --socket PATH, --config FILE, --log-level
 * LEVEL, --shm-prefix P, --help/-h, --version/-V, --check-config FILE;
 * "--flag=value" is also accepted), the environment and the config file,
 * in that precedence.  argv[0] is the program name.  No file is read when
 * neither --config nor $MEMD_CONFIG is given.  --check-config parses FILE
 * alone and, if it is valid, prints "FILE: OK (N pools)" to stdout.
 * Returns 0 (cfg filled), CONFIG_EXIT (help, version or a passed check
 * printed; cfg is empty but safe to config_free), or -EINVAL /
 * -ENOENT / -EACCES / -ENOMEM with a one-line message in err (errlen > 0
 * ensures it is NUL-terminated); on error cfg is left empty. */
int config_load(struct memd_config *cfg, int argc, char **argv, char *err, size_t errlen);

/* Fill *cfg with defaults only (one "default" pool), then read the INI
 * file path into it (path NULL: no file).  For tests and tools; no CLI,
 * no environment.  Same returns as config_load minus CONFIG_EXIT. */
int config_load_file(struct memd_config *cfg, const char *path, char *err, size_t errlen);

/* Release what cfg owns and zero it.  NULL-safe, idempotent. */
void config_free(struct memd_config *cfg);

/* Parse a size: decimal digits, optional K/M/G (x1024^n, case-insensitive)
 * with an optional "B"/"iB", surrounding blanks allowed.  0 and *out set;
 * -EINVAL for empty, garbage, a sign, or zero; -ERANGE on overflow. */
int config_parse_size(const char *s, uint64_t *out);

/* Is name a valid pool name ([A-Za-z0-9._-], 1..63 bytes)? */
bool config_pool_name_valid(const char *name);

/* Look a pool's config up by name; NULL if absent. */
const struct memd_pool_config *config_pool_find(const struct memd_config *cfg, const char *name);

/* Print the --help text to f. */
void config_usage(const char *argv0, FILE *f);

#endif /* MEMD_CONFIG_H */
