/*
 * sched_int.h - what the scheduler's files share inside tasks/ (not for
 * users; sched.h is the interface).
 *
 *   sched.c         new and free, the indexed heaps (workers with a free
 *                   slot; running batches by deadline), workers, jobs,
 *                   enqueueing
 *   sched_run.c     taking queries into batches, starting and ending
 *                   batches, sched_pop (with speculation on overrun
 *                   batches and express batches)
 *   sched_end.c     sched_result, worker removal
 *   sched_report.c  job and worker info, stats
 *   sched_ds.c      the hash table and the deque
 *
 * Every query queued or running has one record: its state, how many
 * copies of it run (a speculative copy makes two), how many times it
 * failed.  A record goes when nothing refers to it any more (done or
 * failed for good, no copy running, not in a queue), so memory follows
 * the queues and the running batches, never the history.
 */
#ifndef IDUNNO_SCHED_INT_H
#define IDUNNO_SCHED_INT_H

#include "tasks/sched.h"

#include <stdint.h>

#define SCHED_RATE_BUCKETS 100 /* the rate window in this many buckets */

/* --- hash table: (k, k2) -> v, v = 0 marks an empty slot ------------------ */

struct slot {
	uint64_t k;
	uint32_t k2;
	uint32_t v;
};

struct table {
	struct slot *a;
	uint32_t mask, n;
};

/* An empty table of cap slots (a power of two). */
void sched_table_init(struct table *t, uint32_t cap);
/* The slot of (k, k2), or NULL. */
struct slot *sched_table_find(const struct table *t, uint64_t k, uint32_t k2);
/* Puts e in its place, without growing (rebuilding a table). */
void sched_table_put(struct table *t, struct slot e);
/* Adds (k, k2) -> v (absent, v != 0), growing at half full.  Slots move. */
void sched_table_add(struct table *t, uint64_t k, uint32_t k2, uint32_t v);
/* Deletes e by shifting back the entries after it (no tombstones). */
void sched_table_del(struct table *t, struct slot *e);
/* In a map of id -> index + 1: the index of id, or -1. */
int32_t sched_lookup(const struct table *t, uint64_t id);

/* --- query records, packed in a slot's v ----------------------------------- */

enum q_state { Q_QUEUED = 1, Q_RUNNING, Q_DONE };

struct qrec {
	uint8_t state;	/* enum q_state */
	uint8_t inq;	/* its id is in the job's queue (a done one is skipped there) */
	uint8_t copies; /* running batches holding it */
	uint16_t tries; /* failed runs */
};

static inline struct qrec sched_qr_get(const struct slot *e)
{
	return (struct qrec){.state = e->v & 3,
			     .inq = (e->v >> 2) & 1,
			     .copies = (e->v >> 3) & 0xff,
			     .tries = e->v >> 16};
}

static inline uint32_t sched_qr_pack(struct qrec r)
{
	return (uint32_t)r.state | (uint32_t)r.inq << 2 | (uint32_t)r.copies << 3 |
	       (uint32_t)r.tries << 16;
}

static inline void sched_qr_set(struct slot *e, struct qrec r)
{
	e->v = sched_qr_pack(r);
}

/* --- a deque of query ids --------------------------------------------------- */

struct deque {
	uint64_t *a;
	uint32_t mask, head, len;
};

void sched_dq_push_back(struct deque *d, uint64_t x);
void sched_dq_push_front(struct deque *d, uint64_t x);
/* The front id, removed (d is not empty). */
uint64_t sched_dq_pop_front(struct deque *d);

/* --- the state --------------------------------------------------------------- */

struct job {
	uint32_t id;
	uint8_t used, stopped, measured;
	uint8_t express; /* starting (new, or idle until now): one express batch may go */
	uint16_t batch;
	double weight;
	double norm;	/* (completed + in flight) / weight, lifted on waking */
	double cost_ns; /* service time per query, EWMA */
	uint64_t added_ms;
	struct deque q;	   /* queued ids (and done ones left to skip) */
	uint32_t queued;   /* queued ids not done */
	uint32_t inflight; /* ids running, once each */
	uint64_t completed, failed, retried;
	struct {
		uint64_t idx; /* now / bucket width when it was last counted in */
		uint32_t count;
	} rate[SCHED_RATE_BUCKETS];
};

struct worker {
	uint32_t id;
	uint8_t used;
	uint16_t slots, busy;
	uint16_t nexpress;    /* express batches it holds, beyond its slots (0 or 1) */
	uint64_t run_ms;      /* when its oldest batch started (estimated) */
	uint64_t seq;	      /* when a slot last became free: longest free first */
	int32_t hidx;	      /* in the free-slot heap, or -1; the free list's link when unused */
	int32_t bhead, btail; /* its running batches, oldest first */
	uint64_t expect_ns;   /* the expected time of its running batches */
	uint64_t batches;
	uint64_t share_ms; /* when the shares were last decayed */
	uint16_t nshare;
	struct {
		uint32_t job;
		double ns; /* decayed busy time on that job */
	} share[SCHED_SHARE_MAX];
};

struct batch {
	uint64_t id, copy_of;
	uint64_t deadline_ms;
	uint64_t expect_ns;
	int32_t worker, job; /* indexes; job -1 once its job is removed */
	int32_t hidx;	     /* in the deadline heap, or -1; the free list's link when unused */
	int32_t wprev, wnext;
	uint8_t used;
	uint8_t express; /* beyond its worker's slots */
	uint16_t n, cap;
	uint64_t *q;
};

enum heap_kind { H_FREE, H_DEADLINE };

struct heap {
	int32_t *a;
	uint32_t n, cap;
};

struct sched {
	struct sched_config c;
	struct table qt;	       /* (query, job) -> struct qrec */
	struct table wmap, bmap, jmap; /* id -> index + 1 */
	struct worker *w;
	uint32_t nw;
	int32_t wfree;
	struct batch *b;
	uint32_t nb;
	int32_t bfree;
	struct job *j;
	uint32_t nj;
	struct heap fh, dh;  /* workers with a free slot; running batches by deadline */
	struct deque spec;   /* overrun batches waiting for a copy */
	uint64_t next_batch; /* batch ids: 1, 2, ... */
	uint64_t seq;
	double vclock; /* the count of the latest pick: where a lone waking job starts */
	uint32_t nworkers, njobs, slots, busy, running;
	uint64_t decisions, speculations, duplicates, stale, expresses;
};

/* The job of that id, or NULL. */
struct job *sched_job_get(const struct sched *s, uint32_t id);

static inline int sched_job_has_work(const struct job *j)
{
	return j->used && !j->stopped && j->queued > 0;
}

/* Lifts j's count, now that it has queued work again (see sched.c). */
void sched_job_wake(struct sched *s, struct job *j);

/* Counts a completion of j at now_ms (the rate window). */
void sched_job_count_done(const struct sched *s, struct job *j, uint64_t now_ms);
/* A running query of j (its record e, r) goes back to the front of its queue. */
void sched_job_requeue(struct sched *s, struct job *j, struct slot *e, struct qrec r);
/* Forgets batch bi at now_ms: off its worker (whose slot is free again,
 * unless it was an express batch), its heap, its id. */
void sched_batch_end(struct sched *s, int32_t bi, uint64_t now_ms);

/* Indexed heaps: k's heap holds worker (H_FREE) or batch (H_DEADLINE)
 * index x, which records its position (hidx). */
void sched_heap_push(struct sched *s, enum heap_kind k, int32_t x);
void sched_heap_remove(struct sched *s, enum heap_kind k, int32_t x);
/* Restores x's place after its key changed. */
void sched_heap_fix(struct sched *s, enum heap_kind k, int32_t x);

/* The best worker with a free slot other than not, or -1. */
int32_t sched_worker_best_except(const struct sched *s, int32_t not );
/* Decays w's per-job shares to now_ms. */
void sched_worker_share_decay(const struct sched *s, struct worker *w, uint64_t now_ms);
/* Adds ns of busy time on job to w's shares (evicting its least served
 * job when full). */
void sched_worker_share_add(const struct sched *s, struct worker *w, uint32_t job, double ns,
			    uint64_t now_ms);

#endif
