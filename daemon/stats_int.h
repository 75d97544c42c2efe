/*
 * stats_int.h - what stats.c shares with stats_map.c: the reply page under
 * construction in the server's scratch buffer, and the request body.
 */
#ifndef MEMD_STATS_INT_H
#define MEMD_STATS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "proto.h"

#define STATS_BODY_MAX (MEMD_FRAME_MAX - MEMD_HDR_SIZE) /* bytes of a reply body */

/* A page under construction in the server's scratch buffer. */
struct stats_page {
	uint8_t *buf;    /* scratch: page head, then records */
	size_t rec_size; /* bytes of one record */
	uint32_t count;  /* records so far */
	uint32_t cap;    /* records that fit */
	uint64_t next;   /* key of the first record that did not fit; 0: none */
};

/* Start a page of records of rec_size bytes in c's server's scratch. */
void stats_page_init(struct stats_page *p, struct conn *c, size_t rec_size);

/* Room for the record with this key?  If the page is full, remember key
 * as the next cursor and say no. */
bool stats_page_room(struct stats_page *p, uint64_t key);

/* Append one record (rec_size bytes at rec). */
void stats_page_add(struct stats_page *p, const void *rec);

/* Queue the page as the reply to h. */
int stats_page_reply(struct stats_page *p, struct conn *c, const struct memd_hdr *h);

/* The request body (validated by dispatch). */
struct memd_stats_req stats_req(const void *body);

#endif
