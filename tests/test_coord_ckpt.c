/*
 * Description: the checkpoint of the coordinator's job records, coord/jobs
 * (agent/tasks/coord_ckpt.c): a state with three jobs (one stopped, one
 * whose batch changed after launch) round-trips to the same settings,
 * current batch and stopped flags in launch order; an empty state gives
 * no job; every prefix, a trailing byte, another magic, a stop before its
 * launch, a repeated launch are refused; 100000 mutated checkpoints never
 * crash the decoder (ASan/UBSan).
 */
#include "check.h"
#include "tasks/coord_ckpt.h"
#include "wire/wire_codec.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t seq;

static void apply(struct coord_state *s, struct coord_rec *r)
{
	r->seq = ++seq;
	REQUIRE(coord_state_apply(s, r, NULL) == 0, "apply %d", r->type);
}

static void launch(struct coord_state *s, const char *id, uint16_t batch, uint8_t flags)
{
	struct coord_rec *r = calloc(1, sizeof(*r));

	r->type = COORD_REC_JOB_LAUNCH;
	strcpy(r->job, id);
	strcpy(r->u.launch.id, id);
	strcpy(r->u.launch.model, "r18");
	strcpy(r->u.launch.dataset, "d24");
	r->u.launch.model_version = 3;
	r->u.launch.index_version = 9;
	r->u.launch.images = 24;
	r->u.launch.batch = batch;
	r->u.launch.weight = 1.5;
	r->u.launch.flags = flags;
	apply(s, r);
	free(r);
}

int main(void)
{
	struct coord_state *s = coord_state_new();
	struct coord_ckpt_job *out = calloc(COORD_JOBS_MAX, sizeof(*out));
	struct coord_rec r = {0};
	uint8_t *buf, *m;
	size_t len;
	unsigned long long rnd = 5;
	int n;

	coord_ckpt_encode(s, &buf, &len);
	CHECK(coord_ckpt_decode(buf, len, out) == 0, "an empty state: no job");
	free(buf);

	launch(s, "a-1", 4, 0);
	launch(s, "b-2", 2, COORD_JOB_LOOP);
	launch(s, "c-3", 8, 0);
	r.type = COORD_REC_JOB_BATCH;
	strcpy(r.job, "b-2");
	r.u.batch = 16;
	apply(s, &r);
	memset(&r, 0, sizeof(r));
	r.type = COORD_REC_JOB_STOP;
	strcpy(r.job, "a-1");
	apply(s, &r);

	coord_ckpt_encode(s, &buf, &len);
	n = coord_ckpt_decode(buf, len, out);
	REQUIRE(n == 3, "three jobs: %d", n);
	CHECK(!strcmp(out[0].set.id, "a-1") && !strcmp(out[1].set.id, "b-2") &&
		      !strcmp(out[2].set.id, "c-3"),
	      "launch order");
	CHECK(out[0].stopped && !out[1].stopped && !out[2].stopped, "stopped flags");
	CHECK(out[0].set.batch == 4 && out[1].set.batch == 16 && out[2].set.batch == 8,
	      "current batches: %u %u %u", out[0].set.batch, out[1].set.batch, out[2].set.batch);
	CHECK(out[1].set.flags == COORD_JOB_LOOP && out[1].set.weight == 1.5 &&
		      out[1].set.model_version == 3 && out[1].set.index_version == 9 &&
		      out[1].set.images == 24 && !strcmp(out[1].set.model, "r18"),
	      "settings");

	for (size_t k = 0; k < len; k++)
		CHECK(coord_ckpt_decode(buf, k, out) == -EINVAL, "prefix %zu accepted", k);
	m = malloc(len + 1);
	memcpy(m, buf, len);
	m[len] = 0;
	CHECK(coord_ckpt_decode(m, len + 1, out) == -EINVAL, "a trailing byte");
	m[0] = 'X';
	CHECK(coord_ckpt_decode(m, len, out) == -EINVAL, "another magic");
	/* the first two records (a-1's launch and its stop) swapped */
	{
		uint32_t l0 = (uint32_t)wire_le_get(buf + 12, 4);
		uint32_t l1 = (uint32_t)wire_le_get(buf + 16 + l0, 4);
		uint8_t *d = malloc(12 + 2 * (4 + l0));
		memcpy(m, buf, 12);
		memcpy(m + 12, buf + 16 + l0, 4 + l1);
		memcpy(m + 16 + l1, buf + 12, 4 + l0);
		memcpy(m + 20 + l0 + l1, buf + 20 + l0 + l1, len - (20 + l0 + l1));
		CHECK(coord_ckpt_decode(m, len, out) == -EINVAL, "a stop before its launch");
		memcpy(m, buf, len); /* swapped back: fine again */
		CHECK(coord_ckpt_decode(m, len, out) == 3, "the original");
		/* a checkpoint of a-1's launch twice */
		memcpy(d, buf, 12);
		wire_le_put(d + 8, 2, 4);
		memcpy(d + 12, buf + 12, 4 + l0);
		memcpy(d + 16 + l0, buf + 12, 4 + l0);
		CHECK(coord_ckpt_decode(d, 12 + 2 * (4 + l0), out) == -EINVAL, "a repeated launch");
		wire_le_put(d + 8, 1, 4);
		CHECK(coord_ckpt_decode(d, 16 + l0, out) == 1, "one launch alone is fine");
		free(d);
		wire_le_put(m + 8, 2 * COORD_JOBS_MAX + 1, 4);
		CHECK(coord_ckpt_decode(m, len, out) == -EINVAL, "too many records");
	}
	for (int i = 0; i < 100000; i++) {
		memcpy(m, buf, len);
		for (int k = 0; k < 1 + i % 3; k++) {
			rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
			m[(rnd >> 33) % len] = (uint8_t)(rnd >> 20);
		}
		rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
		coord_ckpt_decode(m, (rnd >> 33) % (len + 1), out);
	}
	free(m);
	free(buf);
	free(out);
	coord_state_free(s);
	return t_result();
}
