/*
 * qgen.h - what qgen's files share (qgen.c: arguments and the report;
 * qgen_run.c: the connections and the send/receive loop; qgen_ledger.c:
 * the ledger and its check; qgen_check.c: the ledger against the results).
 */
#ifndef IDUNNO_QGEN_H
#define IDUNNO_QGEN_H

#include "cli/submit_client.h"
#include "qgen_ledger.h"

#include <signal.h>
#include <stdint.h>

struct qjob {
	char id[COORD_JOB_ID_MAX + 1];
	struct subc s;
	int up, gone; /* connected; refused for good (the reason in why) */
	char why[300];
	uint64_t down_since, next_try; /* us */
	struct ledger L;
	uint64_t sent_upto;		   /* queries below this went out at least once */
	uint64_t resend_next, resend_upto; /* after a reconnect: those to submit again */
	uint64_t finals;		   /* queries answered or refused */
	uint64_t next_t;		   /* open loop: the next arrival (us) */
	int gen_done;
	uint64_t busy_until; /* closed loop: a busy answer holds new queries back until then */
	uint64_t first_t, last_ans; /* us */
	uint32_t tag;
	uint64_t rng;
	uint64_t reconnects;
	int res_checked;		 /* --check-results done */
	uint64_t res_missing, res_twice; /* answered queries not in the results, in them twice */
};

struct qgen {
	struct client cl;
	struct wire_addr agents[64];
	int nagents;
	double rate;	    /* open loop: queries per second per job (0: closed loop) */
	int poisson;	    /* ... with exponential gaps */
	uint32_t conc;	    /* closed loop: queries in flight per job */
	double duration;    /* s of submitting (0: by count) */
	uint64_t count;	    /* queries per job (0: by duration) */
	double drain_s;	    /* waiting for the answers after the last submit */
	double reconnect_s; /* a broken connection is retried this long */
	uint64_t client_id, seed;
	int json, tty, check_results;
	const char *ledger_path;
	const char *key_file; /* for `agent results` (--check-results) */
	struct qjob *j;
	int nj;
	uint64_t t0_ns, end_us;
	struct sub_submit *m;
	struct sub_ack *ack;
	struct sub_results *res;
};

/* qgen_run.c */
/* Set by SIGINT or SIGTERM: no new queries; drain, check, report. */
extern volatile sig_atomic_t qgen_stop;
uint64_t qgen_now(const struct qgen *g); /* us since the start */
/* Opens every job's connection (0, or 1 with a one-line error printed). */
int qgen_open(struct qgen *g);
/* Submits and receives until done and drained. */
void qgen_loop(struct qgen *g);

/* qgen_check.c: j's ledger against the job's results (`agent results`):
 * fills res_missing and res_twice; 0, or -1 with the reason in j->why. */
int qgen_check_results(struct qgen *g, struct qjob *j);

#endif
