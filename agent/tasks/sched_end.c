/*
 * sched_end.c - the ends of the scheduler's batches (sched.h): a query's
 * copy ending (done, duplicate, retry, failed for good) or abandoned,
 * sched_result (stale results included) and the re-queueing of a removed
 * worker's queries.
 */
#include "tasks/sched_int.h"
#include "util.h"

#include <errno.h>

/* A copy of a query stopped running without an answer (its worker is gone). */
static void query_abandon(struct sched *s, struct job *j, uint64_t id)
{
	struct slot *e = sched_table_find(&s->qt, id, j->id);
	struct qrec r;

	ASSERT(e);
	r = sched_qr_get(e);
	ASSERT(r.copies > 0);
	r.copies--;
	if (r.state == Q_RUNNING && !r.copies)
		sched_job_requeue(s, j, e, r);
	else if (r.state == Q_DONE && !r.copies && !r.inq)
		sched_table_del(&s->qt, e);
	else
		sched_qr_set(e, r);
}

/* A copy of a query ended with status.  Returns its verdict. */
static enum sched_verdict query_end(struct sched *s, struct job *j, uint64_t id, int status,
				    uint64_t now_ms)
{
	struct slot *e = sched_table_find(&s->qt, id, j->id);
	struct qrec r;

	ASSERT(e);
	r = sched_qr_get(e);
	ASSERT(r.copies > 0);
	r.copies--;
	if (r.state == Q_DONE) {
		s->duplicates++;
		if (!r.copies && !r.inq)
			sched_table_del(&s->qt, e);
		else
			sched_qr_set(e, r);
		return SCHED_DUP;
	}
	ASSERT(r.state == Q_RUNNING);
	if (!status) {
		r.state = Q_DONE;
		j->inflight--;
		sched_job_count_done(s, j, now_ms);
		if (!r.copies && !r.inq)
			sched_table_del(&s->qt, e);
		else
			sched_qr_set(e, r);
		return SCHED_DONE;
	}
	if (r.tries < UINT16_MAX)
		r.tries++;
	if (r.copies) { /* another copy may still complete it */
		sched_qr_set(e, r);
		return SCHED_RETRY;
	}
	if (r.tries > s->c.retry_max) {
		j->inflight--;
		j->failed++;
		sched_table_del(&s->qt, e);
		return SCHED_FAILED;
	}
	j->retried++;
	sched_job_requeue(s, j, e, r);
	return SCHED_RETRY;
}

/* --- ends: worker removal, results ------------------------------------------ */

int sched_worker_remove(struct sched *s, uint32_t id, uint64_t now_ms)
{
	int32_t wi = sched_lookup(&s->wmap, id), bi, prev;
	struct worker *w;
	int back = 0;

	if (wi < 0)
		return -ENOENT;
	w = &s->w[wi];
	/* newest batch first, each query last first: the oldest ends up in front */
	for (bi = w->btail; bi >= 0; bi = prev) {
		struct batch *b = &s->b[bi];

		prev = b->wprev;
		if (b->job >= 0) {
			struct job *j = &s->j[b->job];
			uint32_t queued = j->queued;

			for (int i = b->n - 1; i >= 0; i--)
				query_abandon(s, j, b->q[i]);
			back += (int)(j->queued - queued);
			if (!queued && j->queued)
				sched_job_wake(s, j);
		}
		sched_batch_end(s, bi, now_ms);
	}
	sched_heap_remove(s, H_FREE, wi);
	s->slots -= w->slots;
	s->nworkers--;
	sched_table_del(&s->wmap, sched_table_find(&s->wmap, id, 0));
	w->used = 0;
	w->hidx = s->wfree;
	s->wfree = wi;
	return back;
}

/* A result for no running batch of that worker: completed queries still
 * tracked count, nothing else changes. */
static int result_stale(struct sched *s, const struct sched_result *r, uint64_t now_ms,
			uint8_t *verdict)
{
	struct job *j = sched_job_get(s, r->job);

	s->stale++;
	for (uint16_t i = 0; i < r->n; i++) {
		struct slot *e = j ? sched_table_find(&s->qt, r->a[i].query, j->id) : NULL;
		struct qrec q;

		verdict[i] = SCHED_STALE;
		if (!e)
			continue;
		q = sched_qr_get(e);
		if (q.state == Q_DONE) {
			verdict[i] = SCHED_DUP;
			s->duplicates++;
			continue;
		}
		if (r->a[i].status)
			continue;
		if (q.state == Q_QUEUED) { /* its id stays in the queue, skipped there */
			j->queued--;
			j->norm += 1 / j->weight;
		} else {
			j->inflight--; /* its running copies will come back duplicates */
		}
		q.state = Q_DONE;
		sched_qr_set(e, q);
		sched_job_count_done(s, j, now_ms);
		verdict[i] = SCHED_DONE;
	}
	return -ESTALE;
}

int sched_result(struct sched *s, const struct sched_result *r, uint64_t now_ms, uint8_t *verdict)
{
	int32_t bi = sched_lookup(&s->bmap, r->batch), wi = sched_lookup(&s->wmap, r->worker);
	struct batch *b;
	struct job *j;
	uint32_t queued;
	uint16_t n;

	if (bi < 0 || s->b[bi].worker != wi)
		return result_stale(s, r, now_ms, verdict);
	b = &s->b[bi];
	if (b->job < 0 || s->j[b->job].id != r->job) {
		if (b->job < 0) { /* its job was removed: the slot is free all the same */
			s->w[wi].batches++;
			sched_batch_end(s, bi, now_ms);
		}
		return result_stale(s, r, now_ms, verdict);
	}
	j = &s->j[b->job];
	n = b->n;
	for (uint16_t i = 0; i < r->n; i++)
		verdict[i] = SCHED_STALE; /* an answer for no query of the batch */
	if (r->service_ns && n) {
		double sample = (double)r->service_ns / n;

		if (!j->measured)
			j->cost_ns = sample;
		else
			j->cost_ns += (sample - j->cost_ns) / s->c.cost_ewma_div;
		j->measured = 1;
	}
	sched_worker_share_add(s, &s->w[wi], j->id, j->cost_ns * n, now_ms);
	s->w[wi].batches++;

	/* last query first, so that retried ones keep their order at the front */
	queued = j->queued;
	for (int i = n - 1; i >= 0; i--) {
		int k = i < r->n && r->a[i].query == b->q[i] ? i : -1;
		int status = -EIO; /* left out of the result: failed */

		for (int m = 0; k < 0 && m < r->n; m++)
			if (r->a[m].query == b->q[i])
				k = m;
		if (k >= 0)
			status = r->a[k].status;
		enum sched_verdict v = query_end(s, j, b->q[i], status, now_ms);
		if (k >= 0)
			verdict[k] = (uint8_t)v;
	}
	if (!queued && j->queued)
		sched_job_wake(s, j);
	sched_batch_end(s, bi, now_ms);
	return 0;
}
