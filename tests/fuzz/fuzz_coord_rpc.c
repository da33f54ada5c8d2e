/*
 * fuzz_coord_rpc.c - the job commands' requests (coord_rpc_req_decode):
 * what decodes must encode again to the same bytes.
 */
#include "fuzz.h"
#include "tasks/coord_rpc.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct coord_rpc_req r;
	uint8_t buf[COORD_RPC_REQ_MAX + 64];
	int n;

	if (coord_rpc_req_decode(data, size, &r) != 0)
		return 0;
	FUZZ_ASSERT(r.cmd >= COORD_RPC_LAUNCH && r.cmd < COORD_RPC_END);
	n = coord_rpc_req_encode(&r, buf, sizeof(buf));
	FUZZ_ASSERT(n > 0 && (size_t)n == size && !memcmp(buf, data, size));
	return 0;
}
