/*
 * sdfs_plan.h - a repair round's decisions, from the listings alone.
 *
 * Pure: listings in, actions out; no I/O, no clock, no loop, so rounds are
 * tested on generated listings (tests/test_sdfs_plan.c).  For every live
 * version of every file (one not covered by any member's deletion marker)
 * the targets are its first `replicas` ranked members among those listed
 * (place.h).  Of the members holding it, the one ranked highest pushes it
 * to each target lacking it, so exactly one member copies each missing
 * replica; a target that lost a corrupt replica (ask) asks that member
 * instead.  This member drops versions covered by a marker, and drops a
 * name it is no longer a target of once every target holds every live
 * version it has.
 *
 * Cost: O(E log E) for E listed entries (one sort), plus one ranking of
 * the listed members per name held here (per name, when asking).
 */
#ifndef IDUNNO_SDFS_PLAN_H
#define IDUNNO_SDFS_PLAN_H

#include "sdfs/store.h"
#include "wire/wire.h"

#include <stddef.h>
#include <stdint.h>

struct sdfs_plan_entry {
	char name[STORE_NAME_MAX + 1];
	uint64_t version;
	int tomb; /* a deletion marker: versions up to this one are gone */
};

/* One member's store, as its LIST answer said (any order). */
struct sdfs_plan_list {
	struct wire_addr who;
	int ok; /* answered; a member that did not is left out of the round */
	int n, cap;
	struct sdfs_plan_entry *e;
};

enum sdfs_plan_op {
	SDFS_PLAN_PUSH,	     /* send (name, version) to `to` */
	SDFS_PLAN_ASK,	     /* ask `to` to push (name, version) here */
	SDFS_PLAN_DROP_UPTO, /* drop the versions of name up to version (a marker) */
	SDFS_PLAN_DROP_NAME, /* drop every version of name: its targets hold them */
	SDFS_PLAN_OP_MAX
};

extern const char *const sdfs_plan_op_names[SDFS_PLAN_OP_MAX];

struct sdfs_action {
	enum sdfs_plan_op op;
	char name[STORE_NAME_MAX + 1];
	uint64_t version;
	struct wire_addr to;
};

struct sdfs_plan_in {
	const struct sdfs_plan_list *lists;
	int nlists;
	struct wire_addr self;
	int replicas;
	int ask; /* this member lost a corrupt replica: ask for what it lacks */
};

/* Appends an entry to a listing (grows it). */
void sdfs_plan_list_add(struct sdfs_plan_list *l, const char *name, uint64_t version, int tomb);
void sdfs_plan_list_free(struct sdfs_plan_list *l);

/*
 * Plans a round.  *out (malloc'd, the caller frees) gets the actions:
 * drops first, then pushes and asks, each in name order.  Returns how
 * many.  Without an ok listing of its own a member plans no drops.
 */
int sdfs_plan(const struct sdfs_plan_in *in, struct sdfs_action **out);

#endif
