/*
 * Description: persisted results applied again as records (agent/tasks/
 * result_replay.c), as a cold recovery does: a state with dataset and
 * client results (two clients, a failed query, a client query left
 * pending) is written as part lines, read back and replayed into a new
 * state with the same launch: the same results with the same rseq,
 * clients, client ids, images and answers; the same answered and failed
 * counts; the dataset queries answered are answered, the others not; a
 * client re-submitting an answered id gets ANSWERED, the pending one is
 * new again; 600 results replay in records of at most 256; replaying a
 * result twice is refused.
 */
#include "check.h"
#include "tasks/result_part.h"
#include "tasks/result_replay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int apply(void *arg, struct coord_rec *r, struct coord_effect *eff)
{
	struct coord_state *s = arg;
	struct coord_state_info si;

	coord_state_info(s, &si);
	r->seq = si.seq + 1;
	return coord_state_apply(s, r, eff);
}

static void launch(struct coord_state *s, const char *id, uint32_t images)
{
	struct coord_rec *r = calloc(1, sizeof(*r));

	r->type = COORD_REC_JOB_LAUNCH;
	strcpy(r->job, id);
	strcpy(r->u.launch.id, id);
	strcpy(r->u.launch.model, "alex");
	strcpy(r->u.launch.dataset, "d");
	r->u.launch.images = images;
	r->u.launch.batch = 2;
	r->u.launch.weight = 1;
	REQUIRE(apply(s, r, NULL) == 0, "launch %s", id);
	free(r);
}

static uint8_t accept1(struct coord_state *s, const char *job, uint64_t client, uint64_t cqid,
		       uint32_t image, uint64_t *qid)
{
	struct coord_rec *r = calloc(1, sizeof(*r));
	struct coord_effect eff;

	r->type = COORD_REC_QUERIES_ACCEPTED;
	strcpy(r->job, job);
	r->u.accept.client = client;
	r->u.accept.n = 1;
	r->u.accept.q[0] = (struct coord_accept_q){cqid, image};
	REQUIRE(apply(s, r, &eff) == 0, "accept");
	free(r);
	if (qid)
		*qid = eff.qid[0];
	return eff.verdict[0];
}

static void answer(struct coord_state *s, const char *job, const uint64_t *qid, int n)
{
	struct coord_rec *r = calloc(1, sizeof(*r));

	r->type = COORD_REC_RESULTS;
	strcpy(r->job, job);
	r->u.results.n = (uint16_t)n;
	for (int i = 0; i < n; i++) {
		struct coord_answer *a = &r->u.results.a[i];
		a->qid = qid[i];
		a->worker = (struct wire_addr){.ip = 0x7f000001 + (uint32_t)(i % 3), .port = 7000};
		a->service_ns = 1000 + qid[i] % 977;
		a->done_ms = 1796000000000ull + qid[i];
		a->status = i % 5 == 4 ? -EIO : 0;
		for (int k = 0; k < COORD_TOP && !a->status; k++) {
			a->cls[k] = (uint16_t)((qid[i] * 7 + (uint64_t)k) % 1000);
			a->prob[k] = 0.5f / (float)(k + 1);
		}
	}
	REQUIRE(apply(s, r, NULL) == 0, "results");
	free(r);
}

/* a's results of job, through part lines, replayed into b: the result count */
static int replay(struct coord_state *a, struct coord_state *b, const char *job,
		  struct coord_result *got)
{
	struct coord_result *res = calloc(1000, sizeof(*res));
	struct result_replay rp;
	int n = coord_state_results(a, job, 1, res, 1000), ret = 0;

	result_replay_init(&rp, job, apply, b);
	for (int i = 0; i < n && !ret; i++) {
		char line[RESULT_PART_LINE_MAX], input[64];
		int l = result_part_line(&res[i], "img.jpg", line, sizeof(line));
		REQUIRE(l > 0, "encode");
		REQUIRE(result_part_parse(line, (size_t)l - 1, &got[i], input, sizeof(input)) == 0,
			"parse %s", line);
		ret = result_replay_add(&rp, &got[i]);
	}
	if (!ret)
		ret = result_replay_flush(&rp);
	result_replay_free(&rp);
	free(res);
	return ret ? ret : n;
}

int main(void)
{
	struct coord_state *a = coord_state_new(), *b = coord_state_new();
	struct coord_result *ra = calloc(1000, sizeof(*ra)), *rb = calloc(1000, sizeof(*rb)),
			    *got = calloc(1000, sizeof(*got));
	struct coord_job_info ia, ib;
	uint64_t c0, c1, c2, c3, q[600];
	int n;

	launch(a, "j-1", 10);
	accept1(a, "j-1", 7, 100, 1, &c0);
	accept1(a, "j-1", 7, 101, 2, &c1);
	accept1(a, "j-1", 7, 102, 3, &c2); /* left pending */
	accept1(a, "j-1", 9, 5, 4, &c3);
	{
		uint64_t order[] = {0, c1, 3, c0, c3, 5};
		answer(a, "j-1", order, 6);
	}
	launch(b, "j-1", 10);
	n = replay(a, b, "j-1", got);
	REQUIRE(n == 6, "replayed: %d", n);
	REQUIRE(coord_state_job(a, "j-1", &ia) == 0 && coord_state_job(b, "j-1", &ib) == 0, "jobs");
	CHECK(ib.rseq == 6 && ib.answered == 6 && ib.failed == ia.failed && ia.failed == 1,
	      "counts: rseq %llu answered %llu failed %llu/%llu", (unsigned long long)ib.rseq,
	      (unsigned long long)ib.answered, (unsigned long long)ib.failed,
	      (unsigned long long)ia.failed);
	CHECK(coord_state_results(a, "j-1", 1, ra, 1000) == 6 &&
		      coord_state_results(b, "j-1", 1, rb, 1000) == 6,
	      "results held");
	for (int i = 0; i < 6; i++) {
		CHECK(ra[i].rseq == rb[i].rseq && ra[i].client == rb[i].client &&
			      ra[i].cqid == rb[i].cqid && ra[i].image == rb[i].image &&
			      ra[i].a.status == rb[i].a.status &&
			      ra[i].a.service_ns == rb[i].a.service_ns &&
			      ra[i].a.done_ms == rb[i].a.done_ms && rb[i].a.done_ms != 0 &&
			      wire_addr_eq(ra[i].a.worker, rb[i].a.worker) &&
			      !memcmp(ra[i].a.cls, rb[i].a.cls, sizeof(ra[i].a.cls)) &&
			      !memcmp(ra[i].a.prob, rb[i].a.prob, sizeof(ra[i].a.prob)),
		      "result %d differs", i);
		CHECK(!!(ra[i].a.qid & COORD_QID_CLIENT) == !!(rb[i].a.qid & COORD_QID_CLIENT) &&
			      (ra[i].a.qid & COORD_QID_CLIENT || ra[i].a.qid == rb[i].a.qid),
		      "result %d's query id kind", i);
	}
	for (uint64_t d = 0; d < 10; d++)
		CHECK(coord_state_answered(b, "j-1", d) == (d == 0 || d == 3 || d == 5),
		      "dataset query %llu", (unsigned long long)d);
	CHECK(accept1(b, "j-1", 7, 101, 2, NULL) == COORD_ANSWERED, "client 7's 101 answered");
	CHECK(accept1(b, "j-1", 9, 5, 4, NULL) == COORD_ANSWERED, "client 9's 5 answered");
	CHECK(accept1(b, "j-1", 7, 102, 3, NULL) == COORD_NEW, "the pending one is new again");
	(void)c2;

	/* 600 results: records of at most 256 */
	launch(a, "big", 600);
	for (int i = 0; i < 600; i++)
		q[i] = (uint64_t)(599 - i);
	answer(a, "big", q, 256);
	answer(a, "big", q + 256, 256);
	answer(a, "big", q + 512, 88);
	launch(b, "big", 600);
	n = replay(a, b, "big", got);
	CHECK(n == 600 && coord_state_job(b, "big", &ib) == 0 && ib.rseq == 600 &&
		      ib.dataset_done && ib.dataset_below == 600,
	      "600 replayed: %d, rseq %llu", n, (unsigned long long)ib.rseq);

	/* a result replayed twice is refused */
	{
		struct result_replay rp;
		result_replay_init(&rp, "big", apply, b);
		CHECK(result_replay_add(&rp, &got[0]) == 0 && result_replay_flush(&rp) == -EINVAL,
		      "a duplicate refused");
		result_replay_free(&rp);
	}
	free(ra);
	free(rb);
	free(got);
	coord_state_free(a);
	coord_state_free(b);
	return t_result();
}
