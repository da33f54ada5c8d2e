/*
 * sdfs_plan.c - a repair round's decisions (see sdfs_plan.h).
 *
 * Every entry of every listing becomes one record; one sort brings each
 * name's records together (markers first, then versions, then members in
 * listing order), and one pass over them decides everything.
 */
#include "sdfs/sdfs_plan.h"
#include "sdfs/place.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TARGETS 64 /* place_replicas' own limit */

const char *const sdfs_plan_op_names[SDFS_PLAN_OP_MAX] = {
	[SDFS_PLAN_PUSH] = "push",
	[SDFS_PLAN_ASK] = "ask",
	[SDFS_PLAN_DROP_UPTO] = "drop-deleted",
	[SDFS_PLAN_DROP_NAME] = "drop-moved",
};

struct rec {
	const char *name;
	uint64_t version;
	int list;
	int tomb;
};

/* A member's address and its listing, sorted by address for lookups. */
struct member {
	uint64_t key;
	int list;
};

struct plan {
	const struct sdfs_plan_in *in;
	struct wire_addr *live; /* the members that answered, in listing order */
	int nlive;
	struct member *by_addr;
	int me; /* this member's listing, or -1 */
	struct sdfs_action *out;
	int n, cap;
};

void sdfs_plan_list_add(struct sdfs_plan_list *l, const char *name, uint64_t version, int tomb)
{
	struct sdfs_plan_entry *e;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->e = realloc(l->e, (size_t)l->cap * sizeof(*l->e));
		ASSERT(l->e);
	}
	e = &l->e[l->n++];
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->version = version;
	e->tomb = tomb;
}

void sdfs_plan_list_free(struct sdfs_plan_list *l)
{
	free(l->e);
	l->e = NULL;
	l->n = l->cap = 0;
}

static int cmp_rec(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	if (x->tomb != y->tomb)
		return y->tomb - x->tomb; /* markers first */
	if (x->version != y->version)
		return x->version < y->version ? -1 : 1;
	return x->list - y->list;
}

static uint64_t addr_key(struct wire_addr a)
{
	return (uint64_t)a.ip << 16 | a.port;
}

static int cmp_member(const void *a, const void *b)
{
	const struct member *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

/* The listing of a member that answered, or -1. */
static int list_of(const struct plan *p, struct wire_addr a)
{
	struct member k = {addr_key(a), 0};
	const struct member *m = bsearch(&k, p->by_addr, (size_t)p->nlive, sizeof(k), cmp_member);

	return m ? m->list : -1;
}

static void emit(struct plan *p, enum sdfs_plan_op op, const char *name, uint64_t version,
		 struct wire_addr to)
{
	struct sdfs_action *a;

	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 16;
		p->out = realloc(p->out, (size_t)p->cap * sizeof(*p->out));
		ASSERT(p->out);
	}
	a = &p->out[p->n++];
	a->op = op;
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->version = version;
	a->to = to;
}

static int holds(const int *holders, int nh, int list)
{
	for (int i = 0; i < nh; i++)
		if (holders[i] == list)
			return 1;
	return 0;
}

/*
 * One name: its records r[0..n) (markers first, then versions ascending,
 * each version's holders in listing order).  Pushes and asks go to out,
 * this member's drops to drops.
 */
static void plan_name(struct plan *p, struct plan *drops, const struct rec *r, int n, int *holders)
{
	const struct sdfs_plan_in *in = p->in;
	const char *name = r[0].name;
	struct wire_addr targets[MAX_TARGETS];
	int tl[MAX_TARGETS], nt = -1, i = 0, stale = 0, mine = 0, all = 1, self_target = 0;
	uint64_t tomb = 0;
	int involved = in->ask;

	/* Every action starts from a version held here (a push, a drop) or
	 * lost here (an ask): other names cost no ranking. */
	for (int j = 0; j < n && !involved; j++)
		involved = r[j].list == p->me && !r[j].tomb;
	if (!involved)
		return;
	for (; i < n && r[i].tomb; i++)
		tomb = MAX(tomb, r[i].version);
	while (i < n) {
		uint64_t v = r[i].version;
		struct wire_addr pusher = {0, 0};
		uint64_t best = 0;
		int nh = 0, held_here = 0;
		for (; i < n && r[i].version == v; i++) {
			const struct wire_addr who = in->lists[r[i].list].who;
			uint64_t w;
			if (nh && holders[nh - 1] == r[i].list)
				continue; /* listed twice by one member */
			holders[nh++] = r[i].list;
			held_here |= r[i].list == p->me;
			w = place_weight(name, who);
			if (!pusher.ip || w > best) {
				best = w;
				pusher = who;
			}
		}
		if (v <= tomb) { /* deleted: never copied again, dropped here */
			stale |= held_here;
			continue;
		}
		if (nt < 0) {
			nt = place_replicas(name, p->live, p->nlive, in->replicas, targets);
			for (int t = 0; t < nt; t++) {
				tl[t] = list_of(p, targets[t]);
				self_target |= tl[t] == p->me;
			}
		}
		for (int t = 0; t < nt; t++) {
			if (holds(holders, nh, tl[t])) {
				continue;
			}
			all &= !held_here; /* a target lacks a version held here */
			if (wire_addr_eq(pusher, in->self))
				emit(p, SDFS_PLAN_PUSH, name, v, targets[t]);
			else if (in->ask && tl[t] == p->me)
				emit(p, SDFS_PLAN_ASK, name, v, pusher);
		}
		mine += held_here;
	}
	if (stale)
		emit(drops, SDFS_PLAN_DROP_UPTO, name, tomb, (struct wire_addr){0, 0});
	if (mine && !self_target && all && nt == MIN(in->replicas, p->nlive))
		emit(drops, SDFS_PLAN_DROP_NAME, name, 0, (struct wire_addr){0, 0});
}

int sdfs_plan(const struct sdfs_plan_in *in, struct sdfs_action **out)
{
	struct plan p = {.in = in, .me = -1}, drops = {.in = in};
	struct rec *r;
	int *holders;
	size_t nr = 0, total = 0;

	p.live = xcalloc((size_t)in->nlists + 1, sizeof(*p.live));
	p.by_addr = xcalloc((size_t)in->nlists + 1, sizeof(*p.by_addr));
	for (int i = 0; i < in->nlists; i++) {
		if (!in->lists[i].ok)
			continue;
		if (wire_addr_eq(in->lists[i].who, in->self))
			p.me = i;
		p.by_addr[p.nlive] = (struct member){addr_key(in->lists[i].who), i};
		p.live[p.nlive++] = in->lists[i].who;
		total += (size_t)in->lists[i].n;
	}
	qsort(p.by_addr, (size_t)p.nlive, sizeof(*p.by_addr), cmp_member);
	r = xcalloc(total + 1, sizeof(*r));
	for (int i = 0; i < in->nlists; i++)
		for (int j = 0; in->lists[i].ok && j < in->lists[i].n; j++) {
			const struct sdfs_plan_entry *e = &in->lists[i].e[j];
			r[nr++] = (struct rec){e->name, e->version, i, e->tomb};
		}
	qsort(r, nr, sizeof(*r), cmp_rec);
	holders = xcalloc((size_t)in->nlists + 1, sizeof(*holders));
	for (size_t i = 0, j; i < nr; i = j) {
		for (j = i + 1; j < nr && !strcmp(r[j].name, r[i].name); j++)
			;
		plan_name(&p, &drops, r + i, (int)(j - i), holders);
	}
	/* drops first, then pushes and asks */
	for (int i = 0; i < p.n; i++)
		emit(&drops, p.out[i].op, p.out[i].name, p.out[i].version, p.out[i].to);
	free(p.out);
	free(holders);
	free(r);
	free(p.live);
	free(p.by_addr);
	*out = drops.out;
	return drops.n;
}
