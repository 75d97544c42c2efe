/*
 * fuzz_proto.c - libFuzzer entry point for the wire decoder (common/proto.c).
 *
 * Each input is one frame as it would arrive on the socket: a 16-byte
 * header and a body.  The header goes through proto_hdr_decode(); the body
 * (copied to a heap buffer of exactly its length, so AddressSanitizer sees
 * any over-read) goes through proto_req_validate() and, as the reply to the
 * opcode the header names, proto_rep_validate().  The validators run twice:
 * once with the header as received (lengths may disagree) and once with the
 * length fixed up to the body actually present, so the fuzzer reaches the
 * per-opcode field checks without having to guess the length first.
 *
 * The oracle, beyond "no crash, no sanitizer report": every function
 * returns only the values proto.h documents; anything else aborts.
 *
 * The same entry point is linked into replay.c, which runs it over the
 * committed corpus in every `meson test`.
 */
#include "proto.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort unless rc is 0, allowed1 or allowed2 (the values proto.h allows). */
static void check_rc(int rc, int allowed1, int allowed2)
{
	if (rc != 0 && rc != allowed1 && rc != allowed2)
		abort();
}

/* Run both validators over body with header h. */
static void validate_all(const struct memd_hdr *h, const uint8_t *body, size_t body_len)
{
	uint16_t req_op = h->op & (uint16_t)~MEMD_OP_REPLY;
	int rc;

	rc = proto_req_validate(h, body, body_len);
	check_rc(rc, -EOPNOTSUPP, -EINVAL);
	if (rc == 0 && (h->op & MEMD_OP_REPLY) != 0)
		abort();
	rc = proto_rep_validate(req_op, h, body, body_len);
	check_rc(rc, -EPROTO, -EPROTO);
	(void)proto_op_name(h->op);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct memd_hdr h;
	size_t body_len;
	uint8_t *body;
	int rc;

	if (size < MEMD_HDR_SIZE || size > MEMD_FRAME_MAX)
		return 0;
	rc = proto_hdr_decode(data, &h);
	check_rc(rc, -EMSGSIZE, -EPROTO);
	body_len = size - MEMD_HDR_SIZE;
	body = malloc(body_len ? body_len : 1);
	if (body == NULL)
		return 0;
	memcpy(body, data + MEMD_HDR_SIZE, body_len);
	if (rc == 0)
		validate_all(&h, body, body_len);
	h.len = (uint32_t)size; /* now consistent with the body present */
	h.flags = 0;
	validate_all(&h, body, body_len);
	free(body);
	return 0;
}
