/*
 * ring.h - the shared-memory ring between an agent (the producer, which
 * creates and owns it) and its engine (the consumer).
 *
 * One POSIX shared-memory object holds a header, a submission queue (SQ),
 * a completion queue (CQ), both single-producer single-consumer, and a data
 * area.  The agent writes a batch's inputs into the data area once and
 * submits an entry naming their offset; the engine reads them in place,
 * writes top-5 results to the output offset the entry names, and posts a
 * completion.  A waiting side spins briefly, then sleeps on a futex in the
 * shared memory (never burning a core on waiting).
 *
 * Fault handling: the producer keeps every submitted, uncompleted entry.
 * When the engine dies, ring_recover() drains completions already posted
 * and puts the rest back on the SQ in order, so a restarted engine (which
 * attaches with a new generation number) runs each exactly once; a
 * completion whose entry is not in flight is dropped and counted.  The
 * engine learns that its owner died through a lock the owner holds.
 */
#ifndef IDUNNO_RING_H
#define IDUNNO_RING_H

#include <stddef.h>
#include <stdint.h>

#define RING_MAGIC	0x49444e52u /* "IDNR" */
#define RING_VERSION	1
#define RING_MAX_MODELS 4
#define RING_PATH_MAX	256

/* Entry flags. */
#define RING_F_NOWORK 1u /* complete at once, without running a model (benchmarks) */

struct ring_sqe {
	uint64_t seq;	     /* set by ring_submit: unique, increasing */
	uint64_t query;	     /* the query id */
	uint32_t job;	     /* the job id */
	uint32_t model;	     /* index into the ring's model table */
	uint32_t batch;	     /* images in this batch */
	uint32_t flags;	     /* RING_F_* */
	uint64_t in_off;     /* inputs: batch x 3x224x224 float32, NCHW */
	uint64_t out_off;    /* outputs: batch x struct ring_result */
	uint64_t enqueue_ns; /* CLOCK_MONOTONIC when submitted (set by ring_submit) */
};

struct ring_cqe {
	uint64_t seq;
	uint64_t query;
	uint32_t job;
	int32_t status; /* 0, or a negative errno */
	uint32_t batch;
	uint32_t gen;			       /* the engine generation that ran it */
	uint64_t out_off;		       /* where its results are: the entry's out_off */
	uint64_t enqueue_ns, start_ns, end_ns; /* CLOCK_MONOTONIC: ring wait, service */
};

struct ring_result {
	int32_t idx[5];
	float prob[5];
};

/* Bytes of data area one batch of n images needs (inputs + results). */
size_t ring_batch_bytes(uint32_t n);

/* ---- producer (agent) side ---- */
struct ring;

/*
 * Creates ring name (a POSIX shm name without the slash) with nslots
 * entries per queue (a power of two) and data_size bytes of data.  Fails
 * with -EEXIST when a live owner already holds that name.
 */
int ring_create(const char *name, uint32_t nslots, size_t data_size, struct ring **out);
/* Tells the engine to load model slot's weights (before it attaches). */
int ring_set_model(struct ring *r, uint32_t slot, const char *model, const char *weights);
/* Asks the engine to exit, unmaps, and removes the shm name. */
void ring_destroy(struct ring *r);

void *ring_data(struct ring *r);
/*
 * Reserves data area for a batch of e->batch images and fills e->in_off
 * and e->out_off; the caller writes the inputs there, then submits.
 * Returns 0, -EAGAIN when the area or the queue is full (reap completions
 * first: nothing is lost), -E2BIG when the batch can never fit, -EBUSY
 * when a reservation is already pending.
 */
int ring_reserve(struct ring *r, struct ring_sqe *e);
/* Drops the pending reservation. */
void ring_unreserve(struct ring *r);
/*
 * Submits e, which must be the pending reservation; sets e->seq and
 * e->enqueue_ns.  The data is released when the entry completes.
 */
int ring_submit(struct ring *r, struct ring_sqe *e);
/* Up to max completions, without blocking. Returns how many. */
int ring_reap(struct ring *r, struct ring_cqe *out, int max);
/* Waits up to timeout_ms for a completion. 0, or -ETIMEDOUT. */
int ring_wait(struct ring *r, int timeout_ms);
uint32_t ring_inflight(const struct ring *r);
/* Waits up to timeout_ms until an engine of generation > gen attaches. */
int ring_wait_engine(struct ring *r, uint32_t gen, int timeout_ms);
/* The engine's pid and generation as it last attached (0 before). */
int ring_engine_pid(const struct ring *r);
uint32_t ring_engine_gen(const struct ring *r);
/*
 * After the engine died: keeps the completions it posted, puts every
 * other in-flight entry back on the SQ in order.  Returns how many were
 * resubmitted.
 */
int ring_recover(struct ring *r);
/* Completions dropped because their entry was not in flight. */
uint64_t ring_duplicates(const struct ring *r);

/* ---- consumer (engine) side ---- */
struct ring_engine;

/* Attaches to ring name; bumps the generation. 0, or -errno / -EPROTO. */
int ring_attach(const char *name, struct ring_engine **out);
void ring_detach(struct ring_engine *e);
uint32_t ring_gen(const struct ring_engine *e);
void *ring_engine_data(struct ring_engine *e);
size_t ring_engine_data_size(const struct ring_engine *e);
/* Model table entries the owner set; NULL when the slot is empty. */
const char *ring_model_name(const struct ring_engine *e, uint32_t slot);
const char *ring_model_weights(const struct ring_engine *e, uint32_t slot);
/*
 * Takes the next entry, waiting up to timeout_ms.  Returns 0, -ETIMEDOUT,
 * or -EPIPE when the owner asked the engine to stop or died.
 */
int ring_next(struct ring_engine *e, struct ring_sqe *out, int timeout_ms);
/* Posts a completion and wakes the owner if it sleeps. */
void ring_complete(struct ring_engine *e, const struct ring_cqe *c);

#endif
