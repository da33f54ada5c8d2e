/*
 * qgen_ledger.h - qgen's ledger: every query a job was sent, with what
 * came back and when, and the check made of it at the end.  Pure: no I/O,
 * no clock (times are the caller's, in microseconds since its start).
 *
 * Query ids (cqids) are dense: the n-th query added is cqid n.  A check
 * counts, besides the totals:
 *   lost        acknowledged (accepted, pending or answered) and never answered
 *               (even when a later re-submission was refused)
 *   duplicated  answered twice with different results
 *   unexpected  an ACK or a result for a cqid never submitted, or a result
 *               for one the coordinator refused
 *   unacked     submitted and never acknowledged
 * A clean run has all four at 0.
 */
#ifndef IDUNNO_QGEN_LEDGER_H
#define IDUNNO_QGEN_LEDGER_H

#include "tasks/submit_wire.h"

#include <stdint.h>

#define LEDGER_NONE	       UINT64_MAX /* a time not reached */
#define LEDGER_UNEXPECTED_KEPT 1000

struct lq {
	uint32_t image;
	uint8_t ack;	    /* enum sub_status of the last ACK, SUB_STATUS_MAX: none */
	uint8_t answers;    /* results received (saturates at 255) */
	uint8_t duplicated; /* a later result differed from the first */
	uint8_t sent;	    /* submitted at least once */
	uint8_t taken;	    /* an ACK said accepted, pending or answered: it must be answered */
	uint16_t resubmits;
	uint64_t t_sched, t_sub, t_ack, t_ans; /* us; LEDGER_NONE until then */
	struct coord_answer a;		       /* the first result */
};

struct ledger {
	struct lq *q;
	uint64_t n, cap;
	uint64_t unexpected, resubmits;
	uint64_t unexpected_cqid[LEDGER_UNEXPECTED_KEPT]; /* the first ones, for the file */
};

void ledger_init(struct ledger *l);
void ledger_free(struct ledger *l);
/* A new query on image, due at t_sched: returns its cqid. */
uint64_t ledger_add(struct ledger *l, uint32_t image, uint64_t t_sched);
/* It went out at t (again: a re-submission, counted). */
void ledger_sent(struct ledger *l, uint64_t cqid, uint64_t t);
/* An ACK's status for cqid at t; a result for it at t.  Each returns 1
 * when the query is now final (answered or refused) for the first time. */
int ledger_ack(struct ledger *l, uint64_t cqid, uint8_t status, uint64_t t);
int ledger_answer(struct ledger *l, const struct sub_result *r, uint64_t t);

/* Whether cqid needs no more (answered, or refused by the coordinator). */
int ledger_final(const struct ledger *l, uint64_t cqid);
/* Whether an ACK status refuses the query (busy, bad image, no job, stopped). */
int ledger_refused(uint8_t status);

struct ledger_verdict {
	uint64_t submitted, acknowledged, answered, busy, refused, failed, stored;
	uint64_t lost, duplicated, unexpected, unacked, resubmitted;
};
void ledger_check(const struct ledger *l, struct ledger_verdict *v);
/* Whether the verdict is clean (lost, duplicated, unexpected, unacked all 0). */
int ledger_clean(const struct ledger_verdict *v);

/* Latencies (t_ans - t_sched, us) of the queries answered with a result:
 * p[0..4] = p50, p90, p99, p99.9, max; returns how many (0: p untouched). */
uint64_t ledger_latency(const struct ledger *l, double p[5]);

#endif
