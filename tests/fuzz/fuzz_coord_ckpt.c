/*
 * fuzz_coord_ckpt.c - the checkpoint of the coordinator's jobs, coord/jobs
 * in SDFS, which a cold recovery reads (coord_ckpt_decode): at most
 * COORD_JOBS_MAX jobs, each with valid settings and its own id; a state
 * holding them (launched, stopped where they were) checkpoints to bytes
 * that decode to the same jobs.
 */
#include "fuzz.h"
#include "tasks/coord_ckpt.h"
#include "tasks/coord_log_int.h"

#include <string.h>

static int same(const struct coord_job_settings *a, const struct coord_job_settings *b)
{
	return !strcmp(a->id, b->id) && !strcmp(a->model, b->model) &&
	       !strcmp(a->dataset, b->dataset) && a->model_version == b->model_version &&
	       a->index_version == b->index_version && a->images == b->images &&
	       a->batch == b->batch && a->weight == b->weight && a->flags == b->flags;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct coord_ckpt_job jobs[COORD_JOBS_MAX], back[COORD_JOBS_MAX];
	static struct coord_rec r;
	struct coord_state *s;
	uint8_t *out;
	size_t len;
	uint64_t seq = 0;
	int n = coord_ckpt_decode(data, size, jobs);

	if (n < 0)
		return 0;
	FUZZ_ASSERT(n <= COORD_JOBS_MAX);
	s = coord_state_new();
	for (int i = 0; i < n; i++) {
		FUZZ_ASSERT(coord_settings_ok(&jobs[i].set));
		for (int k = 0; k < i; k++)
			FUZZ_ASSERT(strcmp(jobs[k].set.id, jobs[i].set.id));
		r = (struct coord_rec){.type = COORD_REC_JOB_LAUNCH, .seq = ++seq};
		memcpy(r.job, jobs[i].set.id, sizeof(r.job));
		r.u.launch = jobs[i].set;
		FUZZ_ASSERT(coord_state_apply(s, &r, NULL) == 0);
		if (jobs[i].stopped) {
			r = (struct coord_rec){.type = COORD_REC_JOB_STOP, .seq = ++seq};
			memcpy(r.job, jobs[i].set.id, sizeof(r.job));
			FUZZ_ASSERT(coord_state_apply(s, &r, NULL) == 0);
		}
	}
	FUZZ_ASSERT(coord_ckpt_encode(s, &out, &len) == 0);
	FUZZ_ASSERT(coord_ckpt_decode(out, len, back) == n);
	for (int i = 0; i < n; i++)
		FUZZ_ASSERT(same(&jobs[i].set, &back[i].set) && jobs[i].stopped == back[i].stopped);
	free(out);
	coord_state_free(s);
	return 0;
}
