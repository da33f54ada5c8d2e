/*
 * coord_query.c - the reads of the coordinator's state (coord_log.h):
 * info, a job or every job, whether a query is answered, the pending
 * client queries, the results held in memory, a job's latency.  None changes the state.
 */
#include "tasks/coord_log_int.h"

#include "err.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void coord_state_info(const struct coord_state *s, struct coord_state_info *out)
{
	out->seq = s->seq;
	out->epoch = s->epoch;
	out->coordinator = s->coordinator;
	out->jobs = s->njobs;
	out->launched = s->launched;
}

static void job_info(const struct coord_job *j, struct coord_job_info *o)
{
	memset(o, 0, sizeof(*o));
	o->set = j->set;
	o->num = j->num;
	o->stopped = j->stopped;
	o->accepted = j->accepted;
	o->answered = j->answered;
	o->failed = j->failed;
	o->duplicates = j->duplicates;
	o->service_ns_sum = j->service_ns_sum;
	o->pending = j->npend;
	o->rseq = j->rseq;
	o->persisted = j->persisted;
	o->in_memory = j->n - j->head;
	o->dataset_below = j->done_ds.lo == 0 ? j->done_ds.below : 0;
	o->dataset_done = !(j->set.flags & COORD_JOB_LOOP) &&
			  ((j->set.flags & COORD_JOB_CLIENT) ||
			   coord_idset_count(&j->done_ds) >= j->set.images);
}

int coord_state_job(const struct coord_state *s, const char *job, struct coord_job_info *out)
{
	const struct coord_job *j = coord_job_find(s, job);

	if (!j)
		return IDN_ENOJOB;
	job_info(j, out);
	return 0;
}

int coord_state_jobs(const struct coord_state *s, struct coord_job_info *out, int max)
{
	int n = 0;

	for (uint32_t i = 0; i < s->njobs && n < max; i++)
		job_info(&s->jobs[i], &out[n++]);
	return n;
}

int coord_state_answered(const struct coord_state *s, const char *job, uint64_t qid)
{
	const struct coord_job *j = coord_job_find(s, job);

	if (!j)
		return IDN_ENOJOB;
	if (qid & COORD_QID_CLIENT)
		return coord_idset_has(&j->done_cl, qid & ~COORD_QID_CLIENT);
	return coord_idset_has(&j->done_ds, qid);
}

int coord_state_query_image(const struct coord_state *s, const char *job, uint64_t qid,
			    uint32_t *image)
{
	const struct coord_job *j = coord_job_find(s, job);
	uint64_t ix;

	if (!j)
		return IDN_ENOJOB;
	if (!(qid & COORD_QID_CLIENT)) {
		*image = (uint32_t)(qid % j->set.images);
		return 0;
	}
	if (!coord_map_find(&j->pend_ix, qid, &ix))
		return -ENOENT;
	*image = j->pend[ix].image;
	return 0;
}

int coord_state_pending(const struct coord_state *s, const char *job, uint64_t from,
			struct coord_pending *out, int max)
{
	const struct coord_job *j = coord_job_find(s, job);
	struct coord_pending *p;
	int n = 0;

	if (!j)
		return IDN_ENOJOB;
	if (!j->npend || max <= 0)
		return 0;
	p = xmalloc(j->npend * sizeof(*p));
	memcpy(p, j->pend, j->npend * sizeof(*p));
	qsort(p, j->npend, sizeof(*p), coord_pending_cmp);
	for (uint32_t i = 0; i < j->npend && n < max; i++)
		if (p[i].qid >= from)
			out[n++] = p[i];
	free(p);
	return n;
}

int coord_state_results(const struct coord_state *s, const char *job, uint64_t from,
			struct coord_result *out, int max)
{
	const struct coord_job *j = coord_job_find(s, job);
	int n = 0;

	if (!j)
		return IDN_ENOJOB;
	/* the held results are rseq persisted + 1, + 2, ... in order */
	size_t i = j->head;
	if (from > j->persisted + 1)
		i += (size_t)MIN(from - (j->persisted + 1), (uint64_t)(j->n - j->head));
	for (; i < j->n && n < max; i++)
		out[n++] = j->log[i];
	return n;
}

int coord_state_client_accepted(const struct coord_state *s, const char *job, uint64_t client,
				uint64_t cqid)
{
	const struct coord_job *j = coord_job_find(s, job);
	int found;
	uint32_t pos;

	if (!j)
		return IDN_ENOJOB;
	pos = coord_client_pos(j, client, &found);
	return found && coord_idset_has(&j->clients[pos].accepted, cqid);
}

int coord_state_latency(const struct coord_state *s, const char *job, struct coord_latency *out)
{
	const struct coord_job *j = coord_job_find(s, job);

	if (!j)
		return IDN_ENOJOB;
	*out = j->lat;
	return 0;
}
