/*
 * fuzz_frame.c - the frame header and its authentication (wire_peek,
 * wire_auth, wire_open, wire_frame_len) on any bytes, with the key the
 * seed frames were sealed with, so that valid frames reach past the tag;
 * then the replay window on what opened.
 */
#include "fuzz.h"
#include "wire/wire.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wire_replay *rp;
	struct wire_key key;
	struct wire_addr self = {0x7f000001, 7600};
	struct wire_hdr h, p;
	const uint8_t *payload;
	enum wire_reject r;
	long fl;

	memset(key.k, 0x5a, sizeof(key.k));
	if (!rp)
		rp = wire_replay_new(64, 0);
	fl = wire_frame_len(data, size);
	FUZZ_ASSERT(fl == -1 || fl >= WIRE_HDR_LEN + WIRE_TAG_LEN);
	r = wire_open(&key, self, data, size, &h, &payload);
	FUZZ_ASSERT(r < WIRE_REJECT_MAX);
	if (r == WIRE_OK) {
		FUZZ_ASSERT(wire_peek(self, data, size, &p) == WIRE_OK && p.len == h.len);
		FUZZ_ASSERT(payload + h.len + WIRE_TAG_LEN == data + size);
		FUZZ_ASSERT(wire_replay_check(rp, &h, h.sent_ms) < WIRE_REJECT_MAX);
	}
	return 0;
}
