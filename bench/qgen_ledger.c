/*
 * qgen_ledger.c - qgen's ledger and its check (see qgen_ledger.h).
 */
#include "qgen_ledger.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

void ledger_init(struct ledger *l)
{
	memset(l, 0, sizeof(*l));
}

void ledger_free(struct ledger *l)
{
	free(l->q);
	memset(l, 0, sizeof(*l));
}

uint64_t ledger_add(struct ledger *l, uint32_t image, uint64_t t_sched)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 1024;
		l->q = xrealloc(l->q, l->cap * sizeof(*l->q));
	}
	l->q[l->n] = (struct lq){.image = image,
				 .ack = SUB_STATUS_MAX,
				 .t_sched = t_sched,
				 .t_sub = LEDGER_NONE,
				 .t_ack = LEDGER_NONE,
				 .t_ans = LEDGER_NONE};
	return l->n++;
}

void ledger_sent(struct ledger *l, uint64_t cqid, uint64_t t)
{
	struct lq *q = &l->q[cqid];

	if (q->sent) {
		q->resubmits++;
		l->resubmits++;
	} else {
		q->sent = 1;
		q->t_sub = t;
	}
}

int ledger_refused(uint8_t status)
{
	return status == SUB_BUSY || status == SUB_BAD_IMAGE || status == SUB_NO_JOB ||
	       status == SUB_STOPPED;
}

int ledger_final(const struct ledger *l, uint64_t cqid)
{
	const struct lq *q = &l->q[cqid];

	return q->answers || q->ack == SUB_ANSWERED_STORED ||
	       (!q->taken && q->ack < SUB_STATUS_MAX && ledger_refused(q->ack));
}

static void unexpected(struct ledger *l, uint64_t cqid)
{
	if (l->unexpected < LEDGER_UNEXPECTED_KEPT)
		l->unexpected_cqid[l->unexpected] = cqid;
	l->unexpected++;
}

int ledger_ack(struct ledger *l, uint64_t cqid, uint8_t status, uint64_t t)
{
	int was;

	if (cqid >= l->n || !l->q[cqid].sent || status >= SUB_STATUS_MAX) {
		unexpected(l, cqid);
		return 0;
	}
	was = ledger_final(l, cqid);
	if (l->q[cqid].t_ack == LEDGER_NONE)
		l->q[cqid].t_ack = t;
	/* a query answered already keeps its answer (a re-submission says so) */
	if (!l->q[cqid].answers)
		l->q[cqid].ack = status;
	if (!ledger_refused(status))
		l->q[cqid].taken = 1;
	return !was && ledger_final(l, cqid);
}

static int same(const struct coord_answer *x, const struct coord_answer *y)
{
	if (x->qid != y->qid || x->status != y->status || !wire_addr_eq(x->worker, y->worker))
		return 0;
	for (int k = 0; k < COORD_TOP && !x->status; k++)
		if (x->cls[k] != y->cls[k] || x->prob[k] != y->prob[k])
			return 0;
	return 1;
}

int ledger_answer(struct ledger *l, const struct sub_result *r, uint64_t t)
{
	struct lq *q;
	int was;

	if (r->cqid >= l->n || !l->q[r->cqid].sent ||
	    (!l->q[r->cqid].taken && l->q[r->cqid].ack < SUB_STATUS_MAX)) {
		unexpected(l, r->cqid);
		return 0;
	}
	q = &l->q[r->cqid];
	was = ledger_final(l, r->cqid);
	if (!q->answers) {
		q->a = r->a;
		q->t_ans = t;
	} else if (!same(&q->a, &r->a)) {
		q->duplicated = 1;
	}
	if (q->answers < 255)
		q->answers++;
	return !was;
}

void ledger_check(const struct ledger *l, struct ledger_verdict *v)
{
	memset(v, 0, sizeof(*v));
	for (uint64_t i = 0; i < l->n; i++) {
		const struct lq *q = &l->q[i];
		int acked = q->ack < SUB_STATUS_MAX;
		if (!q->sent)
			continue;
		v->submitted++;
		v->acknowledged += acked;
		v->stored += !q->answers && q->ack == SUB_ANSWERED_STORED;
		if (q->answers || q->ack == SUB_ANSWERED_STORED) {
			v->answered++;
		} else if (q->taken) {
			v->lost++;
		} else if (acked) {
			v->refused++;
			v->busy += q->ack == SUB_BUSY;
		} else {
			v->unacked++;
		}
		v->failed += q->answers && q->a.status != 0;
		v->duplicated += q->duplicated;
	}
	v->unexpected = l->unexpected;
	v->resubmitted = l->resubmits;
}

int ledger_clean(const struct ledger_verdict *v)
{
	return !v->lost && !v->duplicated && !v->unexpected && !v->unacked;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t ledger_latency(const struct ledger *l, double p[5])
{
	static const double at[4] = {0.50, 0.90, 0.99, 0.999};
	uint64_t *lat = xmalloc((l->n + 1) * sizeof(*lat)), n = 0;

	for (uint64_t i = 0; i < l->n; i++)
		if (l->q[i].answers && l->q[i].t_ans >= l->q[i].t_sched)
			lat[n++] = l->q[i].t_ans - l->q[i].t_sched;
	if (n) {
		qsort(lat, n, sizeof(*lat), u64_cmp);
		for (int k = 0; k < 4; k++) { /* nearest rank */
			uint64_t r = (uint64_t)(at[k] * (double)n + 0.999999);
			p[k] = (double)lat[(r ? r : 1) - 1];
		}
		p[4] = (double)lat[n - 1];
	}
	free(lat);
	return n;
}
