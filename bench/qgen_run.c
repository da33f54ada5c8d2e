/*
 * qgen_run.c - qgen's connections and its loop (see qgen.h): one
 * submitter's connection per job, queries generated at their arrival times
 * (open loop) or whenever fewer than the concurrency are in flight (closed
 * loop), sent in SUBMITs of up to 256, ACKs and RESULTs recorded in the
 * job's ledger.  A broken connection is opened again through any agent
 * known (those given, then every live member learnt at the start), and
 * every query sent and not final is submitted again (counted).
 */
#include "qgen.h"

#include "util.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_US    200000 /* between reconnection rounds */
#define BUSY_US	    100000 /* closed loop: no new query after a busy answer for this long */
#define POLL_MAX_MS 100

uint64_t qgen_now(const struct qgen *g)
{
	return (util_now_ns() - g->t0_ns) / 1000;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Tries each agent once; 0, or the last error (the reason in j->why). */
static int try_open(struct qgen *g, struct qjob *j)
{
	int ret = -EAGAIN;

	for (int i = 0; i < g->nagents; i++) {
		ret = subc_open(&j->s, &g->cl, g->agents[i], j->id, g->client_id, j->why,
				sizeof(j->why));
		if (ret == 0 || ret == -ENOENT || ret == -ESHUTDOWN)
			break;
		subc_close(&j->s);
	}
	return ret;
}

/* Adds the live members the first agent knows as places to reconnect through. */
static void learn_members(struct qgen *g)
{
	struct wire_addr *a;
	int n = client_live(&g->cl, &a);

	for (int i = 0; i < n && g->nagents < (int)ARRAY_SIZE(g->agents); i++) {
		int known = 0;
		for (int k = 0; k < g->nagents; k++)
			known |= wire_addr_eq(g->agents[k], a[i]);
		if (!known)
			g->agents[g->nagents++] = a[i];
	}
	if (n >= 0)
		free(a);
}

int qgen_open(struct qgen *g)
{
	for (int i = 0; i < g->nj; i++) {
		struct qjob *j = &g->j[i];
		int ret = try_open(g, j);
		if (ret) {
			fprintf(stderr, "qgen: job %s: %s\n", j->id, j->why);
			return 1;
		}
		j->up = 1;
		j->rng = g->seed * 0x9e3779b97f4a7c15ull + (uint64_t)i + 1;
	}
	learn_members(g);
	return 0;
}

volatile sig_atomic_t qgen_stop;

/* New queries due by now. */
static void generate(struct qgen *g, struct qjob *j, uint64_t now)
{
	for (;;) {
		uint64_t t = g->rate > 0 ? j->next_t : now;
		if ((g->count && j->L.n >= g->count) || (g->duration > 0 && t >= g->end_us) ||
		    qgen_stop) {
			j->gen_done = 1;
			return;
		}
		if (g->rate > 0 ? t > now : j->L.n - j->finals >= g->conc || now < j->busy_until)
			return;
		ledger_add(&j->L, (uint32_t)(rnd(&j->rng) % j->s.images), t);
		if (g->rate > 0) {
			double gap = 1e6 / g->rate;
			if (g->poisson)
				gap *= -log(((double)(rnd(&j->rng) >> 11) + 0.5) /
					    9007199254740992.0);
			j->next_t += (uint64_t)MAX(gap, 1.0);
		}
	}
}

/* One SUBMIT of the queries in [*from, upto) that need it. */
static int submit_some(struct qgen *g, struct qjob *j, uint64_t *from, uint64_t upto, uint64_t now)
{
	struct sub_submit *m = g->m;

	m->n = 0;
	m->tag = j->tag++;
	for (; *from < upto && m->n < SUB_Q_MAX; (*from)++) {
		if (j->L.q[*from].sent && ledger_final(&j->L, *from))
			continue;
		m->q[m->n++] = (struct sub_query){.cqid = *from, .image = j->L.q[*from].image};
	}
	if (!m->n)
		return 0;
	if (subc_submit(&j->s, m))
		return -EINVAL;
	for (int i = 0; i < m->n; i++)
		ledger_sent(&j->L, m->q[i].cqid, now);
	return 0;
}

static void down(struct qgen *g, struct qjob *j, uint64_t now, const char *why)
{
	snprintf(j->why, sizeof(j->why), "%s", why);
	subc_close(&j->s);
	j->up = 0;
	j->down_since = now;
	j->next_try = now;
	if (g->tty)
		fprintf(stderr, "qgen: job %s: %s; reconnecting\n", j->id, why);
}

static void reconnect(struct qgen *g, struct qjob *j, uint64_t now)
{
	int ret = try_open(g, j);

	if (ret == 0) {
		j->up = 1;
		j->reconnects++;
		j->resend_next = 0;
		j->resend_upto = j->sent_upto;
		return;
	}
	if (ret == -ENOENT || ret == -ESHUTDOWN ||
	    now - j->down_since > (uint64_t)(g->reconnect_s * 1e6)) {
		j->gone = 1;
		if (ret != -ENOENT && ret != -ESHUTDOWN) {
			char why[200];
			snprintf(why, sizeof(why), "%.190s", j->why);
			snprintf(j->why, sizeof(j->why),
				 "no agent took the connection again within %g s (%s)",
				 g->reconnect_s, why);
		}
		return;
	}
	j->next_try = now + RETRY_US;
}

static void on_messages(struct qgen *g, struct qjob *j, uint64_t now)
{
	int t;

	while ((t = subc_next(&j->s, g->ack, g->res)) > 0) {
		for (int i = 0; t == SUB_ACK && i < g->ack->n; i++) {
			j->finals += ledger_ack(&j->L, g->ack->cqid[i], g->ack->status[i], now);
			if (g->ack->status[i] == SUB_BUSY)
				j->busy_until = now + BUSY_US;
		}
		for (int i = 0; t == SUB_RESULT && i < g->res->n; i++)
			if (ledger_answer(&j->L, &g->res->r[i], now)) {
				j->finals++;
				j->last_ans = now;
			}
	}
	if (t < 0)
		down(g, j, now, "a malformed message from the coordinator");
}

static int job_done(const struct qjob *j)
{
	return j->gone || (j->gen_done && j->finals == j->L.n);
}

static void progress(struct qgen *g, uint64_t now)
{
	fprintf(stderr, "[%5.1fs]", (double)now / 1e6);
	for (int i = 0; i < g->nj; i++) {
		struct ledger_verdict v;
		ledger_check(&g->j[i].L, &v);
		fprintf(stderr, " %s: sent %llu answered %llu busy %llu%s", g->j[i].id,
			(unsigned long long)v.submitted, (unsigned long long)v.answered,
			(unsigned long long)v.busy, g->j[i].up ? "" : " (reconnecting)");
	}
	fputc('\n', stderr);
}

void qgen_loop(struct qgen *g)
{
	struct pollfd *p = xcalloc((size_t)g->nj, sizeof(*p));
	uint64_t next_progress = 1000000, drain_end = UINT64_MAX;

	for (;;) {
		uint64_t now = qgen_now(g), wake = now + POLL_MAX_MS * 1000;
		int all_done = 1, all_gen = 1;
		for (int i = 0; i < g->nj; i++) {
			struct qjob *j = &g->j[i];
			if (!j->gen_done && !j->gone)
				generate(g, j, now);
			if (!j->up && !j->gone && now >= j->next_try)
				reconnect(g, j, now);
			while (j->up && j->resend_next < j->resend_upto &&
			       subc_unsent(&j->s) < (1u << 20))
				submit_some(g, j, &j->resend_next, j->resend_upto, now);
			while (j->up && j->sent_upto < j->L.n && subc_unsent(&j->s) < (1u << 20))
				submit_some(g, j, &j->sent_upto, j->L.n, now);
			if (j->up && subc_flush(&j->s))
				down(g, j, now, "the connection broke");
			if (g->rate > 0 && !j->gen_done)
				wake = MIN(wake, j->next_t);
			if (!j->up && !j->gone)
				wake = MIN(wake, j->next_try);
			all_gen &= j->gen_done || j->gone;
			all_done &= job_done(j);
		}
		if (all_gen && drain_end == UINT64_MAX)
			drain_end = now + (uint64_t)(g->drain_s * 1e6);
		if (all_done || now >= drain_end)
			break;
		if (g->tty && now >= next_progress) {
			progress(g, now);
			next_progress += 1000000;
		}
		for (int i = 0; i < g->nj; i++) {
			struct qjob *j = &g->j[i];
			p[i] = (struct pollfd){j->up ? j->s.fd : -1,
					       (short)(POLLIN | (subc_unsent(&j->s) ? POLLOUT : 0)),
					       0};
		}
		poll(p, (nfds_t)g->nj,
		     wake > now ? (int)MIN((wake - now + 999) / 1000, POLL_MAX_MS) : 0);
		now = qgen_now(g);
		for (int i = 0; i < g->nj; i++) {
			struct qjob *j = &g->j[i];
			if (!j->up || !(p[i].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
			if (subc_read(&j->s)) {
				on_messages(g, j, now); /* what came before the end */
				if (j->up)
					down(g, j, now, "the coordinator closed the connection");
			} else {
				on_messages(g, j, now);
			}
		}
	}
	free(p);
}
