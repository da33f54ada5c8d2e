/*
 * coord.h - the coordinator (design section 5): on the node the role rule
 * names, it keeps a task stream to every live member running an engine,
 * runs jobs over datasets in SDFS through the fair-time scheduler
 * (sched.h), and keeps each job's results, every change of state being one
 * record applied by coord_state_apply (coord_log.h).  On every other node
 * it is idle and answers the job commands (coord_rpc.h) with the
 * coordinator's address.
 *
 * Roles come from tasks/roles.h: sticky coordinator, epoch + 1 on a
 * takeover, a majority to dispatch; a node learns the sitting coordinator
 * and its epoch from the HELLO its worker accepts.  First step
 * (docs/tasks.md, "Coordinator (first step)"): a standby is named but fed
 * nothing, so a takeover by it starts empty; results go to SDFS in parts,
 * and a cold takeover rebuilds the jobs from SDFS (coord_persist.c,
 * coord_recover.c).
 */
#ifndef IDUNNO_COORD_H
#define IDUNNO_COORD_H

#include "wire/wire.h"

#include <stddef.h>

struct loop;
struct conns;
struct sdfs_client;
struct swim;
struct coord;

struct coord_env {
	struct loop *loop;
	struct conns *conns;
	struct sdfs_client *sdfs;
	struct swim *swim;
	struct wire_addr self;
	int joining; /* started with --join: claim nothing before another member is seen */
	int never;   /* --no-coordinator: never active (if the rule names it, nobody is) */
	/* queued queries per job in the scheduler (0: its default) */
	uint32_t queue_max;
};

/* Registers the module and the job commands' route. 0 or -errno. */
int coord_new(const struct coord_env *env, struct coord **out);
void coord_free(struct coord *c);

/* The worker accepted a HELLO: epoch's coordinator and the standby it
 * feeds (roles.h's input: every node names the same standby). */
void coord_learn(struct coord *c, uint64_t epoch, struct wire_addr coordinator,
		 struct wire_addr standby);

/* "key value" lines for `agent self`: role, coordinator, standby, epoch. */
size_t coord_describe(const struct coord *c, char *buf, size_t cap);

struct prom_buf;
/* The per-job series for /metrics (coord_metrics.c); nothing unless active. */
void coord_metrics(struct coord *c, struct prom_buf *b);

#endif
