/*
 * sdfs_wire.c - SDFS requests and chunk frames (see sdfs_wire.h).
 */
#include "sdfs/sdfs_wire.h"
#include "util.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#define CHUNK_MAGIC 0x4b434449u /* "IDCK" */

int sdfs_req_encode(const struct sdfs_req *r, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {buf, 0, cap, 0};
	size_t nl = strlen(r->name);

	wire_put_u8(&b, r->cmd);
	wire_put_u8(&b, (uint8_t)nl);
	wire_put_bytes(&b, r->name, nl);
	wire_put_u64(&b, r->version);
	wire_put_u64(&b, r->size);
	wire_put_u64(&b, r->offset);
	wire_put_bytes(&b, r->sid, SDFS_SID_LEN);
	wire_put_u8(&b, r->want);
	wire_put_u8(&b, r->ncand);
	for (int i = 0; i < r->ncand; i++)
		wire_put_addr(&b, r->cand[i]);
	return b.err || nl > STORE_NAME_MAX || r->ncand > SDFS_MAX_CAND ? -EMSGSIZE : (int)b.len;
}

int sdfs_req_decode(const uint8_t *p, size_t len, struct sdfs_req *r, char *err, size_t errlen)
{
	struct wire_rd rd = {p, len, 0, 0};
	const uint8_t *name;
	uint8_t nl;

	memset(r, 0, sizeof(*r));
	r->cmd = wire_get_u8(&rd);
	nl = wire_get_u8(&rd);
	name = wire_get_bytes(&rd, nl);
	if (r->cmd < SDFS_WRITE || r->cmd >= SDFS_CMD_END) {
		util_seterr(err, errlen, "unknown SDFS command %u", r->cmd);
		return -EINVAL;
	}
	if (name && nl <= STORE_NAME_MAX && !memchr(name, 0, nl))
		memcpy(r->name, name, nl);
	else
		rd.err = 1;
	r->version = wire_get_u64(&rd);
	r->size = wire_get_u64(&rd);
	r->offset = wire_get_u64(&rd);
	memcpy(r->sid, wire_get_bytes(&rd, SDFS_SID_LEN) ? p + rd.off - SDFS_SID_LEN : r->sid,
	       SDFS_SID_LEN);
	r->want = wire_get_u8(&rd);
	r->ncand = wire_get_u8(&rd);
	if (r->ncand > SDFS_MAX_CAND)
		rd.err = 1;
	for (int i = 0; !rd.err && i < r->ncand; i++)
		r->cand[i] = wire_get_addr(&rd);
	if (rd.err || rd.off != len) {
		util_seterr(err, errlen, "malformed SDFS request");
		return -EINVAL;
	}
	if (r->cmd != SDFS_LIST && store_name_check(r->name, err, errlen))
		return -EINVAL;
	return 0;
}

/* ---- answers ---- */

static int enc_len(const struct wire_buf *b)
{
	return b->err ? -EMSGSIZE : (int)b->len;
}

int sdfs_status_encode(int status, const char *text, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {buf, 0, cap, 0};
	size_t n = text ? MIN(strlen(text), (size_t)SDFS_TEXT_MAX) : 0;

	wire_put_u8(&b, (uint8_t)status);
	wire_put_bytes(&b, text, n);
	return enc_len(&b);
}

int sdfs_status_decode(const uint8_t *p, size_t len, int *status, const char **text, size_t *tlen)
{
	if (len < 1)
		return -EPROTO;
	*status = p[0];
	*text = (const char *)p + 1;
	*tlen = len - 1;
	return 0;
}

/* A reader over an answer whose status byte must be 0. */
static struct wire_rd ok_reader(const uint8_t *p, size_t len)
{
	struct wire_rd rd = {p, len, 0, 0};

	if (wire_get_u8(&rd) != 0)
		rd.err = 1;
	return rd;
}

int sdfs_ready_encode(const struct sdfs_ready *r, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {buf, 0, cap, 0};

	if (r->nreps < 0 || r->nreps > SDFS_MAX_CAND + 1)
		return -EMSGSIZE;
	wire_put_u8(&b, 0);
	wire_put_u64(&b, r->version);
	wire_put_u8(&b, (uint8_t)r->nreps);
	for (int i = 0; i < r->nreps; i++)
		wire_put_addr(&b, r->reps[i]);
	return enc_len(&b);
}

int sdfs_ready_decode(const uint8_t *p, size_t len, struct sdfs_ready *r)
{
	struct wire_rd rd = ok_reader(p, len);
	int n;

	r->version = wire_get_u64(&rd);
	n = wire_get_u8(&rd);
	r->nreps = 0;
	for (int i = 0; i < n && !rd.err; i++) {
		struct wire_addr a = wire_get_addr(&rd);
		if (r->nreps < (int)ARRAY_SIZE(r->reps))
			r->reps[r->nreps++] = a;
	}
	return rd.err ? -EPROTO : 0;
}

int sdfs_read_ans_encode(uint64_t version, uint64_t size, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {buf, 0, cap, 0};

	wire_put_u8(&b, 0);
	wire_put_u64(&b, version);
	wire_put_u64(&b, size);
	return enc_len(&b);
}

int sdfs_read_ans_decode(const uint8_t *p, size_t len, uint64_t *version, uint64_t *size)
{
	struct wire_rd rd = ok_reader(p, len);

	*version = wire_get_u64(&rd);
	*size = wire_get_u64(&rd);
	return rd.err ? -EPROTO : 0;
}

int sdfs_stat_encode(const uint64_t *v, int n, uint64_t deleted, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {buf, 0, cap, 0};

	n = MAX(0, MIN(n, SDFS_STAT_MAX));
	wire_put_u8(&b, 0);
	wire_put_u16(&b, (uint16_t)n);
	for (int i = 0; i < n; i++)
		wire_put_u64(&b, v[i]);
	wire_put_u64(&b, deleted);
	return enc_len(&b);
}

int sdfs_stat_decode(const uint8_t *p, size_t len, struct sdfs_stat *st)
{
	struct wire_rd rd = ok_reader(p, len);
	int k = wire_get_u16(&rd);

	st->n = 0;
	for (int i = 0; i < k && !rd.err; i++) {
		uint64_t v = wire_get_u64(&rd);
		if (st->n < SDFS_STAT_MAX)
			st->v[st->n++] = v;
	}
	st->deleted = wire_get_u64(&rd);
	return rd.err ? -EPROTO : 0;
}

void sdfs_list_begin(struct sdfs_list_enc *e, uint8_t *buf, size_t cap)
{
	e->b = (struct wire_buf){buf, 0, cap, 0};
	e->n = 0;
	wire_put_u8(&e->b, 0);
	wire_put_u32(&e->b, 0); /* the count, filled in at the end */
}

int sdfs_list_add(struct sdfs_list_enc *e, const char *name, uint64_t version, uint64_t size)
{
	size_t nl = strlen(name);

	if (nl > STORE_NAME_MAX)
		return -EINVAL;
	wire_put_u8(&e->b, (uint8_t)nl);
	wire_put_bytes(&e->b, name, nl);
	wire_put_u64(&e->b, version);
	wire_put_u64(&e->b, size);
	e->n++;
	return e->b.err ? -EMSGSIZE : 0;
}

size_t sdfs_list_end(struct sdfs_list_enc *e)
{
	struct wire_buf c = {e->b.p + 1, 0, 4, 0};

	if (e->b.len >= 5)
		wire_put_u32(&c, e->n);
	return e->b.len;
}

int sdfs_list_decode(const uint8_t *p, size_t len, store_list_fn fn, void *arg)
{
	struct wire_rd rd = ok_reader(p, len);
	uint32_t n = wire_get_u32(&rd);
	char name[STORE_NAME_MAX + 1];
	int ret = 0;

	for (uint32_t i = 0; i < n && !rd.err && !ret; i++) {
		uint8_t nl = wire_get_u8(&rd);
		const uint8_t *np = wire_get_bytes(&rd, nl);
		uint64_t v = wire_get_u64(&rd), size = wire_get_u64(&rd);
		if (rd.err || nl > STORE_NAME_MAX || memchr(np, 0, nl))
			return -EPROTO;
		memcpy(name, np, nl);
		name[nl] = '\0';
		ret = fn(arg, name, v, size);
	}
	return rd.err ? -EPROTO : ret;
}

int sdfs_delete_ans_encode(uint32_t removed, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {buf, 0, cap, 0};

	wire_put_u8(&b, 0);
	wire_put_u32(&b, removed);
	return enc_len(&b);
}

int sdfs_delete_ans_decode(const uint8_t *p, size_t len, uint32_t *removed)
{
	struct wire_rd rd = ok_reader(p, len);

	*removed = wire_get_u32(&rd);
	return rd.err ? -EPROTO : 0;
}

int sdfs_commit_encode(const uint8_t sid[SDFS_SID_LEN], uint8_t *buf, size_t cap)
{
	if (cap < SDFS_COMMIT_LEN)
		return -EMSGSIZE;
	buf[0] = 0;
	memcpy(buf + 1, sid, SDFS_SID_LEN);
	return SDFS_COMMIT_LEN;
}

int sdfs_commit_check(const uint8_t *p, size_t len, const uint8_t sid[SDFS_SID_LEN])
{
	return len == SDFS_COMMIT_LEN && p[0] == 0 && !memcmp(p + 1, sid, SDFS_SID_LEN) ? 0
											: -EPROTO;
}

/* ---- chunk frames ---- */

uint64_t chunk_count(uint64_t size)
{
	return (size + STORE_CHUNK - 1) / STORE_CHUNK;
}

size_t chunk_frame_len(uint64_t size, uint64_t index)
{
	uint64_t left = size - index * STORE_CHUNK;
	return CHUNK_HDR + (size_t)MIN(left, (uint64_t)STORE_CHUNK) + CHUNK_TAG;
}

/* The one-time Poly1305 key of (stream, chunk). */
static void chunk_key(const struct wire_key *key, const uint8_t sid[SDFS_SID_LEN], uint32_t index,
		      uint8_t out[crypto_onetimeauth_KEYBYTES])
{
	uint8_t msg[8 + SDFS_SID_LEN + 4];

	memcpy(msg, "IDSDFSck", 8);
	memcpy(msg + 8, sid, SDFS_SID_LEN);
	wire_le_put(msg + 8 + SDFS_SID_LEN, index, 4);
	crypto_generichash(out, crypto_onetimeauth_KEYBYTES, msg, sizeof(msg), key->k,
			   sizeof(key->k));
}

void chunk_seal(const struct wire_key *key, const uint8_t sid[SDFS_SID_LEN], uint32_t index,
		uint8_t *frame, uint32_t len, uint32_t crc)
{
	uint8_t k[crypto_onetimeauth_KEYBYTES];

	wire_le_put(frame, CHUNK_MAGIC, 4);
	wire_le_put(frame + 4, index, 4);
	wire_le_put(frame + 8, len, 4);
	wire_le_put(frame + 12, crc, 4);
	chunk_key(key, sid, index, k);
	crypto_onetimeauth(frame + CHUNK_HDR + len, frame, CHUNK_HDR + (size_t)len, k);
	sodium_memzero(k, sizeof(k));
}

int chunk_open(const struct wire_key *key, const uint8_t sid[SDFS_SID_LEN], uint32_t index,
	       const uint8_t *frame, size_t n, uint32_t *len, uint32_t *crc)
{
	uint8_t k[crypto_onetimeauth_KEYBYTES];
	uint32_t l;
	int bad;

	if (n < CHUNK_HDR + CHUNK_TAG || wire_le_get(frame, 4) != CHUNK_MAGIC ||
	    wire_le_get(frame + 4, 4) != index)
		return -EBADMSG;
	l = (uint32_t)wire_le_get(frame + 8, 4);
	if (l > STORE_CHUNK || (size_t)l + CHUNK_HDR + CHUNK_TAG != n)
		return -EBADMSG;
	chunk_key(key, sid, index, k);
	bad = crypto_onetimeauth_verify(frame + CHUNK_HDR + l, frame, CHUNK_HDR + (size_t)l, k);
	sodium_memzero(k, sizeof(k));
	if (bad || store_crc32c(0, frame + CHUNK_HDR, l) != wire_le_get(frame + 12, 4))
		return -EBADMSG;
	*len = l;
	*crc = (uint32_t)wire_le_get(frame + 12, 4);
	return 0;
}

uint64_t sdfs_clock_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}
