/*
 * sched_run.c - the scheduler's decisions (sched.h): taking a job's
 * queued queries into a batch, starting and ending batches, sched_pop
 * (the fairest job's batch on a free slot, a speculative copy of an
 * overrun one on another worker, or an express batch for a starting job
 * when no slot is free).  Results and worker removal: sched_end.c.
 */
#include "tasks/sched_int.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* --- taking queries ---------------------------------------------------------- */

/* Counts a completion of j in the rate window's bucket of now_ms. */
void sched_job_count_done(const struct sched *s, struct job *j, uint64_t now_ms)
{
	uint64_t bw = s->c.rate_window_ms / SCHED_RATE_BUCKETS, idx = now_ms / bw;
	int i = (int)(idx % SCHED_RATE_BUCKETS);

	j->completed++;
	if (j->rate[i].idx != idx) {
		j->rate[i].idx = idx;
		j->rate[i].count = 0;
	}
	j->rate[i].count++;
}

/* Moves up to max queued queries of j into q, as running. */
static uint16_t job_take(struct sched *s, struct job *j, uint64_t *q, uint16_t max)
{
	uint16_t n = 0;

	while (n < max && j->queued > 0) {
		uint64_t id = sched_dq_pop_front(&j->q);
		struct slot *e = sched_table_find(&s->qt, id, j->id);
		struct qrec r;

		ASSERT(e);
		r = sched_qr_get(e);
		r.inq = 0;
		if (r.state == Q_DONE) { /* completed by a late result while queued */
			if (r.copies)
				sched_qr_set(e, r);
			else
				sched_table_del(&s->qt, e);
			continue;
		}
		ASSERT(r.state == Q_QUEUED && !r.copies);
		r.state = Q_RUNNING;
		r.copies = 1;
		sched_qr_set(e, r);
		j->queued--;
		j->inflight++;
		q[n++] = id;
	}
	j->norm += n / j->weight;
	if (n)
		j->express = 0; /* dispatched: its start is over */
	return n;
}

/* A running query of j goes back to the front of its queue. */
void sched_job_requeue(struct sched *s, struct job *j, struct slot *e, struct qrec r)
{
	r.state = Q_QUEUED;
	r.inq = 1;
	sched_qr_set(e, r);
	sched_dq_push_front(&j->q, e->k);
	j->inflight--;
	j->queued++;
	j->norm -= 1 / j->weight;
}

/* --- batches ------------------------------------------------------------- */

static int32_t batch_alloc(struct sched *s)
{
	int32_t bi;

	if (s->bfree >= 0) {
		bi = s->bfree;
		s->bfree = s->b[bi].hidx;
	} else {
		if ((s->nb & (s->nb - 1)) == 0)
			s->b = xrealloc(s->b, (s->nb ? 2 * s->nb : 1) * sizeof(*s->b));
		bi = (int32_t)s->nb++;
		s->b[bi] = (struct batch){0};
	}
	return bi;
}

/* Starts batch bi (its queries in d) on worker wi, and fills the rest of d. */
static void batch_start(struct sched *s, int32_t bi, int32_t wi, int32_t ji, uint64_t copy_of,
			uint8_t express, struct sched_dispatch *d, uint64_t now_ms)
{
	struct batch *b = &s->b[bi];
	struct worker *w = &s->w[wi];
	struct job *j = &s->j[ji];
	uint64_t expect = (uint64_t)(j->cost_ns * d->n), ms;

	if (b->cap < d->n) {
		free(b->q);
		b->cap = SCHED_BATCH_MAX;
		b->q = xmalloc(b->cap * sizeof(*b->q));
	}
	memcpy(b->q, d->q, d->n * sizeof(*b->q));
	b->id = s->next_batch++;
	b->copy_of = copy_of;
	b->worker = wi;
	b->job = ji;
	b->n = d->n;
	b->used = 1;
	b->expect_ns = expect;
	b->express = express;
	b->hidx = -1;
	sched_table_add(&s->bmap, b->id, 0, (uint32_t)bi + 1);

	if (w->bhead < 0)
		w->run_ms = now_ms; /* it starts at once */
	b->wnext = -1;
	b->wprev = w->btail;
	if (w->btail >= 0)
		s->b[w->btail].wnext = bi;
	else
		w->bhead = bi;
	w->btail = bi;
	w->expect_ns += expect;
	if (express) { /* beyond the worker's slots */
		w->nexpress++;
		s->expresses++;
	} else {
		w->busy++;
		if (w->busy == w->slots)
			sched_heap_remove(s, H_FREE, wi);
		else
			sched_heap_fix(s, H_FREE, wi);
		s->busy++;
	}
	s->running++;
	s->decisions++;

	/* it overruns after factor x the time it should take behind the worker's others */
	if (copy_of) {
		b->deadline_ms = SCHED_NEVER; /* a copy is not copied again */
	} else {
		ms = (uint64_t)((double)s->c.overrun_factor * (double)w->expect_ns / 1e6) + 1;
		b->deadline_ms = now_ms + MAX(ms, (uint64_t)s->c.overrun_floor_ms);
		sched_heap_push(s, H_DEADLINE, bi);
	}
	d->worker = w->id;
	d->job = j->id;
	d->batch = b->id;
	d->copy_of = copy_of;
	d->express = express;
	d->deadline_ms = b->deadline_ms;
}

/* Forgets batch bi at now_ms: off its worker (whose slot is free again,
 * unless it was an express batch), its heap, its id. */
void sched_batch_end(struct sched *s, int32_t bi, uint64_t now_ms)
{
	struct batch *b = &s->b[bi];
	struct worker *w = &s->w[b->worker];

	if (b->wprev >= 0)
		s->b[b->wprev].wnext = b->wnext;
	else
		w->bhead = b->wnext;
	if (b->wnext >= 0)
		s->b[b->wnext].wprev = b->wprev;
	else
		w->btail = b->wprev;
	w->expect_ns -= b->expect_ns;
	w->run_ms = now_ms; /* its next batch starts now */
	if (b->express) {
		w->nexpress--;
	} else {
		w->busy--;
		w->seq = ++s->seq;
		if (w->hidx >= 0)
			sched_heap_fix(s, H_FREE, b->worker);
		else
			sched_heap_push(s, H_FREE, b->worker);
		s->busy--;
	}
	s->running--;
	if (b->hidx >= 0)
		sched_heap_remove(s, H_DEADLINE, bi);
	sched_table_del(&s->bmap, sched_table_find(&s->bmap, b->id, 0));
	b->used = 0;
	b->hidx = s->bfree;
	s->bfree = bi;
}

/* --- decisions --------------------------------------------------------------- */

/* A copy of the first overrun batch that can have one, on another worker. */
static int pop_copy(struct sched *s, uint64_t now_ms, struct sched_dispatch *d)
{
	while (s->spec.len) {
		int32_t bi = sched_lookup(&s->bmap, s->spec.a[s->spec.head]), wi, ji;
		struct batch *b;

		if (bi < 0 || s->b[bi].job < 0) { /* finished meanwhile, or job removed */
			sched_dq_pop_front(&s->spec);
			continue;
		}
		b = &s->b[bi];
		wi = sched_worker_best_except(s, b->worker);
		if (wi < 0)
			return 0; /* it waits for a slot elsewhere */
		sched_dq_pop_front(&s->spec);
		ji = b->job;
		d->n = 0;
		for (uint16_t i = 0; i < b->n; i++) {
			struct slot *e = sched_table_find(&s->qt, b->q[i], s->j[ji].id);
			struct qrec r = sched_qr_get(e);

			if (r.state != Q_RUNNING)
				continue;
			r.copies++;
			sched_qr_set(e, r);
			d->q[d->n++] = b->q[i];
		}
		if (!d->n)
			continue;
		uint64_t copy_of = b->id;
		batch_start(s, batch_alloc(s), wi, ji, copy_of, 0, d, now_ms);
		s->speculations++;
		return 1;
	}
	return 0;
}

/* The job an express batch is for: the first with queued work, nothing in
 * flight and its express chance still armed (a start), or NULL. */
static struct job *express_job(struct sched *s)
{
	for (uint32_t i = 0; i < s->nj; i++)
		if (s->j[i].express && !s->j[i].inflight && sched_job_has_work(&s->j[i]))
			return &s->j[i];
	return NULL;
}

/* The worker expected to end its running batch soonest (the time its
 * oldest batch started, from the dispatch or the result before it, plus
 * that batch's expected time), among those with no express batch; ties
 * go to the lowest index.  -1 if none. */
static int32_t express_worker(const struct sched *s)
{
	int32_t best = -1;
	uint64_t best_end = SCHED_NEVER;

	for (uint32_t i = 0; i < s->nw; i++) {
		const struct worker *w = &s->w[i];
		uint64_t end;

		if (!w->used || w->nexpress || w->bhead < 0)
			continue;
		end = w->run_ms + s->b[w->bhead].expect_ns / 1000000;
		if (best < 0 || end < best_end) {
			best = (int32_t)i;
			best_end = end;
		}
	}
	return best;
}

/* Takes a batch of j and starts it on wi. */
static void pop_job(struct sched *s, struct job *j, int32_t wi, uint8_t express,
		    struct sched_dispatch *d, uint64_t now_ms)
{
	double from = j->norm;

	d->n = job_take(s, j, d->q, j->batch);
	ASSERT(d->n > 0);
	if (from > s->vclock)
		s->vclock = from;
	batch_start(s, batch_alloc(s), wi, (int32_t)(j - s->j), 0, express, d, now_ms);
}

int sched_pop(struct sched *s, uint64_t now_ms, struct sched_dispatch *d)
{
	struct job *best = NULL;
	int32_t wi;

	/* batches overrun by now wait for a copy (in the order they overran) */
	while (s->dh.n && s->b[s->dh.a[0]].deadline_ms <= now_ms) {
		int32_t bi = s->dh.a[0];

		sched_heap_remove(s, H_DEADLINE, bi);
		sched_dq_push_back(&s->spec, s->b[bi].id);
	}
	if (!s->fh.n) { /* no free slot: an express batch for a starting job */
		best = express_job(s);
		if (!best || (wi = express_worker(s)) < 0)
			return 0;
		pop_job(s, best, wi, 1, d, now_ms);
		return 1;
	}
	if (pop_copy(s, now_ms, d))
		return 1;
	for (uint32_t i = 0; i < s->nj; i++)
		if (sched_job_has_work(&s->j[i]) && (!best || s->j[i].norm < best->norm))
			best = &s->j[i];
	if (!best)
		return 0;
	pop_job(s, best, s->fh.a[0], 0, d, now_ms);
	return 1;
}

uint64_t sched_next_deadline(const struct sched *s)
{
	return s->dh.n ? s->b[s->dh.a[0]].deadline_ms : SCHED_NEVER;
}
