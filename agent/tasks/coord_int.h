/*
 * coord_int.h - what the coordinator's files share (coord.c: the module,
 * the role and the dispatch pump; coord_stream.c: the task streams;
 * coord_jobs.c: records, launches, queries and results; coord_cmd.c: the
 * job commands; coord_submit*.c: client query submission; coord_persist.c:
 * result parts and the job checkpoint put to SDFS; coord_recover.c: a cold
 * takeover rebuilding from them).
 */
#ifndef IDUNNO_COORD_INT_H
#define IDUNNO_COORD_INT_H

#include "tasks/coord.h"
#include "tasks/coord_log.h"
#include "tasks/coord_rpc.h"
#include "tasks/dataset.h"
#include "tasks/sched.h"
#include "tasks/task_wire.h"

#include <stdint.h>

struct conn;
struct coord_sub;
struct repl_log;
struct coord_persist;
struct coord_recover;

#define CW_MAX		1024  /* workers (task streams), sized for 1000 nodes */
#define CW_INFLIGHT_MAX 64    /* batches sent to one worker and not answered */
#define CW_RETRY_MS	1000  /* a worker whose stream failed is tried again after this */
#define CW_IDLE_MIN_MS	2000  /* one without an engine: after this, doubling ... */
#define CW_IDLE_MAX_MS	30000 /* ... up to this */
#define LAUNCH_MAX	8     /* launches waiting for their SDFS look-ups */
#define FEED_MAX	1024  /* dataset queries queued per job at a time */

/* A task stream's life. */
enum cw_state { CW_IDLE, CW_CONNECTING, CW_HELLO, CW_READY, CW_STATE_MAX };
extern const char *const cw_state_names[CW_STATE_MAX];

struct cw_batch {
	uint64_t batch;
	uint32_t job;
	uint16_t n;
	uint64_t *q; /* its queries (malloc'd): a REFUSE fails each */
};

/* A worker: a live member, its stream, its place in the scheduler (id = index). */
struct cworker {
	uint8_t used, live, in_sched;
	struct wire_addr addr;
	enum cw_state state;
	struct conn *conn;
	uint16_t slots;
	uint64_t retry_ms; /* no new stream before this */
	uint32_t idle_ms;  /* the back-off while it runs no engine (2 s doubling to 30 s) */
	struct cw_batch inflight[CW_INFLIGHT_MAX]; /* to name a REFUSE's job */
	int ninflight;
};

/* A job's runtime beside its records: the dataset's index, the feed. */
struct cjob {
	uint8_t used;
	struct coord_job_settings set;
	struct dataset_index ix;
	uint64_t next_qid; /* the next dataset query to queue */
	uint8_t stopped;
	uint8_t ready;	      /* its index is here: it may be dispatched */
	uint8_t loading;      /* ... being fetched (after a takeover) */
	uint64_t retry_ms;    /* a failed fetch is tried again after this */
	uint64_t client_then; /* client queries accepted when this node took it over */
	uint64_t launch_ms;   /* launched here at (0: taken over, or dispatched since) */
};

/* A launch waiting for the model's and the index's versions. */
struct launch {
	uint8_t used;
	struct coord *c;
	struct conn *conn; /* the CLI's, NULL once it closed */
	struct coord_rpc_req req;
	int lookups, status;
	char why[200];
	uint64_t model_version, index_version;
	uint8_t *index;
	size_t index_len;
	uint64_t asked_ms; /* when the launch arrived, for its log line */
};

/* The stream to the hot standby (coord_repl.c). */
enum repl_phase { RP_IDLE, RP_CONNECTING, RP_HELLO, RP_STREAMING, RP_PHASE_MAX };

struct repl {
	enum repl_phase phase;
	struct conn *conn;
	struct wire_addr to;	/* the standby this stream feeds */
	uint64_t acked;		/* the standby holds the records up to this */
	uint64_t sent;		/* records sent (or covered by a snapshot) up to this */
	uint8_t need_snap;	/* records were lost for it: a snapshot next */
	uint64_t retry_ms;	/* no new stream before this */
	struct repl_log *log;	/* records after acked, encoded */
	struct repl_wait *wait; /* answers held until their record is on the standby */
	uint64_t snaps, snap_bytes, recs_sent, resyncs;
};

/* The standby's copy of the state (coord_follow.c). */
struct follow {
	struct conn *conn;	/* the coordinator feeding it */
	struct coord_state *st; /* NULL: nothing usable */
	uint64_t epoch;		/* the epoch whose chain st follows */
	struct wire_addr from;	/* that epoch's coordinator */
	uint8_t *snap;		/* a snapshot being received */
	uint32_t snap_total, snap_got;
	uint64_t snap_seq;
	uint64_t applied, snaps, gaps, refused;
	uint64_t last_ms; /* when it last heard from the coordinator */
	uint8_t lost;	  /* its stream closed under it (the process died?) */
};

/* A dataset index the standby holds for a takeover (coord_ixcache.c). */
#define IXC_MAX 16
struct ixc_entry {
	char dataset[DATASET_NAME_MAX + 1];
	uint64_t version; /* 0: a free entry */
	uint8_t *data;	  /* the index file, checked; NULL until fetched */
	uint64_t size;
	uint8_t fetching;
	uint64_t retry_ms;
	uint32_t gen; /* a fetch's answer for an entry since dropped is ignored */
};

struct coord {
	struct coord_env env;
	int owner;
	/* the roles (roles.h) */
	uint8_t active;	  /* this node coordinates */
	uint8_t majority; /* ... and sees a majority alive: it dispatches */
	uint8_t seen_other;
	uint8_t deposed;		/* a worker or the standby knows a higher epoch */
	uint8_t role;			/* enum roles_role, as `self` shows it */
	struct wire_addr coordinator;	/* the roles' answer (ip 0: none yet), for redirects */
	struct wire_addr standby;	/* named, not yet fed (no replication in this step) */
	uint64_t epoch;			/* this coordinator's, while active */
	uint64_t known_epoch;		/* the highest known: own, or from a HELLO */
	struct wire_addr known_coord;	/* that epoch's coordinator */
	struct wire_addr known_standby; /* and the standby it named */
	uint32_t cluster_size;		/* members known; shrinks only by a leave */
	uint64_t settle_ms;		/* a joining node takes no role before this */
	uint64_t cold_since;		/* when this node first saw itself take over cold */
	uint64_t heard_ms;		/* when the known coordinator's HELLO last came */
	/* writes held (coord_writable): this coordinator may have been
	 * superseded without knowing it yet */
	uint8_t held;
	uint64_t held_durable; /* the durable record when they were held */
	uint64_t resume_ms;    /* they resume at this, with a majority (0: not yet) */
	uint64_t last_tick_ms; /* a longer gap: the process was stopped or starved */
	/* the state: records, the scheduler, the runtime */
	struct coord_state *st;
	struct sched *sched;
	struct cworker w[CW_MAX];
	int nw;
	struct cjob jobs[COORD_JOBS_MAX]; /* by job number - 1 */
	struct launch launch[LAUNCH_MAX];
	int pumping;
	uint64_t next_reconcile;
	struct coord_sub *sub; /* the submitters (coord_submit.c), made at the first */
	struct repl repl;
	struct follow follow;
	/* the last failover: when this node took over and first dispatched */
	uint64_t took_over_ms, first_dispatch_ms, lost_ms;
	uint64_t gen;	    /* activations: a callback from an earlier one is ignored */
	uint32_t jobs_then; /* jobs in the state when this node took over */
	/* what is kept in SDFS (coord_persist.c, coord_recover.c) */
	struct coord_persist *persist;
	struct coord_recover *recover;
	uint8_t recovering;	       /* a cold recovery reads SDFS: no dispatch, no job change */
	struct ixc_entry ixc[IXC_MAX]; /* while standby: the jobs' dataset indexes */
	/* counters */
	uint64_t n_dispatched, n_results, n_refused, n_streams, n_stream_fail, n_records,
		n_record_errors, n_cmds, n_redirects;
	uint8_t out[TASK_DISPATCH_MAX > COORD_REC_MAX ? TASK_DISPATCH_MAX : COORD_REC_MAX];
};

/* coord.c: dispatches what the scheduler decides. */
void coord_pump(struct coord *c);

/* Whether this coordinator may acknowledge changes, answer queries and
 * write to SDFS: active, not deposed, and not held since it lost its
 * majority or stalled (coord.c). */
int coord_writable(const struct coord *c);

/* A worker or the standby has seen epoch, above this coordinator's: it
 * stops dispatching until the newer coordinator's HELLO deposes it. */
void coord_deposed(struct coord *c, uint64_t epoch);

/* coord_stream.c: opens streams to live members, closes the others. */
void coord_streams_reconcile(struct coord *c, uint64_t now_ms);
void coord_streams_close_all(struct coord *c);
/* A HELLO again on every ready stream: the roles (a new standby). */
void coord_streams_announce(struct coord *c);
/* Sends d as a DISPATCH; on failure the stream closes (its work is put back). */
void coord_stream_dispatch(struct coord *c, const struct sched_dispatch *d);

/* coord_jobs.c */
/* Applies r (its seq set here) to the state. 0 or the error (logged). */
int coord_record(struct coord *c, struct coord_rec *r, struct coord_effect *eff);
/* The state, the scheduler and the runtime, new (on activation) or gone. */
void coord_jobs_start(struct coord *c, struct coord_state *st);
/* coord_adopt.c: after a takeover with an adopted state, the runtime of
 * its jobs (indexes fetched again, the scheduler told, pending client
 * queries queued again).  tick retries what failed. */
void coord_jobs_adopt(struct coord *c);
void coord_adopt_tick(struct coord *c, uint64_t now_ms);

/* coord_ixcache.c: while this node follows a coordinator's state, the
 * dataset index of each of its running jobs, fetched ahead and held, so
 * that a takeover needs no SDFS read to feed the jobs again. */
void coord_ixcache_tick(struct coord *c, uint64_t now_ms);
/* Decodes the held index of dataset@version into ix: 0, or -1 (none held). */
int coord_ixcache_decode(struct coord *c, const char *dataset, uint64_t version,
			 struct dataset_index *ix);
void coord_ixcache_free(struct coord *c);
void coord_jobs_reset(struct coord *c);
/* Queues dataset queries of running jobs up to FEED_MAX each. */
void coord_jobs_feed(struct coord *c, uint64_t now_ms);
/* A RESULT (n answers) or a REFUSE (r->n = 0) from worker wid. */
void coord_jobs_result(struct coord *c, uint32_t wid, const struct task_result *res,
		       const struct sched_result *r);
/* Starts a launch for the request on conn (answered when it ends). */
void coord_jobs_launch(struct coord *c, struct conn *conn, const struct coord_rpc_req *req);
/* stop and batch: 0, or an error with the reason in why. */
int coord_jobs_stop(struct coord *c, const char *job, char *why, size_t cap);
int coord_jobs_batch(struct coord *c, const char *job, uint16_t batch, char *why, size_t cap);
struct cjob *coord_job_by_id(struct coord *c, const char *id);
/* A job from its LAUNCH record r and its dataset's index (taken on
 * success): the record, the scheduler, the runtime.  0 or the error. */
int coord_jobs_add(struct coord *c, struct coord_rec *r, struct dataset_index *ix);

/* coord_repl.c: the coordinator's side of the standby's stream */
/* Ships the record just applied (encoded in buf) to the standby. */
void coord_repl_record(struct coord *c, uint64_t seq, const uint8_t *rec, size_t len);
/* Opens, keeps and closes the stream as the named standby changes. */
void coord_repl_tick(struct coord *c, uint64_t now_ms);
void coord_repl_stop(struct coord *c);
/* The last record the standby holds: the state's own seq while there is
 * no standby to feed (a cluster of one). */
uint64_t coord_durable_seq(const struct coord *c);
/* The durable record may have moved (writes resumed): answers it held go. */
void coord_repl_durable_moved(struct coord *c);
/* Answers conn (as coord_cmd_answer) once the record seq is durable. */
void coord_answer_durable(struct coord *c, struct conn *conn, uint64_t seq, uint8_t status,
			  const char *text, size_t len);

/* coord_follow.c: the standby's side */
int coord_follow_new(struct coord *c);
/* Hands the followed state over for a takeover: NULL unless it follows
 * epoch's coordinator from. */
struct coord_state *coord_follow_take(struct coord *c, uint64_t epoch, struct wire_addr from);
void coord_follow_reset(struct coord *c);

/* coord_cmd.c */
int coord_cmd_new(struct coord *c);
/* A job's state as `job ls` and /metrics name it: running, done or stopped. */
const char *coord_job_state(const struct coord_job_info *ji, const struct sched_job_info *si);
/* Answers a command's connection with status and text of len bytes
 * (SIZE_MAX: a string), then closes it. */
void coord_cmd_answer(struct coord *c, struct conn *conn, uint8_t status, const char *text,
		      size_t len);
/* An answer's status byte for an error (0, an errno, or ENOENT for an
 * unknown job, model or dataset). */
uint8_t coord_cmd_status(int err);

/* coord_submit.c: client query submission (submit_wire.h) */
/* Takes conn over as a submitter's connection (req: COORD_RPC_SUBMIT). */
void coord_submit_open(struct coord *c, struct conn *conn, const struct coord_rpc_req *req);
/* Streams job's results after rseq `from` (just recorded) to their submitters. */
void coord_submit_results(struct coord *c, const char *job, uint64_t from);
/* Sends every ACK and RESULT whose record's seq is <= seq: the records up
 * to seq are on the standby (until then they stay queued). */
void coord_submit_durable(struct coord *c, uint64_t seq);
/* Closes every submitter's connection (the role is lost: they reconnect). */
void coord_submit_close_all(struct coord *c);
/* Its counters as "key value" lines (agent stats). */
size_t coord_submit_stats(const struct coord *c, char *buf, size_t cap);
void coord_submit_free(struct coord *c);
/* coord_persist.c: result parts and the job checkpoint in SDFS */
/* Puts what is due; the next deadline (LOOP_NEVER: none). */
uint64_t coord_persist_tick(struct coord *c, uint64_t now_ms);
/* A job was launched, stopped or given a batch: the checkpoint is due. */
void coord_persist_jobs_changed(struct coord *c);
/* Answers conn as coord_cmd_answer, once the checkpoint holds every
 * change made so far (at most 3 s later). */
void coord_persist_ack(struct coord *c, struct conn *conn, uint8_t status, const char *text,
		       size_t len);
/* The coordinator starts or stops: puts in flight are forgotten. */
void coord_persist_reset(struct coord *c);
size_t coord_persist_stats(const struct coord *c, char *buf, size_t cap);
void coord_persist_free(struct coord *c);

/* coord_recover.c: a cold takeover rebuilds the jobs and their answered
 * queries from SDFS; c->recovering until done(c, status) is called (0, or
 * -EINVAL: the checkpoint was unreadable, nothing was recovered). */
typedef void (*coord_recover_fn)(struct coord *c, int status);
int coord_persist_recover(struct coord *c, coord_recover_fn done);
/* Retries a step that failed; the next deadline. */
uint64_t coord_recover_tick(struct coord *c, uint64_t now_ms);
/* The coordinator stopped: the recovery is dropped (done is not called). */
void coord_recover_reset(struct coord *c);
void coord_recover_free(struct coord *c);

#endif
