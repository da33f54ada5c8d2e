/*
 * fuzz_sdfs_req.c - SDFS requests (sdfs_req_decode): what decodes has a
 * checked name and counts in range, and round-trips.
 */
#include "fuzz.h"
#include "sdfs/sdfs_wire.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sdfs_req r, back;
	uint8_t buf[SDFS_REQ_MAX];
	char err[256];
	int n;

	if (sdfs_req_decode(data, size, &r, err, sizeof(err)) != 0)
		return 0;
	FUZZ_ASSERT(r.ncand <= SDFS_MAX_CAND && r.cmd >= SDFS_WRITE && r.cmd < SDFS_CMD_END);
	FUZZ_ASSERT(strlen(r.name) <= STORE_NAME_MAX);
	n = sdfs_req_encode(&r, buf, sizeof(buf));
	FUZZ_ASSERT(n > 0);
	FUZZ_ASSERT(sdfs_req_decode(buf, (size_t)n, &back, err, sizeof(err)) == 0);
	FUZZ_ASSERT(!strcmp(back.name, r.name) && back.version == r.version);
	return 0;
}
