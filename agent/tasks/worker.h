/*
 * worker.h - every agent's worker: it takes batches of queries from the
 * coordinator over a task stream (task_wire.h), makes the batch's model
 * and dataset shards local (cache.h, fetched once from SDFS), has its
 * engine run them (engine_sup.h: JPEG references into the cached shards,
 * so image bytes never pass through the agent), and answers each batch
 * with one RESULT: per query its top-5, its service and ring-wait times,
 * or its own error (a corrupt image fails only its query).
 *
 * A DISPATCH from an epoch lower than the highest the worker has seen is
 * refused (REFUSE, IDN_ESTALE_EPOCH); one naming an unknown model,
 * dataset or image is refused with the reason.  A batch in the engine
 * when it crashes or hangs is run again by the restarted engine and
 * answered once.
 */
#ifndef IDUNNO_WORKER_H
#define IDUNNO_WORKER_H

#include "wire/wire_addr.h"

#include <stddef.h>
#include <stdint.h>

struct loop;
struct conns;
struct sdfs_client;
struct worker;

#define WORKER_DEFAULT_SLOTS 2 /* batches at once, so the engine never waits on the network */

struct worker_env {
	struct loop *loop;
	struct conns *conns;
	struct sdfs_client *sdfs;
	const char *data_dir; /* the cache and the engine's log go here */
	const char *engine;   /* the engine binary, or NULL for --no-engine */
	int engine_threads;
	const char *ring_name; /* unique on this machine */
	int slots;	       /* batches at once it advertises */
	uint64_t cache_limit;  /* bytes of models and shards kept */
	/* A HELLO was accepted: the coordinator of the highest epoch seen
	 * (may be NULL). */
	void (*hello)(void *arg, uint64_t epoch, struct wire_addr coordinator,
		      struct wire_addr standby);
	void *arg;
};

/* env's strings need to live only through this call. 0 or -errno with err. */
int worker_new(const struct worker_env *env, struct worker **out, char *err, size_t errlen);
void worker_free(struct worker *w);

/* "key value" lines for `agent self` and stats: engine state, latency
 * source, epoch. */
size_t worker_describe(const struct worker *w, char *buf, size_t cap);

#endif
