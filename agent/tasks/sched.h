/*
 * sched.h - the coordinator's scheduler: which job's queued queries a free
 * worker slot runs next.  Pure and clock-injected: events in (workers,
 * jobs, queries, results, the time as a parameter), decisions out through
 * a pop function (sched_pop), the way the SWIM core works (swim_pop).  No
 * I/O, no clock, no global state, no randomness: its state is a function
 * of the calls made, so a standby that replays the same calls with the
 * same times (the pops included) holds the same state and makes the same
 * decisions, batch ids included.
 *
 * Policy (docs/scheduler.md): weighted max-min fairness on query rates.
 * Each job has a normalised count, (queries completed + in flight) /
 * weight; a free slot takes a batch from the job with queued work whose
 * count is lowest.  A job that gets work after having none starts from the
 * lowest count of the jobs with work (no starvation of the others, no
 * burst).  Work-conserving: after sched_pop returns 0, either no slot is
 * free or no running job has queued work.  Rates, not times, are equalised,
 * so a slower model gets more worker time by itself; each job's cost per
 * query (an EWMA of the service times results report) gives the expected
 * time of a batch (for overruns) and the per-worker shares (for `assign`).
 *
 * Memory is bounded: each job's queue holds at most queue_max queries
 * (sched_enqueue says -ENOSPC, "busy"); queries are tracked only while
 * queued or in flight.
 */
#ifndef IDUNNO_SCHED_H
#define IDUNNO_SCHED_H

#include <stdint.h>

#define SCHED_BATCH_MAX 256 /* queries in one batch (TASK_BATCH_MAX) */
#define SCHED_SHARE_MAX 8   /* jobs remembered per worker for its shares */
#define SCHED_NEVER	UINT64_MAX

struct sched_config {
	uint32_t queue_max;	   /* queued queries per job; beyond, -ENOSPC */
	uint16_t retry_max;	   /* failed runs of a query before it fails for good */
	uint16_t overrun_factor;   /* a batch overruns after this x its expected time */
	uint32_t overrun_floor_ms; /* ... and never sooner than this */
	uint64_t cost_init_ns;	   /* a job's cost per query before its first result */
	uint32_t cost_ewma_div;	   /* a result moves the estimate 1/this of the way */
	uint32_t rate_window_ms;   /* the window of the reported rate (C1: 10 s) */
	uint32_t share_window_ms;  /* the time constant of the per-worker shares */
};

/* Defaults: 4096 queued, 3 retries, overrun at 4x (>= 500 ms), 100 ms a
 * query until measured, EWMA 1/8, 10 s rate window, 10 s shares. */
void sched_config_default(struct sched_config *c);

struct sched;

/* A scheduler with config c (copied; NULL: the defaults), or NULL when c
 * is invalid (a zero queue_max, factor or divisor, a rate window
 * under 100 ms). */
struct sched *sched_new(const struct sched_config *c);
void sched_free(struct sched *s);

/*
 * Workers.  A worker takes up to slots batches at once (its WELCOME says
 * how many).  Removing one (its stream closed, SWIM declared it failed, it
 * left) puts the unfinished queries of its batches back at the front of
 * their jobs' queues at once, unless another copy of them is running; a
 * result that arrives later from it is judged SCHED_STALE or SCHED_DUP.  A
 * worker that comes back is added again.
 * add: 0, -EEXIST (already there), -EINVAL (no slot).  remove: the number
 * of queries put back, or -ENOENT.
 */
int sched_worker_add(struct sched *s, uint32_t worker, uint16_t slots, uint64_t now_ms);
int sched_worker_remove(struct sched *s, uint32_t worker, uint64_t now_ms);

/*
 * Jobs: an id (not UINT32_MAX), a weight > 0, a batch size
 * 1..SCHED_BATCH_MAX.  A new batch size applies from the job's next
 * dispatch.  A stopped job is dispatched no more and takes no query; its
 * running batches finish and count.  Removing a job forgets it and its
 * queue; results of its running batches then come back SCHED_STALE.
 * Each returns 0, -EINVAL, -ENOENT (no such job) or, for add, -EEXIST.
 */
int sched_job_add(struct sched *s, uint32_t job, double weight, uint16_t batch, uint64_t now_ms);
int sched_job_set_weight(struct sched *s, uint32_t job, double weight);
int sched_job_set_batch(struct sched *s, uint32_t job, uint16_t batch);
int sched_job_stop(struct sched *s, uint32_t job);
int sched_job_remove(struct sched *s, uint32_t job);

/*
 * Queues query (its id, unique within the job) at the back of job's queue.
 * Returns 0; -ENOENT (no such job); -ESHUTDOWN (stopped); -EEXIST (that
 * query is queued or running already); -ENOSPC (queue_max queued: busy).
 */
int sched_enqueue(struct sched *s, uint32_t job, uint64_t query, uint64_t now_ms);

/* A decision: run these queries of job on worker as batch. */
struct sched_dispatch {
	uint32_t worker, job;
	uint64_t batch;	      /* unique, never 0 */
	uint64_t copy_of;     /* 0, or the overrun batch this one speculates on */
	uint64_t deadline_ms; /* when it counts as overrun (SCHED_NEVER for a copy) */
	uint8_t express;      /* beyond the worker's slots: it runs before the worker's
			       * waiting batches (TASK_DISPATCH_EXPRESS) */
	uint16_t n;
	uint64_t q[SCHED_BATCH_MAX];
};

/*
 * Takes the next decision at now_ms.  First, a batch overrun by now_ms
 * (factor x its expected time, at least the floor) gets a copy of its
 * unfinished queries on another worker (once per batch; whichever copy
 * completes a query first counts it); then a free slot gets a batch of the
 * job with work whose normalised count is lowest.  Free slots are taken
 * least-busy worker first, then longest-free first.
 *
 * Express: when no slot is free, a starting job (queued work, nothing in
 * flight, not dispatched since its queue was last empty with nothing in
 * flight: a new job, or one idle until now) gets one batch beyond the
 * slots of the worker expected to end its running batch soonest (the
 * start of its oldest batch, from the dispatch or the result before, plus
 * that batch's expected time; ties: the lowest index), among the workers
 * holding no express batch; d->express is set, the worker runs it before
 * its waiting batches.  It counts like any batch (the normalised count);
 * its end frees no slot.  Once per start: any dispatch of the job ends it.
 *
 * Returns 1 with *d filled, or 0 when there is nothing to do.
 * O(jobs + log workers); O(jobs + workers) for an express batch.
 */
int sched_pop(struct sched *s, uint64_t now_ms, struct sched_dispatch *d);

/* When the next running batch overruns (call sched_pop then), or SCHED_NEVER. */
uint64_t sched_next_deadline(const struct sched *s);

/* What a result means for each of its queries. */
enum sched_verdict {
	SCHED_DONE,   /* completed, the first time: count and answer it */
	SCHED_DUP,    /* completed before (a copy, or a late batch): ignore it */
	SCHED_RETRY,  /* failed: queued again at the front (or another copy runs) */
	SCHED_FAILED, /* failed retry_max + 1 times: failed for good */
	SCHED_STALE,  /* not tracked (an abandoned batch, a removed job): ignore it */
	SCHED_VERDICT_MAX
};
extern const char *const sched_verdict_names[SCHED_VERDICT_MAX];

struct sched_answer {
	uint64_t query;
	int32_t status; /* 0, or a negative error for this query */
};

/* A RESULT (a REFUSE is a result with n = 0: every query of it failed). */
struct sched_result {
	uint32_t worker, job;
	uint64_t batch;
	uint64_t service_ns; /* the engine's time on the whole batch; 0: unknown */
	uint16_t n;
	struct sched_answer a[SCHED_BATCH_MAX];
};

/*
 * Reports a batch's result at now_ms (its completion time, for the
 * rates).  The worker's slot is free again; verdict[i] (caller's array of
 * r->n) says what a[i] meant; queries of the batch the result leaves out
 * failed.  Returns 0, or -ESTALE when the batch is not running on that
 * worker (abandoned with it, or unknown) or its job was removed (then its
 * slot is free again all the same): its completed queries still queued or
 * running then count (SCHED_DONE), the others are SCHED_DUP or SCHED_STALE.
 */
int sched_result(struct sched *s, const struct sched_result *r, uint64_t now_ms, uint8_t *verdict);

/* Reports. */
struct sched_job_info {
	uint32_t id;
	double weight;
	uint16_t batch;
	uint8_t stopped;
	uint32_t queued;    /* waiting for a slot */
	uint32_t inflight;  /* running (each query once, copies or not) */
	uint64_t completed; /* each query once */
	uint64_t failed;    /* failed for good */
	uint64_t retried;   /* failed runs put back in the queue */
	double rate;	    /* queries completed per second over the rate window */
	uint64_t cost_ns;   /* estimated service time per query */
	double norm;	    /* the policy's normalised count */
};

/* One job (0 or -ENOENT), or every job (fills up to max, returns how many). */
int sched_job_info(const struct sched *s, uint32_t job, uint64_t now_ms,
		   struct sched_job_info *out);
int sched_jobs(const struct sched *s, uint64_t now_ms, struct sched_job_info *out, int max);

struct sched_share {
	uint32_t job;
	double share; /* of the worker's recent busy time, 0..1 */
};

struct sched_worker_info {
	uint32_t id;
	uint16_t slots, busy;
	uint64_t batches; /* results received */
	uint16_t nshare;  /* the jobs it served recently, largest share first */
	struct sched_share share[SCHED_SHARE_MAX];
};

/* One worker (0 or -ENOENT), or every worker (up to max; returns how many). */
int sched_worker_info(const struct sched *s, uint32_t worker, uint64_t now_ms,
		      struct sched_worker_info *out);
int sched_workers(const struct sched *s, uint64_t now_ms, struct sched_worker_info *out, int max);

struct sched_stats {
	uint32_t workers, jobs;
	uint32_t slots, free_slots;
	uint32_t running;      /* batches in flight, copies included */
	uint32_t waiting;      /* queries queued in jobs not stopped */
	uint32_t tracked;      /* queries queued or in flight */
	uint64_t decisions;    /* batches dispatched, copies included */
	uint64_t speculations; /* copies dispatched for overrun batches */
	uint64_t expresses;    /* express batches dispatched (beyond a worker's slots) */
	uint64_t duplicates;   /* SCHED_DUP verdicts */
	uint64_t stale;	       /* results of batches no longer running */
};
/* Counters; O(jobs).  Work-conserving means free_slots == 0 or waiting == 0
 * whenever sched_pop has returned 0. */
void sched_stats(const struct sched *s, struct sched_stats *out);

#endif
