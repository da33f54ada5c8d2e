/*
 * coord_submit.c - client query submission on the coordinator (docs/tasks.md,
 * "Client query submission"; messages in submit_wire.h).
 *
 * A submitter's connection opens with COORD_RPC_SUBMIT (job, client id)
 * and stays open.  Each SUBMIT becomes one QUERIES_ACCEPTED record of the
 * queries that fit (coord_log.h): the NEW ones are queued in the
 * scheduler, and one ACK answers the SUBMIT, query by query; an ANSWERED
 * one has its result sent again from the results in memory (or is said to
 * be in SDFS only).  Each RESULTS record streams its client queries'
 * results to their submitters' connections, found by (job, client id): a
 * client that reconnects with the same id gets the results of its pending
 * queries there, and one that is gone leaves them in the state.
 *
 * Durability: every ACK and RESULT is queued with the seq of the state
 * when it was made and leaves only once coord_submit_durable() says the
 * records up to that seq are on the standby.
 *
 * Limits: "busy" (SUB_BUSY) when the scheduler's queue (queue_max) or the
 * job's pending client queries (COORD_PENDING_MAX) have no room; at most
 * SUB_CONNS_MAX connections; per connection SUB_OUT_MAX bytes queued
 * (reading its SUBMITs pauses at half of it, a connection past it is a
 * slow reader and is closed).
 */
#include "tasks/coord_int.h"

#include "core/conn.h"
#include "core/log.h"
#include "core/loop.h"
#include "err.h"
#include "tasks/submit_wire.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUB_CONNS_MAX 256		/* submitters' connections at once */
#define SUB_OUT_MAX   (8u << 20)	/* bytes queued to one: beyond, a slow reader */
#define SUB_PAUSE     (SUB_OUT_MAX / 2) /* its SUBMITs are not read above this */
#define SUB_INFLIGHT  32		/* frames handed to the connection at once */
#define SEND_MS	      10000
#define FRAME_MAX     (WIRE_HDR_LEN + SUB_SUBMIT_MAX + WIRE_TAG_LEN)
#define PAGE	      1024 /* results read at a time to answer again */

struct outf {
	struct outf *next;
	uint64_t seq; /* may leave once the records up to seq are durable */
	size_t len;
	uint8_t p[];
};

struct sconn {
	uint8_t used, reading, closing;
	struct coord_sub *sub;
	struct conn *conn;
	uint32_t job; /* its number */
	char id[COORD_JOB_ID_MAX + 1];
	uint64_t client;
	struct outf *head, *tail;
	size_t held, sent; /* bytes queued here, handed to the connection */
	int inflight;
};

struct names {
	const struct dataset_image *images; /* the index they were sorted from */
	uint32_t n, *order;		    /* image numbers sorted by name */
};

struct coord_sub {
	struct coord *c;
	struct sconn s[SUB_CONNS_MAX];
	uint64_t durable;
	struct names names[COORD_JOBS_MAX]; /* by job number - 1, built at a first name */
	uint64_t n_opened, n_queries, n_busy, n_results, n_slow;
	/* scratch */
	struct sub_submit in;
	struct sub_ack ack;
	struct sub_results res;
	struct coord_rec rec;
	struct coord_effect eff;
	struct coord_result page[PAGE];
	uint8_t buf[SUB_RESULT_MAX > SUB_ACK_MAX ? SUB_RESULT_MAX : SUB_ACK_MAX];
};

static uint64_t state_seq(struct coord *c)
{
	struct coord_state_info si;

	coord_state_info(c->st, &si);
	return si.seq;
}

/* ---- sending ---- */

static void sc_close(struct sconn *s)
{
	if (s->used && !s->closing) {
		s->closing = 1;
		conn_close(s->conn); /* CONN_EV_CLOSED frees the slot */
	}
}

static void sc_read(struct sconn *s)
{
	if (s->used && !s->reading && !s->closing && s->held + s->sent < SUB_PAUSE) {
		if (conn_recv_frame(s->conn, FRAME_MAX, 0, 0))
			sc_close(s);
		else
			s->reading = 1;
	}
}

static void sc_pump(struct sconn *s)
{
	while (s->used && !s->closing && s->head && s->head->seq <= s->sub->durable &&
	       s->inflight < SUB_INFLIGHT) {
		struct outf *f = s->head;
		s->head = f->next;
		if (!s->head)
			s->tail = NULL;
		s->held -= f->len;
		if (conn_send_frame(s->conn, WIRE_RPC_RESP, f->p, f->len, SEND_MS, f->len)) {
			free(f);
			sc_close(s);
			return;
		}
		s->inflight++;
		s->sent += f->len;
		free(f);
	}
	if (s->used)
		sc_read(s);
}

static void sc_push(struct sconn *s, uint64_t seq, const uint8_t *p, size_t len)
{
	struct outf *f;

	if (!s->used || s->closing)
		return;
	if (s->held + s->sent + len > SUB_OUT_MAX) {
		s->sub->n_slow++;
		log_msg(LOG_WARN,
			"coordinator: submitter %016llx of job %s reads too slowly: closed",
			(unsigned long long)s->client, s->id);
		sc_close(s);
		return;
	}
	f = xmalloc(sizeof(*f) + len);
	*f = (struct outf){.seq = seq, .len = len};
	memcpy(f->p, p, len);
	if (s->tail)
		s->tail->next = f;
	else
		s->head = f;
	s->tail = f;
	s->held += len;
}

static void push_results(struct sconn *s, uint64_t seq)
{
	struct coord_sub *sub = s->sub;
	int n;

	if (!sub->res.n)
		return;
	n = sub_results_encode(&sub->res, sub->buf, sizeof(sub->buf));
	if (n > 0)
		sc_push(s, seq, sub->buf, (size_t)n);
	sub->n_results += sub->res.n;
	sub->res.n = 0;
}

void coord_submit_durable(struct coord *c, uint64_t seq)
{
	struct coord_sub *sub = c->sub;

	if (!sub)
		return;
	sub->durable = MAX(sub->durable, seq);
	for (int i = 0; i < SUB_CONNS_MAX; i++)
		if (sub->s[i].used)
			sc_pump(&sub->s[i]);
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

static void on_submit(struct sconn *s)
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
		sc_push(s, state_seq(c), sub->buf, (size_t)ret);
	push_results(s, state_seq(c));
	if (news)
		coord_pump(c);
	coord_submit_durable(c, state_seq(c));
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
		push_results(s, state_seq(c));
	}
}

/* ---- the connections ---- */

static void sc_free(struct sconn *s)
{
	while (s->head) {
		struct outf *f = s->head;
		s->head = f->next;
		free(f);
	}
	memset(s, 0, sizeof(*s));
}

static void on_conn(void *arg, struct conn *conn, enum conn_ev ev, uint64_t tag, int res)
{
	struct sconn *s = arg;
	struct wire_hdr h;
	const uint8_t *p;
	size_t len;

	if (ev == CONN_EV_CLOSED) {
		struct coord_sub *sub = s->sub;
		sc_free(s);
		s->sub = sub;
		return;
	}
	if (res < 0) {
		sc_close(s);
		return;
	}
	if (ev == CONN_EV_SENT) {
		s->inflight--;
		s->sent -= MIN(s->sent, (size_t)tag);
		sc_pump(s);
		return;
	}
	if (ev != CONN_EV_FRAME)
		return;
	s->reading = 0;
	conn_frame(conn, &h, &p, &len);
	if (h.type != WIRE_RPC_REQ || sub_submit_decode(p, len, &s->sub->in)) {
		log_msg(LOG_WARN,
			"coordinator: submitter %016llx of job %s sent a bad frame: closed",
			(unsigned long long)s->client, s->id);
		sc_close(s);
		return;
	}
	on_submit(s);
	sc_read(s);
}

void coord_submit_open(struct coord *c, struct conn *conn, const struct coord_rpc_req *req)
{
	struct coord_sub *sub = c->sub;
	struct coord_job_info ji;
	struct sconn *s = NULL;
	uint8_t b[200];
	int n;

	if (!sub) {
		sub = c->sub = xcalloc(1, sizeof(*sub));
		sub->c = c;
		for (int i = 0; i < SUB_CONNS_MAX; i++)
			sub->s[i].sub = sub;
	}
	if (coord_job_id_check(req->job) || coord_state_job(c->st, req->job, &ji) ||
	    !coord_job_by_id(c, req->job)) {
		n = snprintf((char *)b, sizeof(b), "no job %s", req->job);
		coord_cmd_answer(c, conn, ENOENT, (char *)b, (size_t)n);
		return;
	}
	if (ji.stopped) {
		n = snprintf((char *)b, sizeof(b), "job %s is stopped", req->job);
		coord_cmd_answer(c, conn, ESHUTDOWN, (char *)b, (size_t)n);
		return;
	}
	for (int i = 0; i < SUB_CONNS_MAX; i++) {
		struct sconn *o = &sub->s[i];
		if (o->used && o->job == ji.num && o->client == req->from)
			sc_close(o); /* the client came back: its new connection replaces it */
		else if (!o->used && !s)
			s = o;
	}
	if (!s) {
		coord_cmd_answer(c, conn, EAGAIN, "too many submitting clients; try again",
				 SIZE_MAX);
		return;
	}
	*s = (struct sconn){
		.used = 1, .sub = sub, .conn = conn, .job = ji.num, .client = req->from};
	snprintf(s->id, sizeof(s->id), "%s", req->job);
	sub->n_opened++;
	conn_own(conn, on_conn, s);
	b[0] = 0;
	n = snprintf((char *)b + 1, sizeof(b) - 1, "%s %u %s %s\n", ji.set.id, ji.set.images,
		     ji.set.model, ji.set.dataset);
	sc_push(s, 0, b, (size_t)n + 1);
	sc_pump(s);
}

void coord_submit_close_all(struct coord *c)
{
	struct coord_sub *sub = c->sub;

	if (!sub)
		return;
	for (int i = 0; i < SUB_CONNS_MAX; i++)
		sc_close(&sub->s[i]);
	for (int i = 0; i < COORD_JOBS_MAX; i++) {
		free(sub->names[i].order);
		memset(&sub->names[i], 0, sizeof(sub->names[i]));
	}
	sub->durable = 0;
}

size_t coord_submit_stats(const struct coord *c, char *buf, size_t cap)
{
	const struct coord_sub *sub = c->sub;
	int open = 0, n;

	for (int i = 0; sub && i < SUB_CONNS_MAX; i++)
		open += sub->s[i].used;
	n = snprintf(buf, cap,
		     "coord_submitters %d\ncoord_submitters_opened %llu\ncoord_submitted %llu\n"
		     "coord_submit_busy %llu\ncoord_submit_results %llu\n"
		     "coord_submitters_slow %llu\n",
		     open, (unsigned long long)(sub ? sub->n_opened : 0),
		     (unsigned long long)(sub ? sub->n_queries : 0),
		     (unsigned long long)(sub ? sub->n_busy : 0),
		     (unsigned long long)(sub ? sub->n_results : 0),
		     (unsigned long long)(sub ? sub->n_slow : 0));
	return n < 0 ? 0 : MIN((size_t)n, cap);
}

void coord_submit_free(struct coord *c)
{
	struct coord_sub *sub = c->sub;

	if (!sub)
		return;
	for (int i = 0; i < SUB_CONNS_MAX; i++)
		sc_free(&sub->s[i]);
	for (int i = 0; i < COORD_JOBS_MAX; i++)
		free(sub->names[i].order);
	free(sub);
	c->sub = NULL;
}
