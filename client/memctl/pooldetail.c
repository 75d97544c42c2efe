/*
 * pooldetail.c - one pool in full: its size classes and access rules.
 *
 * STATS_POOL answers with the pool record, the occupancy of every size
 * class and a text describing who may read and write the pool and its
 * quotas.  This file fetches that reply into a struct mc_pool_detail (the
 * classes and text copied out of the reply buffer) and turns it into
 * JSON; `memctl pool NAME` and `memctl pools --json` use it.
 *
 * Ownership: struct mc_pool_detail owns its classes and text.
 */
#include "memctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int mc_pool_detail(struct memctl *m, uint32_t pool_id, struct mc_pool_detail *out)
{
	struct memd_stats_req req = {.pool_id = pool_id};
	struct memd_stats_pool_detail d;
	const uint8_t *b;
	const void *body;
	size_t len, classes;
	int err;

	memset(out, 0, sizeof(*out));
	err = mc_call(m, MEMD_OP_STATS_POOL, &req, &body, &len);
	if (err < 0)
		return err;
	b = body;
	memcpy(&d, b, sizeof(d));
	classes = (size_t)d.class_count * sizeof(struct memd_stats_class);
	out->pool = d.pool;
	out->classes = malloc(classes + 1);
	out->text = malloc((size_t)d.text_len + 1);
	if (out->classes == NULL || out->text == NULL) {
		mc_pool_detail_free(out);
		return -ENOMEM;
	}
	memcpy(out->classes, b + sizeof(d), classes);
	out->class_count = d.class_count;
	memcpy(out->text, b + sizeof(d) + classes, d.text_len);
	out->text[d.text_len] = '\0';
	return 0;
}

void mc_pool_detail_free(struct mc_pool_detail *d)
{
	free(d->classes);
	free(d->text);
	d->classes = NULL;
	d->text = NULL;
}

json_t *mc_json_pool_detail(const struct mc_pool_detail *d)
{
	json_t *o = mc_json_pool(&d->pool);
	json_t *classes = json_array();

	if (o == NULL || classes == NULL) {
		json_decref(o);
		json_decref(classes);
		return NULL;
	}
	for (size_t i = 0; i < d->class_count; i++) {
		const struct memd_stats_class *c = &d->classes[i];

		json_array_append_new(
		        classes, json_pack("{s:I, s:I, s:o, s:o, s:o}", "size", (json_int_t)c->size,
		                           "slab_bytes", (json_int_t)c->slab_bytes, "slabs",
		                           mc_json_u64(c->slabs), "slots", mc_json_u64(c->slots),
		                           "used", mc_json_u64(c->used)));
	}
	json_object_set_new(o, "classes", classes);
	json_object_set_new(o, "access", json_string(d->text));
	return o;
}
