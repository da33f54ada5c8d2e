/*
 * fuzz_coord_rec.c - the coordinator's records (coord_rec_decode): what
 * decodes must encode again, and apply without harm to a state holding
 * job "j1" (100 images), so that every type of record reaches a job.
 */
#include "fuzz.h"
#include "tasks/coord_log.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct coord_rec r, back,
		launch = {.type = COORD_REC_JOB_LAUNCH,
			  .seq = 1,
			  .job = "j1",
			  .u.launch = {.id = "j1",
				       .model = "resnet18",
				       .model_version = 3,
				       .dataset = "imgs",
				       .index_version = 4,
				       .images = 100,
				       .batch = 4,
				       .weight = 1}};
	static struct coord_effect eff;
	static uint8_t buf[1 << 16];
	struct coord_state *s;
	int n;

	if (coord_rec_decode(data, size, &r) != 0)
		return 0;
	n = coord_rec_encode(&r, buf, sizeof(buf));
	FUZZ_ASSERT(n > 0);
	FUZZ_ASSERT(coord_rec_decode(buf, (size_t)n, &back) == 0 && back.type == r.type);
	s = coord_state_new();
	FUZZ_ASSERT(coord_state_apply(s, &launch, NULL) == 0);
	r.seq = 2;
	coord_state_apply(s, &r, &eff);
	coord_state_free(s);
	return 0;
}
