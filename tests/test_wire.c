/*
 * Description: the agent's wire codec: frames round-trip; every truncation,
 * every single-bit flip, a wrong key, a bad version, an oversized length
 * and 20000 random datagrams are refused with the right reason and never
 * accepted; replays, stale frames and frames from before a sender
 * restarted are refused while out-of-order fresh ones pass; key files are
 * written 0600, never overwritten, and malformed ones refused.
 */
#include "check.h"
#include "util.h"
#include "wire/wire.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct wire_key key = {{1, 2, 3}}, other = {{9, 9, 9}};

static int seal(uint8_t type, uint64_t epoch, uint64_t seq, uint64_t sent, const char *payload,
		uint8_t *out, size_t cap)
{
	struct wire_hdr h = {.type = type,
			     .sender = {0x7f000003, 7600},
			     .epoch = epoch,
			     .seq = seq,
			     .sent_ms = sent};
	return wire_seal(&key, &h, payload, strlen(payload), out, cap);
}

int main(void)
{
	uint8_t f[512], g[512];
	struct wire_hdr h;
	const uint8_t *pl;
	int n = seal(WIRE_PING, 5, 1, 1000000, "hello, cluster", f, sizeof(f));
	unsigned long long s = 3;

	REQUIRE(n == WIRE_HDR_LEN + 14 + WIRE_TAG_LEN, "sealed length %d", n);
	REQUIRE(wire_open(&key, f, (size_t)n, &h, &pl) == WIRE_OK, "round trip");
	CHECK(h.type == WIRE_PING && h.len == 14 && !memcmp(pl, "hello, cluster", 14) &&
		      h.sender.ip == 0x7f000003 && h.sender.port == 7600 && h.epoch == 5 &&
		      h.seq == 1 && h.sent_ms == 1000000,
	      "fields differ after a round trip");
	CHECK(wire_frame_len(f, (size_t)n) == n, "frame length");
	CHECK(seal(WIRE_PING, 1, 1, 1, "x", f, 40) == -EMSGSIZE, "sealing into a small buffer");

	for (int cut = 0; cut < n; cut++) {
		enum wire_reject r = wire_open(&key, f, (size_t)cut, &h, &pl);
		CHECK(r == (cut < WIRE_HDR_LEN + WIRE_TAG_LEN ? WIRE_R_SHORT : WIRE_R_LENGTH),
		      "truncated to %d: %s", cut, wire_reject_names[r]);
	}
	for (int bit = 0; bit < n * 8; bit++) {
		memcpy(g, f, (size_t)n);
		g[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		CHECK(wire_open(&key, g, (size_t)n, &h, &pl) != WIRE_OK, "bit %d flipped: accepted",
		      bit);
	}
	CHECK(wire_open(&other, f, (size_t)n, &h, &pl) == WIRE_R_TAG, "wrong key");
	memcpy(g, f, (size_t)n);
	g[4] = 2;
	CHECK(wire_open(&key, g, (size_t)n, &h, &pl) == WIRE_R_VERSION, "version 2");
	memcpy(g, f, (size_t)n);
	g[11] = 0x7f; /* length 2^30-ish */
	CHECK(wire_open(&key, g, (size_t)n, &h, &pl) == WIRE_R_LENGTH, "huge length");
	CHECK(wire_frame_len(g, (size_t)n) == -1, "huge length framed");
	{
		struct wire_hdr bad = {.type = 0};
		int m = wire_seal(&key, &bad, "", 0, g, sizeof(g));
		CHECK(wire_open(&key, g, (size_t)m, &h, &pl) == WIRE_R_TYPE, "type 0");
	}
	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)(t_randf(&s) * 200 + 200);
		for (size_t k = 0; k < len; k++)
			g[k] = (uint8_t)(t_randf(&s) * 128 + 128);
		if (i % 2) { /* half of them with a valid-looking header */
			memcpy(g, f, 8);
			g[8] = (uint8_t)(len - WIRE_HDR_LEN - WIRE_TAG_LEN);
			g[9] = g[10] = g[11] = 0;
		}
		CHECK(wire_open(&key, g, len, &h, &pl) != WIRE_OK, "random datagram %d accepted",
		      i);
	}
	printf("ok  codec: truncations, %d bit flips, wrong key, version, length, 20000 random\n",
	       n * 8);

	{
		struct wire_replay *r = wire_replay_new(4);
		uint64_t now = 1000000;
		struct wire_hdr a = {
			.type = WIRE_PING, .sender = {1, 1}, .epoch = 10, .sent_ms = now};
		a.seq = 5;
		CHECK(wire_replay_check(r, &a, now) == WIRE_OK, "first frame");
		CHECK(wire_replay_check(r, &a, now) == WIRE_R_REPLAY, "the same frame again");
		a.seq = 3;
		CHECK(wire_replay_check(r, &a, now) == WIRE_OK, "older, unseen, in the window");
		CHECK(wire_replay_check(r, &a, now) == WIRE_R_REPLAY, "older, seen");
		a.seq = 300;
		CHECK(wire_replay_check(r, &a, now) == WIRE_OK, "jump ahead");
		a.seq = 100;
		CHECK(wire_replay_check(r, &a, now) == WIRE_R_REPLAY, "below the window");
		a.seq = 299;
		CHECK(wire_replay_check(r, &a, now) == WIRE_OK, "just below the top");
		a.sent_ms = now - WIRE_FRESH_MS - 1;
		a.seq = 301;
		CHECK(wire_replay_check(r, &a, now) == WIRE_R_STALE, "stale");
		a.sent_ms = now + WIRE_FRESH_MS + 1;
		CHECK(wire_replay_check(r, &a, now) == WIRE_R_STALE, "from the future");
		a.sent_ms = now;
		a.epoch = 11;
		a.seq = 1;
		CHECK(wire_replay_check(r, &a, now) == WIRE_OK, "sender restarted");
		a.epoch = 10;
		a.seq = 302;
		CHECK(wire_replay_check(r, &a, now) == WIRE_R_REPLAY,
		      "frame from before the restart");
		for (uint32_t i = 2; i < 20; i++) { /* more senders than the table holds */
			struct wire_hdr b = {.type = WIRE_PING,
					     .sender = {i, 1},
					     .epoch = 1,
					     .seq = 1,
					     .sent_ms = now};
			CHECK(wire_replay_check(r, &b, now + i) == WIRE_OK, "sender %u", i);
		}
		wire_replay_free(r);
		printf("ok  replay: duplicates, window, stale, restarted senders\n");
	}
	{
		char dir[] = "/tmp/idunno-key-XXXXXX", path[64];
		struct wire_key k1, k2;
		struct stat st;
		REQUIRE(mkdtemp(dir), "mkdtemp");
		snprintf(path, sizeof(path), "%s/key", dir);
		CHECK(wire_key_generate(path) == 0, "keygen");
		CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "mode %o",
		      st.st_mode & 0777);
		CHECK(wire_key_generate(path) == -EEXIST, "keygen overwrote a key");
		CHECK(wire_key_load(path, &k1) == 0 && wire_key_load(path, &k2) == 0 &&
			      !memcmp(&k1, &k2, sizeof(k1)),
		      "key load");
		REQUIRE(util_write_file_atomic(path, "abcd\n", 5) == 0, "write");
		CHECK(wire_key_load(path, &k1) == -EINVAL, "short key accepted");
		unlink(path);
		rmdir(dir);
		printf("ok  key files\n");
	}
	{
		struct wire_addr a;
		char buf[32];
		CHECK(wire_addr_parse("127.0.0.5:7601", 7600, &a) == 0 && a.ip == 0x7f000005 &&
			      a.port == 7601,
		      "parse");
		CHECK(wire_addr_parse("127.0.0.5", 7600, &a) == 0 && a.port == 7600,
		      "default port");
		wire_addr_str(a, buf, sizeof(buf));
		CHECK(!strcmp(buf, "127.0.0.5:7600"), "%s", buf);
		CHECK(wire_addr_parse("127.0.0.5:0", 7600, &a) < 0 &&
			      wire_addr_parse("x:1", 1, &a) < 0 &&
			      wire_addr_parse(":7600", 1, &a) < 0 &&
			      wire_addr_parse("1.2.3.4:99999", 1, &a) < 0,
		      "bad addresses accepted");
	}
	return t_result();
}
