/*
 * names.h - the daemon's table of published names: name -> block.
 *
 * PUBLISH binds a name to a shared block and the binding holds the block
 * (shared_block.names counts the bindings); UNPUBLISH drops it.  Names are
 * 1..MEMD_NAME_MAX printable bytes (proto.h), compared bytewise, and
 * daemon-wide: every pool's blocks share one namespace.  The table holds
 * at most max entries ([memd] max_names).
 *
 * Thread safety: none; the loop thread owns the table.
 */
#ifndef MEMD_NAMES_H
#define MEMD_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "ptable.h"

/* One published name. */
struct name_entry {
	uint64_t ref;                 /* the block it names */
	uint32_t len;                 /* bytes of name, 1..MEMD_NAME_MAX */
	char name[MEMD_NAME_MAX + 1]; /* the name, NUL-terminated */
};

/* The table: entry pointers keyed by name (ptable.h). */
struct names {
	struct ptable tab; /* the entries */
	uint32_t max;      /* entries allowed ([memd] max_names) */
};

/* Make t empty, allowing max entries.  Allocates nothing. */
void names_init(struct names *t, uint32_t max);

/* Free every entry and the table. */
void names_fini(struct names *t);

/* The entry for name[0..len), or NULL. */
struct name_entry *names_find(const struct names *t, const char *name, size_t len);

/* Bind name[0..len) (1..MEMD_NAME_MAX bytes: asserted) to ref.  0 and *out
 * (may be NULL) set, -EEXIST (taken), -ENOSPC (max entries reached),
 * -ENOMEM; nothing changes on error. */
int names_add(struct names *t, const char *name, size_t len, uint64_t ref, struct name_entry **out);

/* Remove e from t and free it. */
void names_remove(struct names *t, struct name_entry *e);

/* Iterate as blocks_next(). */
bool names_next(const struct names *t, size_t *cursor, struct name_entry **e);

#endif /* MEMD_NAMES_H */
