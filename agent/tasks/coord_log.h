/*
 * coord_log.h - the coordinator's state as a log of records.  Pure: no
 * I/O, no clock, no randomness, no global state.
 *
 * Every change of coordinator state (a job launched, stopped or given a
 * new batch size, client queries accepted, results recorded, a new epoch,
 * results persisted to SDFS) is one record, and coord_state_apply() is the
 * only function that changes a struct coord_state.  The coordinator builds
 * a record, applies it to its own state, ships the same encoded record to
 * the hot standby (which applies it to its copy) and persists it; two
 * states that applied the same records hold the same state, which
 * coord_state_snapshot_encode() shows byte for byte (it is canonical).  A
 * new or far-behind standby decodes a snapshot and applies the records
 * after it in order: records carry a sequence number, state->seq + 1 is
 * the only one applied, so a gap or a repeat is seen.
 *
 * Per job the state keeps its settings, the client queries accepted and
 * not yet answered (re-dispatched after a failover), the result log, the
 * ids of every answered query (for deduplication), the counts qinfo
 * shows, and the histogram of the service times of the queries answered
 * with status 0, with how many of them each latency source gave (qjob,
 * /metrics): replicated, so a new coordinator shows the same figures.
 * Memory is bounded (docs/tasks.md, "Coordinator state and roles"):
 * results persisted to SDFS leave memory (PERSISTED), and answered ids
 * are kept as a low-water mark plus the ids above it, which stay few
 * because query ids are dense (dataset queries are numbered by image,
 * client queries in the order they are accepted).
 *
 * Query ids, per job (the u64 of a DISPATCH): image i of pass p of the
 * dataset is p x images + i (a job without COORD_JOB_LOOP has one pass);
 * the n-th client query accepted (from 0) is COORD_QID_CLIENT | n.
 */
#ifndef IDUNNO_COORD_LOG_H
#define IDUNNO_COORD_LOG_H

#include "hist.h"
#include "tasks/dataset.h"
#include "tasks/task_wire.h"
#include "wire/wire_addr.h"

#include <stddef.h>
#include <stdint.h>

/* 2: an answer's lat_src, a job's latency histogram; 3: an answer's done_ms */
#define COORD_LOG_VERSION 3
#define COORD_JOB_ID_MAX  16	       /* [a-z0-9-]{1,16} */
#define COORD_JOBS_MAX	  256	       /* jobs in the state, stopped ones included */
#define COORD_BATCH_MAX	  256	       /* a job's batch size (TASK_BATCH_MAX) */
#define COORD_WEIGHT_MAX  1000.0       /* a job's weight is in (0, this] */
#define COORD_REC_Q_MAX	  256	       /* queries or answers in one record */
#define COORD_PENDING_MAX 65536	       /* client queries accepted, unanswered, per job */
#define COORD_CLIENTS_MAX 4096	       /* clients per job */
#define COORD_QID_CLIENT  (1ull << 63) /* the bit of a client query's id */
#define COORD_TOP	  5
#define COORD_REC_MAX	  (32 + 3 * 256 + COORD_REC_Q_MAX * 68) /* a record's largest encoding */

/* Job flags. */
#define COORD_JOB_LOOP	 1 /* run the dataset forever, pass after pass */
#define COORD_JOB_CLIENT 2 /* run no dataset pass: only the queries clients submit */

enum coord_rec_type {
	COORD_REC_JOB_LAUNCH = 1,
	COORD_REC_JOB_STOP,
	COORD_REC_JOB_BATCH,
	COORD_REC_QUERIES_ACCEPTED,
	COORD_REC_RESULTS,
	COORD_REC_EPOCH,
	COORD_REC_PERSISTED,
	COORD_REC_TYPE_MAX
};
extern const char *const coord_rec_type_names[COORD_REC_TYPE_MAX]; /* [0] is "none" */

struct coord_job_settings {
	char id[COORD_JOB_ID_MAX + 1];
	char model[DATASET_NAME_MAX + 1];
	uint64_t model_version; /* of models/MODEL.safetensors in SDFS */
	char dataset[DATASET_NAME_MAX + 1];
	uint64_t index_version; /* of datasets/NAME/index in SDFS */
	uint32_t images;	/* in the dataset (>= 1) */
	uint16_t batch;		/* 1..COORD_BATCH_MAX */
	double weight;		/* (0, COORD_WEIGHT_MAX] */
	uint8_t flags;		/* COORD_JOB_* */
};

struct coord_accept_q {
	uint64_t cqid;	/* the client's id for it (not UINT64_MAX) */
	uint32_t image; /* an index into the job's dataset */
};

struct coord_answer {
	uint64_t qid; /* the job's query id */
	struct wire_addr worker;
	int32_t status;	     /* 0, or a negative error: failed for good */
	uint64_t service_ns; /* the worker's service time for it */
	uint8_t lat_src;     /* enum task_lat_src: where service_ns came from */
	uint64_t done_ms;    /* the recording coordinator's wall clock (ms) when it recorded it */
	uint16_t cls[COORD_TOP];
	float prob[COORD_TOP];
};

/* One record.  Which member of u is used depends on type. */
struct coord_rec {
	uint8_t type;			/* enum coord_rec_type */
	uint64_t seq;			/* the state's seq + 1 */
	char job[COORD_JOB_ID_MAX + 1]; /* every type but EPOCH */
	union {
		struct coord_job_settings launch; /* its id equals job */
		uint16_t batch;			  /* JOB_BATCH */
		struct {
			uint64_t client; /* the submitter */
			uint16_t n;	 /* 1..COORD_REC_Q_MAX */
			struct coord_accept_q q[COORD_REC_Q_MAX];
		} accept;
		struct {
			uint16_t n; /* 1..COORD_REC_Q_MAX */
			struct coord_answer a[COORD_REC_Q_MAX];
		} results;
		struct {
			uint64_t epoch; /* higher than the state's */
			struct wire_addr coordinator;
		} epoch;
		uint64_t persisted; /* the job's result log is in SDFS up to this rseq */
	} u;
};

/*
 * A record's encoding: u8 COORD_LOG_VERSION, u8 type, u64 seq, then its
 * fields (strings as u8 length + bytes).  encode returns the length, or
 * -EINVAL (a field out of range) / -EMSGSIZE (cap too small); decode 0,
 * or -EINVAL for anything truncated, trailing, of another version or
 * type, or with a field out of range (a bad job id or name, batch, weight,
 * count, class, probability, a positive status, a latency source, seq or
 * epoch 0).
 */
int coord_rec_encode(const struct coord_rec *r, uint8_t *buf, size_t cap);
int coord_rec_decode(const uint8_t *p, size_t len, struct coord_rec *r);

/* A job id: 1..COORD_JOB_ID_MAX of [a-z0-9-].  0 or -EINVAL. */
int coord_job_id_check(const char *id);
/*
 * A new job id from the state's launch counter (coord_state_info's
 * launched: unique across epochs, as it is replicated) and the node that
 * makes it: base32 (0-9, a-z without i, l, o, u) of the counter, '-', four
 * base32 digits of node.  Always passes coord_job_id_check.
 */
void coord_job_id_make(uint64_t counter, uint32_t node, char out[COORD_JOB_ID_MAX + 1]);

struct coord_state;

/* An empty state (seq 0, epoch 0, no job). */
struct coord_state *coord_state_new(void);
void coord_state_free(struct coord_state *s);

/* What applying a record did, per query or answer in it. */
enum coord_verdict {
	COORD_NEW,	/* accepted, or recorded: the first time */
	COORD_PENDING,	/* accepted before, not answered yet: nothing to do */
	COORD_ANSWERED, /* accepted and answered before: answer it again */
	COORD_DUP,	/* a result for a query answered already: not recorded */
	COORD_UNKNOWN,	/* a result for a query that was never asked: not recorded */
	COORD_VERDICT_MAX
};
extern const char *const coord_verdict_names[COORD_VERDICT_MAX];

struct coord_effect {
	uint16_t n;			  /* = the record's n (QUERIES_ACCEPTED, RESULTS) */
	uint8_t verdict[COORD_REC_Q_MAX]; /* enum coord_verdict, per query or answer */
	uint64_t qid[COORD_REC_Q_MAX];	  /* accepted: the query id given to a COORD_NEW */
	uint32_t job_num;		  /* the job's number (the u32 of a DISPATCH) */
};

/*
 * Applies r to s: the only mutation of a state.  r->seq must be s's seq
 * + 1.  All or nothing: on an error nothing changes.  eff (may be NULL)
 * says what each query or answer meant.  Returns 0, or
 *   -EALREADY  r->seq <= seq: applied already (a repeat)
 *   -ERANGE    r->seq > seq + 1: a gap (catch up from a snapshot)
 *   -EINVAL    a field out of range (as coord_rec_decode), an image past
 *              the dataset, a PERSISTED past the log or below its mark
 *   IDN_ENOJOB no such job; -EEXIST a launch of an existing id
 *   -ESHUTDOWN queries for a stopped job, or a batch change of one
 *   -ENOSPC    COORD_JOBS_MAX jobs, COORD_PENDING_MAX pending, or
 *              COORD_CLIENTS_MAX clients
 *   IDN_ESTALE_EPOCH an EPOCH not higher than s's
 * A RESULTS record is applied when each answer is NEW, DUP or UNKNOWN
 * (only the NEW ones are recorded: a query is in the results once).
 */
int coord_state_apply(struct coord_state *s, const struct coord_rec *r, struct coord_effect *eff);

/*
 * The canonical encoding of s: two states are equal if and only if their
 * snapshots are equal bytes.  *out is malloc'd (the caller frees it).
 * Returns 0.
 */
int coord_state_snapshot_encode(const struct coord_state *s, uint8_t **out, size_t *len);
/*
 * A state from a snapshot (*out, freed with coord_state_free).  Returns 0,
 * or -EINVAL for anything truncated, trailing, of another version, out of
 * range or not canonical (it must re-encode to the same bytes).
 */
int coord_state_snapshot_decode(const uint8_t *p, size_t len, struct coord_state **out);

/* Reads. */
struct coord_state_info {
	uint64_t seq;		      /* the last record applied */
	uint64_t epoch;		      /* the current epoch (0: none yet) */
	struct wire_addr coordinator; /* its coordinator */
	uint32_t jobs;
	uint64_t launched; /* jobs ever launched: the next job id's counter */
};
void coord_state_info(const struct coord_state *s, struct coord_state_info *out);

struct coord_job_info {
	struct coord_job_settings set;
	uint32_t num; /* 1, 2, ... in launch order: the job of a DISPATCH */
	uint8_t stopped;
	uint64_t accepted;	 /* client queries accepted */
	uint64_t answered;	 /* results recorded (qinfo: queries processed) */
	uint64_t failed;	 /* ... of which failed for good */
	uint64_t duplicates;	 /* answers seen for queries answered already */
	uint64_t service_ns_sum; /* of the answered queries (a mean for qjob) */
	uint32_t pending;	 /* client queries accepted and not answered */
	uint64_t rseq;		 /* results recorded: the last result's sequence number */
	uint64_t persisted;	 /* results up to this rseq are in SDFS */
	uint64_t in_memory;	 /* results held (rseq persisted + 1 .. rseq) */
	uint64_t dataset_below;	 /* every dataset query id below this is answered */
	uint8_t dataset_done;	 /* no dataset query is left (never with LOOP) */
};

/* Job by id (0, IDN_ENOJOB), or every job in launch order (up to max; returns how many). */
int coord_state_job(const struct coord_state *s, const char *job, struct coord_job_info *out);
int coord_state_jobs(const struct coord_state *s, struct coord_job_info *out, int max);

/* Whether job's query qid is answered (1), not (0), or IDN_ENOJOB. */
int coord_state_answered(const struct coord_state *s, const char *job, uint64_t qid);

/* Whether client's query cqid was accepted by job (1), not (0), or IDN_ENOJOB. */
int coord_state_client_accepted(const struct coord_state *s, const char *job, uint64_t client,
				uint64_t cqid);

/*
 * The dataset image query qid of job runs on: a dataset query's id names
 * it (id mod images); a client query's image is the one it was accepted
 * with, while it is pending.  0 with *image set, IDN_ENOJOB, or -ENOENT (a
 * client query not pending: answered already, or never accepted).
 */
int coord_state_query_image(const struct coord_state *s, const char *job, uint64_t qid,
			    uint32_t *image);

/* A job's service times (status 0 answers; hist.h), by latency source. */
struct coord_latency {
	struct hist h;			   /* ns; h.count = answered - failed */
	uint64_t by_src[TASK_LAT_SRC_MAX]; /* answers per enum task_lat_src (sum h.count) */
};
/* job's latency (0), or IDN_ENOJOB. */
int coord_state_latency(const struct coord_state *s, const char *job, struct coord_latency *out);

struct coord_pending {
	uint64_t qid, client, cqid;
	uint32_t image;
};
/*
 * job's client queries accepted and not answered, in query id order (to
 * queue again after a failover): fills up to max from the first with qid
 * >= from; returns how many were filled, or IDN_ENOJOB.
 */
int coord_state_pending(const struct coord_state *s, const char *job, uint64_t from,
			struct coord_pending *out, int max);

struct coord_result {
	uint64_t rseq;	       /* 1, 2, ... per job, in the order recorded */
	uint64_t client, cqid; /* a client query's submitter and id (0, 0 for dataset ones) */
	uint32_t image;	       /* the dataset image it ran on */
	struct coord_answer a;
};
/*
 * job's results held in memory with rseq >= from, in order (to persist
 * them, or answer a client again): up to max; returns how many, or
 * IDN_ENOJOB.  Results up to the persisted mark have left memory.
 */
int coord_state_results(const struct coord_state *s, const char *job, uint64_t from,
			struct coord_result *out, int max);

/*
 * Whether an answer from a batch of an earlier epoch may be recorded by
 * a coordinator that took over a state holding jobs_then jobs, of which
 * this one (job_num) had accepted client_then client queries: job numbers
 * and client query ids given after the takeover may name other jobs and
 * queries than the same numbers did under the old coordinator (its
 * records that never reached the standby), so only the ones both epochs
 * agree on count.  A dataset query's id names its image, in both.
 */
static inline int coord_old_answer_ok(uint32_t job_num, uint32_t jobs_then, uint64_t qid,
				      uint64_t client_then)
{
	if (job_num < 1 || job_num > jobs_then)
		return 0;
	return !(qid & COORD_QID_CLIENT) || (qid & ~COORD_QID_CLIENT) < client_then;
}

#endif
