/*
 * coord.c - the coordinator as a loop module (see coord.h): the role,
 * the epoch, the tick and the dispatch pump that turns the scheduler's
 * decisions into DISPATCH frames.
 *
 * The role (provisional, until tasks/roles.h replaces it): the
 * lowest-addressed member this agent sees alive or suspected, itself
 * included (a suspicion alone moves nothing); an agent
 * started with --join claims nothing before it has seen another member, so
 * a node that has not joined yet never takes the role for a moment.  The
 * epoch: the wall clock in ms when the node becomes active (above any
 * earlier one while clocks agree), raised past any higher epoch a worker
 * reports (a stale WELCOME or REFUSE).
 */
#include "tasks/coord_int.h"

#include "core/conn.h"
#include "core/log.h"
#include "core/loop.h"
#include "membership/swim.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECONCILE_MS 500 /* streams checked against the membership */

static int addr_less(struct wire_addr a, struct wire_addr b)
{
	return a.ip != b.ip ? a.ip < b.ip : a.port < b.port;
}

/* The role rule: the lowest-addressed alive member (ip 0: none yet). */
static struct wire_addr role_pick(struct coord *c)
{
	int n = swim_members(c->env.swim, NULL, 0);
	struct swim_member *m = xcalloc((size_t)n + 1, sizeof(*m));
	struct wire_addr best = {0, 0};

	n = swim_members(c->env.swim, m, n);
	for (int i = 0; i < n; i++) {
		if (!wire_addr_eq(m[i].addr, c->env.self) && m[i].status != SWIM_LEFT)
			c->seen_other = 1;
		if ((m[i].status == SWIM_ALIVE || m[i].status == SWIM_SUSPECT) &&
		    (best.ip == 0 || addr_less(m[i].addr, best)))
			best = m[i].addr;
	}
	free(m);
	if (c->env.joining && !c->seen_other)
		best = (struct wire_addr){0, 0};
	return best;
}

static void activate(struct coord *c)
{
	struct coord_rec r = {.type = COORD_REC_EPOCH};

	coord_jobs_start(c);
	c->epoch = util_wall_ms();
	r.u.epoch.epoch = c->epoch;
	r.u.epoch.coordinator = c->env.self;
	coord_record(c, &r, NULL);
	c->active = 1;
	c->next_reconcile = 0;
	log_msg(LOG_INFO, "coordinator: active, epoch %llu", (unsigned long long)c->epoch);
}

static void deactivate(struct coord *c)
{
	char who[32];

	wire_addr_str(c->coordinator, who, sizeof(who));
	log_msg(LOG_WARN, "coordinator: inactive (the coordinator is now %s); jobs dropped", who);
	c->active = 0;
	coord_streams_close_all(c);
	coord_jobs_reset(c);
}

static void role_update(struct coord *c)
{
	struct wire_addr who = role_pick(c);
	int mine = who.ip && wire_addr_eq(who, c->env.self) && !c->env.never;

	if (!wire_addr_eq(who, c->coordinator)) {
		char s[32];
		wire_addr_str(who, s, sizeof(s));
		log_msg(LOG_INFO, "coordinator: the role rule names %s", who.ip ? s : "nobody yet");
	}
	c->coordinator = who;
	if (mine && !c->active)
		activate(c);
	else if (!mine && c->active)
		deactivate(c);
}

void coord_raise_epoch(struct coord *c, uint64_t seen)
{
	struct coord_rec r = {.type = COORD_REC_EPOCH};

	if (!c->active || seen < c->epoch)
		return;
	r.u.epoch.epoch = MAX(seen + 1, util_wall_ms());
	r.u.epoch.coordinator = c->env.self;
	if (coord_record(c, &r, NULL) == 0) {
		c->epoch = r.u.epoch.epoch;
		log_msg(LOG_WARN, "coordinator: a worker has seen epoch %llu: now %llu",
			(unsigned long long)seen, (unsigned long long)c->epoch);
	}
}

void coord_pump(struct coord *c)
{
	struct sched_dispatch *d;
	uint64_t now = loop_now_ms();

	if (!c->active || c->pumping)
		return;
	c->pumping = 1;
	coord_jobs_feed(c, now);
	d = xmalloc(sizeof(*d));
	while (c->active && sched_pop(c->sched, now, d))
		coord_stream_dispatch(c, d);
	free(d);
	c->pumping = 0;
}

/* ---- the module ---- */

static uint64_t tick(void *m, uint64_t now_ms)
{
	struct coord *c = m;
	uint64_t next;

	if (now_ms >= c->next_reconcile) {
		role_update(c);
		if (c->active)
			coord_streams_reconcile(c, now_ms);
		c->next_reconcile = now_ms + RECONCILE_MS;
	}
	if (!c->active)
		return c->next_reconcile;
	if (sched_next_deadline(c->sched) <= now_ms)
		coord_pump(c);
	next = sched_next_deadline(c->sched);
	return MIN(next, c->next_reconcile);
}

static void member(void *m, const struct swim_member *mem, int old)
{
	struct coord *c = m;

	(void)mem, (void)old;
	c->next_reconcile = 0; /* at the next tick, after SWIM's whole batch of changes */
}

static size_t stats(void *m, char *buf, size_t cap)
{
	struct coord *c = m;
	int n = snprintf(buf, cap,
			 "coord_active %d\ncoord_epoch %llu\ncoord_dispatched %llu\n"
			 "coord_results %llu\ncoord_refused %llu\ncoord_streams %llu\n"
			 "coord_stream_failures %llu\ncoord_records %llu\n"
			 "coord_record_errors %llu\ncoord_commands %llu\ncoord_redirects %llu\n",
			 c->active, (unsigned long long)c->epoch,
			 (unsigned long long)c->n_dispatched, (unsigned long long)c->n_results,
			 (unsigned long long)c->n_refused, (unsigned long long)c->n_streams,
			 (unsigned long long)c->n_stream_fail, (unsigned long long)c->n_records,
			 (unsigned long long)c->n_record_errors, (unsigned long long)c->n_cmds,
			 (unsigned long long)c->n_redirects);
	return n < 0 ? 0 : MIN((size_t)n, cap);
}

static void cancel(void *m)
{
	struct coord *c = m;

	c->active = 0;
	coord_streams_close_all(c);
}

static const struct loop_ops coord_ops = {
	.name = "coord",
	.tick = tick,
	.member = member,
	.stats = stats,
	.cancel = cancel,
};

size_t coord_describe(const struct coord *c, char *buf, size_t cap)
{
	char who[32] = "none";
	int n;

	if (c->coordinator.ip)
		wire_addr_str(c->coordinator, who, sizeof(who));
	n = snprintf(buf, cap, "role %s\ncoordinator %s\ncoordinator_epoch %llu\n",
		     c->active ? "coordinator" : "worker", who, (unsigned long long)c->epoch);
	return n < 0 ? 0 : MIN((size_t)n, cap);
}

int coord_new(const struct coord_env *env, struct coord **out)
{
	struct coord *c = xcalloc(1, sizeof(*c));
	int ret;

	c->env = *env;
	c->owner = loop_register(env->loop, &coord_ops, c);
	ret = c->owner < 0 ? c->owner : coord_cmd_new(c);
	if (ret) {
		free(c);
		return ret;
	}
	*out = c;
	return 0;
}

void coord_free(struct coord *c)
{
	if (!c)
		return;
	coord_jobs_reset(c);
	free(c);
}
