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

#define RECONCILE_MS  500  /* streams checked against the membership */
#define SETTLE_MS     2000 /* a joining node's wait for the sitting coordinator's HELLO */
#define COLD_GRACE_MS 3000 /* a cold takeover's wait for a hot standby's HELLO */
#define HEARD_MS      3000 /* a coordinator heard from is alive this long, for the roles */
#define RESUME_MS     3000 /* writes held this long after the majority is back */
#define STALL_MS      1500 /* a longer gap between ticks: stopped or starved */

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

	uint64_t heard = c->heard_ms;

	/* the standby hears the coordinator on its record stream too */
	if (c->follow.conn && !c->follow.lost && wire_addr_eq(c->follow.from, c->known_coord))
		heard = MAX(heard, c->follow.last_ms);
	n = swim_members(c->env.swim, m, n);
	for (int i = 0; i < n; i++) {
		/* heard from within HEARD_MS: alive, for the roles (a node that
		 * was cut off spreads its old verdict when a partition heals:
		 * the coordinator refutes it, a moment later) */
		if (wire_addr_eq(m[i].addr, c->known_coord) && heard && now_ms < heard + HEARD_MS &&
		    m[i].status == SWIM_FAILED && !c->active)
			m[i].status = SWIM_ALIVE;
		/* the standby's stream from the coordinator closed and SWIM
		 * suspects it: the process is most likely gone */
		if (c->follow.lost && wire_addr_eq(m[i].addr, c->known_coord) &&
		    wire_addr_eq(c->follow.from, c->known_coord) && m[i].status == SWIM_SUSPECT &&
		    !c->active && !in.coordinator_lost) {
			in.coordinator_lost = 1;
			if (!c->lost_ms) {
				char who[32];
				wire_addr_str(m[i].addr, who, sizeof(who));
				c->lost_ms = now_ms;
				log_msg(LOG_WARN,
					"coordinator: failover: the stream from coordinator "
					"%s closed and SWIM suspects it",
					who);
			}
		}
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

/*
 * Writes are held from the moment this coordinator may have been
 * superseded without knowing it: it lost its majority (the majority may
 * have taken over), it stalled (SIGSTOP: the others may have), or it is
 * deposed.  Held, it acknowledges nothing more (the durable record is
 * frozen: a new standby of the minority side may hold more than the
 * coordinator the majority follows) and writes no result part (the
 * majority's coordinator writes the same names).  With a majority again
 * they resume after RESUME_MS, time for a newer coordinator's HELLO or a
 * worker of its epoch to depose this one.
 */
static void hold(struct coord *c)
{
	if (c->held)
		return;
	c->held_durable = coord_durable_seq(c);
	c->held = 1;
}

int coord_writable(const struct coord *c)
{
	return c->active && c->majority && !c->deposed && !c->held;
}

static void writes_resume(struct coord *c, uint64_t now_ms)
{
	if (!c->held || !c->resume_ms || now_ms < c->resume_ms || !c->majority || c->deposed)
		return;
	c->held = 0;
	c->resume_ms = 0;
	log_msg(LOG_INFO, "coordinator: no newer coordinator heard of: writes resume");
	coord_repl_durable_moved(c);
}

/* A cold recovery ended (coord_recover.c): dispatch starts. */
static void recovered(struct coord *c, int status)
{
	struct coord_state_info si;

	(void)status;
	/* answers of the old epoch's batches count for the recovered jobs
	 * (numbered in launch order, as before); client query ids were given
	 * again in another order, so none of theirs (client_then 0) */
	coord_state_info(c->st, &si);
	c->jobs_then = si.jobs;
	coord_pump(c);
}

static void activate(struct coord *c, const struct roles *ro)
{
	struct coord_rec r = {.type = COORD_REC_EPOCH};
	struct coord_state *st = NULL;
	uint64_t now = loop_now_ms();

	/* the standby's copy of the state it followed, if it is the one of the
	 * epoch taken over (coord_follow.c) */
	if (ro->takeover && !ro->cold && c->known_epoch)
		st = coord_follow_take(c, c->known_epoch, c->known_coord);
	else
		coord_follow_reset(c); /* a copy from an earlier turn as standby: stale */
	if (ro->takeover && !ro->cold && !st)
		log_msg(LOG_WARN, "coordinator: the standby holds no state of epoch %llu",
			(unsigned long long)c->known_epoch);
	c->gen++;
	c->jobs_then = 0; /* no answer of an earlier epoch counts, unless adopted */
	coord_jobs_start(c, st);
	c->epoch = c->known_epoch = ro->epoch;
	c->known_coord = c->env.self;
	c->active = 1;
	c->majority = ro->active;
	c->held = 0;
	c->resume_ms = 0;
	c->last_tick_ms = now;
	c->took_over_ms = now;
	c->first_dispatch_ms = 0;
	r.u.epoch.epoch = c->epoch;
	r.u.epoch.coordinator = c->env.self;
	coord_record(c, &r, NULL);
	c->next_reconcile = 0;
	if (st) {
		struct coord_state_info si;
		coord_state_info(c->st, &si);
		log_msg(LOG_INFO,
			"coordinator: active, epoch %llu (takeover with the standby's "
			"state: %u jobs, record %llu)",
			(unsigned long long)c->epoch, si.jobs, (unsigned long long)si.seq);
		coord_persist_reset(c);
		coord_jobs_adopt(c);
	} else {
		log_msg(LOG_INFO, "coordinator: active, epoch %llu (%s)",
			(unsigned long long)c->epoch,
			ro->takeover ? (ro->cold ? "cold takeover" : "takeover") : "sitting");
	}
	if (!st) {
		/* nothing was handed over: the jobs and their answered queries
		 * from SDFS (a new cluster finds none) */
		coord_persist_reset(c);
		if (ro->takeover)
			coord_persist_recover(c, recovered);
	}
	if (c->lost_ms)
		log_msg(LOG_INFO,
			"coordinator: failover: the old coordinator was lost %llu ms "
			"before this takeover",
			(unsigned long long)(now - c->lost_ms));
}

static void deactivate(struct coord *c)
{
	char who[32];

	wire_addr_str(c->coordinator, who, sizeof(who));
	log_msg(LOG_WARN, "coordinator: inactive (the coordinator is now %s); jobs dropped",
		c->coordinator.ip ? who : "nobody");
	c->active = 0;
	c->deposed = 0;
	c->held = 0;
	c->gen++;
	coord_persist_reset(c); /* its held answers: EAGAIN, as the others */
	coord_repl_stop(c);
	coord_streams_close_all(c);
	coord_submit_close_all(c);
	coord_recover_reset(c);
	coord_jobs_reset(c);
}

static void role_update(struct coord *c, uint64_t now_ms)
{
	struct roles ro;
	int mine, settling, regained;

	role_compute(c, now_ms, &ro);
	/* a node that joins learns the sitting coordinator from its HELLO
	 * before it may take the role itself */
	settling = c->env.joining && (!c->seen_other || now_ms < c->settle_ms) && ro.takeover;
	/* a cold takeover (this view sees no live standby) waits: when the
	 * standby is alive after all (a false failure in this view), it takes
	 * over at once and its HELLO of the new epoch ends the wait; two
	 * coordinators of one epoch are never both started on purpose */
	if (ro.self == ROLES_COORDINATOR && ro.takeover && ro.cold && c->known_epoch > 0 &&
	    !c->active) {
		if (!c->cold_since)
			c->cold_since = now_ms;
		settling |= now_ms < c->cold_since + COLD_GRACE_MS;
	} else {
		c->cold_since = 0;
	}
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
		if (!wire_addr_eq(c->known_standby, ro.standby)) {
			c->known_standby = ro.standby;
			coord_streams_announce(c); /* every node names the same standby */
		}
		regained = !c->majority && ro.active;
		if (c->majority && !ro.active) {
			log_msg(LOG_WARN,
				"coordinator: no majority alive (%u of %u): dispatching paused",
				ro.alive, ro.known);
			hold(c);
			c->resume_ms = 0;
		} else if (regained) {
			log_msg(LOG_INFO,
				"coordinator: a majority alive again (%u of %u): dispatching, "
				"writes held %d ms",
				ro.alive, ro.known, RESUME_MS);
			c->resume_ms = now_ms + RESUME_MS;
		}
		c->majority = ro.active;
		if (regained)
			coord_pump(c); /* nothing else wakes the queued work */
	}
}

void coord_learn(struct coord *c, uint64_t epoch, struct wire_addr coordinator,
		 struct wire_addr standby)
{
	if (epoch < c->known_epoch ||
	    (epoch == c->known_epoch && !wire_addr_eq(coordinator, c->known_coord) &&
	     wire_addr_loses_tie(coordinator, c->known_coord)))
		return;
	/* a HELLO from the coordinator itself: it was alive just now, whatever
	 * this node's view says (a view that declared it failed during a
	 * partition keeps saying so until the refutation arrives) */
	c->heard_ms = loop_now_ms();
	if (epoch == c->known_epoch && wire_addr_eq(coordinator, c->known_coord)) {
		if (!c->active && standby.ip && !wire_addr_eq(standby, c->known_standby)) {
			c->known_standby = standby; /* a new standby announced */
			c->next_reconcile = 0;
		}
		return;
	}
	c->known_epoch = epoch;
	c->known_coord = coordinator;
	c->known_standby = standby;
	c->next_reconcile = 0; /* the roles again at the next tick */
}

void coord_deposed(struct coord *c, uint64_t epoch)
{
	/* the same epoch: another coordinator of it won the tie (lower address) */
	if (!c->active || epoch < c->epoch || c->deposed)
		return;
	hold(c);
	c->deposed = 1;
	log_msg(LOG_WARN,
		"coordinator: epoch %llu is known in the cluster, above %llu: "
		"dispatching stopped",
		(unsigned long long)epoch, (unsigned long long)c->epoch);
}

void coord_pump(struct coord *c)
{
	struct sched_dispatch *d;
	uint64_t now = loop_now_ms();

	if (!c->active || !c->majority || c->deposed || c->pumping || c->recovering)
		return;
	c->pumping = 1;
	coord_jobs_feed(c, now);
	d = xmalloc(sizeof(*d));
	while (c->active && sched_pop(c->sched, now, d)) {
		coord_stream_dispatch(c, d);
		if (d->job >= 1 && d->job <= COORD_JOBS_MAX && c->jobs[d->job - 1].launch_ms) {
			struct cjob *j = &c->jobs[d->job - 1];
			log_msg(LOG_INFO,
				"coordinator: job %s: first dispatch %llu ms after its launch%s",
				j->set.id, (unsigned long long)(now - j->launch_ms),
				d->express ? " (express)" : "");
			j->launch_ms = 0;
		}
		if (!c->first_dispatch_ms) {
			c->first_dispatch_ms = now;
			log_msg(LOG_INFO,
				"coordinator: first dispatch of epoch %llu, %llu ms after "
				"taking over%s",
				(unsigned long long)c->epoch,
				(unsigned long long)(now - c->took_over_ms),
				c->lost_ms ? "" : " (no failover)");
			c->lost_ms = 0;
		}
	}
	free(d);
	c->pumping = 0;
}

/* ---- the module ---- */

static uint64_t tick(void *m, uint64_t now_ms)
{
	struct coord *c = m;
	uint64_t next;

	if (c->active && c->last_tick_ms && now_ms > c->last_tick_ms + STALL_MS) {
		log_msg(LOG_WARN,
			"coordinator: this process did not run for %llu ms (stopped or "
			"starved): writes held %d ms",
			(unsigned long long)(now_ms - c->last_tick_ms), RESUME_MS);
		hold(c);
		c->resume_ms = now_ms + RESUME_MS;
	}
	c->last_tick_ms = now_ms;
	if (now_ms >= c->next_reconcile) {
		role_update(c, now_ms);
		if (c->active)
			coord_streams_reconcile(c, now_ms);
		c->next_reconcile = now_ms + RECONCILE_MS;
	}
	if (!c->active) {
		coord_ixcache_tick(c, now_ms);
		return c->next_reconcile;
	}
	writes_resume(c, now_ms);
	coord_repl_tick(c, now_ms);
	coord_adopt_tick(c, now_ms);
	if (sched_next_deadline(c->sched) <= now_ms)
		coord_pump(c);
	next = sched_next_deadline(c->sched);
	next = MIN(next, coord_recover_tick(c, now_ms));
	next = MIN(next, coord_persist_tick(c, now_ms));
	if (c->held && c->resume_ms)
		next = MIN(next, c->resume_ms);
	return MIN(next, c->next_reconcile);
}

static void member(void *m, const struct swim_member *mem, int old)
{
	struct coord *c = m;

	if (wire_addr_eq(mem->addr, c->known_coord) && !c->active &&
	    (mem->status == SWIM_FAILED || mem->status == SWIM_LEFT) && old != (int)mem->status) {
		char who[32];
		wire_addr_str(mem->addr, who, sizeof(who));
		c->lost_ms = loop_now_ms();
		log_msg(LOG_WARN, "coordinator: failover: coordinator %s is %s (epoch %llu)", who,
			mem->status == SWIM_LEFT ? "gone (left)" : "declared failed",
			(unsigned long long)c->known_epoch);
	}
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
			 "coord_record_errors %llu\ncoord_commands %llu\ncoord_redirects %llu\n"
			 "coord_durable_seq %llu\ncoord_standby_snapshots %llu\n"
			 "coord_standby_records_sent %llu\ncoord_standby_resyncs %llu\n"
			 "standby_records_applied %llu\nstandby_snapshots %llu\n"
			 "standby_gaps %llu\nstandby_refused %llu\n",
			 c->active, (unsigned long long)c->epoch,
			 (unsigned long long)c->n_dispatched, (unsigned long long)c->n_results,
			 (unsigned long long)c->n_refused, (unsigned long long)c->n_streams,
			 (unsigned long long)c->n_stream_fail, (unsigned long long)c->n_records,
			 (unsigned long long)c->n_record_errors, (unsigned long long)c->n_cmds,
			 (unsigned long long)c->n_redirects,
			 (unsigned long long)(c->active ? coord_durable_seq(c) : 0),
			 (unsigned long long)c->repl.snaps, (unsigned long long)c->repl.recs_sent,
			 (unsigned long long)c->repl.resyncs, (unsigned long long)c->follow.applied,
			 (unsigned long long)c->follow.snaps, (unsigned long long)c->follow.gaps,
			 (unsigned long long)c->follow.refused);
	if (n < 0 || (size_t)n >= cap)
		return n < 0 ? 0 : cap;
	n += (int)coord_persist_stats(c, buf + n, cap - (size_t)n);
	return (size_t)n + coord_submit_stats(c, buf + n, cap - (size_t)n);
}

static void cancel(void *m)
{
	struct coord *c = m;

	c->active = 0;
	coord_repl_stop(c);
	if (c->follow.conn)
		conn_close(c->follow.conn);
	coord_streams_close_all(c);
	coord_submit_close_all(c);
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
	if (!ret)
		ret = coord_follow_new(c);
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
	coord_repl_stop(c);
	coord_follow_reset(c);
	coord_ixcache_free(c);
	coord_jobs_reset(c);
	coord_submit_free(c);
	coord_recover_free(c);
	coord_persist_free(c);
	free(c);
}
