/*
 * config_int.h - what config.c (option table, INI file) shares with
 * config_cli.c (command line, environment, --help, --check-config).
 */
#ifndef MEMD_CONFIG_INT_H
#define MEMD_CONFIG_INT_H

#include "config.h"

#include <stddef.h>

/* Where a key lives. */
enum opt_section {
	SEC_MEMD, /* [memd]; field in struct memd_config */
	SEC_POOL, /* [pool NAME]; field in struct memd_pool_config */
};

/* How a value parses. */
enum opt_kind {
	KIND_PATH,      /* socket path: malloc'd char * */
	KIND_MODE,      /* octal permission bits 0..0777: uint32_t */
	KIND_PREFIX,    /* shm prefix: char[CONFIG_SHM_PREFIX_MAX + 1] */
	KIND_LOG_LEVEL, /* error|warn|info|debug: enum log_level */
	KIND_SIZE,      /* bytes with K/M/G: uint64_t */
	KIND_USER,      /* user name or uid: uid_t */
	KIND_GROUP,     /* group name or gid: gid_t */
	KIND_ACCESS,    /* access list (access.h): struct access_list */
	KIND_COUNT,     /* decimal count 0..UINT32_MAX: uint32_t */
	KIND_SCHED,     /* batch|normal: enum memd_scheduling */
	KIND_USEC,      /* decimal microseconds 0..BUSY_POLL_MAX_US: uint32_t */
};

/* One setting. */
struct opt_def {
	const char *key;      /* INI key */
	const char *flag;     /* CLI long flag, or NULL */
	const char *env;      /* environment variable, or NULL */
	enum opt_section sec; /* section the key belongs to */
	enum opt_kind kind;   /* value syntax */
	size_t off;           /* offset of the field in its struct */
	const char *metavar;  /* --help's name for the value */
	const char *help;     /* one line for --help */
};

#define OPT_COUNT 16 /* entries of opt_table (checked in config.c) */

/* Every setting, in --help order. */
extern const struct opt_def opt_table[OPT_COUNT];

/* Parse value into o's field of base (a struct memd_config or struct
 * memd_pool_config, per o->sec).  0, or -EINVAL with the reason in why. */
int opt_apply(const struct opt_def *o, void *base, const char *value, char *why, size_t whylen);

#endif /* MEMD_CONFIG_INT_H */
