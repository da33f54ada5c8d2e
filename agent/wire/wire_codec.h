/*
 * wire_codec.h - little-endian encoding: the one copy in the tree.
 *
 * wire_le_put/wire_le_get move an n-byte little-endian integer to or from
 * raw bytes (frame headers, on-disk trailers, MAC inputs); wire_buf and
 * wire_rd write and read payloads field by field with bounds checks, so a
 * payload is encoded or parsed without a length check at every field.
 */
#ifndef IDUNNO_WIRE_CODEC_H
#define IDUNNO_WIRE_CODEC_H

#include "wire/wire_addr.h"

#include <stddef.h>
#include <stdint.h>

/* Stores the low n bytes (1..8) of v at p, least significant first. */
static inline void wire_le_put(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Loads an n-byte (1..8) little-endian integer from p. */
static inline uint64_t wire_le_get(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Bounds-checked payload writing into memory the caller owns. */
struct wire_buf {
	uint8_t *p;
	size_t len, cap;
	int err; /* set on overflow; later writes do nothing */
};

/* Bounds-checked payload reading. */
struct wire_rd {
	const uint8_t *p;
	size_t len, off;
	int err; /* set on overrun; later reads return 0 */
};

void wire_put_u8(struct wire_buf *b, uint8_t v);
void wire_put_u16(struct wire_buf *b, uint16_t v);
void wire_put_u32(struct wire_buf *b, uint32_t v);
void wire_put_u64(struct wire_buf *b, uint64_t v);
void wire_put_addr(struct wire_buf *b, struct wire_addr a);
void wire_put_bytes(struct wire_buf *b, const void *p, size_t n);
uint8_t wire_get_u8(struct wire_rd *r);
uint16_t wire_get_u16(struct wire_rd *r);
uint32_t wire_get_u32(struct wire_rd *r);
uint64_t wire_get_u64(struct wire_rd *r);
struct wire_addr wire_get_addr(struct wire_rd *r);
/* A pointer to the next n bytes inside the payload, or NULL (err set). */
const uint8_t *wire_get_bytes(struct wire_rd *r, size_t n);

/* Strings: a u8 length and the bytes.  Writing one longer than max (or
 * 255) sets err.  Reading one that does not fit cap - 1, holds a NUL or,
 * with printable, anything outside 0x20..0x7e sets err; out is always
 * NUL-terminated. */
void wire_put_str(struct wire_buf *b, const char *s, size_t max);
void wire_get_str(struct wire_rd *r, char *out, size_t cap, int printable);
/* IEEE floats by their bits, little-endian. */
void wire_put_f32(struct wire_buf *b, float f);
void wire_put_f64(struct wire_buf *b, double d);
float wire_get_f32(struct wire_rd *r);
double wire_get_f64(struct wire_rd *r);

#endif
