/*
 * sched_report.c - what the scheduler tells (sched.h): per job (counts,
 * the completion rate over the rate window, the cost estimate), per worker
 * (slots, busy, its decayed shares by job) and the totals.  Read-only.
 */
#include "tasks/sched_int.h"

#include <errno.h>
#include <stdlib.h>

/* Completions per second over the rate window (or since the job came). */
static double job_rate(const struct sched *s, const struct job *j, uint64_t now_ms)
{
	uint64_t bw = s->c.rate_window_ms / SCHED_RATE_BUCKETS, cur = now_ms / bw, n = 0;
	uint64_t span = (SCHED_RATE_BUCKETS - 1) * bw + now_ms % bw;

	for (int i = 0; i < SCHED_RATE_BUCKETS; i++)
		if (j->rate[i].count && j->rate[i].idx <= cur &&
		    j->rate[i].idx + SCHED_RATE_BUCKETS > cur)
			n += j->rate[i].count;
	if (now_ms - j->added_ms < span)
		span = now_ms - j->added_ms;
	return span ? (double)n * 1000.0 / (double)span : 0;
}

static void job_fill(const struct sched *s, const struct job *j, uint64_t now_ms,
		     struct sched_job_info *o)
{
	*o = (struct sched_job_info){.id = j->id,
				     .weight = j->weight,
				     .batch = j->batch,
				     .stopped = j->stopped,
				     .queued = j->queued,
				     .inflight = j->inflight,
				     .completed = j->completed,
				     .failed = j->failed,
				     .retried = j->retried,
				     .rate = job_rate(s, j, now_ms),
				     .cost_ns = (uint64_t)j->cost_ns,
				     .norm = j->norm};
}

int sched_job_info(const struct sched *s, uint32_t id, uint64_t now_ms, struct sched_job_info *out)
{
	const struct job *j = sched_job_get(s, id);

	if (!j)
		return -ENOENT;
	job_fill(s, j, now_ms, out);
	return 0;
}

int sched_jobs(const struct sched *s, uint64_t now_ms, struct sched_job_info *out, int max)
{
	int n = 0;

	for (uint32_t i = 0; i < s->nj; i++) {
		if (!s->j[i].used)
			continue;
		if (n < max)
			job_fill(s, &s->j[i], now_ms, &out[n]);
		n++;
	}
	return n;
}

static int share_cmp(const void *a, const void *b)
{
	double x = ((const struct sched_share *)a)->share,
	       y = ((const struct sched_share *)b)->share;

	return x < y ? 1 : x > y ? -1 : 0;
}

static void worker_fill(const struct sched *s, const struct worker *w, uint64_t now_ms,
			struct sched_worker_info *o)
{
	struct worker c = *w;
	double sum = 0;

	sched_worker_share_decay(s, &c, now_ms);
	*o = (struct sched_worker_info){
		.id = w->id, .slots = w->slots, .busy = w->busy, .batches = w->batches};
	for (uint16_t i = 0; i < c.nshare; i++)
		sum += c.share[i].ns;
	for (uint16_t i = 0; i < c.nshare && sum > 0; i++)
		if (c.share[i].ns / sum >= 1e-4)
			o->share[o->nshare++] = (struct sched_share){.job = c.share[i].job,
								     .share = c.share[i].ns / sum};
	qsort(o->share, o->nshare, sizeof(o->share[0]), share_cmp);
}

int sched_worker_info(const struct sched *s, uint32_t id, uint64_t now_ms,
		      struct sched_worker_info *out)
{
	int32_t wi = sched_lookup(&s->wmap, id);

	if (wi < 0)
		return -ENOENT;
	worker_fill(s, &s->w[wi], now_ms, out);
	return 0;
}

int sched_workers(const struct sched *s, uint64_t now_ms, struct sched_worker_info *out, int max)
{
	int n = 0;

	for (uint32_t i = 0; i < s->nw; i++) {
		if (!s->w[i].used)
			continue;
		if (n < max)
			worker_fill(s, &s->w[i], now_ms, &out[n]);
		n++;
	}
	return n;
}

void sched_stats(const struct sched *s, struct sched_stats *out)
{
	*out = (struct sched_stats){.workers = s->nworkers,
				    .jobs = s->njobs,
				    .slots = s->slots,
				    .free_slots = s->slots - s->busy,
				    .running = s->running,
				    .tracked = s->qt.n,
				    .decisions = s->decisions,
				    .speculations = s->speculations,
				    .expresses = s->expresses,
				    .duplicates = s->duplicates,
				    .stale = s->stale};
	for (uint32_t i = 0; i < s->nj; i++)
		if (s->j[i].used && !s->j[i].stopped)
			out->waiting += s->j[i].queued;
}
