/*
 * sdfs_repair.c - repair rounds: keeping every file at its replica count
 * after failures and rebalancing after joins.
 *
 * A round lists every live member's store (this one's from its index, the
 * others' with a LIST call each, at most MAX_LIST_CALLS at once so that a
 * large membership cannot take every stream slot), hands the listings to
 * the planner (sdfs_plan.h), drops at once what it says to drop, and runs
 * its pushes MAX_PUSH at a time.  Rounds run REPAIR_DELAY_MS after a
 * membership change and every REPAIR_PERIOD_MS, each with a random
 * REPAIR_JITTER_MS so that members do not all list each other at once.
 */
#include "core/log.h"
#include "core/loop.h"
#include "sdfs/sdfs_int.h"
#include "util.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_addr(const void *a, const void *b)
{
	const struct wire_addr *x = a, *y = b;
	uint64_t kx = (uint64_t)x->ip << 16 | x->port, ky = (uint64_t)y->ip << 16 | y->port;

	return kx < ky ? -1 : kx > ky;
}

/* Every live member, this one included, sorted by address, into *out
 * (malloc'd, the caller frees).  Returns how many. */
int sdfs_live_members(struct sdfs *s, struct wire_addr **out)
{
	int cap = 64, n;

	*out = NULL;
	for (;;) {
		*out = realloc(*out, (size_t)cap * sizeof(**out));
		ASSERT(*out);
		n = s->env.live(s->env.arg, *out, cap);
		if (n < cap)
			break;
		cap *= 2; /* it may have more: ask again with room for them */
	}
	qsort(*out, (size_t)n, sizeof(**out), cmp_addr);
	return n;
}

void repair_members_changed(struct sdfs *s, uint64_t now_ms)
{
	/* a burst of changes: one round after; every member hears of a change
	 * at about the same time, so spread their rounds over half a second */
	s->repair_at = now_ms + REPAIR_DELAY_MS + randombytes_uniform(REPAIR_JITTER_MS);
}

/* A push ended: the target's last word, or a failure made up here. */
void repair_push_done(struct sdfs *s, struct xfer *x, const uint8_t *ans, size_t len)
{
	const char *text;
	size_t tlen;
	int status;
	char to[32];

	sdfs_status_decode(ans, len, &status, &text, &tlen);
	wire_addr_str(x->peer, to, sizeof(to));
	if (status == 0 || status == EEXIST) {
		sdfs_backoff_ok(&s->full, x->peer);
		s->n_pushed += status == 0;
		log_msg(LOG_INFO, "sdfs: pushed %s v%llu to %s (%.1f ms)", x->req.name,
			(unsigned long long)x->version, to,
			(double)(util_now_ns() - x->started) / 1e6);
	} else {
		s->n_push_failed++;
		log_msg(LOG_WARN, "sdfs: push of %s v%llu to %s failed: %.*s", x->req.name,
			(unsigned long long)x->version, to, (int)MIN(tlen, 200u), text);
		if (status == ENOSPC || status == EDQUOT) {
			uint64_t now = loop_now_ms();
			sdfs_backoff_full(&s->full, x->peer, now);
			log_msg(LOG_WARN,
				"sdfs: no repair pushes to %s for %llu s: its disk is full", to,
				(unsigned long long)sdfs_backoff_wait(&s->full, x->peer, now) /
					1000);
		}
	}
}

static void run_todo(struct sdfs *s)
{
	if (loop_stopping(s->loop))
		return;
	while (s->todo_next < s->ntodo && s->pushes < MAX_PUSH) {
		struct sdfs_action *a = &s->todo[s->todo_next++];
		if (a->op == SDFS_PLAN_ASK) {
			struct sdfs_req r = {.cmd = SDFS_REPAIR, .version = a->version, .ncand = 1};
			snprintf(r.name, sizeof(r.name), "%s", a->name);
			r.cand[0] = s->env.self;
			call_start(s, a->to, &r, NULL, 0);
		} else if (a->op == SDFS_PLAN_PUSH &&
			   sdfs_backoff_wait(&s->full, a->to, loop_now_ms())) {
			s->n_push_deferred++; /* its disk is full: not this round */
		} else if (a->op == SDFS_PLAN_PUSH &&
			   push_start(s, a->name, a->version, a->to) == -EBUSY) {
			s->todo_next--;
			break;
		}
	}
}

/* Every listing is in: decide (sdfs_plan.h), drop at once, push and ask. */
static void round_plan(struct sdfs *s)
{
	struct sdfs_plan_in in = {s->lists, s->nlists, s->env.self, s->env.replicas, s->round_ask};
	int nlive = 0, pushes = 0, asks = 0, drops = 0, tried = 0;

	for (int i = 0; i < s->nlists; i++)
		nlive += s->lists[i].ok;
	free(s->todo);
	s->ntodo = sdfs_plan(&in, &s->todo);
	s->todo_next = 0;
	s->round_active = 0;
	for (int i = 0; i < s->ntodo; i++) {
		const struct sdfs_action *a = &s->todo[i];
		switch (a->op) {
		case SDFS_PLAN_PUSH:
			pushes++;
			break;
		case SDFS_PLAN_ASK:
			asks++;
			break;
		case SDFS_PLAN_DROP_UPTO: /* a delete this member missed */
			tried++;
			if (store_tomb_set(s->store, a->name, a->version) > 0) {
				drops++;
				log_msg(LOG_INFO, "sdfs: dropped %s up to v%llu: it was deleted",
					a->name, (unsigned long long)a->version);
			}
			break;
		case SDFS_PLAN_DROP_NAME: /* a member joined: the copies here moved */
			tried++;
			if (store_delete(s->store, a->name) == 0) {
				drops++;
				s->n_dropped++;
				log_msg(LOG_INFO,
					"sdfs: dropped %s: its replicas are elsewhere now",
					a->name);
			}
			break;
		default:
			break;
		}
	}
	if (tried)
		sdfs_sync_dir(s, NULL);
	if (pushes || asks || drops)
		log_msg(LOG_INFO,
			"sdfs: repair round over %d members: %d pushes, %d asks, %d drops", nlive,
			pushes, asks, drops);
	run_todo(s);
}

static int listed(void *arg, const char *name, uint64_t version, uint64_t size)
{
	if (store_name_check(name, NULL, 0) == 0)
		sdfs_plan_list_add(arg, name, version, size == SDFS_TOMB_SIZE);
	return 0;
}

static int listed_tomb(void *arg, const char *name, uint64_t upto, uint64_t size)
{
	(void)size;
	return listed(arg, name, upto, SDFS_TOMB_SIZE);
}

static void round_pump(struct sdfs *s);

static void list_done(struct sdfs *s, struct xfer *x, const uint8_t *ans, size_t len)
{
	struct sdfs_plan_list *l = &s->lists[x->tag];

	if (ans[0] == 0)
		l->ok = sdfs_list_decode(ans, len, listed, l) == 0;
	s->list_calls--;
	round_pump(s);
}

/*
 * Asks for the next listings, at most MAX_LIST_CALLS at once, so a large
 * membership cannot take every stream slot; when no slot is free the next
 * tick tries again.  Plans once every listing is in or has failed.
 */
static void round_pump(struct sdfs *s)
{
	struct sdfs_req r = {.cmd = SDFS_LIST, .want = 1}; /* no sizes needed */

	if (loop_stopping(s->loop)) { /* shutting down: the round is abandoned */
		s->round_active = s->list_calls > 0;
		return;
	}
	while (s->list_calls < MAX_LIST_CALLS && s->list_next < s->nlists) {
		int i = s->list_next, ret;
		if (wire_addr_eq(s->lists[i].who, s->env.self)) {
			s->list_next++;
			continue;
		}
		ret = call_start(s, s->lists[i].who, &r, list_done, i);
		if (ret == -EBUSY)
			break;
		s->list_next++;
		s->list_calls += ret == 0;
	}
	if (s->round_active && s->list_calls == 0 && s->list_next == s->nlists)
		round_plan(s);
}

static void round_start(struct sdfs *s)
{
	struct wire_addr *live;
	int n = sdfs_live_members(s, &live);

	for (int i = 0; i < s->nlists; i++)
		sdfs_plan_list_free(&s->lists[i]);
	free(s->lists);
	s->lists = xcalloc((size_t)n + 1, sizeof(*s->lists));
	s->nlists = n;
	s->list_next = s->list_calls = 0;
	s->round_active = 1;
	s->round_ask = s->ask;
	s->ask = 0;
	s->n_rounds++;
	for (int i = 0; i < n; i++) {
		s->lists[i].who = live[i];
		if (wire_addr_eq(live[i], s->env.self)) /* from the index: no call */
			s->lists[i].ok = store_list_names(s->store, listed, &s->lists[i]) == 0 &&
					 store_tomb_list(s->store, listed_tomb, &s->lists[i]) == 0;
	}
	free(live);
	round_pump(s);
}

/* Whether the store holds any version or deletion marker. */
static int holds_anything(struct sdfs *s)
{
	size_t markers;

	return store_held(s->store, &markers) > 0 || markers > 0;
}

uint64_t repair_tick(struct sdfs *s, uint64_t now_ms)
{
	if (s->round_active)
		round_pump(s); /* listings a full stream table held back */
	if (s->todo_next < s->ntodo)
		run_todo(s);
	if (now_ms >= s->repair_at && !s->round_active && s->todo_next >= s->ntodo &&
	    s->pushes == 0) {
		s->repair_at = now_ms + REPAIR_PERIOD_MS + randombytes_uniform(REPAIR_JITTER_MS);
		/* Every action of a round starts from what this member holds (a
		 * push, a drop) or has just lost (an ask): with neither, the
		 * round would only cost the others a listing each. */
		if (s->ask || holds_anything(s))
			round_start(s);
	}
	return s->repair_at;
}

void repair_free(struct sdfs *s)
{
	for (int i = 0; i < s->nlists; i++)
		sdfs_plan_list_free(&s->lists[i]);
	free(s->lists);
	free(s->todo);
}
