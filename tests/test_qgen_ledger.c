/*
 * Description: qgen's ledger check (bench/qgen_ledger.c) on hand-made
 * ledgers: a clean run is clean; a query acknowledged and never answered
 * is lost (also when a later re-submission is refused); one answered twice
 * with different results is duplicated (twice the same is not); a result
 * or an ACK for a query never submitted, or a result for a refused one, is
 * unexpected; one never acknowledged is counted apart; busy ones are
 * refused, not lost; re-submissions are counted; latency percentiles by
 * nearest rank.
 */
#include "../bench/qgen_ledger.h"
#include "check.h"

#include <string.h>

static struct sub_result res(uint64_t cqid, uint16_t cls)
{
	struct sub_result r = {.cqid = cqid, .image = 1};

	r.a.qid = COORD_QID_CLIENT | cqid;
	r.a.worker = (struct wire_addr){0x7f000002, 7600};
	r.a.cls[0] = cls;
	r.a.prob[0] = 0.5f;
	return r;
}

/* n queries sent, acked accepted and answered at t = 1000 + 10 i. */
static void clean(struct ledger *l, int n)
{
	ledger_init(l);
	for (int i = 0; i < n; i++) {
		struct sub_result r = res((uint64_t)i, 7);
		uint64_t id = ledger_add(l, (uint32_t)i, (uint64_t)i * 10);
		ledger_sent(l, id, (uint64_t)i * 10);
		CHECK(ledger_ack(l, id, SUB_ACCEPTED, (uint64_t)i * 10 + 5) == 0, "ack not final");
		CHECK(ledger_answer(l, &r, 1000 + (uint64_t)i * 10) == 1, "answer final");
	}
}

int main(void)
{
	struct ledger l;
	struct ledger_verdict v;
	struct sub_result r;
	double p[5];

	clean(&l, 1000);
	ledger_check(&l, &v);
	CHECK(v.submitted == 1000 && v.acknowledged == 1000 && v.answered == 1000 &&
		      ledger_clean(&v),
	      "clean: %llu %llu", (unsigned long long)v.answered, (unsigned long long)v.lost);
	CHECK(ledger_latency(&l, p) == 1000 && p[0] == 1000 && p[4] == 1000, "latency %g %g", p[0],
	      p[4]);
	/* the same result twice (a re-submission answered from the results) is no duplicate */
	r = res(3, 7);
	ledger_sent(&l, 3, 2000);
	CHECK(ledger_ack(&l, 3, SUB_ANSWERED, 2001) == 0, "answered again");
	CHECK(ledger_answer(&l, &r, 2002) == 0, "not final again");
	ledger_check(&l, &v);
	CHECK(ledger_clean(&v) && v.resubmitted == 1 && v.answered == 1000, "same result twice");
	ledger_free(&l);

	/* lost */
	clean(&l, 10);
	ledger_add(&l, 4, 500);
	ledger_sent(&l, 10, 500);
	ledger_ack(&l, 10, SUB_ACCEPTED, 501);
	ledger_check(&l, &v);
	CHECK(v.lost == 1 && !ledger_clean(&v), "lost: %llu", (unsigned long long)v.lost);
	/* ... still lost when its re-submission finds the job gone */
	ledger_sent(&l, 10, 600);
	ledger_ack(&l, 10, SUB_NO_JOB, 601);
	ledger_check(&l, &v);
	CHECK(v.lost == 1 && v.refused == 0, "lost after a refusal: %llu",
	      (unsigned long long)v.lost);
	ledger_free(&l);

	/* duplicated */
	clean(&l, 10);
	r = res(5, 8);
	ledger_answer(&l, &r, 3000);
	ledger_check(&l, &v);
	CHECK(v.duplicated == 1 && !ledger_clean(&v), "duplicated: %llu",
	      (unsigned long long)v.duplicated);
	ledger_free(&l);

	/* unexpected: a cqid never submitted, an ACK for one, a result for a refused one */
	clean(&l, 10);
	r = res(99, 7);
	CHECK(ledger_answer(&l, &r, 3000) == 0, "unexpected not final");
	ledger_check(&l, &v);
	CHECK(v.unexpected == 1 && !ledger_clean(&v), "unexpected: %llu",
	      (unsigned long long)v.unexpected);
	ledger_ack(&l, 12, SUB_ACCEPTED, 3001);
	ledger_add(&l, 0, 3002); /* cqid 10: busy */
	ledger_sent(&l, 10, 3002);
	CHECK(ledger_ack(&l, 10, SUB_BUSY, 3003) == 1, "busy is final");
	r = res(10, 7);
	ledger_answer(&l, &r, 3004);
	ledger_check(&l, &v);
	CHECK(v.unexpected == 3 && v.busy == 1 && v.refused == 1 && v.lost == 0,
	      "unexpected %llu busy %llu", (unsigned long long)v.unexpected,
	      (unsigned long long)v.busy);
	CHECK(l.unexpected_cqid[0] == 99 && l.unexpected_cqid[1] == 12, "kept");
	ledger_free(&l);

	/* never acknowledged; busy alone is clean; stored counts as answered */
	clean(&l, 4);
	ledger_add(&l, 0, 10);
	ledger_sent(&l, 4, 10);
	ledger_check(&l, &v);
	CHECK(v.unacked == 1 && !ledger_clean(&v), "unacked");
	ledger_ack(&l, 4, SUB_BUSY, 11);
	ledger_add(&l, 0, 12);
	ledger_sent(&l, 5, 12);
	CHECK(ledger_ack(&l, 5, SUB_ANSWERED_STORED, 13) == 1, "stored is final");
	ledger_check(&l, &v);
	CHECK(ledger_clean(&v) && v.busy == 1 && v.answered == 5 && v.stored == 1,
	      "busy and stored: clean");
	ledger_free(&l);

	/* nearest-rank percentiles of latencies 1..1000 us */
	ledger_init(&l);
	for (int i = 0; i < 1000; i++) {
		r = res((uint64_t)i, 1);
		ledger_add(&l, 0, 0);
		ledger_sent(&l, (uint64_t)i, 0);
		ledger_ack(&l, (uint64_t)i, SUB_ACCEPTED, 0);
		ledger_answer(&l, &r, (uint64_t)(1000 - i));
	}
	CHECK(ledger_latency(&l, p) == 1000 && p[0] == 500 && p[1] == 900 && p[2] == 990 &&
		      p[3] == 999 && p[4] == 1000,
	      "percentiles %g %g %g %g %g", p[0], p[1], p[2], p[3], p[4]);
	ledger_free(&l);
	return t_failures ? T_EXIT_FAIL : T_EXIT_PASS;
}
