/*
 * sched.c - the coordinator's scheduler (sched.h): weighted max-min fair
 * query rates over a cluster of worker slots, with retries, re-dispatch
 * of a failed worker's queries and speculation on overrun batches.
 *
 * This file: the state's lifetime (new, free), the two indexed binary
 * heaps (workers with a free slot; running batches by deadline), workers
 * joining and their per-job shares, jobs (add, weight, batch, stop,
 * remove, waking) and enqueueing queries.  Dispatch and results are in
 * sched_run.c, the reports in sched_report.c, the containers in
 * sched_ds.c; sched_int.h holds what they share.
 */
#include "tasks/sched_int.h"
#include "tasks/task_wire.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(SCHED_BATCH_MAX == TASK_BATCH_MAX, "a batch is one DISPATCH");

const char *const sched_verdict_names[SCHED_VERDICT_MAX] = {
	[SCHED_DONE] = "done",	   [SCHED_DUP] = "duplicate", [SCHED_RETRY] = "retry",
	[SCHED_FAILED] = "failed", [SCHED_STALE] = "stale",
};

void sched_config_default(struct sched_config *c)
{
	*c = (struct sched_config){.queue_max = 4096,
				   .retry_max = 3,
				   .overrun_factor = 4,
				   .overrun_floor_ms = 500,
				   .cost_init_ns = 100 * 1000000ull,
				   .cost_ewma_div = 8,
				   .rate_window_ms = 10000,
				   .share_window_ms = 10000};
}

struct sched *sched_new(const struct sched_config *c)
{
	struct sched *s;
	struct sched_config d;

	if (!c) {
		sched_config_default(&d);
		c = &d;
	}
	if (!c->queue_max || !c->overrun_factor || !c->cost_ewma_div ||
	    c->rate_window_ms < SCHED_RATE_BUCKETS || !c->share_window_ms || !c->cost_init_ns)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->c = *c;
	sched_table_init(&s->qt, 1024);
	sched_table_init(&s->wmap, 64);
	sched_table_init(&s->bmap, 64);
	sched_table_init(&s->jmap, 16);
	s->wfree = s->bfree = -1;
	s->next_batch = 1;
	return s;
}

void sched_free(struct sched *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->nb; i++)
		free(s->b[i].q);
	for (uint32_t i = 0; i < s->nj; i++)
		free(s->j[i].q.a);
	free(s->qt.a);
	free(s->wmap.a);
	free(s->bmap.a);
	free(s->jmap.a);
	free(s->w);
	free(s->b);
	free(s->j);
	free(s->fh.a);
	free(s->dh.a);
	free(s->spec.a);
	free(s);
}

struct job *sched_job_get(const struct sched *s, uint32_t id)
{
	int32_t i = sched_lookup(&s->jmap, id);

	return i < 0 ? NULL : &s->j[i];
}

/* --- indexed heaps -------------------------------------------------------- */

static int heap_less(const struct sched *s, enum heap_kind k, int32_t x, int32_t y)
{
	if (k == H_FREE) {
		const struct worker *a = &s->w[x], *b = &s->w[y];

		if (a->busy != b->busy)
			return a->busy < b->busy;
		return a->seq < b->seq;
	}
	const struct batch *a = &s->b[x], *b = &s->b[y];

	if (a->deadline_ms != b->deadline_ms)
		return a->deadline_ms < b->deadline_ms;
	return a->id < b->id;
}

static struct heap *heap_of(struct sched *s, enum heap_kind k)
{
	return k == H_FREE ? &s->fh : &s->dh;
}

static int32_t *heap_pos(struct sched *s, enum heap_kind k, int32_t x)
{
	return k == H_FREE ? &s->w[x].hidx : &s->b[x].hidx;
}

static void heap_set(struct sched *s, enum heap_kind k, uint32_t i, int32_t x)
{
	heap_of(s, k)->a[i] = x;
	*heap_pos(s, k, x) = (int32_t)i;
}

static void heap_up(struct sched *s, enum heap_kind k, uint32_t i)
{
	struct heap *h = heap_of(s, k);
	int32_t x = h->a[i];

	while (i > 0 && heap_less(s, k, x, h->a[(i - 1) / 2])) {
		heap_set(s, k, i, h->a[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(s, k, i, x);
}

static void heap_down(struct sched *s, enum heap_kind k, uint32_t i)
{
	struct heap *h = heap_of(s, k);
	int32_t x = h->a[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && heap_less(s, k, h->a[c + 1], h->a[c]))
			c++;
		if (!heap_less(s, k, h->a[c], x))
			break;
		heap_set(s, k, i, h->a[c]);
		i = c;
	}
	heap_set(s, k, i, x);
}

void sched_heap_push(struct sched *s, enum heap_kind k, int32_t x)
{
	struct heap *h = heap_of(s, k);

	if (h->n == h->cap) {
		h->cap = h->cap ? 2 * h->cap : 64;
		h->a = xrealloc(h->a, h->cap * sizeof(*h->a));
	}
	h->a[h->n++] = x;
	heap_up(s, k, h->n - 1);
}

void sched_heap_remove(struct sched *s, enum heap_kind k, int32_t x)
{
	struct heap *h = heap_of(s, k);
	int32_t *pos = heap_pos(s, k, x);
	uint32_t i = (uint32_t)*pos;
	int32_t last = h->a[--h->n];

	*pos = -1;
	if (i < h->n) {
		heap_set(s, k, i, last);
		heap_up(s, k, i);
		heap_down(s, k, (uint32_t)*heap_pos(s, k, last));
	}
}

void sched_heap_fix(struct sched *s, enum heap_kind k, int32_t x)
{
	heap_up(s, k, (uint32_t)*heap_pos(s, k, x));
	heap_down(s, k, (uint32_t)*heap_pos(s, k, x));
}

/* --- workers ---------------------------------------------------------------- */

int sched_worker_add(struct sched *s, uint32_t id, uint16_t slots, uint64_t now_ms)
{
	struct worker *w;
	int32_t wi;

	if (!slots)
		return -EINVAL;
	if (sched_lookup(&s->wmap, id) >= 0)
		return -EEXIST;
	if (s->wfree >= 0) {
		wi = s->wfree;
		s->wfree = s->w[wi].hidx;
	} else {
		if ((s->nw & (s->nw - 1)) == 0)
			s->w = xrealloc(s->w, (s->nw ? 2 * s->nw : 1) * sizeof(*s->w));
		wi = (int32_t)s->nw++;
	}
	w = &s->w[wi];
	*w = (struct worker){.id = id,
			     .used = 1,
			     .slots = slots,
			     .seq = ++s->seq,
			     .hidx = -1,
			     .bhead = -1,
			     .btail = -1,
			     .share_ms = now_ms};
	sched_table_add(&s->wmap, id, 0, (uint32_t)wi + 1);
	sched_heap_push(s, H_FREE, wi);
	s->nworkers++;
	s->slots += slots;
	return 0;
}

/* The best worker with a free slot other than not, or -1. */
int32_t sched_worker_best_except(const struct sched *s, int32_t not )
{
	const struct heap *h = &s->fh;
	int32_t best = -1;

	if (!h->n)
		return -1;
	if (h->a[0] != not )
		return h->a[0];
	for (uint32_t c = 1; c <= 2 && c < h->n; c++)
		if (best < 0 || heap_less(s, H_FREE, h->a[c], best))
			best = h->a[c];
	return best;
}

void sched_worker_share_decay(const struct sched *s, struct worker *w, uint64_t now_ms)
{
	if (now_ms <= w->share_ms)
		return;
	double f = exp(-(double)(now_ms - w->share_ms) / s->c.share_window_ms);

	for (uint16_t i = 0; i < w->nshare; i++)
		w->share[i].ns *= f;
	w->share_ms = now_ms;
}

void sched_worker_share_add(const struct sched *s, struct worker *w, uint32_t job, double ns,
			    uint64_t now_ms)
{
	uint16_t i, lo = 0;

	sched_worker_share_decay(s, w, now_ms);
	for (i = 0; i < w->nshare && w->share[i].job != job; i++)
		if (w->share[i].ns < w->share[lo].ns)
			lo = i;
	if (i == w->nshare) {
		if (w->nshare < SCHED_SHARE_MAX)
			w->nshare++;
		else
			i = lo; /* forget the job it served least */
		w->share[i].job = job;
		w->share[i].ns = 0;
	}
	w->share[i].ns += ns;
}

/* --- jobs ----------------------------------------------------------------- */

/*
 * A job that had no queued work and now has some starts from the lowest
 * count of the jobs with work (or, when none has, of the latest pick): it
 * neither starves them nor gets a burst for the time it asked nothing.
 */
void sched_job_wake(struct sched *s, struct job *j)
{
	double lo = INFINITY;

	if (j->stopped)
		return;
	for (uint32_t i = 0; i < s->nj; i++)
		if (&s->j[i] != j && sched_job_has_work(&s->j[i]) && s->j[i].norm < lo)
			lo = s->j[i].norm;
	if (lo == INFINITY)
		lo = s->vclock;
	if (j->norm < lo)
		j->norm = lo;
}

static int weight_ok(double weight)
{
	return weight > 0 && weight < 1e9;
}

int sched_job_add(struct sched *s, uint32_t id, double weight, uint16_t batch, uint64_t now_ms)
{
	uint32_t ji;
	struct job *j;

	if (id == UINT32_MAX || !weight_ok(weight) || !batch || batch > SCHED_BATCH_MAX)
		return -EINVAL;
	if (sched_lookup(&s->jmap, id) >= 0)
		return -EEXIST;
	for (ji = 0; ji < s->nj && s->j[ji].used; ji++)
		;
	if (ji == s->nj)
		s->j = xrealloc(s->j, ++s->nj * sizeof(*s->j));
	j = &s->j[ji];
	*j = (struct job){.id = id,
			  .used = 1,
			  .batch = batch,
			  .weight = weight,
			  .cost_ns = (double)s->c.cost_init_ns,
			  .added_ms = now_ms};
	sched_table_add(&s->jmap, id, 0, ji + 1);
	s->njobs++;
	return 0;
}

int sched_job_set_weight(struct sched *s, uint32_t id, double weight)
{
	struct job *j = sched_job_get(s, id);

	if (!j)
		return -ENOENT;
	if (!weight_ok(weight))
		return -EINVAL;
	j->weight = weight; /* counts from now on grow by 1 / the new weight */
	return 0;
}

int sched_job_set_batch(struct sched *s, uint32_t id, uint16_t batch)
{
	struct job *j = sched_job_get(s, id);

	if (!j)
		return -ENOENT;
	if (!batch || batch > SCHED_BATCH_MAX)
		return -EINVAL;
	j->batch = batch;
	return 0;
}

int sched_job_stop(struct sched *s, uint32_t id)
{
	struct job *j = sched_job_get(s, id);

	if (!j)
		return -ENOENT;
	j->stopped = 1;
	return 0;
}

int sched_job_remove(struct sched *s, uint32_t id)
{
	int32_t ji = sched_lookup(&s->jmap, id);
	struct table old = s->qt;

	if (ji < 0)
		return -ENOENT;
	/* its running batches run on, orphaned: they will only free their slot */
	for (uint32_t i = 0; i < s->nb; i++) {
		struct batch *b = &s->b[i];

		if (b->used && b->job == ji) {
			b->job = -1;
			if (b->hidx >= 0)
				sched_heap_remove(s, H_DEADLINE, (int32_t)i);
		}
	}
	/* its query records go: the table is rebuilt without them */
	sched_table_init(&s->qt, old.mask + 1);
	for (uint32_t i = 0; i <= old.mask; i++)
		if (old.a[i].v && old.a[i].k2 != id)
			sched_table_put(&s->qt, old.a[i]);
	free(old.a);
	free(s->j[ji].q.a);
	memset(&s->j[ji], 0, sizeof(s->j[ji]));
	sched_table_del(&s->jmap, sched_table_find(&s->jmap, id, 0));
	s->njobs--;
	return 0;
}

int sched_enqueue(struct sched *s, uint32_t id, uint64_t query, uint64_t now_ms)
{
	struct job *j = sched_job_get(s, id);

	if (!j)
		return -ENOENT;
	if (j->stopped)
		return -ESHUTDOWN;
	if (sched_table_find(&s->qt, query, id))
		return -EEXIST;
	if (j->queued >= s->c.queue_max)
		return -ENOSPC;
	sched_table_add(&s->qt, query, id,
			sched_qr_pack((struct qrec){.state = Q_QUEUED, .inq = 1}));
	sched_dq_push_back(&j->q, query);
	if (j->queued++ == 0) {
		sched_job_wake(s, j);
		if (!j->inflight)
			j->express = 1; /* it starts: new, or idle until now */
	}
	return 0;
}
