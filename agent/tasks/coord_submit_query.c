/*
 * coord_submit_query.c - a submitter's SUBMITs and the results streamed
 * back (see coord_submit.c): one QUERIES_ACCEPTED record per SUBMIT of the
 * queries that fit, the NEW ones queued in the scheduler, one ACK per
 * SUBMIT, the results of ANSWERED ones sent again from the results held in
 * memory, and each RESULTS record's client answers streamed to their
 * submitters' connections.
 */
#include "tasks/coord_submit_int.h"

#include "core/log.h"
#include "core/loop.h"
#include "err.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void push_results(struct sconn *s, uint64_t seq)
{
	struct coord_sub *sub = s->sub;
	int n;

	if (!sub->res.n)
		return;
	n = sub_results_encode(&sub->res, sub->buf, sizeof(sub->buf));
	if (n > 0)
		sub_push(s, seq, sub->buf, (size_t)n);
	sub->n_results += sub->res.n;
	sub->res.n = 0;
}

/* ---- submitting ---- */

static int name_cmp(const void *a, const void *b, void *arg)
{
	const struct dataset_image *im = arg;

	return strcmp(im[*(const uint32_t *)a].name, im[*(const uint32_t *)b].name);
}

/* The image called name in job j, or -1. */
static int64_t image_by_name(struct coord_sub *sub, struct cjob *j, uint32_t num, const char *name)
{
	struct names *nm = &sub->names[num - 1];
	uint32_t lo = 0, hi;

	if (nm->images != j->ix.images || nm->n != j->ix.nimages) {
		free(nm->order);
		nm->images = j->ix.images;
		nm->n = j->ix.nimages;
		nm->order = xmalloc((nm->n + 1) * sizeof(*nm->order));
		for (uint32_t i = 0; i < nm->n; i++)
			nm->order[i] = i;
		qsort_r(nm->order, nm->n, sizeof(*nm->order), name_cmp, (void *)nm->images);
	}
	for (hi = nm->n; lo < hi;) {
		uint32_t mid = lo + (hi - lo) / 2;
		int d = strcmp(nm->images[nm->order[mid]].name, name);
		if (d == 0)
			return nm->order[mid];
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The results of the ANSWERED queries in the ack (their cqids in want,
 * sorted) found in memory go into sub->res; the others are said stored. */
static void answer_again(struct sconn *s, const struct coord_job_info *ji, uint64_t *want, int nw)
{
	struct coord_sub *sub = s->sub;
	uint8_t found[SUB_Q_MAX] = {0};
	uint64_t from = ji->persisted + 1;
	int n;

	qsort(want, (size_t)nw, sizeof(*want), u64_cmp);
	do {
		n = coord_state_results(sub->c->st, s->id, from, sub->page, PAGE);
		for (int i = 0; i < n; i++) {
			const struct coord_result *r = &sub->page[i];
			uint64_t *w;
			if (r->client != s->client || !(r->a.qid & COORD_QID_CLIENT))
				continue;
			w = bsearch(&r->cqid, want, (size_t)nw, sizeof(*want), u64_cmp);
			if (w && !found[w - want] && sub->res.n < SUB_Q_MAX) {
				found[w - want] = 1;
				sub->res.r[sub->res.n++] = (struct sub_result){
					.cqid = r->cqid, .image = r->image, .a = r->a};
			}
		}
		from = n > 0 ? sub->page[n - 1].rseq + 1 : from;
	} while (n == PAGE);
	for (int i = 0; i < sub->ack.n; i++) {
		uint64_t *w;
		if (sub->ack.status[i] != SUB_ANSWERED)
			continue;
		w = bsearch(&sub->ack.cqid[i], want, (size_t)nw, sizeof(*want), u64_cmp);
		if (!w || !found[w - want])
			sub->ack.status[i] = SUB_ANSWERED_STORED;
	}
}

static uint8_t refusal(int err)
{
	if (err == IDN_ENOJOB)
		return SUB_NO_JOB;
	if (err == -ESHUTDOWN)
		return SUB_STOPPED;
	if (err == -EINVAL)
		return SUB_BAD_IMAGE;
	return SUB_BUSY;
}

void sub_on_submit(struct sconn *s)
{
	struct coord_sub *sub = s->sub;
	struct coord *c = sub->c;
	struct sub_submit *in = &sub->in;
	struct sub_ack *ack = &sub->ack;
	struct coord_rec *rec = &sub->rec;
	struct cjob *j = coord_job_by_id(c, s->id);
	struct coord_job_info ji;
	struct sched_job_info si;
	struct sched_config cfg;
	uint64_t now = loop_now_ms(), want[SUB_Q_MAX];
	int idx[SUB_Q_MAX], nw = 0, news = 0, ret = 0;
	int64_t room;

	sched_config_default(&cfg);
	ack->tag = in->tag;
	ack->n = in->n;
	rec->type = COORD_REC_QUERIES_ACCEPTED;
	snprintf(rec->job, sizeof(rec->job), "%s", s->id);
	rec->u.accept.client = s->client;
	rec->u.accept.n = 0;
	sub->n_queries += in->n;
	if (!j || coord_state_job(c->st, s->id, &ji) || sched_job_info(c->sched, s->job, now, &si))
		ret = IDN_ENOJOB;
	else if (ji.stopped)
		ret = -ESHUTDOWN;
	room = ret ? 0 : (int64_t)(c->env.queue_max ? c->env.queue_max : cfg.queue_max) - si.queued;
	room = MIN(room, ret ? 0 : (int64_t)COORD_PENDING_MAX - ji.pending);
	for (int i = 0; i < in->n; i++) {
		const struct sub_query *q = &in->q[i];
		int64_t img = q->image;
		ack->cqid[i] = q->cqid;
		idx[i] = -1;
		if (ret) {
			ack->status[i] = refusal(ret);
			continue;
		}
		if (q->by_name)
			img = image_by_name(sub, j, s->job, q->name);
		if (img < 0 || img >= j->set.images) {
			ack->status[i] = SUB_BAD_IMAGE;
		} else if (coord_state_client_accepted(c->st, s->id, s->client, q->cqid) != 1 &&
			   room-- <= 0) {
			ack->status[i] = SUB_BUSY;
			sub->n_busy++;
		} else {
			idx[i] = rec->u.accept.n;
			rec->u.accept.q[rec->u.accept.n++] =
				(struct coord_accept_q){q->cqid, (uint32_t)img};
		}
	}
	ret = rec->u.accept.n ? coord_record(c, rec, &sub->eff) : 0;
	for (int i = 0; i < in->n; i++) {
		int k = idx[i];
		if (k < 0)
			continue;
		if (ret) {
			ack->status[i] = refusal(ret);
		} else if (sub->eff.verdict[k] == COORD_NEW) {
			int e = sched_enqueue(c->sched, s->job, sub->eff.qid[k], now);
			if (e && e != -EEXIST)
				log_msg(LOG_WARN, "coordinator: job %s: query %llx not queued: %s",
					s->id, (unsigned long long)sub->eff.qid[k], strerror(-e));
			ack->status[i] = SUB_ACCEPTED;
			news++;
		} else if (sub->eff.verdict[k] == COORD_ANSWERED) {
			ack->status[i] = SUB_ANSWERED;
			want[nw++] = ack->cqid[i];
		} else {
			ack->status[i] = SUB_PENDING;
		}
	}
	sub->res.n = 0;
	if (nw)
		answer_again(s, &ji, want, nw);
	ret = sub_ack_encode(ack, sub->buf, sizeof(sub->buf));
	if (ret > 0)
		sub_push(s, sub_state_seq(c), sub->buf, (size_t)ret);
	push_results(s, sub_state_seq(c));
	if (news)
		coord_pump(c);
	coord_submit_durable(c, coord_durable_seq(c)); /* at once without a standby */
}

void coord_submit_results(struct coord *c, const char *job, uint64_t from)
{
	struct coord_sub *sub = c->sub;
	struct coord_job_info ji;
	int n = 0, any = 0;

	if (!sub || coord_state_job(c->st, job, &ji))
		return;
	for (int i = 0; i < SUB_CONNS_MAX && !any; i++)
		any = sub->s[i].used && sub->s[i].job == ji.num;
	if (any)
		n = coord_state_results(c->st, job, from + 1, sub->page, SUB_Q_MAX);
	for (int i = 0; i < SUB_CONNS_MAX && n > 0; i++) {
		struct sconn *s = &sub->s[i];
		if (!s->used || s->job != ji.num)
			continue;
		sub->res.n = 0;
		for (int k = 0; k < n; k++) {
			const struct coord_result *r = &sub->page[k];
			if (r->client == s->client && (r->a.qid & COORD_QID_CLIENT))
				sub->res.r[sub->res.n++] = (struct sub_result){
					.cqid = r->cqid, .image = r->image, .a = r->a};
		}
		push_results(s, sub_state_seq(c));
	}
}
