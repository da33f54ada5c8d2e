/*
 * coord_submit.c - client query submission on the coordinator (docs/tasks.md,
 * "Client query submission"; messages in submit_wire.h): the submitters'
 * connections, their send queues and durability (coord_submit_query.c:
 * the SUBMITs and the results).
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
 * slow reader and is closed), SUB_OUT_TOTAL to all of them (the
 * connection that would pass it is closed).
 */
#include "tasks/coord_submit_int.h"

#include "core/conn.h"
#include "core/log.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t sub_state_seq(struct coord *c)
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
			s->sub->total -= MIN(s->sub->total, f->len);
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

void sub_push(struct sconn *s, uint64_t seq, const uint8_t *p, size_t len)
{
	struct outf *f;

	if (!s->used || s->closing)
		return;
	if (s->held + s->sent + len > SUB_OUT_MAX || s->sub->total + len > SUB_OUT_TOTAL) {
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
	s->sub->total += len;
	if (s->tail)
		s->tail->next = f;
	else
		s->head = f;
	s->tail = f;
	s->held += len;
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

/* ---- the connections ---- */

static void sc_free(struct sconn *s)
{
	s->sub->total -= MIN(s->sub->total, s->held + s->sent);
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
		s->sub->total -= MIN(s->sub->total, (size_t)tag);
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
	sub_on_submit(s);
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
	sub_push(s, 0, b, (size_t)n + 1);
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
