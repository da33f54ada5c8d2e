/*
 * coord_ckpt.c - the checkpoint of the job records, coord/jobs (see
 * coord_ckpt.h).
 */
#include "tasks/coord_ckpt.h"

#include "util.h"
#include "wire/wire_codec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC	  "IDCKPT1\n"
#define MAGIC_LEN 8

static void put_rec(struct wire_buf *b, struct coord_rec *r, uint8_t *tmp)
{
	int n;

	r->seq = 1;
	n = coord_rec_encode(r, tmp, COORD_REC_MAX);
	ASSERT(n > 0 && n <= 1024);
	wire_put_u32(b, (uint32_t)n);
	wire_put_bytes(b, tmp, (size_t)n);
}

int coord_ckpt_encode(const struct coord_state *s, uint8_t **out, size_t *len)
{
	struct coord_job_info *ji = xcalloc(COORD_JOBS_MAX, sizeof(*ji));
	struct coord_rec *r = xcalloc(1, sizeof(*r));
	uint8_t *tmp = xmalloc(COORD_REC_MAX);
	int n = coord_state_jobs(s, ji, COORD_JOBS_MAX), nrec = 0;
	size_t cap = MAGIC_LEN + 4 + (size_t)n * 2 * (4 + 1024);
	struct wire_buf b = {.p = xmalloc(cap), .cap = cap};

	wire_put_bytes(&b, MAGIC, MAGIC_LEN);
	wire_put_u32(&b, 0); /* the count, below */
	for (int i = 0; i < n; i++) {
		memset(r, 0, sizeof(*r));
		r->type = COORD_REC_JOB_LAUNCH;
		memcpy(r->job, ji[i].set.id, sizeof(r->job));
		r->u.launch = ji[i].set;
		put_rec(&b, r, tmp);
		nrec++;
		if (ji[i].stopped) {
			memset(r, 0, sizeof(*r));
			r->type = COORD_REC_JOB_STOP;
			memcpy(r->job, ji[i].set.id, sizeof(r->job));
			put_rec(&b, r, tmp);
			nrec++;
		}
	}
	ASSERT(!b.err);
	wire_le_put(b.p + MAGIC_LEN, (uint64_t)nrec, 4);
	*out = b.p;
	*len = b.len;
	free(tmp);
	free(r);
	free(ji);
	return 0;
}

int coord_ckpt_decode(const uint8_t *p, size_t len, struct coord_ckpt_job *out)
{
	struct wire_rd rd = {.p = p, .len = len};
	struct coord_rec *r = xcalloc(1, sizeof(*r));
	uint32_t nrec;
	int n = 0, ret = -EINVAL;

	if (len < MAGIC_LEN + 4 || memcmp(p, MAGIC, MAGIC_LEN))
		goto out;
	rd.off = MAGIC_LEN;
	nrec = wire_get_u32(&rd);
	if (nrec > 2 * COORD_JOBS_MAX)
		goto out;
	for (uint32_t i = 0; i < nrec; i++) {
		uint32_t rl = wire_get_u32(&rd);
		const uint8_t *rb = wire_get_bytes(&rd, rl);
		int k;
		if (rd.err || !rb || coord_rec_decode(rb, rl, r))
			goto out;
		for (k = 0; k < n && strcmp(out[k].set.id, r->job); k++)
			;
		if (r->type == COORD_REC_JOB_LAUNCH) {
			if (k < n || n == COORD_JOBS_MAX)
				goto out;
			out[n++] = (struct coord_ckpt_job){.set = r->u.launch};
		} else if (r->type == COORD_REC_JOB_STOP) {
			if (k == n || out[k].stopped)
				goto out;
			out[k].stopped = 1;
		} else {
			goto out;
		}
	}
	if (!rd.err && rd.off == len)
		ret = n;
out:
	free(r);
	return ret;
}
