/*
 * coord.c - the coordinator as a loop module (see coord.h): the role,
 * the epoch, the tick and the dispatch pump that turns the scheduler's
 * decisions into DISPATCH frames.
 *
 * The role is roles_compute's answer (roles.h) from this agent's view and
 * the highest epoch it knows: its own while it coordinates, else the one
 * its worker's last accepted HELLO carried (coord_learn).  A node started
 * with --join takes no role by a takeover before it has seen another
 * member and SETTLE_MS more have passed: by then the sitting coordinator,
 * which opens a stream to every member, has told it the epoch.  A worker
 * that has seen a higher epoch (a stale WELCOME or REFUSE) means a newer
 * coordinator: its stream is closed, and that coordinator's HELLO deposes
 * this one.
 */
#include "tasks/coord_int.h"

#include "core/conn.h"
#include "core/log.h"
#include "core/loop.h"
#include "membership/swim.h"
#include "tasks/roles.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECONCILE_MS 500  /* streams checked against the membership */
#define SETTLE_MS    2000 /* a joining node's wait for the sitting coordinator's HELLO */

/* What the roles say now (roles.h), from the view and what this agent knows. */
static void role_compute(struct coord *c, uint64_t now_ms, struct roles *out)
{
	int n = swim_members(c->env.swim, NULL, 0);
	struct swim_member *m = xcalloc((size_t)n + 1, sizeof(*m));
	struct roles_input in = {.self = c->env.self,
				 .epoch = c->known_epoch,
				 .coordinator = c->known_coord,
				 .standby = c->known_standby};
	uint32_t views = 0;

	n = swim_members(c->env.swim, m, n);
	for (int i = 0; i < n; i++) {
		if (!wire_addr_eq(m[i].addr, c->env.self) && m[i].status != SWIM_LEFT &&
		    !c->seen_other) {
			c->seen_other = 1;
			c->settle_ms = now_ms + SETTLE_MS;
		}
		views += m[i].status != SWIM_LEFT;
	}
	c->cluster_size = MAX(c->cluster_size, views);
	in.members = m;
	in.n = n;
	in.cluster_size = c->cluster_size;
	roles_compute(&in, out);
	free(m);
}

/* A cold recovery ended (coord_recover.c): dispatch starts. */
static void recovered(struct coord *c, int status)
{
	(void)status;
	coord_pump(c);
}

static void activate(struct coord *c, const struct roles *ro)
{
	struct coord_rec r = {.type = COORD_REC_EPOCH};

	coord_jobs_start(c);
	c->epoch = c->known_epoch = ro->epoch;
	c->known_coord = c->env.self;
	r.u.epoch.epoch = c->epoch;
	r.u.epoch.coordinator = c->env.self;
	coord_record(c, &r, NULL);
	c->active = 1;
	c->next_reconcile = 0;
	log_msg(LOG_INFO, "coordinator: active, epoch %llu (%s)", (unsigned long long)c->epoch,
		ro->takeover ? (ro->cold ? "cold takeover" : "takeover") : "sitting");
	/* nothing was handed over: the jobs and their answered queries from SDFS */
	coord_persist_reset(c);
	if (ro->takeover && ro->cold)
		coord_persist_recover(c, recovered);
}

static void deactivate(struct coord *c)
{
	char who[32];

	wire_addr_str(c->coordinator, who, sizeof(who));
	log_msg(LOG_WARN, "coordinator: inactive (the coordinator is now %s); jobs dropped",
		c->coordinator.ip ? who : "nobody");
	c->active = 0;
	coord_streams_close_all(c);
	coord_recover_reset(c);
	coord_persist_reset(c);
	coord_jobs_reset(c);
}

static void role_update(struct coord *c, uint64_t now_ms)
{
	struct roles ro;
	int mine, settling;

	role_compute(c, now_ms, &ro);
	/* a node that joins learns the sitting coordinator from its HELLO
	 * before it may take the role itself */
	settling = c->env.joining && (!c->seen_other || now_ms < c->settle_ms) && ro.takeover;
	mine = ro.self == ROLES_COORDINATOR && !c->env.never && !settling;
	if (!wire_addr_eq(ro.coordinator, c->coordinator)) {
		char s[32];
		wire_addr_str(ro.coordinator, s, sizeof(s));
		log_msg(LOG_INFO, "coordinator: the roles name %s (epoch %llu)",
			ro.coordinator.ip ? s : "nobody yet", (unsigned long long)ro.epoch);
	}
	c->coordinator = ro.coordinator;
	c->standby = ro.standby;
	c->role = mine ? ROLES_COORDINATOR : ro.self == ROLES_COORDINATOR ? ROLES_WORKER : ro.self;
	if (mine && !c->active)
		activate(c, &ro);
	else if (!mine && c->active)
		deactivate(c);
	if (c->active) {
		c->known_standby = ro.standby;
		if (c->majority && !ro.active)
			log_msg(LOG_WARN,
				"coordinator: no majority alive (%u of %u): dispatching paused",
				ro.alive, ro.known);
		c->majority = ro.active;
	}
}

void coord_learn(struct coord *c, uint64_t epoch, struct wire_addr coordinator)
{
	if (epoch < c->known_epoch ||
	    (epoch == c->known_epoch && wire_addr_eq(coordinator, c->known_coord)))
		return;
	c->known_epoch = epoch;
	c->known_coord = coordinator;
	c->known_standby = (struct wire_addr){0, 0};
	c->next_reconcile = 0; /* the roles again at the next tick */
}

void coord_pump(struct coord *c)
{
	struct sched_dispatch *d;
	uint64_t now = loop_now_ms();

	if (!c->active || !c->majority || c->pumping || c->recovering)
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
		role_update(c, now_ms);
		if (c->active)
			coord_streams_reconcile(c, now_ms);
		c->next_reconcile = now_ms + RECONCILE_MS;
	}
	if (!c->active)
		return c->next_reconcile;
	if (sched_next_deadline(c->sched) <= now_ms)
		coord_pump(c);
	next = sched_next_deadline(c->sched);
	next = MIN(next, coord_recover_tick(c, now_ms));
	next = MIN(next, coord_persist_tick(c, now_ms));
	return MIN(next, c->next_reconcile);
}

static void member(void *m, const struct swim_member *mem, int old)
{
	struct coord *c = m;

	/* the cluster's size shrinks only by a leave (roles.h) */
	if (mem->status == SWIM_LEFT && old != SWIM_LEFT && old != SWIM_STATUS_MAX &&
	    c->cluster_size > 0)
		c->cluster_size--;
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
	if (n < 0 || (size_t)n >= cap)
		return n < 0 ? 0 : cap;
	return (size_t)n + coord_persist_stats(c, buf + n, cap - (size_t)n);
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
	char who[32] = "none", sb[32] = "none";
	int n;

	if (c->coordinator.ip)
		wire_addr_str(c->coordinator, who, sizeof(who));
	if (c->standby.ip)
		wire_addr_str(c->standby, sb, sizeof(sb));
	n = snprintf(buf, cap, "role %s\ncoordinator %s\nstandby %s\ncoordinator_epoch %llu\n",
		     roles_role_names[c->role], who, sb,
		     (unsigned long long)(c->active ? c->epoch : c->known_epoch));
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
	coord_recover_free(c);
	coord_persist_free(c);
	free(c);
}
