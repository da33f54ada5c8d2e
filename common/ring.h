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
 * Inputs are either float32 tensors in the data area or, with RING_F_JPEG,
 * references to JPEG bytes inside files the owner names in the ring's file
 * table (dataset shards): the engine reads, decodes and preprocesses each
 * image itself, so image bytes never pass through the agent.  Each image
 * has its own status: a bad one fails only itself.
 *
 * Models live in a table of slots the owner may change at any time; each
 * change bumps the slot's generation and the engine (re)loads it between
 * batches, reporting its view of every slot back in the shared memory.
 * The engine can signal completions (and model status changes) on an
 * eventfd, and publishes when its current entry started and how many it
 * completed, for the owner's hang detection.
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

#define RING_MAGIC	    0x49444e52u /* "IDNR" */
#define RING_VERSION	    2
#define RING_MAX_MODELS	    8
#define RING_MAX_FILES	    256
#define RING_PATH_MAX	    256
#define RING_NAME_MAX	    32		/* model names, with the NUL */
#define RING_MAX_BATCH	    1024	/* images per entry */
#define RING_MAX_JPEG_BATCH 256		/* with RING_F_JPEG (the engine holds the tensors) */
#define RING_IMG_MAX_LEN    (64u << 20) /* bytes of one JPEG reference */
#define RING_CLASSES	    1000	/* a result's class indexes are below this */

/* Entry flags. */
#define RING_F_NOWORK 1u /* complete at once, without running a model (benchmarks) */
#define RING_F_JPEG   2u /* inputs are batch x struct ring_img, not tensors */

struct ring_sqe {
	uint64_t seq;	     /* set by ring_submit: unique, increasing */
	uint64_t query;	     /* the query id */
	uint32_t job;	     /* the job id */
	uint32_t model;	     /* index into the ring's model table */
	uint32_t batch;	     /* images in this batch */
	uint32_t flags;	     /* RING_F_* */
	uint64_t in_off;     /* inputs: batch x 3x224x224 float32 NCHW, or x struct ring_img */
	uint64_t out_off;    /* outputs: batch x struct ring_result */
	uint64_t enqueue_ns; /* CLOCK_MONOTONIC when submitted (set by ring_submit) */
};

struct ring_cqe {
	uint64_t seq;
	uint64_t query;
	uint32_t job;
	int32_t status; /* 0 (some image may still have failed: see ring_result), or -errno */
	uint32_t batch;
	uint32_t gen;			       /* the engine generation that ran it */
	uint64_t out_off;		       /* where its results are: the entry's out_off */
	uint64_t enqueue_ns, start_ns, end_ns; /* CLOCK_MONOTONIC: ring wait, service */
};

/* One JPEG input: len bytes at off in file table entry `file`. */
struct ring_img {
	uint32_t file; /* index into the file table (ring_set_file) */
	uint32_t len;  /* 1 .. RING_IMG_MAX_LEN */
	uint64_t off;
};

/*
 * One image's result.  status: 0; -EBADMSG not a JPEG or corrupt (or too
 * large to decode); -EDOM its input or its logits hold a NaN or infinity;
 * -EIO its file slot is empty, the file cannot be opened or read, or the
 * range lies outside it or is longer than RING_IMG_MAX_LEN; or the entry's
 * own error when the entry failed as a whole.  idx is -1 and prob 0 where
 * status is not 0.
 */
struct ring_result {
	int32_t idx[5];
	float prob[5];
	int32_t status;
};

/*
 * One image's result as the owner takes it from the data area (the engine
 * wrote it): copied once into *out and checked.  Returns its status: 0
 * when it says 0 and every class index is in 0..RING_CLASSES-1 and every
 * probability in [0, 1]; its status when that is -errno; -EIO for
 * anything else.  Where the status is not 0, out's classes are -1 and its
 * probabilities 0.
 */
int ring_result_take(const struct ring_result *shared, struct ring_result *out);

/* Bytes of data area one batch of n images needs (inputs + results). */
size_t ring_batch_bytes(uint32_t n);
/* The same with RING_F_JPEG: n struct ring_img + n results. */
size_t ring_batch_bytes_jpeg(uint32_t n);

/* ---- producer (agent) side ---- */
struct ring;

/*
 * Creates ring name (a POSIX shm name without the slash) with nslots
 * entries per queue (a power of two) and data_size bytes of data.  Fails
 * with -EEXIST when a live owner already holds that name.
 */
int ring_create(const char *name, uint32_t nslots, size_t data_size, struct ring **out);
/*
 * Points model slot at model (its architecture: "resnet18", "alexnet", or
 * "auto" for the one the weights file's metadata names)
 * with weights at path weights; model NULL empties the slot.  May be
 * called at any time: it bumps the slot's generation, and the engine loads
 * the new weights before it runs its next entry (for any slot), replacing
 * what the slot held.  An entry already queued for the slot runs with
 * whatever the slot holds when the engine takes it.  The weights file must
 * stay in place while the slot names it (the engine may re-read its pages).
 * Returns 0 or -EINVAL (slot, name or path too long).
 */
int ring_set_model(struct ring *r, uint32_t slot, const char *model, const char *weights);
/*
 * The engine's view of model slot: 0 loaded, with *gen the generation it
 * loaded; -EINPROGRESS while it loads or has not yet seen the slot's
 * latest generation (*gen: the generation it last reported on, 0 when
 * none); -ENOENT for an empty slot; or the load's negative errno (-EDOM
 * non-finite weights, -EINVAL a malformed or truncated file or an unknown
 * model, -ENOENT no such file...), and every entry for the slot then
 * completes with that error until the slot is set again.
 */
int ring_model_status(const struct ring *r, uint32_t slot, uint32_t *gen);
/*
 * 1 when the engine is loading a model slot now (it took the slot's
 * latest generation and has not yet reported the load's outcome), else 0:
 * a load (and the plans it builds) may take seconds without a completion.
 */
int ring_model_loading(const struct ring *r);
/*
 * The engine's message for a slot whose load failed ("" otherwise), copied
 * into buf (NUL-terminated).  Returns the status as ring_model_status.
 */
int ring_model_error(const struct ring *r, uint32_t slot, char *buf, size_t len);
/*
 * Names file table entry idx (0 .. RING_MAX_FILES-1) for RING_F_JPEG
 * inputs; path NULL empties it.  Each call bumps the entry's generation,
 * so the engine reopens the file.  The caller must not change an entry
 * that an entry in flight refers to.  Returns 0 or -EINVAL.
 */
int ring_set_file(struct ring *r, uint32_t idx, const char *path);
/* Asks the engine to exit, unmaps, and removes the shm name. */
void ring_destroy(struct ring *r);

void *ring_data(struct ring *r);
/*
 * Reserves data area for a batch of e->batch images and fills e->in_off
 * and e->out_off; e->flags must already say whether the inputs are
 * tensors or (RING_F_JPEG) image references, which need less room.  The
 * caller writes the inputs there, then submits.  Returns 0, -EAGAIN when
 * the area or the queue is full (reap completions first: nothing is
 * lost), -E2BIG when the batch can never fit, -EINVAL for a batch of 0 or
 * over RING_MAX_BATCH (RING_MAX_JPEG_BATCH with RING_F_JPEG), -EBUSY when a
 * reservation is already pending.
 */
int ring_reserve(struct ring *r, struct ring_sqe *e);
/* Drops the pending reservation. */
void ring_unreserve(struct ring *r);
/*
 * Submits e, which must be the pending reservation; sets e->seq and
 * e->enqueue_ns.  The data is released when the entry completes.
 */
int ring_submit(struct ring *r, struct ring_sqe *e);
/*
 * Up to max completions, without blocking. Returns how many.  The owner
 * trusts nothing the engine wrote but a completion's outcome: each names
 * an entry in flight (others are dropped and counted, ring_duplicates),
 * its query, job, batch, out_off and enqueue_ns are the entry's own, and
 * a status that is not 0 or -errno reads -EIO.  The owner keeps its own
 * copy of the ring's layout, so nothing written into the shared header
 * makes it read or write outside the mapping.
 */
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
 * Progress, for hang detection: when the engine took the entry (or began
 * the model load) it is working on, CLOCK_MONOTONIC ns, 0 when idle; and
 * how many completions engines have posted on this ring, all generations.
 * Loading a model and building the plan for a new batch size happen inside
 * that time (ring_model_status says -EINPROGRESS while a load runs).
 */
uint64_t ring_engine_busy_since(const struct ring *r);
uint64_t ring_completed(const struct ring *r);
/*
 * After the engine died: keeps the completions it posted, puts every
 * other in-flight entry back on the SQ in order, and forgets the dead
 * engine's model status (the next engine loads every slot again).
 * Returns how many were resubmitted.
 */
int ring_recover(struct ring *r);
/* Completions dropped because their entry was not in flight, or because
 * the engine moved its completion index past what the queue holds. */
uint64_t ring_duplicates(const struct ring *r);

/* ---- consumer (engine) side ---- */
struct ring_engine;

/* Attaches to ring name; bumps the generation. 0, or -errno / -EPROTO. */
int ring_attach(const char *name, struct ring_engine **out);
void ring_detach(struct ring_engine *e);
uint32_t ring_gen(const struct ring_engine *e);
void *ring_engine_data(struct ring_engine *e);
size_t ring_engine_data_size(const struct ring_engine *e);
/*
 * After each completion, and after each change of a model slot's status,
 * ring_complete and ring_model_report write 1 to eventfd fd (-1: none).
 */
void ring_set_notify_fd(struct ring_engine *e, int fd);
/* The owner's current generation of model slot (0 never set). */
uint32_t ring_model_gen(const struct ring_engine *e, uint32_t slot);
/*
 * A consistent copy of model slot: its generation, architecture name and
 * weights path.  Returns 0, -ENOENT when the slot is empty (gen is still
 * set), -EAGAIN when the owner is writing it right now, -EINVAL for a bad
 * slot.
 */
int ring_model_get(struct ring_engine *e, uint32_t slot, uint32_t *gen, char name[RING_NAME_MAX],
		   char weights[RING_PATH_MAX]);
/*
 * Publishes the engine's view of slot for generation gen: 0 loaded,
 * -EINPROGRESS, or -errno with err (may be NULL) saying why.
 */
void ring_model_report(struct ring_engine *e, uint32_t slot, uint32_t gen, int status,
		       const char *err);
/* The owner's current generation of file table entry idx (0 never set). */
uint32_t ring_file_gen(const struct ring_engine *e, uint32_t idx);
/* A consistent copy of file entry idx, as ring_model_get. */
int ring_file_get(struct ring_engine *e, uint32_t idx, uint32_t *gen, char path[RING_PATH_MAX]);
/* Marks the engine busy since t (CLOCK_MONOTONIC ns), or idle with 0. */
void ring_set_busy(struct ring_engine *e, uint64_t t);
/*
 * Takes the next entry, waiting up to timeout_ms.  Returns 0, -ETIMEDOUT,
 * -EAGAIN when the owner changed the model table since the last call (look
 * at the slots, then call again), or -EPIPE when the owner asked the
 * engine to stop or died.
 */
int ring_next(struct ring_engine *e, struct ring_sqe *out, int timeout_ms);
/*
 * Posts a completion, counts it, marks the engine idle (before the
 * completion is visible), and wakes the owner (futex, eventfd).
 */
void ring_complete(struct ring_engine *e, const struct ring_cqe *c);

#endif
