/*
 * config.c - one option table for CLI flags, environment and INI file.
 *
 * What it does: config_load() fills a struct memd_config from four layers,
 * lowest first: built-in defaults, the INI file (libinih), the environment,
 * the command line.  Every setting is described once, in opt_table: its INI
 * key and section, its CLI flag, its environment variable, how its value
 * parses and where it is stored.  The CLI is scanned first (it may name the
 * file and may ask for --help), but its values are applied last, so the
 * precedence is flag > environment > file > default.
 *
 * The file: a [memd] section and [pool NAME] sections.  libinih (Debian's
 * build) does not give the handler line numbers and does not report empty
 * sections, so the file is fed through a line reader of our own
 * (ini_parse_stream) that counts lines and notices section headers; the
 * handler then knows the line of every key, and an empty [pool x] still
 * makes a pool.  A pool's cross-field rules (segment_size <= max_size,
 * page rounding, derived defaults) are checked when its section ends.
 *
 * Errors: the first error wins and is formatted as
 *   "<file>:<line>: [<section>] <key>: <what>"
 * (or "--flag: <what>", "$VAR: <what>"), and the load returns -EINVAL
 * (-ENOENT/-EACCES when the file cannot be opened).  Unknown sections and
 * keys, bad values, duplicate keys and duplicate pools are errors: a typo
 * in a memory limit must not silently become the default.
 *
 * Defaults and why: the socket is mode 0660 because it is the first access
 * gate: only the daemon's user and group (the memd group of the systemd
 * unit) may even connect; a site that wants every local user in sets 0666
 * explicitly.  Pools default to no access lists for that reason: whoever
 * passed the socket gate may use the pool unless its read/write lists
 * narrow it (access.h).  The implicit "default" pool reserves 4 MiB at
 * start and may grow to 1 GiB.  max_clients defaults to 1024 (a bound on
 * fds and sessions), max_names to 4096.  scheduling defaults to batch:
 * memd's work is never more urgent than the running application's
 * (sched_policy.c).  busy_poll_us defaults to 50: long enough to catch a
 * caching client's next request in a burst, short enough that an idle
 * memd costs nothing (busy_poll.c).
 *
 * Ownership: struct memd_config owns socket_path, config_path and the pools
 * array (all malloc'd); config_free() releases them.  Nothing here keeps
 * state between calls: no globals, no getopt (its optind is global).
 */
#include "config.h"
#include "config_int.h"

#include "busy_poll.h"
#include "debug.h"
#include "heap.h"
#include "ref.h"

#include <ini.h>

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>

#define CONFIG_SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

const struct opt_def opt_table[] = {
        {"socket", "--socket", "MEMD_SOCKET", SEC_MEMD, KIND_PATH,
         offsetof(struct memd_config, socket_path), "PATH", "listening socket path"},
        {"socket_mode", "--socket-mode", NULL, SEC_MEMD, KIND_MODE,
         offsetof(struct memd_config, socket_mode), "MODE", "socket permission bits (octal)"},
        {"shm_prefix", "--shm-prefix", "MEMD_SHM_PREFIX", SEC_MEMD, KIND_PREFIX,
         offsetof(struct memd_config, shm_prefix), "PREFIX", "shm segment name prefix"},
        {"log_level", "--log-level", "MEMD_LOG_LEVEL", SEC_MEMD, KIND_LOG_LEVEL,
         offsetof(struct memd_config, log_level), "LEVEL", "error, warn, info or debug"},
        {"max_size", NULL, NULL, SEC_POOL, KIND_SIZE, offsetof(struct memd_pool_config, max_size),
         NULL, NULL},
        {"segment_size", NULL, NULL, SEC_POOL, KIND_SIZE,
         offsetof(struct memd_pool_config, segment_size), NULL, NULL},
        {"trim_threshold", NULL, NULL, SEC_POOL, KIND_SIZE,
         offsetof(struct memd_pool_config, trim_threshold), NULL, NULL},
        {"read", NULL, NULL, SEC_POOL, KIND_ACCESS, offsetof(struct memd_pool_config, read), NULL,
         NULL},
        {"write", NULL, NULL, SEC_POOL, KIND_ACCESS, offsetof(struct memd_pool_config, write), NULL,
         NULL},
        {"client_quota", NULL, NULL, SEC_POOL, KIND_SIZE,
         offsetof(struct memd_pool_config, client_quota), NULL, NULL},
        {"uid_quota", NULL, NULL, SEC_POOL, KIND_SIZE, offsetof(struct memd_pool_config, uid_quota),
         NULL, NULL},
        {"max_clients", NULL, NULL, SEC_MEMD, KIND_COUNT, offsetof(struct memd_config, max_clients),
         NULL, NULL},
        {"max_names", NULL, NULL, SEC_MEMD, KIND_COUNT, offsetof(struct memd_config, max_names),
         NULL, NULL},
        {"admin", NULL, NULL, SEC_MEMD, KIND_ACCESS, offsetof(struct memd_config, admin), NULL,
         NULL},
        {"scheduling", NULL, NULL, SEC_MEMD, KIND_SCHED, offsetof(struct memd_config, scheduling),
         NULL, NULL},
        {"busy_poll_us", NULL, NULL, SEC_MEMD, KIND_USEC,
         offsetof(struct memd_config, busy_poll_us), NULL, NULL},
};

_Static_assert(sizeof(opt_table) / sizeof(opt_table[0]) == OPT_COUNT, "OPT_COUNT");

/* State of one file parse. */
struct file_parse {
	struct memd_config *cfg;      /* being filled */
	FILE *f;                      /* the open file */
	const char *path;             /* file name for messages */
	unsigned line;                /* number of the line last read */
	bool in_section;              /* a header was seen */
	enum opt_section sec;         /* current section's kind */
	char sec_name[96];            /* current section as written, for messages */
	unsigned sec_line;            /* line of the current header */
	unsigned key_line[OPT_COUNT]; /* line each key was set on in this section; 0 unset */
	int rc;                       /* first error, 0 if none */
	char *err;                    /* message buffer */
	size_t errlen;                /* its size */
};

/* Format the first error only. */
static void set_err(int *rc, int code, char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

static void set_err(int *rc, int code, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (*rc != 0)
		return;
	*rc = code;
	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int config_parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0, mul = 1;
	const char *p = s;

	if (s == NULL)
		return -EINVAL;
	while (isblank((unsigned char)*p))
		p++;
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	while (isblank((unsigned char)*p))
		p++;
	switch (tolower((unsigned char)*p)) {
	case 'k':
		mul = UINT64_C(1) << 10;
		break;
	case 'm':
		mul = UINT64_C(1) << 20;
		break;
	case 'g':
		mul = UINT64_C(1) << 30;
		break;
	default:
		mul = 1;
	}
	if (mul != 1) {
		p++;
		if (tolower((unsigned char)*p) == 'i' && tolower((unsigned char)p[1]) == 'b')
			p += 2;
		else if (tolower((unsigned char)*p) == 'b')
			p++;
	} else if (tolower((unsigned char)*p) == 'b') {
		p++;
	}
	while (isblank((unsigned char)*p))
		p++;
	if (*p != '\0' || v == 0)
		return -EINVAL;
	if (v > UINT64_MAX / mul)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

bool config_pool_name_valid(const char *name)
{
	size_t n = 0;

	if (name == NULL)
		return false;
	for (; name[n] != '\0'; n++) {
		unsigned char c = (unsigned char)name[n];
		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return false;
		if (n + 1 >= MEMD_POOL_NAME_MAX)
			return false;
	}
	return n > 0;
}

/* Same charset as pool names, 1..CONFIG_SHM_PREFIX_MAX bytes. */
static bool prefix_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CONFIG_SHM_PREFIX_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

/* Octal permission bits: 1..4 octal digits, value <= 0777. */
static int parse_mode(const char *s, uint32_t *out)
{
	uint32_t v = 0;
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		if (s[n] < '0' || s[n] > '7' || n >= 4)
			return -EINVAL;
		v = v * 8 + (uint32_t)(s[n] - '0');
	}
	if (n == 0 || v > 0777)
		return -EINVAL;
	*out = v;
	return 0;
}

/* A decimal id without sign or garbage, below (id_t)-1. */
static int parse_id(const char *s, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v >= (unsigned long)(uid_t)-1)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_user(const char *s, uid_t *out)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	unsigned long id;

	if (parse_id(s, &id) == 0) {
		*out = (uid_t)id;
		return 0;
	}
	if (getpwnam_r(s, &pw, buf, sizeof(buf), &res) != 0 || res == NULL)
		return -ENOENT;
	*out = pw.pw_uid;
	return 0;
}

static int parse_group(const char *s, gid_t *out)
{
	struct group gr, *res = NULL;
	char buf[4096];
	unsigned long id;

	if (parse_id(s, &id) == 0) {
		*out = (gid_t)id;
		return 0;
	}
	if (getgrnam_r(s, &gr, buf, sizeof(buf), &res) != 0 || res == NULL)
		return -ENOENT;
	*out = gr.gr_gid;
	return 0;
}

/* A decimal count 0..UINT32_MAX, blanks around allowed.  0 or -EINVAL. */
static int parse_count(const char *s, uint32_t *out)
{
	unsigned long long v;
	char *end;

	while (isblank((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	while (isblank((unsigned char)*end))
		end++;
	if (errno != 0 || *end != '\0' || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int parse_sched(const char *s, enum memd_scheduling *out)
{
	if (strcasecmp(s, "batch") == 0)
		*out = MEMD_SCHED_BATCH;
	else if (strcasecmp(s, "normal") == 0)
		*out = MEMD_SCHED_NORMAL;
	else
		return -EINVAL;
	return 0;
}

static int apply_path(char **field, const char *value, char *why, size_t whylen)
{
	char *copy;

	if (value[0] == '\0' || strlen(value) > CONFIG_SOCKET_PATH_MAX) {
		snprintf(why, whylen, "invalid socket path '%s' (1..%zu bytes)", value,
		         (size_t)CONFIG_SOCKET_PATH_MAX);
		return -EINVAL;
	}
	copy = strdup(value);
	if (copy == NULL) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	free(*field);
	*field = copy;
	return 0;
}

static int apply_size(uint64_t *field, const char *value, char *why, size_t whylen)
{
	int rc = config_parse_size(value, field);

	if (rc == -ERANGE)
		snprintf(why, whylen, "size '%s' is too large", value);
	else if (rc < 0)
		snprintf(why, whylen, "invalid size '%s'", value);
	return rc < 0 ? -EINVAL : 0;
}

/* Parse value as o says and store it into the struct at base.  0, or
 * -EINVAL/-ENOMEM with the reason in why. */
int opt_apply(const struct opt_def *o, void *base, const char *value, char *why, size_t whylen)
{
	char *field = (char *)base + o->off;
	int lvl;

	switch (o->kind) {
	case KIND_PATH:
		return apply_path((char **)(void *)field, value, why, whylen);
	case KIND_MODE:
		if (parse_mode(value, (uint32_t *)(void *)field) == 0)
			return 0;
		snprintf(why, whylen, "invalid mode '%s' (octal, at most 0777)", value);
		return -EINVAL;
	case KIND_PREFIX:
		if (prefix_valid(value)) {
			memcpy(field, value, strlen(value) + 1);
			return 0;
		}
		snprintf(why, whylen, "invalid prefix '%s' ([A-Za-z0-9._-], 1..%u bytes)", value,
		         CONFIG_SHM_PREFIX_MAX);
		return -EINVAL;
	case KIND_LOG_LEVEL:
		lvl = log_level_parse(value);
		if (lvl >= 0) {
			*(enum log_level *)(void *)field = (enum log_level)lvl;
			return 0;
		}
		snprintf(why, whylen, "invalid log level '%s' (error, warn, info, debug)", value);
		return -EINVAL;
	case KIND_SIZE:
		return apply_size((uint64_t *)(void *)field, value, why, whylen);
	case KIND_USER:
		if (parse_user(value, (uid_t *)(void *)field) == 0)
			return 0;
		snprintf(why, whylen, "unknown user '%s'", value);
		return -EINVAL;
	case KIND_GROUP:
		if (parse_group(value, (gid_t *)(void *)field) == 0)
			return 0;
		snprintf(why, whylen, "unknown group '%s'", value);
		return -EINVAL;
	case KIND_ACCESS:
		return access_list_parse(value, (struct access_list *)(void *)field, why, whylen);
	case KIND_COUNT:
		if (parse_count(value, (uint32_t *)(void *)field) == 0)
			return 0;
		snprintf(why, whylen, "invalid count '%s' (0..%u)", value, (unsigned)UINT32_MAX);
		return -EINVAL;
	case KIND_SCHED:
		if (parse_sched(value, (enum memd_scheduling *)(void *)field) == 0)
			return 0;
		snprintf(why, whylen, "invalid scheduling '%s' (batch, normal)", value);
		return -EINVAL;
	case KIND_USEC:
		if (parse_count(value, (uint32_t *)(void *)field) == 0 &&
		    *(uint32_t *)(void *)field <= BUSY_POLL_MAX_US)
			return 0;
		snprintf(why, whylen, "invalid microseconds '%s' (0..%u)", value,
		         (unsigned)BUSY_POLL_MAX_US);
		return -EINVAL;
	}
	memd_assert(!"unknown option kind");
	return -EINVAL;
}

static void pool_defaults(struct memd_pool_config *p, const char *name, unsigned line)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%.*s", (int)sizeof(p->name) - 1, name); /* validated */
	p->max_size = CONFIG_DEFAULT_MAX_SIZE;
	p->segment_size = CONFIG_DEFAULT_SEGMENT_SIZE;
	p->trim_threshold = CONFIG_DEFAULT_TRIM_THRESHOLD;
	p->line = line;
}

/* Append a pool with defaults.  0 or -ENOMEM. */
static int pool_append(struct memd_config *cfg, const char *name, unsigned line)
{
	struct memd_pool_config *np;

	np = realloc(cfg->pools, (cfg->pool_count + 1) * sizeof(*np));
	if (np == NULL)
		return -ENOMEM;
	cfg->pools = np;
	pool_defaults(&cfg->pools[cfg->pool_count], name, line);
	cfg->pool_count++;
	return 0;
}

static int config_defaults(struct memd_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->socket_path = strdup(CONFIG_DEFAULT_SOCKET);
	if (cfg->socket_path == NULL)
		return -ENOMEM;
	cfg->socket_mode = CONFIG_DEFAULT_SOCKET_MODE;
	snprintf(cfg->shm_prefix, sizeof(cfg->shm_prefix), "%s", CONFIG_DEFAULT_SHM_PREFIX);
	cfg->log_level = MEMD_LOG_INFO;
	cfg->max_clients = CONFIG_DEFAULT_MAX_CLIENTS;
	cfg->max_names = CONFIG_DEFAULT_MAX_NAMES;
	cfg->scheduling = MEMD_SCHED_BATCH;
	cfg->busy_poll_us = CONFIG_DEFAULT_BUSY_POLL_US;
	return 0;
}

void config_free(struct memd_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->socket_path);
	free(cfg->config_path);
	free(cfg->pools);
	memset(cfg, 0, sizeof(*cfg));
}

const struct memd_pool_config *config_pool_find(const struct memd_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->pool_count; i++)
		if (strcmp(cfg->pools[i].name, name) == 0)
			return &cfg->pools[i];
	return NULL;
}

static uint64_t round_page(uint64_t v)
{
	return (v + HEAP_PAGE_SIZE - 1) & ~(uint64_t)(HEAP_PAGE_SIZE - 1);
}

static int opt_index(const char *key, enum opt_section sec)
{
	for (size_t i = 0; i < OPT_COUNT; i++)
		if (opt_table[i].sec == sec && strcmp(opt_table[i].key, key) == 0)
			return (int)i;
	return -1;
}

/* Line a key of the current section was set on, or the header's. */
static unsigned key_line_or_header(const struct file_parse *fp, const char *key)
{
	int i = opt_index(key, SEC_POOL);

	return (i >= 0 && fp->key_line[i] != 0) ? fp->key_line[i] : fp->sec_line;
}

/* Cross-field rules of the pool section that just ended. */
static void pool_section_end(struct file_parse *fp)
{
	struct memd_pool_config *p = &fp->cfg->pools[fp->cfg->pool_count - 1];
	bool have_max = fp->key_line[opt_index("max_size", SEC_POOL)] != 0;
	bool have_seg = fp->key_line[opt_index("segment_size", SEC_POOL)] != 0;
	const char *bad = NULL;
	char why[128] = "";

	if (p->max_size > UINT64_MAX - HEAP_PAGE_SIZE) {
		bad = "max_size";
		snprintf(why, sizeof(why), "size is too large");
	} else if (p->segment_size > MEMD_SEG_SIZE_MAX) {
		bad = "segment_size";
		snprintf(why, sizeof(why), "larger than a segment can be (1T)");
	} else if (p->trim_threshold > MEMD_SEG_SIZE_MAX) {
		bad = "trim_threshold";
		snprintf(why, sizeof(why), "larger than a segment can be (1T)");
	}
	if (bad == NULL) {
		p->max_size = round_page(p->max_size);
		p->segment_size = round_page(p->segment_size);
		p->trim_threshold = round_page(p->trim_threshold);
		if (!have_seg && p->segment_size > p->max_size)
			p->segment_size = p->max_size;
		if (!have_max && p->max_size < p->segment_size)
			p->max_size = p->segment_size;
		if (p->segment_size > p->max_size) {
			bad = "max_size";
			snprintf(why, sizeof(why),
			         "%" PRIu64 " bytes is less than segment_size (%" PRIu64 ")",
			         p->max_size, p->segment_size);
		}
	}
	if (bad != NULL)
		set_err(&fp->rc, -EINVAL, fp->err, fp->errlen, "%s:%u: [%s] %s: %s", fp->path,
		        key_line_or_header(fp, bad), fp->sec_name, bad, why);
}

static void section_end(struct file_parse *fp)
{
	if (fp->in_section && fp->sec == SEC_POOL && fp->rc == 0)
		pool_section_end(fp);
}

/* A "[...]" header on line fp->line; inner is the text between brackets. */
static void section_begin(struct file_parse *fp, const char *inner, size_t len)
{
	char name[96];
	const char *pname;

	section_end(fp);
	memset(fp->key_line, 0, sizeof(fp->key_line));
	fp->in_section = true;
	fp->sec_line = fp->line;
	snprintf(fp->sec_name, sizeof(fp->sec_name), "%.*s", (int)len, inner);
	snprintf(name, sizeof(name), "%s", fp->sec_name);
	if (strcmp(name, "memd") == 0) {
		fp->sec = SEC_MEMD;
		return;
	}
	if (strncmp(name, "pool", 4) != 0 || !isblank((unsigned char)name[4])) {
		set_err(&fp->rc, -EINVAL, fp->err, fp->errlen,
		        "%s:%u: [%s]: unknown section (expected [memd] or [pool NAME])", fp->path,
		        fp->line, name);
		fp->in_section = false;
		return;
	}
	fp->sec = SEC_POOL;
	pname = name + 5;
	while (isblank((unsigned char)*pname))
		pname++;
	if (!config_pool_name_valid(pname)) {
		set_err(&fp->rc, -EINVAL, fp->err, fp->errlen,
		        "%s:%u: [%s]: invalid pool name '%s' ([A-Za-z0-9._-], 1..%d bytes)",
		        fp->path, fp->line, name, pname, MEMD_POOL_NAME_MAX - 1);
		fp->in_section = false;
		return;
	}
	for (size_t i = 0; i < fp->cfg->pool_count; i++) {
		if (strcmp(fp->cfg->pools[i].name, pname) == 0) {
			set_err(&fp->rc, -EINVAL, fp->err, fp->errlen,
			        "%s:%u: [%s]: duplicate pool '%s' (first defined on line %u)",
			        fp->path, fp->line, name, pname, fp->cfg->pools[i].line);
			fp->in_section = false;
			return;
		}
	}
	if (fp->cfg->pool_count >= CONFIG_POOLS_MAX) {
		set_err(&fp->rc, -EINVAL, fp->err, fp->errlen, "%s:%u: [%s]: more than %u pools",
		        fp->path, fp->line, name, CONFIG_POOLS_MAX);
		fp->in_section = false;
		return;
	}
	if (pool_append(fp->cfg, pname, fp->line) < 0)
		set_err(&fp->rc, -ENOMEM, fp->err, fp->errlen, "out of memory");
}

/* Look at a raw line: count it and notice section headers. */
static void scan_line(struct file_parse *fp, const char *s)
{
	const char *end;

	while (isspace((unsigned char)*s))
		s++;
	if (*s != '[')
		return;
	end = strchr(s, ']');
	if (end == NULL)
		return; /* libinih reports the syntax error */
	while (s + 1 < end && isspace((unsigned char)s[1]))
		s++;
	while (end > s + 1 && isspace((unsigned char)end[-1]))
		end--;
	section_begin(fp, s + 1, (size_t)(end - s - 1));
}

/* libinih line reader: fgets that counts lines and sees headers first. */
static char *reader(char *str, int num, void *stream)
{
	struct file_parse *fp = stream;
	size_t n;

	if (fp->rc != 0 || fgets(str, num, fp->f) == NULL)
		return NULL;
	fp->line++;
	n = strlen(str);
	if (n > 0 && str[n - 1] != '\n' && !feof(fp->f)) {
		set_err(&fp->rc, -EINVAL, fp->err, fp->errlen,
		        "%s:%u: line too long (max %d bytes)", fp->path, fp->line, num - 3);
		return NULL;
	}
	scan_line(fp, str);
	return fp->rc != 0 ? NULL : str;
}

/* libinih handler: one key = value of the current section. */
static int handler(void *user, const char *section, const char *key, const char *value)
{
	struct file_parse *fp = user;
	char why[200];
	void *base;
	int i, rc;

	(void)section;
	if (fp->rc != 0)
		return 0;
	if (!fp->in_section) {
		set_err(&fp->rc, -EINVAL, fp->err, fp->errlen, "%s:%u: %s: key outside a section",
		        fp->path, fp->line, key);
		return 0;
	}
	i = opt_index(key, fp->sec);
	if (i < 0) {
		set_err(&fp->rc, -EINVAL, fp->err, fp->errlen, "%s:%u: [%s] %s: unknown key",
		        fp->path, fp->line, fp->sec_name, key);
		return 0;
	}
	if (fp->key_line[i] != 0) {
		set_err(&fp->rc, -EINVAL, fp->err, fp->errlen,
		        "%s:%u: [%s] %s: duplicate key (first set on line %u)", fp->path, fp->line,
		        fp->sec_name, key, fp->key_line[i]);
		return 0;
	}
	fp->key_line[i] = fp->line;
	base = fp->sec == SEC_MEMD ? (void *)fp->cfg
	                           : (void *)&fp->cfg->pools[fp->cfg->pool_count - 1];
	rc = opt_apply(&opt_table[i], base, value, why, sizeof(why));
	if (rc < 0) {
		set_err(&fp->rc, rc, fp->err, fp->errlen, "%s:%u: [%s] %s: %s", fp->path, fp->line,
		        fp->sec_name, key, why);
		return 0;
	}
	return 1;
}

/* Read the INI file at path into cfg (defaults already there). */
static int read_file(struct memd_config *cfg, const char *path, char *err, size_t errlen)
{
	struct file_parse fp = {.cfg = cfg, .path = path, .err = err, .errlen = errlen};
	int rc = 0, line;

	fp.f = fopen(path, "re");
	if (fp.f == NULL) {
		rc = -errno;
		set_err(&fp.rc, rc, err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return rc;
	}
	line = ini_parse_stream(reader, &fp, handler, &fp);
	if (fp.rc == 0 && line > 0)
		set_err(&fp.rc, -EINVAL, err, errlen, "%s:%d: syntax error", path, line);
	if (fp.rc == 0 && line < 0)
		set_err(&fp.rc, -ENOMEM, err, errlen, "%s: out of memory", path);
	if (fp.rc == 0 && ferror(fp.f))
		set_err(&fp.rc, -EIO, err, errlen, "%s: read error", path);
	if (fp.rc == 0)
		section_end(&fp);
	rc = fp.rc;
	fclose(fp.f);
	if (rc == 0) {
		cfg->config_path = strdup(path);
		if (cfg->config_path == NULL)
			rc = -ENOMEM;
	}
	return rc;
}

/* After every layer: make sure at least one pool exists. */
static int ensure_pool(struct memd_config *cfg, char *err, size_t errlen)
{
	if (cfg->pool_count > 0)
		return 0;
	if (pool_append(cfg, CONFIG_DEFAULT_POOL, 0) == 0)
		return 0;
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

int config_load_file(struct memd_config *cfg, const char *path, char *err, size_t errlen)
{
	int rc;

	if (errlen > 0)
		err[0] = '\0';
	rc = config_defaults(cfg);
	if (rc < 0)
		goto fail_free;
	if (path != NULL) {
		rc = read_file(cfg, path, err, errlen);
		if (rc < 0)
			goto fail_free;
	}
	rc = ensure_pool(cfg, err, errlen);
	if (rc < 0)
		goto fail_free;
	return 0;

fail_free:
	if (rc == -ENOMEM && errlen > 0 && err[0] == '\0')
		snprintf(err, errlen, "out of memory");
	config_free(cfg);
	return rc;
}
