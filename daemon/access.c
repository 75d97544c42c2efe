/*
 * access.c - parsing and checking access lists (read, write, admin).
 *
 * What it does: turns the text of a `read`, `write` or `admin` key into a
 * fixed-size list of (kind, id) entries, resolving user and group names
 * when the configuration is read (so a renamed or deleted account does not
 * change a running daemon's decisions), and answers "does this list name
 * that peer?" for a session's kernel-verified uid and gid.
 *
 * Group entries match the peer's gid first; only when none matches that
 * way are the uid's supplementary groups fetched (getpwuid_r, then
 * getgrouplist) and compared.  That lookup goes through NSS and may block
 * the loop briefly; it happens on POOL and MAP requests and admin checks,
 * never on the per-block path.
 *
 * Invariants: a list never holds more than ACCESS_LIST_MAX entries; kind is
 * always one of enum access_kind.  Nothing here keeps state between calls.
 */
#include "access.h"

#include "config.h"
#include "proto.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ACCESS_GROUPS_MAX 256 /* supplementary groups considered per user */
#define ACCESS_TOKEN_MAX  256 /* bytes of one entry */

/* A decimal id: digits only, below (uid_t)-1.  0 or -EINVAL. */
static int access_parse_id(const char *s, uint32_t *out)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v >= (unsigned long)(uid_t)-1)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* Resolve a user name to its uid.  0 or -ENOENT. */
static int access_user_uid(const char *name, uint32_t *out)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || res == NULL)
		return -ENOENT;
	*out = (uint32_t)pw.pw_uid;
	return 0;
}

/* Resolve a group name to its gid.  0 or -ENOENT. */
static int access_group_gid(const char *name, uint32_t *out)
{
	struct group gr, *res = NULL;
	char buf[4096];

	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || res == NULL)
		return -ENOENT;
	*out = (uint32_t)gr.gr_gid;
	return 0;
}

/* Parse one token into e.  0, or -EINVAL with why filled. */
static int access_parse_entry(const char *tok, struct access_entry *e, char *why, size_t whylen)
{
	const char *colon = strchr(tok, ':');
	const char *arg = colon != NULL ? colon + 1 : NULL;
	size_t klen = colon != NULL ? (size_t)(colon - tok) : strlen(tok);

	if (strcmp(tok, "*") == 0) {
		*e = (struct access_entry){.kind = ACCESS_ANY, .id = 0};
		return 0;
	}
	if (arg != NULL && klen == 3 && strncmp(tok, "uid", 3) == 0 &&
	    access_parse_id(arg, &e->id) == 0) {
		e->kind = ACCESS_UID;
		return 0;
	}
	if (arg != NULL && klen == 3 && strncmp(tok, "gid", 3) == 0 &&
	    access_parse_id(arg, &e->id) == 0) {
		e->kind = ACCESS_GID;
		return 0;
	}
	if (arg != NULL && klen == 4 && strncmp(tok, "user", 4) == 0 && arg[0] != '\0') {
		e->kind = ACCESS_UID;
		if (access_user_uid(arg, &e->id) == 0)
			return 0;
		snprintf(why, whylen, "unknown user '%s'", arg);
		return -EINVAL;
	}
	if (arg != NULL && klen == 5 && strncmp(tok, "group", 5) == 0 && arg[0] != '\0') {
		e->kind = ACCESS_GID;
		if (access_group_gid(arg, &e->id) == 0)
			return 0;
		snprintf(why, whylen, "unknown group '%s'", arg);
		return -EINVAL;
	}
	snprintf(why, whylen, "bad entry '%s' (uid:N, user:NAME, gid:N, group:NAME or *)", tok);
	return -EINVAL;
}

/* Is c a separator between entries? */
static bool access_is_sep(char c)
{
	return c == ',' || isspace((unsigned char)c);
}

int access_list_parse(const char *s, struct access_list *out, char *why, size_t whylen)
{
	char tok[ACCESS_TOKEN_MAX];
	size_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	out->set = true;
	for (;;) {
		while (access_is_sep(*s))
			s++;
		if (*s == '\0')
			return 0;
		for (n = 0; s[n] != '\0' && !access_is_sep(s[n]); n++)
			;
		if (n >= sizeof(tok)) {
			snprintf(why, whylen, "entry too long (max %d bytes)",
			         ACCESS_TOKEN_MAX - 1);
			return -EINVAL;
		}
		if (out->count >= ACCESS_LIST_MAX) {
			snprintf(why, whylen, "more than %u entries", ACCESS_LIST_MAX);
			return -EINVAL;
		}
		memcpy(tok, s, n);
		tok[n] = '\0';
		rc = access_parse_entry(tok, &out->e[out->count], why, whylen);
		if (rc < 0)
			return rc;
		out->count++;
		s += n;
	}
}

/* Is gid among the supplementary groups of uid's passwd entry? */
static bool access_in_groups(uid_t uid, gid_t gid)
{
	gid_t groups[ACCESS_GROUPS_MAX];
	int ngroups = ACCESS_GROUPS_MAX;
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0 || res == NULL)
		return false;
	/* On overflow glibc fills what fits and returns -1: use those. */
	if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &ngroups) < 0)
		ngroups = ACCESS_GROUPS_MAX;
	for (int i = 0; i < ngroups && i < ACCESS_GROUPS_MAX; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

bool access_list_match(const struct access_list *l, uid_t uid, gid_t gid)
{
	bool has_group = false;
	uint32_t i;

	for (i = 0; i < l->count; i++) {
		const struct access_entry *e = &l->e[i];

		if (e->kind == ACCESS_ANY)
			return true;
		if (e->kind == ACCESS_UID && e->id == (uint32_t)uid)
			return true;
		if (e->kind == ACCESS_GID) {
			if (e->id == (uint32_t)gid)
				return true;
			has_group = true;
		}
	}
	if (!has_group)
		return false;
	for (i = 0; i < l->count; i++)
		if (l->e[i].kind == ACCESS_GID && access_in_groups(uid, (gid_t)l->e[i].id))
			return true;
	return false;
}

uint32_t access_pool(const struct memd_pool_config *pc, uid_t self_uid, uid_t uid, gid_t gid)
{
	const uint32_t rw = MEMD_ACCESS_READ | MEMD_ACCESS_WRITE;

	if (uid == 0 || uid == self_uid)
		return rw;
	if (!pc->read.set && !pc->write.set)
		return rw;
	if (access_list_match(&pc->write, uid, gid))
		return rw;
	if (access_list_match(&pc->read, uid, gid))
		return MEMD_ACCESS_READ;
	return 0;
}

bool access_is_admin(const struct memd_config *cfg, uid_t uid, gid_t gid)
{
	if (uid == 0 || uid == geteuid())
		return true;
	return access_list_match(&cfg->admin, uid, gid);
}
