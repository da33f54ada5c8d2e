/*
 * fuzz_rpc.c - the CLI's RPC payloads (ctl/rpc.h): the first byte picks
 * the decoder (request, members, grep, self); a request that decodes
 * round-trips.
 */
#include "ctl/rpc.h"
#include "fuzz.h"

#include <errno.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rpc_req r, back;
	static struct swim_member m[64];
	static uint8_t buf[2048];
	const uint8_t *p = data + 1;
	size_t n = size ? size - 1 : 0, tlen;
	const char *text;
	uint64_t matches;
	uint8_t status;
	int k;

	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		if (rpc_req_decode(p, n, &r) == 0) {
			FUZZ_ASSERT(r.arglen < sizeof(r.arg) && r.arg[r.arglen] == 0);
			k = rpc_req_encode(&r, buf, sizeof(buf));
			FUZZ_ASSERT(k > 0 && rpc_req_decode(buf, (size_t)k, &back) == 0 &&
				    back.cmd == r.cmd && back.arglen == r.arglen);
		}
		break;
	case 1:
		k = rpc_members_decode(p, n, m, 64);
		FUZZ_ASSERT(k >= -EINVAL);
		break;
	case 2:
		if (rpc_grep_decode(p, n, &status, &matches, &text, &tlen) == 0)
			FUZZ_ASSERT(text >= (const char *)p && text + tlen <= (const char *)p + n);
		break;
	default:
		if (rpc_self_decode(p, n, m, &text, &tlen) == 0)
			FUZZ_ASSERT(tlen == 0 || (text >= (const char *)p &&
						  text + tlen <= (const char *)p + n));
		break;
	}
	return 0;
}
