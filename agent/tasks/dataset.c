/*
 * dataset.c - the dataset index: building, checking, encoding and
 * decoding (see dataset.h for the format and its rules).
 */
#include "tasks/dataset.h"
#include "sdfs/store.h"
#include "util.h"
#include "wire/wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR_LEN	      16 /* magic, version, flags, shards, images */
#define SHARD_LEN     16
#define IMAGE_MIN_LEN 14 /* without its name */
#define TRAILER_LEN   4

int dataset_name_check(const char *name, char *err, size_t errlen)
{
	size_t n = strlen(name);

	if (n == 0 || n > DATASET_NAME_MAX) {
		util_seterr(err, errlen, "a name has 1 to %d characters, not %zu", DATASET_NAME_MAX,
			    n);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
			util_seterr(err, errlen,
				    "'%.*s': a name is made of a-z, 0-9, '_' and '-' only",
				    (int)MIN(n, 64u), name);
			return -EINVAL;
		}
	}
	return 0;
}

/* The length of the UTF-8 sequence at p (at most n bytes), or 0 if invalid. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
	size_t k;
	uint32_t c;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		k = 2, c = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		k = 3, c = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		k = 4, c = p[0] & 0x07;
	else
		return 0;
	if (k > n)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((k == 3 && c < 0x800) || (k == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return k;
}

int dataset_image_name_check(const char *name, size_t len, char *err, size_t errlen)
{
	const uint8_t *p = (const uint8_t *)name;

	if (len == 0 || len > DATASET_IMAGE_NAME_MAX) {
		util_seterr(err, errlen, "an image name has 1 to %d bytes, not %zu",
			    DATASET_IMAGE_NAME_MAX, len);
		return -EINVAL;
	}
	if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) {
		util_seterr(err, errlen, "image name '%.*s' is not a file name", (int)len, name);
		return -EINVAL;
	}
	for (size_t i = 0; i < len;) {
		size_t k = utf8_len(p + i, len - i);
		if (k == 0 || p[i] < 0x20 || p[i] == 0x7f || p[i] == '/') {
			util_seterr(err, errlen,
				    "image name has %s at byte %zu (no NUL, control character or "
				    "'/'; UTF-8 only)",
				    p[i] == 0	  ? "a NUL"
				    : p[i] == '/' ? "a '/'"
				    : k == 0	  ? "invalid UTF-8"
						  : "a control character",
				    i);
			return -EINVAL;
		}
		i += k;
	}
	return 0;
}

void dataset_index_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "datasets/%s/index", name);
}

void dataset_shard_path(const char *name, uint32_t shard, char *buf, size_t len)
{
	snprintf(buf, len, "datasets/%s/shard-%05u", name, shard);
}

int dataset_index_add(struct dataset_index *ix, const char *name, uint64_t length, char *err,
		      size_t errlen)
{
	struct dataset_shard *last = ix->nshards ? &ix->shards[ix->nshards - 1] : NULL;
	int ret = dataset_image_name_check(name, strlen(name), err, errlen);

	if (ret)
		return ret;
	if (length == 0 || length > DATASET_SHARD_MAX) {
		util_seterr(err, errlen, "%s: %llu bytes (an image has 1 byte to %u MiB)", name,
			    (unsigned long long)length, DATASET_SHARD_MAX >> 20);
		return -EINVAL;
	}
	if (ix->nimages >= INT32_MAX) {
		util_seterr(err, errlen, "too many images");
		return -EINVAL;
	}
	if (!last || last->size + length > DATASET_SHARD_MAX) {
		if (ix->nshards >= DATASET_MAX_SHARDS) {
			util_seterr(err, errlen, "more than %d shards", DATASET_MAX_SHARDS);
			return -EINVAL;
		}
		if (ix->nshards == ix->cap_shards) {
			ix->cap_shards = ix->cap_shards ? 2 * ix->cap_shards : 16;
			ix->shards = xrealloc(ix->shards, ix->cap_shards * sizeof(*ix->shards));
		}
		last = &ix->shards[ix->nshards++];
		*last = (struct dataset_shard){0};
	}
	if (ix->nimages == ix->cap_images) {
		ix->cap_images = ix->cap_images ? 2 * ix->cap_images : 64;
		ix->images = xrealloc(ix->images, ix->cap_images * sizeof(*ix->images));
	}
	ix->images[ix->nimages] = (struct dataset_image){ix->nshards - 1, last->size,
							 (uint32_t)length, xstrdup(name)};
	last->size += (uint32_t)length;
	return (int)ix->nimages++;
}

int dataset_index_check(const struct dataset_index *ix, char *err, size_t errlen)
{
	uint32_t shard = 0, at = 0;

	if (ix->nshards > DATASET_MAX_SHARDS) {
		util_seterr(err, errlen, "%u shards, more than %d", ix->nshards,
			    DATASET_MAX_SHARDS);
		return -EINVAL;
	}
	for (uint32_t s = 0; s < ix->nshards; s++)
		if (ix->shards[s].size == 0 || ix->shards[s].size > DATASET_SHARD_MAX ||
		    ix->shards[s].version == 0) {
			util_seterr(err, errlen, "shard %u: %s", s,
				    ix->shards[s].version == 0 ? "no SDFS version"
				    : ix->shards[s].size       ? "larger than a shard may be"
							       : "empty");
			return -EINVAL;
		}
	/* images in shard order, back to back, filling every shard exactly */
	for (uint32_t i = 0; i < ix->nimages; i++) {
		const struct dataset_image *im = &ix->images[i];
		char sub[200];
		if (dataset_image_name_check(im->name, strlen(im->name), sub, sizeof(sub))) {
			util_seterr(err, errlen, "image %u: %s", i, sub);
			return -EINVAL;
		}
		if (im->shard == shard + 1 && shard + 1 < ix->nshards) {
			if (at != ix->shards[shard].size) {
				util_seterr(err, errlen,
					    "shard %u: its images cover %u of its %u bytes", shard,
					    at, ix->shards[shard].size);
				return -EINVAL;
			}
			shard++;
			at = 0;
		}
		if (im->shard >= ix->nshards) {
			util_seterr(err, errlen, "image %u (%s): shard %u of %u", i, im->name,
				    im->shard, ix->nshards);
			return -EINVAL;
		}
		if (im->shard != shard || im->length == 0 || im->offset != at ||
		    (uint64_t)im->offset + im->length > ix->shards[shard].size) {
			const char *why = im->shard != shard ? "out of shard order"
					  : im->length == 0  ? "empty"
					  : im->offset < at  ? "overlaps the image before it"
					  : im->offset > at  ? "leaves a hole before it"
							     : "runs past the end of its shard";
			util_seterr(err, errlen,
				    "image %u (%s): shard %u bytes [%u, %llu) %s (shard of %u "
				    "bytes)",
				    i, im->name, im->shard, im->offset,
				    (unsigned long long)im->offset + im->length, why,
				    im->shard < ix->nshards ? ix->shards[im->shard].size : 0);
			return -EINVAL;
		}
		at += im->length;
	}
	if (ix->nshards && (shard != ix->nshards - 1 || at != ix->shards[shard].size)) {
		util_seterr(err, errlen, "shard %u: its images cover %u of its %u bytes", shard, at,
			    ix->shards[shard].size);
		return -EINVAL;
	}
	return 0;
}

int dataset_index_encode(const struct dataset_index *ix, uint8_t **out, size_t *len, char *err,
			 size_t errlen)
{
	struct wire_buf b = {0};
	int ret = dataset_index_check(ix, err, errlen);

	if (ret)
		return ret;
	b.cap = HDR_LEN + (size_t)ix->nshards * SHARD_LEN + TRAILER_LEN;
	for (uint32_t i = 0; i < ix->nimages; i++)
		b.cap += IMAGE_MIN_LEN + strlen(ix->images[i].name);
	b.p = xmalloc(b.cap);
	wire_put_bytes(&b, DATASET_MAGIC, 4);
	wire_put_u16(&b, DATASET_VERSION);
	wire_put_u16(&b, 0);
	wire_put_u32(&b, ix->nshards);
	wire_put_u32(&b, ix->nimages);
	for (uint32_t s = 0; s < ix->nshards; s++) {
		wire_put_u64(&b, ix->shards[s].version);
		wire_put_u32(&b, ix->shards[s].size);
		wire_put_u32(&b, ix->shards[s].crc);
	}
	for (uint32_t i = 0; i < ix->nimages; i++) {
		const struct dataset_image *im = &ix->images[i];
		size_t nl = strlen(im->name);
		wire_put_u32(&b, im->shard);
		wire_put_u32(&b, im->offset);
		wire_put_u32(&b, im->length);
		wire_put_u16(&b, (uint16_t)nl);
		wire_put_bytes(&b, im->name, nl);
	}
	wire_put_u32(&b, store_crc32c(0, b.p, b.len));
	ASSERT(!b.err && b.len == b.cap);
	*out = b.p;
	*len = b.len;
	return 0;
}

int dataset_index_decode(const uint8_t *p, size_t len, struct dataset_index *ix, char *err,
			 size_t errlen)
{
	struct wire_rd rd = {p, len, 0, 0};
	const uint8_t *magic;
	uint32_t crc;
	int ret = -EINVAL;

	memset(ix, 0, sizeof(*ix));
	if (len < HDR_LEN + TRAILER_LEN) {
		util_seterr(err, errlen, "index of %zu bytes: truncated (a header takes %d)", len,
			    HDR_LEN + TRAILER_LEN);
		return -EINVAL;
	}
	magic = wire_get_bytes(&rd, 4);
	if (memcmp(magic, DATASET_MAGIC, 4)) {
		util_seterr(err, errlen, "not a dataset index (bad magic)");
		return -EINVAL;
	}
	{
		uint16_t version = wire_get_u16(&rd), flags = wire_get_u16(&rd);
		if (version != DATASET_VERSION || flags) {
			util_seterr(err, errlen,
				    "index version %u flags %#x (this agent reads %d, 0)", version,
				    flags, DATASET_VERSION);
			return -EINVAL;
		}
	}
	crc = (uint32_t)p[len - 4] | (uint32_t)p[len - 3] << 8 | (uint32_t)p[len - 2] << 16 |
	      (uint32_t)p[len - 1] << 24;
	ix->nshards = wire_get_u32(&rd);
	ix->nimages = wire_get_u32(&rd);
	/* the counts must fit in the bytes there are before anything is allocated */
	if (ix->nshards > DATASET_MAX_SHARDS ||
	    (uint64_t)ix->nshards * SHARD_LEN + (uint64_t)ix->nimages * IMAGE_MIN_LEN >
		    len - HDR_LEN - TRAILER_LEN) {
		util_seterr(err, errlen,
			    "%u shards and %u images do not fit in %zu bytes (truncated?)",
			    ix->nshards, ix->nimages, len);
		goto err;
	}
	if (store_crc32c(0, p, len - TRAILER_LEN) != crc) {
		util_seterr(err, errlen, "index checksum does not match (corrupt or truncated)");
		goto err;
	}
	rd.len = len - TRAILER_LEN;
	ix->shards = xcalloc((size_t)ix->nshards + 1, sizeof(*ix->shards));
	ix->images = xcalloc((size_t)ix->nimages + 1, sizeof(*ix->images));
	ix->cap_shards = ix->nshards;
	ix->cap_images = ix->nimages;
	for (uint32_t s = 0; s < ix->nshards; s++) {
		ix->shards[s].version = wire_get_u64(&rd);
		ix->shards[s].size = wire_get_u32(&rd);
		ix->shards[s].crc = wire_get_u32(&rd);
	}
	for (uint32_t i = 0; i < ix->nimages && !rd.err; i++) {
		struct dataset_image *im = &ix->images[i];
		const uint8_t *name;
		char sub[200];
		uint16_t nl;
		im->shard = wire_get_u32(&rd);
		im->offset = wire_get_u32(&rd);
		im->length = wire_get_u32(&rd);
		nl = wire_get_u16(&rd);
		name = wire_get_bytes(&rd, nl);
		if (!name)
			break;
		if (dataset_image_name_check((const char *)name, nl, sub, sizeof(sub))) {
			util_seterr(err, errlen, "image %u: %s", i, sub);
			goto err;
		}
		im->name = xmalloc((size_t)nl + 1);
		memcpy(im->name, name, nl);
		im->name[nl] = '\0';
	}
	if (rd.err) {
		util_seterr(err, errlen, "index truncated in its image list");
		goto err;
	}
	if (rd.off != rd.len) {
		util_seterr(err, errlen, "%zu bytes after the image list", rd.len - rd.off);
		goto err;
	}
	ret = dataset_index_check(ix, err, errlen);
	if (ret)
		goto err;
	return 0;
err:
	dataset_index_free(ix);
	return -EINVAL;
}

void dataset_index_free(struct dataset_index *ix)
{
	if (ix->images)
		for (uint32_t i = 0; i < ix->nimages; i++)
			free(ix->images[i].name);
	free(ix->images);
	free(ix->shards);
	memset(ix, 0, sizeof(*ix));
}

uint64_t dataset_index_bytes(const struct dataset_index *ix)
{
	uint64_t n = 0;

	for (uint32_t s = 0; s < ix->nshards; s++)
		n += ix->shards[s].size;
	return n;
}
