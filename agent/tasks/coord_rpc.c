/*
 * coord_rpc.c - the job commands' request codec (see coord_rpc.h).
 */
#include "tasks/coord_rpc.h"

#include "wire/wire_codec.h"

#include <errno.h>
#include <string.h>

static void put_str(struct wire_buf *b, const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n > max) {
		b->err = 1;
		return;
	}
	wire_put_u8(b, (uint8_t)n);
	wire_put_bytes(b, s, n);
}

static void get_str(struct wire_rd *r, char *out, size_t cap)
{
	size_t n = wire_get_u8(r);
	const uint8_t *p = wire_get_bytes(r, n);

	out[0] = '\0';
	if (!p || n >= cap) {
		r->err = 1;
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x21 || p[i] > 0x7e)
			r->err = 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

int coord_rpc_req_encode(const struct coord_rpc_req *r, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {.p = buf, .cap = cap};

	wire_put_u8(&b, r->cmd);
	wire_put_u8(&b, r->flags);
	wire_put_u16(&b, r->batch);
	wire_put_u32(&b, r->weight_milli);
	wire_put_u64(&b, r->from);
	put_str(&b, r->job, COORD_JOB_ID_MAX);
	put_str(&b, r->model, DATASET_NAME_MAX);
	put_str(&b, r->dataset, DATASET_NAME_MAX);
	return b.err ? -EMSGSIZE : (int)b.len;
}

int coord_rpc_req_decode(const uint8_t *p, size_t len, struct coord_rpc_req *r)
{
	struct wire_rd rd = {.p = p, .len = len};

	memset(r, 0, sizeof(*r));
	r->cmd = wire_get_u8(&rd);
	r->flags = wire_get_u8(&rd);
	r->batch = wire_get_u16(&rd);
	r->weight_milli = wire_get_u32(&rd);
	r->from = wire_get_u64(&rd);
	get_str(&rd, r->job, sizeof(r->job));
	get_str(&rd, r->model, sizeof(r->model));
	get_str(&rd, r->dataset, sizeof(r->dataset));
	if (rd.err || rd.off != len || r->cmd < COORD_RPC_LAUNCH || r->cmd >= COORD_RPC_END)
		return -EINVAL;
	return 0;
}
