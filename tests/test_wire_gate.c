/*
 * Description: the cheap checks before a frame's MAC and the reject
 * buckets (issue 16, defect 3): wire_peek refuses a frame for another node,
 * of a bad type or length before any tag is checked, and passes a
 * well-formed frame with a wrong tag, which wire_auth then refuses;
 * wire_replay_fresh refuses frames from before the receiver's start and
 * stale ones without changing the table; a source charged for its rejects
 * is throttled after its burst, refills at its rate, and throttles no other
 * source; many sources together are bounded by the shared bucket (which
 * then holds back every non-member, even a clean one), and once it has
 * refilled, a source that is never charged is never throttled.
 */
#include "check.h"
#include "wire/wire.h"
#include "wire/wire_gate.h"

#include <string.h>

static const struct wire_addr A = {0x7f000001, 7600}, B = {0x7f000002, 7600};

int main(void)
{
	struct wire_key key, other;
	struct wire_hdr h = {.type = WIRE_PING,
			     .sender = B,
			     .epoch = 1,
			     .seq = 1,
			     .sent_ms = 100000,
			     .to = A},
			got;
	uint8_t f[256], g[256];
	int n;

	memset(key.k, 1, sizeof(key.k));
	memset(other.k, 2, sizeof(other.k));
	n = wire_seal(&other, &h, "x", 1, f, sizeof(f)); /* well-formed, wrong tag */
	REQUIRE(n > 0, "seal");
	CHECK(wire_peek(A, f, (size_t)n, &got) == WIRE_OK && got.seq == 1 &&
		      wire_addr_eq(got.sender, B),
	      "a well-formed frame does not pass the cheap checks");
	CHECK(wire_auth(&key, f, (size_t)n) == WIRE_R_TAG, "a wrong tag passes");
	CHECK(wire_auth(&other, f, (size_t)n) == WIRE_OK, "the right tag refused");
	CHECK(wire_peek(B, f, (size_t)n, &got) == WIRE_R_DEST, "another node's frame");
	memcpy(g, f, (size_t)n);
	g[5] = WIRE_TYPE_MAX;
	CHECK(wire_peek(A, g, (size_t)n, &got) == WIRE_R_TYPE, "bad type");
	CHECK(wire_peek(A, f, (size_t)n - 1, &got) == WIRE_R_LENGTH, "cut by one byte");
	CHECK(wire_peek(A, f, 0, &got) == WIRE_R_SHORT, "empty");
	printf("ok  cheap checks before the MAC\n");

	{
		struct wire_replay *r = wire_replay_new(4, 50000);
		struct wire_hdr o = h;
		CHECK(wire_replay_fresh(r, &h, 100000) == WIRE_OK, "fresh refused");
		o.sent_ms = 40000;
		CHECK(wire_replay_fresh(r, &o, 45000) == WIRE_R_BOOT, "before boot");
		CHECK(wire_replay_fresh(r, &h, 100000 + WIRE_FRESH_MS + 1) == WIRE_R_STALE,
		      "stale");
		CHECK(wire_replay_senders(r) == 0, "the time checks changed the table");
		CHECK(wire_replay_check(r, &h, 100000) == WIRE_OK &&
			      wire_replay_check(r, &h, 100000) == WIRE_R_REPLAY,
		      "replay check after fresh");
		wire_replay_free(r);
		printf("ok  time checks before the MAC change nothing\n");
	}

	{
		struct wire_gate_config c = {
			.per_source = 10, .burst = 20, .total = 100, .total_burst = 50};
		struct wire_gate *gt = wire_gate_new(&c, 0);
		uint32_t x = 0x7f0000c8, y = 0x7f0000c9;
		int allowed = 0;

		for (int i = 0; i < 100; i++)
			if (wire_gate_allow(gt, x, 1000)) {
				allowed++;
				wire_gate_charge(gt, x, 1000);
			}
		CHECK(allowed == 20, "a source checked %d times in its burst of 20", allowed);
		CHECK(wire_gate_throttled(gt, 1000) == 1, "throttled sources %d",
		      wire_gate_throttled(gt, 1000));
		CHECK(wire_gate_allow(gt, y, 1000), "another source throttled with the first");
		CHECK(!wire_gate_allow(gt, x, 1050), "refilled too soon");
		CHECK(wire_gate_allow(gt, x, 1100), "not refilled at 10 a second after 100 ms");
		CHECK(wire_gate_allow(gt, x, 10000) && wire_gate_throttled(gt, 10000) == 0,
		      "not refilled after 9 s");
		wire_gate_free(gt);

		gt = wire_gate_new(&c, 0);
		allowed = 0;
		for (uint32_t s = 0; s < 1000; s++) /* many sources, each within its own burst */
			if (wire_gate_allow(gt, 0x0a000000 + s, 5000)) {
				allowed++;
				wire_gate_charge(gt, 0x0a000000 + s, 5000);
			}
		CHECK(allowed == 50, "1000 sources checked %d times, the shared burst is 50",
		      allowed);
		for (int i = 0; i < 1000; i++) /* a clean source is never charged */
			CHECK(wire_gate_allow(gt, 0x0b000001, 6000 + (uint64_t)i * 20),
			      "a clean source throttled at %d", i);
		wire_gate_free(gt);
		printf("ok  reject buckets: per source, shared, refilled at their rates\n");
	}
	return t_result();
}
