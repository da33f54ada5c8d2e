/*
 * coord.h - the coordinator (design section 5): on the node the role rule
 * names, it keeps a task stream to every live member running an engine,
 * runs jobs over datasets in SDFS through the fair-time scheduler
 * (sched.h), and keeps each job's results, every change of state being one
 * record applied by coord_state_apply (coord_log.h).  On every other node
 * it is idle and answers the job commands (coord_rpc.h) with the
 * coordinator's address.
 *
 * First step (docs/tasks.md, "Coordinator (first step)"): the role is
 * provisional, the lowest-addressed alive member, with an epoch taken from
 * the wall clock when it becomes active; no standby, results in memory.
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
};

/* Registers the module and the job commands' route. 0 or -errno. */
int coord_new(const struct coord_env *env, struct coord **out);
void coord_free(struct coord *c);

/* "key value" lines for `agent self`: role, coordinator, epoch. */
size_t coord_describe(const struct coord *c, char *buf, size_t cap);

#endif
