/*
 * engine_sup.h - the agent's supervision of its engine process: it
 * creates the shared-memory ring, starts `engine serve` on it, learns of
 * completions through an eventfd and of the engine's exit through a
 * pidfd (both read by the loop: no polling, no waitpid(-1)), restarts a
 * crashed engine with back-off and re-runs what was in flight (the ring
 * keeps every submitted, uncompleted entry: each completes once), kills
 * and restarts an engine that makes no progress within a deadline
 * derived from the batches' expected times, and reports an engine that
 * crashes at start over and over instead of restarting it in a loop.
 */
#ifndef IDUNNO_ENGINE_SUP_H
#define IDUNNO_ENGINE_SUP_H

#include "ring.h"

#include <stddef.h>
#include <stdint.h>

struct loop;
struct engine_sup;

enum engine_state {
	ENGINE_OFF,	  /* --no-engine: this agent runs no batches */
	ENGINE_STARTING,  /* spawned, not attached yet */
	ENGINE_RUNNING,	  /* attached to the ring */
	ENGINE_BACKOFF,	  /* exited; restarting after a pause */
	ENGINE_CRASHLOOP, /* exited at start again and again; retried rarely */
	ENGINE_STOPPING,  /* the agent is shutting down */
	ENGINE_STATE_MAX
};
extern const char *const engine_state_names[ENGINE_STATE_MAX];

struct engine_sup_env {
	struct loop *loop;
	const char *engine;   /* the engine binary; NULL: ENGINE_OFF */
	int threads;	      /* its compute threads */
	const char *log_path; /* the engine's stderr goes here */
	const char *ring_name;
	uint32_t ring_slots; /* entries per queue (a power of two) */
	size_t ring_bytes;   /* its data area */
	/* An entry completed: its results are at res (c->batch of them),
	 * valid during the call only. */
	void (*done)(void *arg, const struct ring_cqe *c, const struct ring_result *res);
	/* The engine went up or down. */
	void (*changed)(void *arg, enum engine_state s);
	void *arg;
};

/* Creates the ring and starts the engine (env's strings are copied). 0 or
 * -errno with err filled. */
int engine_sup_new(const struct engine_sup_env *env, struct engine_sup **out, char *err,
		   size_t errlen);
void engine_sup_free(struct engine_sup *e);

enum engine_state engine_sup_state(const struct engine_sup *e);
struct ring *engine_sup_ring(struct engine_sup *e);

/*
 * Submits an entry (e->batch, e->model, e->flags, e->job, e->query set by
 * the caller) whose inputs, in_len bytes, are copied into the ring.
 * expected_ms is how long the batch should take: the hang deadline
 * follows from it.  Returns 0 with e->seq set, -EAGAIN when the ring is
 * full (try again after a completion), -E2BIG, or -ENODEV (no engine).
 */
int engine_sup_submit(struct engine_sup *e, struct ring_sqe *sqe, const void *in, size_t in_len,
		      uint64_t expected_ms);
/* "engine STATE", its restarts and its last exit, as "key value" lines. */
size_t engine_sup_describe(const struct engine_sup *e, char *buf, size_t cap);
/* The engine's pid (0 when none runs). */
int engine_sup_pid(const struct engine_sup *e);
/* Entries submitted and not completed. */
uint32_t engine_sup_inflight(const struct engine_sup *e);

#endif
