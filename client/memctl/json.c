/*
 * json.c - memctl's JSON output (jansson).
 *
 * Every read command can print one JSON document instead of tables.  Keys
 * are stable snake_case names documented in memctl(1); sizes are integers
 * in bytes; ratios are numbers in [0, 1]; references are "0x..." strings
 * (a reference can exceed the 2^63 that JSON integers carry here) next to
 * their segment and offset as integers.
 *
 * Ownership: builders return new references; mc_json_print steals its
 * argument.
 */
#include "memctl.h"

#include <stdint.h>

int mc_json_print(json_t *doc)
{
	int rc;

	if (doc == NULL) {
		fputs("memctl: out of memory building JSON\n", stderr);
		return MEMCTL_EX_FAIL;
	}
	rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (rc != 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0)
		return MEMCTL_EX_FAIL;
	return MEMCTL_EX_OK;
}

json_t *mc_json_u64(uint64_t v)
{
	return json_integer(v > (uint64_t)INT64_MAX ? (json_int_t)INT64_MAX : (json_int_t)v);
}

json_t *mc_json_ref(uint64_t ref)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)ref);
	return json_string(buf);
}

json_t *mc_json_pool(const struct memd_stats_pool *p)
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "name", json_string(p->name));
	json_object_set_new(o, "id", json_integer(p->id));
	json_object_set_new(o, "open", json_boolean(p->flags & MEMD_POOL_OPEN));
	json_object_set_new(o, "can_read", json_boolean(p->flags & MEMD_POOL_READ));
	json_object_set_new(o, "can_write", json_boolean(p->flags & MEMD_POOL_WRITE));
	json_object_set_new(o, "max_size", mc_json_u64(p->max_size));
	json_object_set_new(o, "segment_size", mc_json_u64(p->segment_size));
	json_object_set_new(o, "trim_threshold", mc_json_u64(p->trim_threshold));
	json_object_set_new(o, "client_quota", mc_json_u64(p->client_quota));
	json_object_set_new(o, "uid_quota", mc_json_u64(p->uid_quota));
	json_object_set_new(o, "segments", mc_json_u64(p->segments));
	json_object_set_new(o, "reserved", mc_json_u64(p->reserved_bytes));
	json_object_set_new(o, "in_use", mc_json_u64(p->in_use_bytes));
	json_object_set_new(o, "used_pages_bytes", mc_json_u64(p->used_bytes));
	json_object_set_new(o, "free", mc_json_u64(p->free_bytes));
	json_object_set_new(o, "free_run_bytes", mc_json_u64(p->free_run_bytes));
	json_object_set_new(o, "free_runs", mc_json_u64(p->free_runs));
	json_object_set_new(o, "largest_free_run", mc_json_u64(p->largest_free_run));
	json_object_set_new(o, "resident", mc_json_u64(p->resident_bytes));
	json_object_set_new(o, "punched", mc_json_u64(p->punched_bytes));
	json_object_set_new(o, "punched_total", mc_json_u64(p->punched_total));
	json_object_set_new(o, "blocks", mc_json_u64(p->blocks));
	json_object_set_new(o, "shared_blocks", mc_json_u64(p->shared_blocks));
	json_object_set_new(o, "meta_bytes", mc_json_u64(p->meta_bytes));
	json_object_set_new(o, "segments_created", mc_json_u64(p->segments_created));
	json_object_set_new(o, "segments_released", mc_json_u64(p->segments_released));
	json_object_set_new(o, "trims", mc_json_u64(p->trims));
	json_object_set_new(o, "alloc_failures", mc_json_u64(p->enomem));
	json_object_set_new(o, "fragmentation", json_real(p->fragmentation_ppm / 1e6));
	json_object_set_new(o, "utilization", json_real(p->utilization_ppm / 1e6));
	return o;
}
