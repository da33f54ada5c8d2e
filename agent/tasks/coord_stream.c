/*
 * coord_stream.c - the coordinator's task streams (see coord_int.h): one
 * to every live member, opened with a HELLO of the current epoch; a
 * WELCOME with a running engine adds the worker to the scheduler with the
 * slots it offers; RESULTs and REFUSEs go to coord_jobs_result.  A stream
 * that closes, or a member SWIM declares failed or gone, removes the
 * worker from the scheduler, which puts its unfinished queries back at
 * once; a live member is tried again after CW_RETRY_MS.
 */
#include "tasks/coord_int.h"

#include "core/conn.h"
#include "core/log.h"
#include "core/loop.h"
#include "err.h"
#include "membership/swim.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_MS 2000
#define SEND_MS	   10000
#define FRAME_MAX  (WIRE_HDR_LEN + TASK_RESULT_MAX + WIRE_TAG_LEN)

const char *const cw_state_names[CW_STATE_MAX] = {"idle", "connecting", "hello", "ready"};

static void batches_clear(struct cworker *w)
{
	for (int i = 0; i < w->ninflight; i++)
		free(w->inflight[i].q);
	w->ninflight = 0;
}

/* Out of the scheduler: its unfinished queries are queued again at once. */
static void leave_sched(struct coord *c, struct cworker *w)
{
	if (w->in_sched && c->sched) {
		int n = sched_worker_remove(c->sched, (uint32_t)(w - c->w), loop_now_ms());
		char who[32];
		wire_addr_str(w->addr, who, sizeof(who));
		log_msg(LOG_INFO, "coordinator: worker %s removed, %d queries queued again", who,
			n);
	}
	w->in_sched = 0;
	batches_clear(w);
}

static void drop(struct coord *c, struct cworker *w)
{
	leave_sched(c, w);
	if (w->conn)
		conn_close(w->conn); /* CONN_EV_CLOSED follows */
	coord_pump(c);
}

/* The batch's entry in w's table (its queries), removed; 0 or -ENOENT. */
static int batch_take(struct cworker *w, uint64_t batch, struct cw_batch *out)
{
	for (int i = 0; i < w->ninflight; i++)
		if (w->inflight[i].batch == batch) {
			*out = w->inflight[i];
			w->inflight[i] = w->inflight[--w->ninflight];
			return 0;
		}
	return -ENOENT;
}

static void on_welcome(struct coord *c, struct cworker *w, const struct task_welcome *m)
{
	char who[32];

	wire_addr_str(w->addr, who, sizeof(who));
	if (m->status == IDN_ESTALE_EPOCH) { /* a newer coordinator: its HELLO deposes this one */
		log_msg(LOG_WARN, "coordinator: worker %s follows epoch %llu (this one: %llu)", who,
			(unsigned long long)m->epoch, (unsigned long long)c->epoch);
		coord_deposed(c, m->epoch);
		conn_close(w->conn);
		return;
	}
	if (m->status || !m->engine_ok || !m->slots) {
		/* its engine may come up (or it runs none): asked again, less often */
		w->idle_ms = w->idle_ms ? MIN(2 * w->idle_ms, CW_IDLE_MAX_MS) : CW_IDLE_MIN_MS;
		w->retry_ms = loop_now_ms() + w->idle_ms;
		conn_close(w->conn);
		return;
	}
	if (sched_worker_add(c->sched, (uint32_t)(w - c->w), m->slots, loop_now_ms()) == 0) {
		w->in_sched = 1;
		w->idle_ms = 0;
		w->slots = m->slots;
		w->state = CW_READY;
		c->n_streams++;
		log_msg(LOG_INFO, "coordinator: worker %s ready, %u slots", who, m->slots);
		coord_pump(c);
	} else {
		conn_close(w->conn);
	}
}

static void on_answer(struct coord *c, struct cworker *w, const uint8_t *p, size_t len)
{
	struct task_result *res = xcalloc(1, sizeof(*res));
	struct sched_result *r = xcalloc(1, sizeof(*r));
	struct task_refuse f;
	struct cw_batch b = {0};
	uint32_t wid = (uint32_t)(w - c->w);

	if (p[0] == TASK_RESULT && task_result_decode(p, len, res) == 0) {
		/* a batch of an earlier epoch (sent by the coordinator this one took
		 * over from): its batch id means nothing here; its answers count
		 * for the queries still to do (sched_result's -ESTALE) */
		uint64_t batch = res->epoch == c->epoch ? res->batch : 0;
		if (batch)
			batch_take(w, batch, &b);
		*r = (struct sched_result){.worker = wid, .job = res->job, .batch = batch};
		for (int i = 0; i < res->n; i++) {
			const struct task_answer *a = &res->a[i];
			if (!batch &&
			    !coord_old_answer_ok(res->job, c->jobs_then, a->id,
						 res->job >= 1 && res->job <= COORD_JOBS_MAX
							 ? c->jobs[res->job - 1].client_then
							 : 0))
				continue; /* names another query here than it did there */
			res->a[r->n] = *a;
			r->a[r->n++] = (struct sched_answer){a->id, a->status};
			r->service_ns = MAX(r->service_ns, a->service_ns);
		}
		res->n = r->n;
		c->n_results++;
		coord_jobs_result(c, wid, res, r);
	} else if (p[0] == TASK_REFUSE && task_refuse_decode(p, len, &f) == 0) {
		char who[32];
		wire_addr_str(w->addr, who, sizeof(who));
		c->n_refused++;
		log_msg(LOG_WARN, "coordinator: worker %s refused batch %llu: %s (%d)", who,
			(unsigned long long)f.batch, f.reason, f.error);
		if (f.error == IDN_ESTALE_EPOCH) {
			coord_deposed(c, f.epoch);
			drop(c, w);
		} else if (batch_take(w, f.batch, &b) == 0) {
			/* a failed batch: each of its queries failed with the error */
			*r = (struct sched_result){
				.worker = wid, .job = b.job, .batch = b.batch, .n = b.n};
			for (int i = 0; i < b.n; i++)
				r->a[i] =
					(struct sched_answer){b.q[i], f.error < 0 ? f.error : -EIO};
			coord_jobs_result(c, wid, NULL, r);
		}
	} else {
		drop(c, w);
	}
	free(b.q);
	free(res);
	free(r);
	coord_pump(c);
}

static void on_stream(void *arg, struct conn *conn, enum conn_ev ev, uint64_t tag, int res)
{
	struct coord *c = arg;
	struct cworker *w = conn_user(conn);
	struct wire_hdr h;
	const uint8_t *p;
	size_t len;

	(void)tag;
	if (!w) { /* not ours yet: conn_connect has not returned */
		if (ev != CONN_EV_CLOSED)
			conn_close(conn);
		return;
	}
	if (ev == CONN_EV_CLOSED) {
		if (w->conn == conn) {
			leave_sched(c, w);
			w->conn = NULL;
			w->state = CW_IDLE;
			w->retry_ms = MAX(w->retry_ms, loop_now_ms() + CW_RETRY_MS);
			coord_pump(c);
		}
		return;
	}
	if (res < 0 || w->conn != conn) {
		if (ev == CONN_EV_CONNECTED)
			c->n_stream_fail++;
		conn_close(conn);
		return;
	}
	if (ev == CONN_EV_CONNECTED) {
		struct task_hello hello = {
			.epoch = c->epoch, .coordinator = c->env.self, .standby = c->known_standby};
		int n = task_hello_encode(&hello, c->out, sizeof(c->out));
		w->state = CW_HELLO;
		if (n < 0 || conn_send_frame(conn, WIRE_RPC_REQ, c->out, (size_t)n, SEND_MS, 0) ||
		    conn_recv_frame(conn, FRAME_MAX, 0, 0))
			conn_close(conn);
		return;
	}
	if (ev != CONN_EV_FRAME)
		return;
	conn_frame(conn, &h, &p, &len);
	if (h.type == WIRE_RPC_RESP && len > 0 && p[0] == TASK_WELCOME && w->state == CW_HELLO) {
		struct task_welcome m;
		if (task_welcome_decode(p, len, &m) == 0)
			on_welcome(c, w, &m);
		else
			conn_close(conn);
	} else if (h.type == WIRE_RPC_RESP && len > 0 && w->state == CW_READY) {
		on_answer(c, w, p, len);
	} else {
		conn_close(conn);
	}
	if (w->conn == conn && w->state != CW_IDLE && conn_recv_frame(conn, FRAME_MAX, 0, 0))
		conn_close(conn);
}

static struct cworker *find_or_add(struct coord *c, struct wire_addr a)
{
	struct cworker *free_w = NULL;

	for (int i = 0; i < c->nw; i++) {
		if (c->w[i].used && wire_addr_eq(c->w[i].addr, a))
			return &c->w[i];
		if (!c->w[i].used && !free_w)
			free_w = &c->w[i];
	}
	if (!free_w && c->nw < CW_MAX)
		free_w = &c->w[c->nw++];
	if (free_w)
		*free_w = (struct cworker){.used = 1, .addr = a};
	return free_w;
}

void coord_streams_reconcile(struct coord *c, uint64_t now_ms)
{
	int n = swim_members(c->env.swim, NULL, 0);
	struct swim_member *m = xcalloc((size_t)n + 1, sizeof(*m));

	n = swim_members(c->env.swim, m, n);
	for (int i = 0; i < c->nw; i++)
		c->w[i].live = 0;
	for (int i = 0; i < n; i++) {
		struct cworker *w;
		if (m[i].status != SWIM_ALIVE && m[i].status != SWIM_SUSPECT)
			continue;
		w = find_or_add(c, m[i].addr);
		if (w)
			w->live = 1;
	}
	free(m);
	for (int i = 0; i < c->nw; i++) {
		struct cworker *w = &c->w[i];
		if (!w->used)
			continue;
		if (!w->live) {
			if (w->conn)
				drop(c, w);
			else
				w->used = 0;
		} else if (w->state == CW_IDLE && !w->conn && now_ms >= w->retry_ms) {
			w->state = CW_CONNECTING;
			if (conn_connect(c->env.conns, w->addr, CONNECT_MS, on_stream, c,
					 &w->conn)) {
				w->conn = NULL;
				w->state = CW_IDLE;
				w->retry_ms = now_ms + CW_RETRY_MS;
			} else {
				conn_set_user(w->conn, w);
			}
		}
	}
}

void coord_streams_announce(struct coord *c)
{
	struct task_hello hello = {
		.epoch = c->epoch, .coordinator = c->env.self, .standby = c->known_standby};
	int n = task_hello_encode(&hello, c->out, sizeof(c->out));

	for (int i = 0; i < c->nw && n > 0; i++)
		if (c->w[i].conn && (c->w[i].state == CW_READY || c->w[i].state == CW_HELLO) &&
		    conn_send_frame(c->w[i].conn, WIRE_RPC_REQ, c->out, (size_t)n, SEND_MS, 0))
			drop(c, &c->w[i]);
}

void coord_streams_close_all(struct coord *c)
{
	for (int i = 0; i < c->nw; i++) {
		struct conn *conn = c->w[i].conn;
		leave_sched(c, &c->w[i]);
		/* detached at once: a RESULT still delivered is not ours */
		c->w[i].conn = NULL;
		c->w[i].state = CW_IDLE;
		if (conn)
			conn_close(conn);
	}
}

void coord_stream_dispatch(struct coord *c, const struct sched_dispatch *d)
{
	struct cworker *w = &c->w[d->worker];
	struct cjob *j = &c->jobs[d->job - 1];
	struct task_dispatch *m = xcalloc(1, sizeof(*m));
	int len;

	*m = (struct task_dispatch){.epoch = c->epoch,
				    .batch = d->batch,
				    .job = d->job,
				    .model_version = j->set.model_version,
				    .index_version = j->set.index_version,
				    .n = d->n,
				    .flags = d->express ? TASK_DISPATCH_EXPRESS : 0};
	snprintf(m->model, sizeof(m->model), "%s", j->set.model);
	snprintf(m->dataset, sizeof(m->dataset), "%s", j->set.dataset);
	for (int i = 0; i < d->n; i++) {
		uint32_t img = 0; /* a client query answered meanwhile: its result is a duplicate */
		coord_state_query_image(c->st, j->set.id, d->q[i], &img);
		if (img >= j->ix.nimages)
			img = 0;
		m->q[i] = (struct task_query){d->q[i], j->ix.images[img].shard, img};
	}
	len = task_dispatch_encode(m, c->out, sizeof(c->out));
	free(m);
	if (!w->conn || len < 0 ||
	    conn_send_frame(w->conn, WIRE_RPC_REQ, c->out, (size_t)len, SEND_MS, 0)) {
		drop(c, w);
		return;
	}
	c->n_dispatched++;
	if (w->ninflight < CW_INFLIGHT_MAX) {
		struct cw_batch *b = &w->inflight[w->ninflight++];
		*b = (struct cw_batch){.batch = d->batch, .job = d->job, .n = d->n};
		b->q = xmalloc(d->n * sizeof(uint64_t));
		memcpy(b->q, d->q, d->n * sizeof(uint64_t));
	}
}
