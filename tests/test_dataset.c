/*
 * Description: the dataset index codec (agent/tasks/dataset.c): images are
 * packed into shards of at most 32 MiB in order; an index round-trips
 * field for field, and its bytes are exactly the documented format; every
 * malformed index is refused with a reason (each truncation, bad magic,
 * version, flags or checksum, counts larger than the bytes, trailing
 * bytes, an image past its shard, overlapping another or leaving a hole,
 * a shard out of range or too large, names with NUL, '/', control
 * characters or invalid UTF-8); model and dataset names are checked.
 */
#include "check.h"
#include "sdfs/store.h"
#include "tasks/dataset.h"
#include "util.h"

#include <errno.h>
#include <string.h>

/* A test-side writer of the documented format, with no checks at all. */
struct raw_image {
	uint32_t shard, offset, length;
	const char *name;
	size_t nl; /* 0: strlen(name) */
};

struct raw {
	const char *magic;
	uint16_t version, flags;
	uint32_t nshards, nimages; /* as written, whatever the arrays hold */
	struct dataset_shard shards[4];
	int real_shards;
	struct raw_image images[8];
	int real_images;
	int extra; /* bytes of junk before the checksum */
	int bad_crc;
};

static size_t put(uint8_t *p, size_t at, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[at + (size_t)i] = (uint8_t)(v >> (8 * i));
	return at + (size_t)n;
}

static size_t raw_encode(const struct raw *r, uint8_t *p)
{
	size_t at = 0;

	memcpy(p, r->magic, 4);
	at = put(p, 4, r->version, 2);
	at = put(p, at, r->flags, 2);
	at = put(p, at, r->nshards, 4);
	at = put(p, at, r->nimages, 4);
	for (int s = 0; s < r->real_shards; s++) {
		at = put(p, at, r->shards[s].version, 8);
		at = put(p, at, r->shards[s].size, 4);
		at = put(p, at, r->shards[s].crc, 4);
	}
	for (int i = 0; i < r->real_images; i++) {
		const struct raw_image *im = &r->images[i];
		size_t nl = im->nl ? im->nl : strlen(im->name);
		at = put(p, at, im->shard, 4);
		at = put(p, at, im->offset, 4);
		at = put(p, at, im->length, 4);
		at = put(p, at, nl, 2);
		memcpy(p + at, im->name, nl);
		at += nl;
	}
	memset(p + at, 0xab, (size_t)r->extra);
	at += (size_t)r->extra;
	return put(p, at, store_crc32c(0, p, at) ^ (uint32_t)r->bad_crc, 4);
}

/* A valid index: two shards, three images. */
static struct raw good(void)
{
	return (struct raw){
		.magic = "IDDX",
		.version = 1,
		.nshards = 2,
		.nimages = 3,
		.shards = {{1000, 300, 0x1111}, {1001, 50, 0x2222}},
		.real_shards = 2,
		.images = {{0, 0, 100, "a.jpg", 0},
			   {0, 100, 200, "caf\xc3\xa9 \"b\".jpg", 0},
			   {1, 0, 50, "c.JPEG", 0}},
		.real_images = 3,
	};
}

static void expect_bad(const char *what, const struct raw *r, const char *needle)
{
	uint8_t buf[4096];
	size_t n = raw_encode(r, buf);
	struct dataset_index ix;
	char err[300] = "";
	int ret = dataset_index_decode(buf, n, &ix, err, sizeof(err));

	CHECK(ret == -EINVAL && strstr(err, needle), "%s: ret %d, '%s' (want '%s')", what, ret, err,
	      needle);
	CHECK(ix.nimages == 0 && !ix.images && !ix.shards, "%s: left a half-decoded index", what);
	printf("ok   %-28s -> %s\n", what, err);
}

static void names(void)
{
	const char *ok[] = {"a", "resnet18", "imagenet-val_2", "abcdefghijklmnopqrstuvwxyz012345"};
	const char *no[] = {"",
			    "ResNet",
			    "a/b",
			    "a.b",
			    "a b",
			    "../x",
			    "abcdefghijklmnopqrstuvwxyz0123456",
			    "caf\xc3\xa9"};
	char err[200];

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
		CHECK(dataset_name_check(ok[i], err, sizeof(err)) == 0, "'%s' refused: %s", ok[i],
		      err);
	for (size_t i = 0; i < ARRAY_SIZE(no); i++)
		CHECK(dataset_name_check(no[i], err, sizeof(err)) == -EINVAL, "'%s' accepted",
		      no[i]);
	CHECK(dataset_image_name_check("x\0y", 3, err, sizeof(err)) && strstr(err, "NUL"),
	      "NUL: %s", err);
	CHECK(dataset_image_name_check("d/x.jpg", 7, err, sizeof(err)) && strstr(err, "'/'"),
	      "slash: %s", err);
	CHECK(dataset_image_name_check("x\ny", 3, err, sizeof(err)) && strstr(err, "control"),
	      "newline: %s", err);
	CHECK(dataset_image_name_check("\xc3(", 2, err, sizeof(err)) && strstr(err, "UTF-8"),
	      "bad UTF-8: %s", err);
	CHECK(dataset_image_name_check("\xc0\xaf", 2, err, sizeof(err)) && strstr(err, "UTF-8"),
	      "overlong '/': %s", err);
	CHECK(dataset_image_name_check("..", 2, err, sizeof(err)), ".. accepted");
	CHECK(dataset_image_name_check("...", 3, err, sizeof(err)) == 0, "... refused");
	CHECK(dataset_image_name_check("\xe6\x97\xa5.jpg", 7, err, sizeof(err)) == 0,
	      "CJK name refused: %s", err);
	{
		char big[300];
		memset(big, 'x', sizeof(big));
		CHECK(dataset_image_name_check(big, 255, err, sizeof(err)) == 0,
		      "255 bytes refused");
		CHECK(dataset_image_name_check(big, 256, err, sizeof(err)), "256 bytes accepted");
	}
	{
		char p[128];
		dataset_shard_path("val", 7, p, sizeof(p));
		CHECK(!strcmp(p, "datasets/val/shard-00007"), "shard path %s", p);
		dataset_index_path("val", p, sizeof(p));
		CHECK(!strcmp(p, "datasets/val/index"), "index path %s", p);
	}
	printf("ok   names: model/dataset names and image names\n");
}

static void packing_and_round_trip(void)
{
	struct dataset_index ix = {0}, back;
	const uint64_t mib = 1u << 20;
	const uint64_t len[] = {20 * mib, 20 * mib, 5 * mib, 7 * mib, 1};
	const uint32_t want_shard[] = {0, 1, 1, 1, 2}, want_off[] = {0, 0, 20 << 20, 25 << 20, 0};
	char err[300], name[32];
	uint8_t *enc;
	size_t n;

	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "img%d.jpg", i);
		CHECK(dataset_index_add(&ix, name, len[i], err, sizeof(err)) == i, "add %d: %s", i,
		      err);
		CHECK(ix.images[i].shard == want_shard[i] && ix.images[i].offset == want_off[i],
		      "image %d in shard %u at %u", i, ix.images[i].shard, ix.images[i].offset);
	}
	CHECK(ix.nshards == 3 && ix.shards[1].size == DATASET_SHARD_MAX,
	      "3 shards, the second exactly full (%u shards, %u bytes)", ix.nshards,
	      ix.shards[1].size);
	CHECK(dataset_index_add(&ix, "huge.jpg", DATASET_SHARD_MAX + 1ull, err, sizeof(err)) ==
			      -EINVAL &&
		      strstr(err, "huge.jpg"),
	      "an image larger than a shard: %s", err);
	CHECK(dataset_index_add(&ix, "empty.jpg", 0, err, sizeof(err)) == -EINVAL,
	      "an empty image accepted");
	CHECK(dataset_index_add(&ix, "a/b.jpg", 10, err, sizeof(err)) == -EINVAL,
	      "a name with '/' accepted");
	CHECK(ix.nimages == 5, "refused images were added");
	/* versions are not known yet: not encodable */
	CHECK(dataset_index_encode(&ix, &enc, &n, err, sizeof(err)) == -EINVAL &&
		      strstr(err, "no SDFS version"),
	      "an index without shard versions encoded: %s", err);
	for (uint32_t s = 0; s < ix.nshards; s++)
		ix.shards[s] = (struct dataset_shard){1700000000000000ull + s, ix.shards[s].size,
						      0xdeadbeef ^ s};
	REQUIRE(dataset_index_encode(&ix, &enc, &n, err, sizeof(err)) == 0, "encode: %s", err);
	CHECK(dataset_index_bytes(&ix) == 52 * mib + 1, "bytes %llu",
	      (unsigned long long)dataset_index_bytes(&ix));
	REQUIRE(dataset_index_decode(enc, n, &back, err, sizeof(err)) == 0, "decode: %s", err);
	CHECK(back.nshards == ix.nshards && back.nimages == ix.nimages, "counts");
	for (uint32_t s = 0; s < ix.nshards; s++)
		CHECK(!memcmp(&back.shards[s], &ix.shards[s], sizeof(ix.shards[s])), "shard %u", s);
	for (uint32_t i = 0; i < ix.nimages; i++)
		CHECK(back.images[i].shard == ix.images[i].shard &&
			      back.images[i].offset == ix.images[i].offset &&
			      back.images[i].length == ix.images[i].length &&
			      !strcmp(back.images[i].name, ix.images[i].name),
		      "image %u", i);
	/* every truncation is refused */
	for (size_t k = 0; k < n; k++) {
		struct dataset_index t;
		CHECK(dataset_index_decode(enc, k, &t, err, sizeof(err)) == -EINVAL,
		      "truncated to %zu of %zu bytes: accepted", k, n);
	}
	/* every single flipped bit is refused */
	for (size_t k = 0; k < n * 8; k++) {
		struct dataset_index t;
		enc[k / 8] ^= (uint8_t)(1u << (k % 8));
		CHECK(dataset_index_decode(enc, n, &t, err, sizeof(err)) == -EINVAL,
		      "bit %zu flipped: accepted", k);
		enc[k / 8] ^= (uint8_t)(1u << (k % 8));
	}
	free(enc);
	dataset_index_free(&back);
	dataset_index_free(&ix);
	printf("ok   packing into 32 MiB shards; round trip; %zu truncations and every flipped bit "
	       "refused\n",
	       n);
}

static void format_and_malformed(void)
{
	struct raw r = good();
	uint8_t buf[4096], *enc;
	size_t n = raw_encode(&r, buf), en;
	struct dataset_index ix;
	char err[300];

	/* the documented bytes decode, and encode back to the same bytes */
	REQUIRE(dataset_index_decode(buf, n, &ix, err, sizeof(err)) == 0, "good: %s", err);
	CHECK(ix.nimages == 3 && !strcmp(ix.images[1].name, "caf\xc3\xa9 \"b\".jpg"), "names");
	REQUIRE(dataset_index_encode(&ix, &enc, &en, err, sizeof(err)) == 0, "%s", err);
	CHECK(en == n && !memcmp(enc, buf, n), "encode differs from the documented format");
	free(enc);
	dataset_index_free(&ix);

	r = good(), r.magic = "IDDY", expect_bad("bad magic", &r, "magic");
	r = good(), r.version = 2, expect_bad("version 2", &r, "version 2");
	r = good(), r.flags = 1, expect_bad("flags", &r, "flags");
	r = good(), r.bad_crc = 1, expect_bad("bad checksum", &r, "checksum");
	r = good(), r.extra = 3, expect_bad("trailing bytes", &r, "3 bytes after");
	r = good(), r.nimages = 0xffffffffu, expect_bad("huge image count", &r, "do not fit");
	r = good(), r.nshards = 200000, expect_bad("huge shard count", &r, "do not fit");
	r = good(), r.nimages = 4, expect_bad("one image short", &r, "truncated");
	r = good(), r.nimages = 2, expect_bad("one image too many", &r, "bytes after");
	r = good(), r.images[2].length = 51, expect_bad("past its shard", &r, "runs past the end");
	r = good(), r.images[2].offset = 10, r.images[2].length = 40;
	expect_bad("hole before", &r, "leaves a hole");
	r = good(), r.images[1].offset = 99, expect_bad("overlapping", &r, "overlaps");
	r = good(), r.images[1].length = 150,
	expect_bad("shard not filled", &r, "cover 250 of its 300");
	r = good(), r.images[2].length = 40, expect_bad("last shard not filled", &r, "cover 40");
	r = good(), r.images[2].shard = 2, expect_bad("no such shard", &r, "shard 2 of 2");
	r = good(), r.images[0].shard = 1,
	expect_bad("image in a later shard", &r, "cover 0 of its 300");
	r = good(), r.images[0].length = 0, r.images[1].offset = 0, r.images[1].length = 300;
	expect_bad("empty image", &r, "empty");
	r = good(), r.shards[0].size = DATASET_SHARD_MAX + 1;
	expect_bad("shard over 32 MiB", &r, "larger than");
	r = good(), r.shards[1].version = 0,
	expect_bad("shard without version", &r, "no SDFS version");
	r = good(), r.images[0].name = "a\0b.jpg", r.images[0].nl = 7;
	r.images[1].offset = 100;
	expect_bad("name with NUL", &r, "NUL");
	r = good(), r.images[0].name = "../a.jpg", expect_bad("name with slash", &r, "'/'");
	r = good(), r.images[0].name = "a\tb", expect_bad("name with a tab", &r, "control");
	r = good(), r.images[0].name = "\xff.jpg", expect_bad("name not UTF-8", &r, "UTF-8");
	r = good(), r.images[0].name = "..", expect_bad("name ..", &r, "not a file name");
	r = good(), r.images[0].name = "", r.images[0].nl = 0;
	expect_bad("empty name", &r, "1 to 255 bytes");
	n = raw_encode(&(struct raw){.magic = "IDDX", .version = 1}, buf);
	CHECK(dataset_index_decode(buf, n, &ix, err, sizeof(err)) == 0 && ix.nimages == 0,
	      "an empty index: %s", err);
	dataset_index_free(&ix);
}

int main(void)
{
	names();
	packing_and_round_trip();
	format_and_malformed();
	return t_result();
}
