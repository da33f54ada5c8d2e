/*
 * roles.h - who is the coordinator and who its hot standby, computed by
 * every agent from its membership view alone.  Pure: no I/O, no clock, no
 * state of its own; the same inputs give the same answer on every node.
 *
 * The rule (docs/tasks.md, "Coordinator state and roles"):
 *
 *  - Rank is address order (IPv4, then port): the same everywhere and
 *    independent of incarnations, which change on every refutation and
 *    restart.
 *  - Sticky coordinator: the coordinator of the highest epoch known stays
 *    coordinator while it is in the view as alive or suspect (and not
 *    declared lost by the caller).  A node that fails and comes back
 *    rejoins as an ordinary member: by then a newer epoch names another
 *    coordinator, so nothing flaps.
 *  - Takeover: when that coordinator is failed, left, absent or lost, the
 *    epoch's standby becomes coordinator with epoch + 1 once it is alive
 *    (while it is only suspect nobody takes over: its state is the hot
 *    one); if the standby is gone too (failed, left, absent, none), the
 *    lowest-ranked alive member does, cold: it rebuilds from SDFS.  Epoch
 *    0 (a new cluster, nothing to rebuild) starts the same way.
 *  - Majority: a takeover needs a majority of the cluster's known members
 *    alive in the view, and a coordinator dispatches (active) only while
 *    it sees such a majority.  Suspects do not count towards it, so a
 *    coordinator cut off stops when it merely suspects the others, before
 *    they have declared it failed and taken over.  The cluster's size is
 *    an input that never shrinks when SWIM reaps failed members (only a
 *    voluntary leave lowers it), so a minority cannot become a majority by
 *    forgetting the others.
 *  - Sticky standby: the epoch's standby stays while alive or suspect;
 *    otherwise the first alive member after the coordinator in rank order
 *    (wrapping around) is named.
 */
#ifndef IDUNNO_ROLES_H
#define IDUNNO_ROLES_H

#include "membership/swim.h"

#include <stdint.h>

enum roles_role { ROLES_WORKER, ROLES_STANDBY, ROLES_COORDINATOR, ROLES_ROLE_MAX };
extern const char *const roles_role_names[ROLES_ROLE_MAX];

struct roles_input {
	const struct swim_member *members; /* the view, self included, any order */
	int n;
	struct wire_addr self;
	uint64_t epoch;		      /* the highest epoch known (0: none yet) */
	struct wire_addr coordinator; /* that epoch's coordinator (ip 0: none) */
	struct wire_addr standby;     /* the standby it named last (ip 0: none) */
	uint32_t cluster_size;	      /* members known to the cluster (see above) */
	uint8_t coordinator_lost;     /* the caller's own evidence that the coordinator is
				       * gone: its stream closed and SWIM suspects it */
};

struct roles {
	struct wire_addr coordinator; /* ip 0: none (no majority for a takeover) */
	struct wire_addr standby;     /* ip 0: none */
	uint64_t epoch;		      /* the coordinator's epoch */
	uint8_t takeover; /* the coordinator is new: it must start epoch `epoch` first */
	uint8_t cold;	  /* ... and it was not the standby: it rebuilds from SDFS */
	uint8_t active;	  /* a majority is alive in this view: the coordinator may dispatch */
	enum roles_role self;
	uint32_t alive;	   /* members alive in the view, self included */
	uint32_t known;	   /* max(cluster_size, members in the view not left) */
	uint32_t majority; /* known / 2 + 1 */
};

/* Computes the roles from in (see the rule above) into out. */
void roles_compute(const struct roles_input *in, struct roles *out);

#endif
