/*
 * Description: the agent's wire codec: frames round-trip; every truncation,
 * every single-bit flip, a wrong key, a bad version, an oversized length
 * and 20000 random datagrams are refused with the right reason and never
 * accepted; replays, stale frames and frames from before a sender
 * restarted are refused while out-of-order fresh ones pass; with 5000
 * senders inside the window no sender is forgotten (a replay of the first
 * is still refused), they expire once the window has passed, and a full
 * table refuses new senders instead of evicting one; key files are
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
static const struct wire_addr A = {0x7f000001, 7600}, B = {0x7f000002, 7600};

static int seal(uint8_t type, uint64_t epoch, uint64_t seq, uint64_t sent, const char *payload,
		uint8_t *out, size_t cap)
{
	struct wire_hdr h = {.type = type,
			     .sender = {0x7f000003, 7600},
			     .epoch = epoch,
			     .seq = seq,
			     .sent_ms = sent,
			     .to = A};
	return wire_seal(&key, &h, payload, strlen(payload), out, cap);
}

static struct wire_hdr frame_from(uint32_t i, uint64_t seq, uint64_t sent)
{
	return (struct wire_hdr){.type = WIRE_PING,
				 .sender = {0x0a000000u + i, 7600},
				 .epoch = 1,
				 .seq = seq,
				 .sent_ms = sent};
}

/* 5000 senders inside the window: none is forgotten, and they expire after it. */
static void test_replay_scale(void)
{
	struct wire_replay *r = wire_replay_new(65536, 0);
	uint64_t now = 1000000;
	struct wire_hdr first = frame_from(0, 1, now);
	size_t small = wire_replay_bytes(r), big;
	int refused = 0;

	CHECK(wire_replay_check(r, &first, now) == WIRE_OK, "first sender");
	for (uint32_t i = 1; i <= 5000; i++) {
		struct wire_hdr h = frame_from(i, 1, now + i);
		CHECK(wire_replay_check(r, &h, now + i) == WIRE_OK, "sender %u", i);
	}
	CHECK(wire_replay_senders(r) == 5001, "%d senders held", wire_replay_senders(r));
	/* every sender's first frame, replayed within the window */
	for (uint32_t i = 0; i <= 5000; i++) {
		struct wire_hdr h = i ? frame_from(i, 1, now + i) : first;
		refused += wire_replay_check(r, &h, now + 6000 + i) == WIRE_R_REPLAY;
	}
	CHECK(refused == 5001, "%d of 5001 replays refused", refused);
	/* the first sender's frame is fresh until now + WIRE_FRESH_MS: still refused */
	CHECK(wire_replay_check(r, &first, now + WIRE_FRESH_MS) == WIRE_R_REPLAY,
	      "the first sender's frame replayed at the end of its window");
	CHECK(wire_replay_senders(r) == 5001, "a sender was forgotten within the window");
	big = wire_replay_bytes(r);
	CHECK(big <= 5001 * 128 + 4096, "%zu bytes for 5001 senders", big);
	/* after the window every frame is stale, and a sweep frees the table */
	{
		uint64_t later = now + 5000 + 2 * WIRE_FRESH_MS + 2000;
		struct wire_hdr h = frame_from(9999, 1, later);
		CHECK(wire_replay_check(r, &first, later) == WIRE_R_STALE,
		      "replayed after the window");
		CHECK(wire_replay_check(r, &h, later) == WIRE_OK, "a new sender after the window");
		CHECK(wire_replay_senders(r) == 1, "%d senders held after the window",
		      wire_replay_senders(r));
		CHECK(wire_replay_bytes(r) == small, "%zu bytes after the window, %zu at the start",
		      wire_replay_bytes(r), small);
	}
	wire_replay_free(r);
	printf("ok  replay at scale: 5001 senders in the window all held (%zu KiB), every replay "
	       "refused; expired after it, back to %zu bytes\n",
	       big / 1024, small);
}

/* A full table refuses new senders rather than forget one that may replay. */
static void test_replay_full(void)
{
	struct wire_replay *r = wire_replay_new(8, 0);
	uint64_t now = 1000000;
	struct wire_hdr h;
	int i;

	for (i = 0; i < 8; i++) {
		h = frame_from((uint32_t)i, 1, now);
		CHECK(wire_replay_check(r, &h, now) == WIRE_OK, "sender %d", i);
	}
	h = frame_from(8, 1, now);
	CHECK(wire_replay_check(r, &h, now + 10) == WIRE_R_FULL, "a ninth sender accepted");
	for (i = 0; i < 8; i++) { /* the refused newcomer evicted no one */
		h = frame_from((uint32_t)i, 1, now);
		CHECK(wire_replay_check(r, &h, now + 20) == WIRE_R_REPLAY, "sender %d replayed", i);
		h = frame_from((uint32_t)i, 2, now + 20);
		CHECK(wire_replay_check(r, &h, now + 20) == WIRE_OK, "sender %d, next frame", i);
	}
	/* sender 0 keeps sending; the others fall silent and expire */
	h = frame_from(0, 3, now + 20000);
	CHECK(wire_replay_check(r, &h, now + 20000) == WIRE_OK, "sender 0 later");
	h = frame_from(8, 1, now + WIRE_FRESH_MS + 10);
	CHECK(wire_replay_check(r, &h, now + WIRE_FRESH_MS + 10) == WIRE_R_FULL,
	      "a newcomer accepted while every sender may still replay");
	h = frame_from(8, 1, now + WIRE_FRESH_MS + 1100);
	CHECK(wire_replay_check(r, &h, now + WIRE_FRESH_MS + 1100) == WIRE_OK,
	      "a newcomer refused after 7 senders expired");
	CHECK(wire_replay_senders(r) == 2, "%d senders held, want 0 and 8", wire_replay_senders(r));
	h = frame_from(0, 3, now + 20000);
	CHECK(wire_replay_check(r, &h, now + WIRE_FRESH_MS + 1100) == WIRE_R_REPLAY,
	      "sender 0 (still fresh) was forgotten");
	wire_replay_free(r);
	CHECK(!strcmp(wire_reject_names[WIRE_R_FULL], "replay_full"), "reason name");
	printf("ok  replay table full: newcomers refused (fail closed), none evicted; room again "
	       "once senders expire\n");
}

int main(void)
{
	uint8_t f[512], g[512];
	struct wire_hdr h;
	const uint8_t *pl;
	int n = seal(WIRE_PING, 5, 1, 1000000, "hello, cluster", f, sizeof(f));
	unsigned long long s = 3;

	REQUIRE(n == WIRE_HDR_LEN + 14 + WIRE_TAG_LEN, "sealed length %d", n);
	REQUIRE(wire_open(&key, A, f, (size_t)n, &h, &pl) == WIRE_OK, "round trip");
	CHECK(h.type == WIRE_PING && h.len == 14 && !memcmp(pl, "hello, cluster", 14) &&
		      h.sender.ip == 0x7f000003 && h.sender.port == 7600 && h.epoch == 5 &&
		      h.seq == 1 && h.sent_ms == 1000000 && wire_addr_eq(h.to, A),
	      "fields differ after a round trip");
	/* bound to its destination: authentic, yet refused by any other node */
	CHECK(wire_open(&key, B, f, (size_t)n, &h, &pl) == WIRE_R_DEST,
	      "a frame for A opened at B");
	CHECK(wire_open(&key, (struct wire_addr){A.ip, A.port + 1}, f, (size_t)n, &h, &pl) ==
		      WIRE_R_DEST,
	      "a frame for A opened at A's neighbour port");
	CHECK(wire_frame_len(f, (size_t)n) == n, "frame length");
	CHECK(seal(WIRE_PING, 1, 1, 1, "x", f, 40) == -EMSGSIZE, "sealing into a small buffer");

	for (int cut = 0; cut < n; cut++) {
		enum wire_reject r = wire_open(&key, A, f, (size_t)cut, &h, &pl);
		CHECK(r == (cut < WIRE_HDR_LEN + WIRE_TAG_LEN ? WIRE_R_SHORT : WIRE_R_LENGTH),
		      "truncated to %d: %s", cut, wire_reject_names[r]);
	}
	for (int bit = 0; bit < n * 8; bit++) {
		memcpy(g, f, (size_t)n);
		g[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		CHECK(wire_open(&key, A, g, (size_t)n, &h, &pl) != WIRE_OK,
		      "bit %d flipped: accepted", bit);
	}
	CHECK(wire_open(&other, A, f, (size_t)n, &h, &pl) == WIRE_R_TAG, "wrong key");
	memcpy(g, f, (size_t)n);
	g[4] = 1;
	CHECK(wire_open(&key, A, g, (size_t)n, &h, &pl) == WIRE_R_VERSION, "version 1");
	memcpy(g, f, (size_t)n);
	g[11] = 0x7f; /* length 2^30-ish */
	CHECK(wire_open(&key, A, g, (size_t)n, &h, &pl) == WIRE_R_LENGTH, "huge length");
	CHECK(wire_frame_len(g, (size_t)n) == -1, "huge length framed");
	{
		struct wire_hdr bad = {.type = 0};
		int m = wire_seal(&key, &bad, "", 0, g, sizeof(g));
		CHECK(wire_open(&key, A, g, (size_t)m, &h, &pl) == WIRE_R_TYPE, "type 0");
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
		CHECK(wire_open(&key, A, g, len, &h, &pl) != WIRE_OK, "random datagram %d accepted",
		      i);
	}
	printf("ok  codec: destination, truncations, %d bit flips, wrong key, version, length, "
	       "20000 random\n",
	       n * 8);

	{
		struct wire_replay *r = wire_replay_new(4, 0);
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
		wire_replay_free(r);
		printf("ok  replay: duplicates, window, stale, restarted senders\n");
	}
	{ /* a restarted receiver: nothing sent before its boot, fresh or not */
		uint64_t boot = 1000000;
		struct wire_replay *r = wire_replay_new(4, boot);
		struct wire_hdr a = {.type = WIRE_PING,
				     .sender = {1, 1},
				     .epoch = 10,
				     .seq = 1,
				     .sent_ms = boot - 1};
		CHECK(wire_replay_check(r, &a, boot + 10) == WIRE_R_BOOT,
		      "a frame sent before boot");
		a.sent_ms = boot - WIRE_FRESH_MS / 2;
		a.seq = 2;
		CHECK(wire_replay_check(r, &a, boot + 10) == WIRE_R_BOOT, "an older one");
		a.sent_ms = boot;
		a.seq = 3;
		CHECK(wire_replay_check(r, &a, boot + 10) == WIRE_OK, "a frame sent at boot");
		CHECK(wire_replay_check(r, &a, boot + 10) == WIRE_R_REPLAY, "and its replay");
		wire_replay_free(r);
		printf("ok  replay: frames from before the receiver's boot\n");
	}
	test_replay_scale();
	test_replay_full();
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
