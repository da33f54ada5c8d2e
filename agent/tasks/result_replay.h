/*
 * result_replay.h - a job's results read back from its parts in SDFS
 * (result_part.h), applied again as the records that made them (pure: no
 * I/O, no clock).  A cold recovery (coord_recover.c) rebuilds a state so.
 *
 * In rseq order, a dataset query's result goes into a RESULTS record (up
 * to COORD_REC_Q_MAX answers each); a client's query is first accepted
 * again (a QUERIES_ACCEPTED of the one query, for its client and client
 * id), which gives it a new query id in the rebuilt state, and its result
 * follows under that id.  Every answer must be NEW to the state, so the
 * rebuilt state numbers its results exactly as the parts do.
 */
#ifndef IDUNNO_RESULT_REPLAY_H
#define IDUNNO_RESULT_REPLAY_H

#include "tasks/coord_log.h"

/* Applies r (its seq is the callee's to set): 0 or an error; eff filled. */
typedef int (*result_replay_fn)(void *arg, struct coord_rec *r, struct coord_effect *eff);

struct result_replay {
	result_replay_fn apply;
	void *arg;
	char job[COORD_JOB_ID_MAX + 1];
	struct coord_rec *acc, *res; /* malloc'd: records are large */
	struct coord_effect *eff;
};

void result_replay_init(struct result_replay *rp, const char *job, result_replay_fn apply,
			void *arg);
void result_replay_free(struct result_replay *rp);
/* One result, after the one before it in rseq: 0, or -EINVAL when a
 * record was refused or an answer was not new (nothing more may follow). */
int result_replay_add(struct result_replay *rp, const struct coord_result *res);
/* Applies the answers held: 0 or -EINVAL (as above). */
int result_replay_flush(struct result_replay *rp);

#endif
