/*
 * wire_codec.c - bounds-checked payload reading and writing (see
 * wire_codec.h).
 */
#include "wire/wire_codec.h"

#include <string.h>

static uint8_t *room(struct wire_buf *b, size_t n)
{
	uint8_t *p;
	if (b->err || b->len + n > b->cap) {
		b->err = 1;
		return NULL;
	}
	p = b->p + b->len;
	b->len += n;
	return p;
}

#define PUT(name, type, n)                                                                         \
	void name(struct wire_buf *b, type v)                                                      \
	{                                                                                          \
		uint8_t *p = room(b, n);                                                           \
		if (p)                                                                             \
			wire_le_put(p, v, n);                                                      \
	}
PUT(wire_put_u8, uint8_t, 1)
PUT(wire_put_u16, uint16_t, 2)
PUT(wire_put_u32, uint32_t, 4)
PUT(wire_put_u64, uint64_t, 8)

void wire_put_addr(struct wire_buf *b, struct wire_addr a)
{
	wire_put_u32(b, a.ip);
	wire_put_u16(b, a.port);
}

void wire_put_bytes(struct wire_buf *b, const void *src, size_t n)
{
	uint8_t *p = room(b, n);
	if (p && n)
		memcpy(p, src, n);
}

const uint8_t *wire_get_bytes(struct wire_rd *r, size_t n)
{
	const uint8_t *p;
	if (r->err || n > r->len - r->off) {
		r->err = 1;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

#define GET(name, type, n)                                                                         \
	type name(struct wire_rd *r)                                                               \
	{                                                                                          \
		const uint8_t *p = wire_get_bytes(r, n);                                           \
		return p ? (type)wire_le_get(p, n) : 0;                                            \
	}
GET(wire_get_u8, uint8_t, 1)
GET(wire_get_u16, uint16_t, 2)
GET(wire_get_u32, uint32_t, 4)
GET(wire_get_u64, uint64_t, 8)

struct wire_addr wire_get_addr(struct wire_rd *r)
{
	struct wire_addr a;
	a.ip = wire_get_u32(r);
	a.port = wire_get_u16(r);
	return a;
}
