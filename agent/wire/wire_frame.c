/*
 * wire_frame.c - sealing and opening frames (see wire_frame.h).
 */
#include "wire/wire_frame.h"
#include "wire/wire_codec.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

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
	[WIRE_R_FULL] = "replay_full",
	[WIRE_R_PAYLOAD] = "bad_payload",
	[WIRE_R_DEST] = "wrong_dest",
	[WIRE_R_BOOT] = "before_boot",
	[WIRE_R_THROTTLED] = "throttled",
	[WIRE_R_CUT] = "cut",
};

int wire_seal(const struct wire_key *key, const struct wire_hdr *h, const void *payload, size_t len,
	      uint8_t *out, size_t cap)
{
	size_t total = WIRE_HDR_LEN + len + WIRE_TAG_LEN;

	if (len > WIRE_MAX_PAYLOAD || total > cap)
		return -EMSGSIZE;
	memset(out, 0, WIRE_HDR_LEN);
	wire_le_put(out, WIRE_MAGIC, 4);
	out[4] = WIRE_VERSION;
	out[5] = h->type;
	wire_le_put(out + 8, len, 4);
	wire_le_put(out + 12, h->sender.ip, 4);
	wire_le_put(out + 16, h->sender.port, 2);
	wire_le_put(out + 20, h->epoch, 8);
	wire_le_put(out + 28, h->seq, 8);
	wire_le_put(out + 36, h->sent_ms, 8);
	wire_le_put(out + 44, h->to.ip, 4);
	wire_le_put(out + 48, h->to.port, 2);
	if (len)
		memcpy(out + WIRE_HDR_LEN, payload, len);
	crypto_auth_hmacsha256(out + WIRE_HDR_LEN + len, out, WIRE_HDR_LEN + len, key->k);
	return (int)total;
}

long wire_frame_len(const uint8_t *in, size_t n)
{
	uint64_t len;

	if (n < WIRE_HDR_LEN || wire_le_get(in, 4) != WIRE_MAGIC)
		return -1;
	len = wire_le_get(in + 8, 4);
	if (len > WIRE_MAX_PAYLOAD)
		return -1;
	return (long)(WIRE_HDR_LEN + len + WIRE_TAG_LEN);
}

enum wire_reject wire_peek(struct wire_addr self, const uint8_t *in, size_t n, struct wire_hdr *h)
{
	uint64_t len;

	if (n < WIRE_HDR_LEN + WIRE_TAG_LEN)
		return WIRE_R_SHORT;
	if (wire_le_get(in, 4) != WIRE_MAGIC)
		return WIRE_R_MAGIC;
	if (in[4] != WIRE_VERSION)
		return WIRE_R_VERSION;
	len = wire_le_get(in + 8, 4);
	if (len > WIRE_MAX_PAYLOAD || WIRE_HDR_LEN + len + WIRE_TAG_LEN != n)
		return WIRE_R_LENGTH;
	if (in[5] == 0 || in[5] >= WIRE_TYPE_MAX)
		return WIRE_R_TYPE;
	h->type = in[5];
	h->len = (uint32_t)len;
	h->sender.ip = (uint32_t)wire_le_get(in + 12, 4);
	h->sender.port = (uint16_t)wire_le_get(in + 16, 2);
	h->epoch = wire_le_get(in + 20, 8);
	h->seq = wire_le_get(in + 28, 8);
	h->sent_ms = wire_le_get(in + 36, 8);
	h->to.ip = (uint32_t)wire_le_get(in + 44, 4);
	h->to.port = (uint16_t)wire_le_get(in + 48, 2);
	if (!wire_addr_eq(h->to, self))
		return WIRE_R_DEST;
	return WIRE_OK;
}

enum wire_reject wire_auth(const struct wire_key *key, const uint8_t *in, size_t n)
{
	if (n < WIRE_HDR_LEN + WIRE_TAG_LEN)
		return WIRE_R_SHORT;
	/* constant time */
	if (crypto_auth_hmacsha256_verify(in + n - WIRE_TAG_LEN, in, n - WIRE_TAG_LEN, key->k) != 0)
		return WIRE_R_TAG;
	return WIRE_OK;
}

enum wire_reject wire_open(const struct wire_key *key, struct wire_addr self, const uint8_t *in,
			   size_t n, struct wire_hdr *h, const uint8_t **payload)
{
	enum wire_reject r = wire_peek(self, in, n, h);

	if (r == WIRE_OK)
		r = wire_auth(key, in, n);
	if (r == WIRE_OK)
		*payload = in + WIRE_HDR_LEN;
	return r;
}
