/*
 * access.h - who may do what: access lists for pools and for admin.
 *
 * An access list is the value of a `read =`, `write =` ([pool NAME]) or
 * `admin =` ([memd]) key: entries separated by commas and/or blanks, each
 * one of
 *
 *   uid:N        the peer's uid is N
 *   user:NAME    the peer's uid is NAME's (resolved when the file is read)
 *   gid:N        the peer's gid is N, or N is one of the peer's groups
 *   group:NAME   the same, for NAME's gid (resolved when the file is read)
 *   *            everybody who can connect
 *
 * Identity: the peer's uid and gid are SO_PEERCRED's (the session's), never
 * a message's.  Group entries (gid: and group: alike) match the peer's gid
 * and, failing that, the supplementary groups of the uid's passwd entry
 * (getgrouplist on that user's name and primary gid, looked up when a check
 * needs them).  A uid without a passwd entry has only its SO_PEERCRED gid.
 * Note the consequence: supplementary groups come from the group database,
 * not from the peer process (SO_PEERCRED does not carry them), so a process
 * that dropped a supplementary group still matches it.
 *
 * Pool access (access_pool):
 *   - a pool with neither list is open: everybody reads and writes (the
 *     socket's mode, socket_mode in [memd], is the first gate);
 *   - a pool with a list grants exactly what its lists say: `write` grants
 *     read and write, `read` grants read; a list that is absent grants
 *     nothing;
 *   - uid 0 and the daemon's own euid always read and write.
 *
 * Admin (access_is_admin): uid 0, the daemon's euid, and whoever the
 * [memd] admin list names.
 *
 * Lists are fixed-size values (no heap memory) so that configs and pools
 * copy them with plain assignment.
 */
#ifndef MEMD_ACCESS_H
#define MEMD_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ACCESS_LIST_MAX 32u /* entries in one list */

struct memd_config;
struct memd_pool_config;

/* What one entry matches. */
enum access_kind {
	ACCESS_UID = 1, /* uid:N or user:NAME */
	ACCESS_GID = 2, /* gid:N or group:NAME */
	ACCESS_ANY = 3, /* * */
};

/* One entry of a list. */
struct access_entry {
	uint32_t kind; /* enum access_kind */
	uint32_t id;   /* the uid or gid; 0 for ACCESS_ANY */
};

/* An access list as configured. */
struct access_list {
	bool set;                               /* the key was given (even if empty) */
	uint32_t count;                         /* entries in e */
	struct access_entry e[ACCESS_LIST_MAX]; /* the entries, in file order */
};

/* Parse a list value s (see above) into *out.  Empty (or blank) text is an
 * empty list that matches nobody.  0 and *out set (with set = true), or
 * -EINVAL with the reason in why (e.g. "unknown user 'bob'", "bad entry
 * 'foo' (uid:N, user:NAME, gid:N, group:NAME or *)", "more than 32
 * entries"); *out is then unspecified. */
int access_list_parse(const char *s, struct access_list *out, char *why, size_t whylen);

/* Does list l name the peer (uid, gid)?  Consults the group database
 * (getgrouplist) only when a group entry did not match gid directly. */
bool access_list_match(const struct access_list *l, uid_t uid, gid_t gid);

/* MEMD_ACCESS_* bits a peer (uid, gid) gets on a pool configured as pc;
 * self_uid is the daemon's euid.  0 means no access at all. */
uint32_t access_pool(const struct memd_pool_config *pc, uid_t self_uid, uid_t uid, gid_t gid);

/* May the peer (uid, gid) change things through memctl?  True for uid 0,
 * for the daemon's own euid, and for whoever cfg's [memd] admin list
 * names.  Pure apart from the group database lookup. */
bool access_is_admin(const struct memd_config *cfg, uid_t uid, gid_t gid);

#endif /* MEMD_ACCESS_H */
