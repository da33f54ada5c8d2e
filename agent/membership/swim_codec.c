/*
 * swim_codec.c - SWIM message payloads (see swim.h):
 *
 *   u8 flags  u32 seq  addr target  addr origin  u16 nupdates
 *   nupdates x (addr  u8 status  u64 incarnation  addr accuser)
 *
 * an addr being u32 ip, u16 port; little-endian, through the wire codec.
 */
#include "membership/swim.h"
#include "wire/wire_codec.h"

#include <errno.h>

int swim_msg_encode(const struct swim_msg *m, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {buf, 0, cap, 0};

	wire_put_u8(&b, m->flags);
	wire_put_u32(&b, m->seq);
	wire_put_addr(&b, m->target);
	wire_put_addr(&b, m->origin);
	wire_put_u16(&b, m->nupdates);
	for (int i = 0; i < m->nupdates && i < SWIM_MAX_UPDATES; i++) {
		wire_put_addr(&b, m->updates[i].addr);
		wire_put_u8(&b, m->updates[i].status);
		wire_put_u64(&b, m->updates[i].incarnation);
		wire_put_addr(&b, m->updates[i].accuser);
	}
	return b.err ? -EMSGSIZE : (int)b.len;
}

int swim_msg_decode(uint8_t type, const uint8_t *p, size_t len, struct swim_msg *m)
{
	struct wire_rd r = {p, len, 0, 0};

	if (type < WIRE_PING || type > WIRE_GOSSIP)
		return -EINVAL;
	m->type = type;
	m->flags = wire_get_u8(&r);
	m->seq = wire_get_u32(&r);
	m->target = wire_get_addr(&r);
	m->origin = wire_get_addr(&r);
	m->nupdates = wire_get_u16(&r);
	if (r.err || m->nupdates > SWIM_MAX_UPDATES)
		return -EINVAL;
	for (int i = 0; i < m->nupdates; i++) {
		m->updates[i].addr = wire_get_addr(&r);
		m->updates[i].status = wire_get_u8(&r);
		m->updates[i].incarnation = wire_get_u64(&r);
		m->updates[i].accuser = wire_get_addr(&r);
		if (m->updates[i].status >= SWIM_STATUS_MAX)
			return -EINVAL;
	}
	return r.err || r.off != len ? -EINVAL : 0;
}
