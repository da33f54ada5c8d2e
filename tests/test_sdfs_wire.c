/*
 * Description: SDFS's wire pieces: requests round-trip, and names that
 * could leave the store (absolute, '..', NUL, too long, bad characters),
 * truncated or padded requests and unknown commands are refused; a chunk
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
	return t_result();
}
