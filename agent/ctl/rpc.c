/*
 * rpc.c - RPC payload encoding (see rpc.h).
 */
#include "ctl/rpc.h"

#include <errno.h>
#include <string.h>

#include "util.h"

int rpc_req_encode(const struct rpc_req *r, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {buf, 0, cap, 0};

	wire_put_u8(&b, r->cmd);
	wire_put_u8(&b, r->flags);
	wire_put_u16(&b, r->arglen);
	wire_put_bytes(&b, r->arg, r->arglen);
	return b.err ? -EMSGSIZE : (int)b.len;
}

int rpc_req_decode(const uint8_t *p, size_t len, struct rpc_req *r)
{
	struct wire_rd rd = {p, len, 0, 0};
	const uint8_t *arg;

	r->cmd = wire_get_u8(&rd);
	r->flags = wire_get_u8(&rd);
	r->arglen = wire_get_u16(&rd);
	if (rd.err || r->cmd < RPC_MEMBERS || r->cmd >= RPC_CMD_MAX || r->arglen >= sizeof(r->arg))
		return -EINVAL;
	arg = wire_get_bytes(&rd, r->arglen);
	if (!arg || rd.off != len || memchr(arg, 0, r->arglen))
		return -EINVAL;
	memcpy(r->arg, arg, r->arglen);
	r->arg[r->arglen] = '\0';
	return 0;
}

int rpc_members_encode(uint8_t status, const struct swim_member *m, int n, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {buf, 0, cap, 0};

	wire_put_u8(&b, status);
	wire_put_u16(&b, (uint16_t)n);
	for (int i = 0; i < n; i++) {
		wire_put_addr(&b, m[i].addr);
		wire_put_u8(&b, (uint8_t)m[i].status);
		wire_put_u64(&b, m[i].incarnation);
	}
	return b.err ? -EMSGSIZE : (int)b.len;
}

int rpc_members_decode(const uint8_t *p, size_t len, struct swim_member *m, int max)
{
	struct wire_rd rd = {p, len, 0, 0};
	int n = wire_get_u16(&rd);

	for (int i = 0; i < n; i++) {
		struct swim_member x = {0};
		x.addr = wire_get_addr(&rd);
		x.status = (enum swim_status)wire_get_u8(&rd);
		x.incarnation = wire_get_u64(&rd);
		if (rd.err || x.status >= SWIM_STATUS_MAX)
			return -EINVAL; /* a count the body cannot hold: stop at once */
		if (i < max)
			m[i] = x;
	}
	return rd.err || rd.off != len ? -EINVAL : n;
}

int rpc_self_encode(const struct swim_member *m, const char *text, uint8_t *buf, size_t cap)
{
	int n = rpc_members_encode(0, m, 1, buf, cap);
	size_t tl = strlen(text);
	struct wire_buf b = {buf, n < 0 ? 0 : (size_t)n, cap, n < 0};

	wire_put_u16(&b, (uint16_t)MIN(tl, 65535));
	wire_put_bytes(&b, text, MIN(tl, 65535));
	return b.err ? -EMSGSIZE : (int)b.len;
}

int rpc_self_decode(const uint8_t *p, size_t len, struct swim_member *m, const char **text,
		    size_t *textlen)
{
	struct wire_rd rd = {p, len, 0, 0};
	size_t tl;

	if (wire_get_u16(&rd) != 1)
		return -EINVAL;
	m->addr = wire_get_addr(&rd);
	m->status = (enum swim_status)wire_get_u8(&rd);
	m->incarnation = wire_get_u64(&rd);
	tl = wire_get_u16(&rd);
	*text = (const char *)wire_get_bytes(&rd, tl);
	*textlen = tl;
	return rd.err || rd.off != len || m->status >= SWIM_STATUS_MAX ? -EINVAL : 0;
}

void rpc_grep_head_encode(uint8_t status, uint64_t matches, uint8_t out[RPC_GREP_HEAD])
{
	struct wire_buf b = {out, 0, RPC_GREP_HEAD, 0};

	wire_put_u8(&b, status);
	wire_put_u64(&b, matches);
}

int rpc_grep_decode(const uint8_t *body, size_t len, uint8_t *status, uint64_t *matches,
		    const char **text, size_t *textlen)
{
	struct wire_rd rd = {body, len, 0, 0};

	*status = wire_get_u8(&rd);
	*matches = wire_get_u64(&rd);
	if (rd.err)
		return -EINVAL;
	*text = (const char *)body + rd.off;
	*textlen = len - rd.off;
	return 0;
}
