/*
 * wire.c - frame sealing and opening, keys, replay windows (see wire.h).
 */
#include "wire/wire.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const wire_reject_names[WIRE_REJECT_MAX] = {
	[WIRE_OK] = "ok",
	[WIRE_R_SHORT] = "short",
	[WIRE_R_MAGIC] = "bad_magic",
	[WIRE_R_VERSION] = "bad_version",
	[WIRE_R_TYPE] = "bad_type",
	[WIRE_R_LENGTH] = "bad_length",
	[WIRE_R_TAG] = "bad_tag",
	[WIRE_R_STALE] = "stale",
	[WIRE_R_REPLAY] = "replay",
	[WIRE_R_PAYLOAD] = "bad_payload",
};

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int wire_seal(const struct wire_key *key, const struct wire_hdr *h, const void *payload, size_t len,
	      uint8_t *out, size_t cap)
{
	size_t total = WIRE_HDR_LEN + len + WIRE_TAG_LEN;

	if (len > WIRE_MAX_PAYLOAD || total > cap)
		return -EMSGSIZE;
	memset(out, 0, WIRE_HDR_LEN);
	put_le(out, WIRE_MAGIC, 4);
	out[4] = WIRE_VERSION;
	out[5] = h->type;
	put_le(out + 8, len, 4);
	put_le(out + 12, h->sender.ip, 4);
	put_le(out + 16, h->sender.port, 2);
	put_le(out + 20, h->epoch, 8);
	put_le(out + 28, h->seq, 8);
	put_le(out + 36, h->sent_ms, 8);
	if (len)
		memcpy(out + WIRE_HDR_LEN, payload, len);
	crypto_auth_hmacsha256(out + WIRE_HDR_LEN + len, out, WIRE_HDR_LEN + len, key->k);
	return (int)total;
}

long wire_frame_len(const uint8_t *in, size_t n)
{
	uint64_t len;

	if (n < WIRE_HDR_LEN || get_le(in, 4) != WIRE_MAGIC)
		return -1;
	len = get_le(in + 8, 4);
	if (len > WIRE_MAX_PAYLOAD)
		return -1;
	return (long)(WIRE_HDR_LEN + len + WIRE_TAG_LEN);
}

enum wire_reject wire_open(const struct wire_key *key, const uint8_t *in, size_t n,
			   struct wire_hdr *h, const uint8_t **payload)
{
	uint64_t len;

	if (n < WIRE_HDR_LEN + WIRE_TAG_LEN)
		return WIRE_R_SHORT;
	if (get_le(in, 4) != WIRE_MAGIC)
		return WIRE_R_MAGIC;
	if (in[4] != WIRE_VERSION)
		return WIRE_R_VERSION;
	len = get_le(in + 8, 4);
	if (len > WIRE_MAX_PAYLOAD || WIRE_HDR_LEN + len + WIRE_TAG_LEN != n)
		return WIRE_R_LENGTH;
	/* constant-time tag check before anything else of the frame is trusted */
	if (crypto_auth_hmacsha256_verify(in + WIRE_HDR_LEN + len, in, WIRE_HDR_LEN + len,
					  key->k) != 0)
		return WIRE_R_TAG;
	if (in[5] == 0 || in[5] >= WIRE_TYPE_MAX)
		return WIRE_R_TYPE;
	h->type = in[5];
	h->len = (uint32_t)len;
	h->sender.ip = (uint32_t)get_le(in + 12, 4);
	h->sender.port = (uint16_t)get_le(in + 16, 2);
	h->epoch = get_le(in + 20, 8);
	h->seq = get_le(in + 28, 8);
	h->sent_ms = get_le(in + 36, 8);
	*payload = in + WIRE_HDR_LEN;
	return WIRE_OK;
}

/* ---- keys ---- */

int wire_key_load(const char *path, struct wire_key *key)
{
	char *text = NULL;
	size_t len, hexlen;
	int ret = util_read_file(path, 4096, &text, &len);

	if (ret)
		return ret;
	hexlen = strspn(text, "0123456789abcdefABCDEF");
	if (hexlen != 2 * WIRE_KEY_LEN || strspn(text + hexlen, " \r\n\t") != len - hexlen ||
	    sodium_hex2bin(key->k, WIRE_KEY_LEN, text, hexlen, NULL, NULL, NULL) != 0) {
		ret = -EINVAL;
	}
	sodium_memzero(text, len);
	free(text);
	return ret;
}

int wire_key_generate(const char *path)
{
	uint8_t k[WIRE_KEY_LEN];
	char hex[2 * WIRE_KEY_LEN + 2];
	int fd, ret = 0;

	if (sodium_init() < 0)
		return -EIO;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	randombytes_buf(k, sizeof(k));
	sodium_bin2hex(hex, sizeof(hex), k, sizeof(k));
	strcat(hex, "\n");
	if (write(fd, hex, strlen(hex)) != (ssize_t)strlen(hex) || fsync(fd) < 0)
		ret = -errno ? -errno : -EIO;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	sodium_memzero(k, sizeof(k));
	sodium_memzero(hex, sizeof(hex));
	if (ret)
		unlink(path);
	return ret;
}

/* ---- replay windows ---- */

#define WINDOW 128

struct replay_ent {
	struct wire_addr who;
	uint64_t epoch;
	uint64_t top;		    /* highest seq seen in this epoch */
	uint64_t bits[WINDOW / 64]; /* seqs top-WINDOW+1 .. top, bit 0 = top */
	uint64_t used_ms;
	int live;
};

struct wire_replay {
	int cap;
	struct replay_ent *e;
};

struct wire_replay *wire_replay_new(int capacity)
{
	struct wire_replay *r = xcalloc(1, sizeof(*r));
	r->cap = capacity < 1 ? 1 : capacity;
	r->e = xcalloc((size_t)r->cap, sizeof(*r->e));
	return r;
}

void wire_replay_free(struct wire_replay *r)
{
	if (r) {
		free(r->e);
		free(r);
	}
}

static int test_bit(const struct replay_ent *e, uint64_t d)
{
	return (int)(e->bits[d / 64] >> (d % 64) & 1);
}

static void set_bit(struct replay_ent *e, uint64_t d)
{
	e->bits[d / 64] |= 1ull << (d % 64);
}

/* Shifts the window up by n (a larger seq arrived). */
static void shift(struct replay_ent *e, uint64_t n)
{
	if (n >= WINDOW) {
		memset(e->bits, 0, sizeof(e->bits));
		return;
	}
	for (int k = 0; k < (int)n; k++) {
		for (int w = WINDOW / 64 - 1; w > 0; w--)
			e->bits[w] = e->bits[w] << 1 | e->bits[w - 1] >> 63;
		e->bits[0] <<= 1;
	}
}

enum wire_reject wire_replay_check(struct wire_replay *r, const struct wire_hdr *h, uint64_t now_ms)
{
	struct replay_ent *e = NULL, *victim = &r->e[0];

	if (h->sent_ms + WIRE_FRESH_MS < now_ms || h->sent_ms > now_ms + WIRE_FRESH_MS)
		return WIRE_R_STALE;
	for (int i = 0; i < r->cap; i++) {
		if (r->e[i].live && wire_addr_eq(r->e[i].who, h->sender)) {
			e = &r->e[i];
			break;
		}
		if (!r->e[i].live || r->e[i].used_ms < victim->used_ms)
			victim = &r->e[i];
		if (!r->e[i].live)
			break;
	}
	if (!e || h->epoch > e->epoch) {
		/* A new sender, or a sender that restarted.  (An evicted sender's
		 * old frames are still refused by the freshness check.) */
		e = e ? e : victim;
		memset(e, 0, sizeof(*e));
		e->live = 1;
		e->who = h->sender;
		e->epoch = h->epoch;
		e->top = h->seq;
		set_bit(e, 0);
		e->used_ms = now_ms;
		return WIRE_OK;
	}
	if (h->epoch < e->epoch)
		return WIRE_R_REPLAY; /* from before the sender restarted */
	e->used_ms = now_ms;
	if (h->seq > e->top) {
		shift(e, h->seq - e->top);
		e->top = h->seq;
		set_bit(e, 0);
		return WIRE_OK;
	}
	if (e->top - h->seq >= WINDOW || test_bit(e, e->top - h->seq))
		return WIRE_R_REPLAY;
	set_bit(e, e->top - h->seq);
	return WIRE_OK;
}

/* ---- payload buffers ---- */

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
			put_le(p, v, n);                                                           \
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
		return p ? (type)get_le(p, n) : 0;                                                 \
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

int wire_addr_parse(const char *s, uint16_t default_port, struct wire_addr *out)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	struct in_addr in;
	long port = default_port;
	size_t hl = colon ? (size_t)(colon - s) : strlen(s);

	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (colon) {
		char *end;
		port = strtol(colon + 1, &end, 10);
		if (*end || end == colon + 1 || port < 1 || port > 65535)
			return -EINVAL;
	}
	if (!strcmp(host, "localhost"))
		strcpy(host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &in) != 1)
		return -EINVAL;
	out->ip = ntohl(in.s_addr);
	out->port = (uint16_t)port;
	return 0;
}

void wire_addr_str(struct wire_addr a, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u:%u", a.ip >> 24, (a.ip >> 16) & 255, (a.ip >> 8) & 255,
		 a.ip & 255, a.port);
}
