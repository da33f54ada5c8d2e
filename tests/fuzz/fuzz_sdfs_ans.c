/*
 * fuzz_sdfs_ans.c - SDFS answers and chunk frames: the first byte picks
 * the decoder (status, ready, read, stat, list, delete, commit, chunk).
 */
#include "fuzz.h"
#include "sdfs/sdfs_wire.h"

#include <string.h>

static int count(void *arg, const char *name, uint64_t version, uint64_t size)
{
	FUZZ_ASSERT(strlen(name) <= STORE_NAME_MAX);
	(*(int *)arg)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sdfs_stat st;
	struct sdfs_ready rd;
	struct wire_key key;
	uint8_t sid[SDFS_SID_LEN] = {7};
	const uint8_t *p = data + 1;
	size_t n = size ? size - 1 : 0;
	uint64_t v, sz;
	uint32_t u32, crc;
	const char *text;
	size_t tlen;
	int status, k = 0;

	if (size < 1)
		return 0;
	memset(key.k, 0x5a, sizeof(key.k));
	switch (data[0] % 8) {
	case 0:
		if (sdfs_status_decode(p, n, &status, &text, &tlen) == 0)
			FUZZ_ASSERT(tlen <= n &&
				    (tlen == 0 || (text >= (const char *)p &&
						   text + tlen <= (const char *)p + n)));
		break;
	case 1:
		if (sdfs_ready_decode(p, n, &rd) == 0)
			FUZZ_ASSERT(rd.nreps >= 0 && rd.nreps <= SDFS_MAX_CAND + 1);
		break;
	case 2:
		sdfs_read_ans_decode(p, n, &v, &sz);
		break;
	case 3:
		if (sdfs_stat_decode(p, n, &st) == 0)
			FUZZ_ASSERT(st.n >= 0 && st.n <= SDFS_STAT_MAX);
		break;
	case 4:
		sdfs_list_decode(p, n, count, &k);
		break;
	case 5:
		sdfs_delete_ans_decode(p, n, &u32);
		break;
	case 6:
		sdfs_commit_check(p, n, sid);
		break;
	default:
		if (chunk_open(&key, sid, 0, p, n, &u32, &crc) == 0)
			FUZZ_ASSERT(u32 <= STORE_CHUNK && CHUNK_HDR + u32 + CHUNK_TAG == n);
		break;
	}
	return 0;
}
