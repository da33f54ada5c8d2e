/*
 * repl_wire.c - the replication stream's codecs (see repl_wire.h).
 */
#include "tasks/repl_wire.h"

#include "err.h"
#include "wire/wire_codec.h"

#include <errno.h>
#include <string.h>

#define RECS_HDR 11 /* type, epoch, n */

static int done(const struct wire_rd *r)
{
	return r->err || r->off != r->len ? -EINVAL : 0;
}

int repl_hello_encode(const struct repl_hello *m, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {.p = buf, .cap = cap};

	wire_put_u8(&b, REPL_HELLO);
	wire_put_u64(&b, m->epoch);
	wire_put_addr(&b, m->coordinator);
	wire_put_u64(&b, m->seq);
	return b.err ? -EMSGSIZE : (int)b.len;
}

int repl_hello_decode(const uint8_t *p, size_t len, struct repl_hello *m)
{
	struct wire_rd r = {.p = p, .len = len};

	if (wire_get_u8(&r) != REPL_HELLO)
		return -EINVAL;
	m->epoch = wire_get_u64(&r);
	m->coordinator = wire_get_addr(&r);
	m->seq = wire_get_u64(&r);
	return done(&r) || m->epoch == 0 || m->coordinator.ip == 0 ? -EINVAL : 0;
}

int repl_state_encode(const struct repl_state *m, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {.p = buf, .cap = cap};

	wire_put_u8(&b, REPL_STATE);
	wire_put_u32(&b, (uint32_t)m->status);
	wire_put_u64(&b, m->epoch);
	wire_put_u64(&b, m->seq);
	return b.err ? -EMSGSIZE : (int)b.len;
}

int repl_state_decode(const uint8_t *p, size_t len, struct repl_state *m)
{
	struct wire_rd r = {.p = p, .len = len};

	if (wire_get_u8(&r) != REPL_STATE)
		return -EINVAL;
	m->status = (int32_t)wire_get_u32(&r);
	m->epoch = wire_get_u64(&r);
	m->seq = wire_get_u64(&r);
	if (done(&r) || (m->status != 0 && m->status != IDN_ESTALE_EPOCH && m->status != -ERANGE))
		return -EINVAL;
	return 0;
}

int repl_snap_encode(const struct repl_snap *m, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {.p = buf, .cap = cap};

	if (m->len > REPL_CHUNK_MAX || m->offset > m->total || m->len > m->total - m->offset)
		return -EMSGSIZE;
	wire_put_u8(&b, REPL_SNAP);
	wire_put_u64(&b, m->epoch);
	wire_put_u64(&b, m->seq);
	wire_put_u32(&b, m->total);
	wire_put_u32(&b, m->offset);
	wire_put_u32(&b, m->len);
	wire_put_bytes(&b, m->chunk, m->len);
	return b.err ? -EMSGSIZE : (int)b.len;
}

int repl_snap_decode(const uint8_t *p, size_t len, struct repl_snap *m)
{
	struct wire_rd r = {.p = p, .len = len};

	if (wire_get_u8(&r) != REPL_SNAP)
		return -EINVAL;
	m->epoch = wire_get_u64(&r);
	m->seq = wire_get_u64(&r);
	m->total = wire_get_u32(&r);
	m->offset = wire_get_u32(&r);
	m->len = wire_get_u32(&r);
	if (r.err || m->len > REPL_CHUNK_MAX || m->total > REPL_SNAP_MAX || m->total == 0 ||
	    m->offset > m->total || m->len > m->total - m->offset || m->epoch == 0)
		return -EINVAL;
	m->chunk = wire_get_bytes(&r, m->len);
	return done(&r);
}

void repl_recs_start(struct repl_recs_buf *b, uint8_t *buf, size_t cap, uint64_t epoch)
{
	*b = (struct repl_recs_buf){.p = buf, .cap = cap};
	if (cap < RECS_HDR)
		return;
	buf[0] = REPL_RECS;
	wire_le_put(buf + 1, epoch, 8);
	b->len = RECS_HDR;
}

int repl_recs_add(struct repl_recs_buf *b, const uint8_t *rec, size_t len)
{
	if (b->len < RECS_HDR || len == 0 || b->n >= REPL_RECS_N || len > REPL_RECS_MAX ||
	    b->len + 4 + len > b->cap ||
	    b->len + 4 + len > REPL_RECS_MAX + RECS_HDR + 4 * REPL_RECS_N)
		return -EMSGSIZE;
	wire_le_put(b->p + b->len, len, 4);
	memcpy(b->p + b->len + 4, rec, len);
	b->len += 4 + len;
	b->n++;
	return 0;
}

int repl_recs_finish(struct repl_recs_buf *b)
{
	if (b->n == 0)
		return -EINVAL;
	wire_le_put(b->p + 9, b->n, 2);
	return (int)b->len;
}

int repl_recs_decode(const uint8_t *p, size_t len, struct repl_recs *m)
{
	struct wire_rd r = {.p = p, .len = len};

	if (wire_get_u8(&r) != REPL_RECS)
		return -EINVAL;
	m->epoch = wire_get_u64(&r);
	m->n = wire_get_u16(&r);
	if (r.err || m->epoch == 0 || m->n == 0 || m->n > REPL_RECS_N)
		return -EINVAL;
	for (int i = 0; i < m->n; i++) {
		m->len[i] = wire_get_u32(&r);
		if (m->len[i] == 0 || m->len[i] > REPL_RECS_MAX)
			return -EINVAL;
		m->rec[i] = wire_get_bytes(&r, m->len[i]);
		if (!m->rec[i])
			return -EINVAL;
	}
	return done(&r);
}
