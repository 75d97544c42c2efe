/*
 * dispatch.h - request handlers: one complete frame in, one reply out.
 */
#ifndef MEMD_DISPATCH_H
#define MEMD_DISPATCH_H

#include <stddef.h>

#include "proto.h"

struct conn;

/* Handle one request whose header h was decoded (its length is in range
 * and its opcode is not a reply) and whose body_len body bytes have all
 * arrived.  Enforces HELLO-first (any other first request: -EPROTO, then
 * the connection closes once the reply is flushed), validates the body
 * (proto_req_validate: an error reply, the connection stays open), runs
 * the opcode's handler and queues exactly one reply on c; the one
 * exception is RING_KICK without a body, which gets no reply at all.
 * body need not be aligned. */
void dispatch_request(struct conn *c, const struct memd_hdr *h, const void *body, size_t body_len);

#endif /* MEMD_DISPATCH_H */
