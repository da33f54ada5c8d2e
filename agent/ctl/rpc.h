/*
 * rpc.h - request/response payloads between the CLI and an agent (and
 * between agents), carried in WIRE_RPC_REQ / WIRE_RPC_RESP frames over
 * TCP.
 *
 *   request:  u8 command, u8 flags, u16 length, argument bytes
 *   response: u8 status (0 ok, else an errno value), then the body:
 *     MEMBERS:       u16 n, n x (addr, u8 status, u64 incarnation)
 *     SELF:          the same with n = 1, then u16 length and "key value\n"
 *                    lines about this node (its engine, latency source...)
 *     GREP:          u64 matches, then the matching lines (text)
 *     STATS, errors: text
 */
#ifndef IDUNNO_RPC_H
#define IDUNNO_RPC_H

#include "membership/swim.h"
#include "wire/wire.h"

#include <stddef.h>
#include <stdint.h>

enum rpc_cmd { RPC_MEMBERS = 1, RPC_SELF, RPC_LEAVE, RPC_GREP, RPC_STATS, RPC_CMD_MAX };

struct rpc_req {
	uint8_t cmd, flags;
	uint16_t arglen;
	char arg[1024]; /* NUL-terminated */
};

int rpc_req_encode(const struct rpc_req *r, uint8_t *buf, size_t cap);
int rpc_req_decode(const uint8_t *p, size_t len, struct rpc_req *r);

/* Encodes a member list body after a status byte. Returns length or -EMSGSIZE. */
int rpc_members_encode(uint8_t status, const struct swim_member *m, int n, uint8_t *buf,
		       size_t cap);
/* Decodes up to max members; returns how many there are, or -EINVAL. */
int rpc_members_decode(const uint8_t *p, size_t len, struct swim_member *m, int max);
/* GREP's answer: u8 status, u64 matches, then the lines (or the error). */
#define RPC_GREP_HEAD 9
void rpc_grep_head_encode(uint8_t status, uint64_t matches, uint8_t out[RPC_GREP_HEAD]);
/* 0 with the fields (text points into body, not NUL-terminated), or -EINVAL. */
int rpc_grep_decode(const uint8_t *body, size_t len, uint8_t *status, uint64_t *matches,
		    const char **text, size_t *textlen);
/* SELF: this member and its description (text, not NUL-terminated). */
int rpc_self_encode(const struct swim_member *m, const char *text, uint8_t *buf, size_t cap);
int rpc_self_decode(const uint8_t *p, size_t len, struct swim_member *m, const char **text,
		    size_t *textlen);

#endif
