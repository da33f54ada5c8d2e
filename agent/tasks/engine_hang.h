/*
 * engine_hang.h - when the agent calls its engine hung: a pure,
 * clock-injected rule (engine_sup.c feeds it; tests/test_engine_hang.c
 * drives it at given times).
 *
 * With entries in flight, the engine must complete one within 3x the
 * longest expected time in flight plus a slack, counted from its last
 * progress: a completion, the submit that ended its idleness, its attach,
 * or the end of a model load.  A load (the weights read, the plans built
 * and warmed) is progress of its own kind: while the ring says a model is
 * loading, only the load's own limit counts, and when the load ends the
 * clock starts again, so that ten engines loading a model on two cores
 * are not killed for the time their loads took.
 */
#ifndef IDUNNO_ENGINE_HANG_H
#define IDUNNO_ENGINE_HANG_H

#include <stdint.h>

#define HANG_SLACK_MS	 5000	/* beyond 3x the expected time */
#define HANG_LOAD_MAX_MS 120000 /* one model load, at most */

struct hang_clock {
	uint64_t progress_ms; /* the last progress (see above) */
	uint64_t expected_ms; /* the longest expected time among entries in flight */
	uint64_t load_since;  /* when the load in progress was first seen, or 0 */
};

/* A completion, an attach, or the submit that ended idleness, at now. */
void hang_progress(struct hang_clock *h, uint64_t now);

/*
 * One look at now: inflight (entries in the ring), loading (the ring says
 * a model is being loaded).  Returns 1 when the engine is hung; the
 * caller kills it and calls hang_progress (the verdict is given once).
 */
int hang_check(struct hang_clock *h, uint64_t now, unsigned inflight, int loading);

#endif
