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

void wire_put_str(struct wire_buf *b, const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max || n > 255) {
		b->err = 1;
		return;
	}
	wire_put_u8(b, (uint8_t)n);
	wire_put_bytes(b, s, n);
}

void wire_get_str(struct wire_rd *r, char *out, size_t cap, int printable)
{
	size_t n = wire_get_u8(r);
	const uint8_t *p = wire_get_bytes(r, n);

	out[0] = '\0';
	if (!p || n >= cap || memchr(p, 0, n)) {
		r->err = 1;
		return;
	}
	for (size_t i = 0; printable && i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			r->err = 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

void wire_put_f32(struct wire_buf *b, float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	wire_put_u32(b, u);
}

void wire_put_f64(struct wire_buf *b, double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	wire_put_u64(b, u);
}

float wire_get_f32(struct wire_rd *r)
{
	uint32_t u = wire_get_u32(r);
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

double wire_get_f64(struct wire_rd *r)
{
	uint64_t u = wire_get_u64(r);
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}
