/*
 * fuzz_swim.c - SWIM messages: the first byte is the frame type, the rest
 * the payload.  What decodes must encode again and decode to the same.
 */
#include "fuzz.h"
#include "membership/swim.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct swim_msg m, back;
	uint8_t buf[WIRE_MAX_DATAGRAM * 2];
	int n;

	if (size < 1)
		return 0;
	if (swim_msg_decode(data[0], data + 1, size - 1, &m) != 0)
		return 0;
	FUZZ_ASSERT(m.nupdates <= SWIM_MAX_UPDATES);
	n = swim_msg_encode(&m, buf, sizeof(buf));
	FUZZ_ASSERT(n >= 0);
	FUZZ_ASSERT(swim_msg_decode(data[0], buf, (size_t)n, &back) == 0);
	FUZZ_ASSERT(back.nupdates == m.nupdates && back.seq == m.seq);
	return 0;
}
