/*
 * Description: SDFS's wire pieces: requests round-trip, and names that
 * could leave the store (absolute, '..', NUL, too long, bad characters),
 * truncated or padded requests and unknown commands are refused; every
 * answer body (status, ready, read, stat, list, delete) and the COMMIT
 * round-trip, keep their byte layout, and refuse being cut short; a chunk
 * frame opens only with the right key, stream id and index, and every
 * single-bit flip anywhere in it (header, data, tag) is refused.
 */
#include "check.h"
#include "sdfs/sdfs_wire.h"
#include "util.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

static struct wire_key key = {{4, 5, 6}}, other = {{4, 5, 7}};

struct collect {
	int n;
	char names[4][STORE_NAME_MAX + 1];
	uint64_t v[4], size[4];
};

static int collect(void *arg, const char *name, uint64_t v, uint64_t size)
{
	struct collect *c = arg;

	if (c->n < 4) {
		snprintf(c->names[c->n], sizeof(c->names[0]), "%s", name);
		c->v[c->n] = v;
		c->size[c->n] = size;
	}
	c->n++;
	return 0;
}

static void answers(void)
{
	static uint8_t buf[1 << 16];
	const char *text;
	size_t tlen;
	int status, n;

	{
		char longer[1000];
		memset(longer, 'x', sizeof(longer) - 1);
		longer[sizeof(longer) - 1] = '\0';
		n = sdfs_status_encode(ENOSPC, "no space", buf, sizeof(buf));
		CHECK(n == 9 && buf[0] == ENOSPC && !memcmp(buf + 1, "no space", 8),
		      "status layout");
		CHECK(sdfs_status_decode(buf, (size_t)n, &status, &text, &tlen) == 0 &&
			      status == ENOSPC && tlen == 8 && !memcmp(text, "no space", 8),
		      "status round trip");
		n = sdfs_status_encode(0, NULL, buf, sizeof(buf));
		CHECK(n == 1 && buf[0] == 0, "a bare status is one byte");
		n = sdfs_status_encode(EIO, longer, buf, sizeof(buf));
		CHECK(n == 1 + SDFS_TEXT_MAX, "a long reason is cut to %d bytes (%d)",
		      SDFS_TEXT_MAX, n);
		CHECK(sdfs_status_decode(buf, 0, &status, &text, &tlen) == -EPROTO,
		      "an empty answer decoded");
	}
	{
		struct sdfs_ready r = {.version = 1234567, .nreps = 3}, back;
		for (int i = 0; i < 3; i++)
			r.reps[i] = (struct wire_addr){0x7f000001u + (uint32_t)i, 7600};
		n = sdfs_ready_encode(&r, buf, sizeof(buf));
		CHECK(n == 1 + 8 + 1 + 3 * 6 && buf[0] == 0 && buf[9] == 3, "ready layout (%d)", n);
		CHECK(sdfs_ready_decode(buf, (size_t)n, &back) == 0 && back.version == r.version &&
			      back.nreps == 3 && wire_addr_eq(back.reps[2], r.reps[2]),
		      "ready round trip");
		for (int cut = 0; cut < n; cut++)
			CHECK(sdfs_ready_decode(buf, (size_t)cut, &back) == -EPROTO,
			      "a ready answer cut to %d bytes decoded", cut);
		buf[0] = EIO;
		CHECK(sdfs_ready_decode(buf, (size_t)n, &back) == -EPROTO,
		      "a failure decoded as ready");
		r.nreps = SDFS_MAX_CAND + 2;
		CHECK(sdfs_ready_encode(&r, buf, sizeof(buf)) == -EMSGSIZE, "too many replicas");
		CHECK(sdfs_ready_encode(&back, buf, 5) == -EMSGSIZE, "no room: encoded");
	}
	{
		uint64_t v, size;
		n = sdfs_read_ans_encode(77, 3u << 20, buf, sizeof(buf));
		CHECK(n == 17 && sdfs_read_ans_decode(buf, 17, &v, &size) == 0 && v == 77 &&
			      size == 3u << 20,
		      "read answer round trip");
		CHECK(sdfs_read_ans_decode(buf, 16, &v, &size) == -EPROTO, "a cut read answer");
	}
	{
		static uint64_t vs[SDFS_STAT_MAX + 10];
		static struct sdfs_stat st;
		for (int i = 0; i < SDFS_STAT_MAX + 10; i++)
			vs[i] = 1000u - (uint64_t)i;
		n = sdfs_stat_encode(vs, 3, 42, buf, sizeof(buf));
		CHECK(n == 1 + 2 + 3 * 8 + 8, "stat layout (%d)", n);
		CHECK(sdfs_stat_decode(buf, (size_t)n, &st) == 0 && st.n == 3 && st.v[0] == 1000 &&
			      st.v[2] == 998 && st.deleted == 42,
		      "stat round trip");
		CHECK(sdfs_stat_decode(buf, (size_t)n - 1, &st) == -EPROTO, "a cut stat answer");
		n = sdfs_stat_encode(vs, SDFS_STAT_MAX + 10, 0, buf, sizeof(buf));
		CHECK(sdfs_stat_decode(buf, (size_t)n, &st) == 0 && st.n == SDFS_STAT_MAX &&
			      st.v[SDFS_STAT_MAX - 1] == 1000u - (SDFS_STAT_MAX - 1),
		      "a stat answer carries the newest %d versions", SDFS_STAT_MAX);
		n = sdfs_stat_encode(vs, 0, 0, buf, sizeof(buf));
		CHECK(sdfs_stat_decode(buf, (size_t)n, &st) == 0 && st.n == 0, "an empty stat");
	}
	{
		struct sdfs_list_enc e;
		struct collect c = {0};
		char longest[STORE_NAME_MAX + 1];
		size_t len;
		memset(longest, 'n', STORE_NAME_MAX);
		longest[STORE_NAME_MAX] = '\0';
		sdfs_list_begin(&e, buf, sizeof(buf));
		CHECK(sdfs_list_add(&e, "a/b", 5, 100) == 0 &&
			      sdfs_list_add(&e, longest, 6, SDFS_TOMB_SIZE) == 0 &&
			      sdfs_list_add(&e, "c", 7, 0) == 0,
		      "list add");
		len = sdfs_list_end(&e);
		CHECK(len == 5 + (1 + 3 + 16) + (1 + STORE_NAME_MAX + 16) + (1 + 1 + 16) &&
			      buf[0] == 0 && buf[1] == 3 && buf[2] == 0,
		      "list layout (%zu)", len);
		CHECK(sdfs_list_decode(buf, len, collect, &c) == 0 && c.n == 3 &&
			      !strcmp(c.names[0], "a/b") && c.v[0] == 5 && c.size[0] == 100 &&
			      !strcmp(c.names[1], longest) && c.size[1] == SDFS_TOMB_SIZE &&
			      !strcmp(c.names[2], "c") && c.v[2] == 7,
		      "list round trip");
		for (size_t cut = 0; cut < len; cut += 3) {
			c.n = 0;
			CHECK(sdfs_list_decode(buf, cut, collect, &c) == -EPROTO,
			      "a list cut to %zu bytes decoded", cut);
		}
		sdfs_list_begin(&e, buf, 30);
		CHECK(sdfs_list_add(&e, "a", 1, 1) == 0 &&
			      sdfs_list_add(&e, "b", 2, 2) == -EMSGSIZE,
		      "a full list said so");
		sdfs_list_begin(&e, buf, sizeof(buf));
		len = sdfs_list_end(&e);
		c.n = 0;
		CHECK(len == 5 && sdfs_list_decode(buf, len, collect, &c) == 0 && c.n == 0,
		      "an empty list");
	}
	{
		uint32_t removed;
		n = sdfs_delete_ans_encode(0x01020304, buf, sizeof(buf));
		CHECK(n == 5 && buf[0] == 0 && buf[1] == 4 && buf[4] == 1, "delete answer layout");
		CHECK(sdfs_delete_ans_decode(buf, 5, &removed) == 0 && removed == 0x01020304,
		      "delete answer round trip");
		CHECK(sdfs_delete_ans_decode(buf, 4, &removed) == -EPROTO, "a cut delete answer");
	}
	{
		uint8_t sid[SDFS_SID_LEN] = {9, 8, 7}, sid2[SDFS_SID_LEN] = {9, 8, 6};
		n = sdfs_commit_encode(sid, buf, sizeof(buf));
		CHECK(n == SDFS_COMMIT_LEN && buf[0] == 0 && buf[1] == 9, "commit layout");
		CHECK(sdfs_commit_check(buf, (size_t)n, sid) == 0, "commit round trip");
		CHECK(sdfs_commit_check(buf, (size_t)n, sid2) == -EPROTO,
		      "a commit for another stream");
		CHECK(sdfs_commit_check(buf, (size_t)n - 1, sid) == -EPROTO, "a cut commit");
		buf[0] = 1;
		CHECK(sdfs_commit_check(buf, (size_t)n, sid) == -EPROTO, "a commit with a status");
	}
	printf("ok  answers round-trip and keep their layout\n");
}

int main(void)
{
	struct sdfs_req r = {.cmd = SDFS_WRITE,
			     .version = 7,
			     .size = 3u << 20,
			     .want = 4,
			     .ncand = 2},
			back;
	uint8_t buf[SDFS_REQ_MAX], sid[SDFS_SID_LEN] = {1}, sid2[SDFS_SID_LEN] = {2};
	char err[200];
	int n;

	REQUIRE(sodium_init() >= 0, "libsodium");
	strcpy(r.name, "models/resnet18.safetensors");
	r.cand[0] = (struct wire_addr){0x7f000002, 7600};
	r.cand[1] = (struct wire_addr){0x7f000003, 7600};
	n = sdfs_req_encode(&r, buf, sizeof(buf));
	REQUIRE(n > 0, "encode");
	REQUIRE(sdfs_req_decode(buf, (size_t)n, &back, err, sizeof(err)) == 0, "decode: %s", err);
	CHECK(!strcmp(back.name, r.name) && back.version == 7 && back.size == r.size &&
		      back.want == 4 && back.ncand == 2 && wire_addr_eq(back.cand[1], r.cand[1]),
	      "round trip");
	for (int cut = 0; cut < n; cut++)
		CHECK(sdfs_req_decode(buf, (size_t)cut, &back, err, sizeof(err)) == -EINVAL,
		      "a request cut to %d bytes decoded", cut);
	CHECK(sdfs_req_decode(buf, (size_t)n + 1, &back, err, sizeof(err)) == -EINVAL,
	      "a padded request decoded");
	buf[0] = SDFS_CMD_END;
	CHECK(sdfs_req_decode(buf, (size_t)n, &back, err, sizeof(err)) == -EINVAL,
	      "an unknown command decoded");

	{
		static const char *const bad[] = {"../x", "/etc/passwd", "a/../../b", "a//b",
						  "./a",  "a/.",	 "",	      "a b",
						  "a\\b", "\xc3\xa9"};
		for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
			uint8_t p[SDFS_REQ_MAX];
			size_t nl = strlen(bad[i]);
			struct sdfs_req q = {.cmd = SDFS_READ};
			memcpy(q.name, bad[i], nl + 1);
			n = sdfs_req_encode(&q, p, sizeof(p));
			REQUIRE(n > 0, "encode '%s'", bad[i]);
			CHECK(sdfs_req_decode(p, (size_t)n, &back, err, sizeof(err)) == -EINVAL,
			      "name '%s' accepted", bad[i]);
		}
		/* a NUL inside the name, and a name of 101 bytes, crafted by hand */
		memset(&r, 0, sizeof(r));
		r.cmd = SDFS_READ;
		strcpy(r.name, "abcdef");
		n = sdfs_req_encode(&r, buf, sizeof(buf));
		buf[4] = 0;
		CHECK(sdfs_req_decode(buf, (size_t)n, &back, err, sizeof(err)) == -EINVAL,
		      "a NUL in a name accepted");
		{
			uint8_t p[SDFS_REQ_MAX];
			size_t off = 0;
			p[off++] = SDFS_READ;
			p[off++] = 101;
			memset(p + off, 'a', 101);
			off += 101;
			memset(p + off, 0, 24 + SDFS_SID_LEN + 2);
			off += 24 + SDFS_SID_LEN + 2;
			CHECK(sdfs_req_decode(p, off, &back, err, sizeof(err)) == -EINVAL,
			      "a 101-byte name accepted");
		}
	}

	{
		static uint8_t f[CHUNK_FRAME_MAX];
		uint32_t len = 5000, l, crc;
		size_t fl = CHUNK_HDR + len + CHUNK_TAG;
		randombytes_buf(f + CHUNK_HDR, len);
		chunk_seal(&key, sid, 3, f, len, store_crc32c(0, f + CHUNK_HDR, len));
		CHECK(chunk_open(&key, sid, 3, f, fl, &l, &crc) == 0 && l == len,
		      "chunk round trip");
		CHECK(chunk_open(&other, sid, 3, f, fl, &l, &crc) == -EBADMSG,
		      "another key opened it");
		CHECK(chunk_open(&key, sid2, 3, f, fl, &l, &crc) == -EBADMSG,
		      "another stream opened it");
		CHECK(chunk_open(&key, sid, 4, f, fl, &l, &crc) == -EBADMSG,
		      "another index opened it");
		CHECK(chunk_open(&key, sid, 3, f, fl - 1, &l, &crc) == -EBADMSG,
		      "a short frame opened");
		for (size_t bit = 0; bit < fl * 8; bit += 7) {
			f[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			CHECK(chunk_open(&key, sid, 3, f, fl, &l, &crc) == -EBADMSG,
			      "bit %zu flipped and accepted", bit);
			f[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
		CHECK(chunk_open(&key, sid, 3, f, fl, &l, &crc) == 0, "restored frame refused");
		CHECK(chunk_count(0) == 0 && chunk_count(1) == 1 && chunk_count(STORE_CHUNK) == 1 &&
			      chunk_count(STORE_CHUNK + 1) == 2,
		      "chunk counts");
		CHECK(chunk_frame_len(STORE_CHUNK + 1, 1) == CHUNK_HDR + 1 + CHUNK_TAG &&
			      chunk_frame_len(STORE_CHUNK + 1, 0) == CHUNK_FRAME_MAX,
		      "frame lengths");
	}
	answers();
	return t_result();
}
