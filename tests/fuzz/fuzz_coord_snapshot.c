/*
 * fuzz_coord_snapshot.c - the coordinator's state snapshots
 * (coord_state_snapshot_decode): what decodes is canonical, so it encodes
 * back to the same bytes.
 */
#include "fuzz.h"
#include "tasks/coord_log.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct coord_state *s;
	uint8_t *out;
	size_t len;

	if (coord_state_snapshot_decode(data, size, &s) != 0)
		return 0;
	FUZZ_ASSERT(coord_state_snapshot_encode(s, &out, &len) == 0);
	FUZZ_ASSERT(len == size && !memcmp(out, data, size));
	free(out);
	coord_state_free(s);
	return 0;
}
