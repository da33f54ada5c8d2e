/*
 * Description: the scheduler's express batches (agent/tasks/sched.h),
 * by direct calls at given times: when every slot is busy, a starting job
 * (new, or idle until now) gets one batch at once, beyond the slots of the
 * worker expected to end its running batch soonest (not the lowest id);
 * once per start (not again while it has work in flight, nor for the rest
 * of its queue); one per worker (the next starting job goes elsewhere);
 * never when a slot is free; its end frees no slot; it counts in the
 * job's normalised count like any batch; a job idle again starts again;
 * a removed worker's express batch goes back to its queue; two schedulers
 * given the same calls make the same decisions.
 */
#include "check.h"
#include "tasks/sched.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MAXD 64

struct trace {
	struct sched_dispatch d[MAXD];
	int n;
};

static struct sched_dispatch d;

/* One pop at now, recorded; returns what sched_pop returned. */
static int pop(struct sched *s, uint64_t now, struct trace *t)
{
	int r = sched_pop(s, now, &d);

	if (r && t->n < MAXD)
		t->d[t->n++] = d;
	return r;
}

/* The result of batch x, every query done, at now. */
static int done(struct sched *s, const struct sched_dispatch *x, uint64_t now)
{
	static struct sched_result r;
	uint8_t v[SCHED_BATCH_MAX];

	r = (struct sched_result){.worker = x->worker, .job = x->job, .batch = x->batch, .n = x->n};
	for (int i = 0; i < x->n; i++)
		r.a[i] = (struct sched_answer){x->q[i], 0};
	return sched_result(s, &r, now, v);
}

static void enqueue(struct sched *s, uint32_t job, uint64_t from, int n, uint64_t now)
{
	for (int i = 0; i < n; i++)
		REQUIRE(sched_enqueue(s, job, from + (uint64_t)i, now) == 0, "enqueue");
}

static uint64_t expresses(struct sched *s)
{
	struct sched_stats st;

	sched_stats(s, &st);
	return st.expresses;
}

static uint32_t free_slots(struct sched *s)
{
	struct sched_stats st;

	sched_stats(s, &st);
	return st.free_slots;
}

/* The scenario; every decision goes into t (for the replay check). */
static void scenario(struct trace *t)
{
	struct sched_config c;
	struct sched *s;
	struct sched_dispatch w1, w2, w3, x2, x3, x4, x5;
	struct sched_job_info before, after;
	int ok;

	sched_config_default(&c); /* 100 ms a query until measured */
	s = sched_new(&c);
	REQUIRE(s, "sched_new");
	for (uint32_t w = 1; w <= 3; w++)
		REQUIRE(sched_worker_add(s, w, 1, 0) == 0, "worker add");
	REQUIRE(sched_job_add(s, 1, 1, 1, 0) == 0, "job 1");
	enqueue(s, 1, 1, 100, 0);
	/* job 1 takes every slot at 0 */
	ok = pop(s, 0, t) && !d.express;
	w1 = d;
	ok = ok && pop(s, 0, t) && !d.express;
	w2 = d;
	ok = ok && pop(s, 0, t) && !d.express;
	w3 = d;
	ok = ok && !pop(s, 0, t);
	CHECK(ok && w1.worker != w2.worker && w2.worker != w3.worker,
	      "job 1 on the three slots, no express while it started with free slots");
	/* at 50 the batches on two workers end and new ones start there: the
	 * third worker's batch (started at 0) is expected to end first */
	struct sched_dispatch soon = w2, a = w1, b = w3;
	done(s, &a, 50);
	ok = pop(s, 50, t) && d.worker == a.worker && !d.express;
	a = d;
	done(s, &b, 50);
	ok = ok && pop(s, 50, t) && d.worker == b.worker && !d.express;
	b = d;
	CHECK(ok && !pop(s, 50, t) && free_slots(s) == 0, "slots refilled at 50, none free");

	/* a new job at 60, every slot busy: an express batch at once, on the
	 * worker whose running batch started first */
	REQUIRE(sched_job_add(s, 2, 1, 2, 60) == 0, "job 2");
	enqueue(s, 2, 1, 10, 60);
	sched_job_info(s, 2, 60, &before);
	ok = pop(s, 60, t);
	x2 = d;
	sched_job_info(s, 2, 60, &after);
	{
		CHECK(ok && x2.express && x2.job == 2 && x2.n == 2,
		      "a new job with every slot busy gets an express batch at once (%d %d)", ok,
		      x2.express);
		CHECK(x2.worker == soon.worker,
		      "express on worker %u, the one expected to end first is %u", x2.worker,
		      soon.worker);
		CHECK(after.norm == before.norm + 2 && after.inflight == 2,
		      "the express batch counts (norm %.1f -> %.1f)", before.norm, after.norm);
		CHECK(expresses(s) == 1 && free_slots(s) == 0, "one express, no slot used by it");
		CHECK(!pop(s, 61, t), "once per start: job 2's other 8 queries wait for a slot");
	}
	/* another new job: not on the worker holding an express batch; of the
	 * other two (both started at 50), the lowest index */
	REQUIRE(sched_job_add(s, 3, 1, 4, 62) == 0, "job 3");
	enqueue(s, 3, 1, 1, 62);
	ok = pop(s, 62, t);
	x3 = d;
	CHECK(ok && x3.express && x3.job == 3 && x3.n == 1 && x3.worker != soon.worker &&
		      x3.worker == MIN(a.worker, b.worker),
	      "a second starting job: express on worker %u (want %u)", x3.worker,
	      MIN(a.worker, b.worker));
	/* a third: every worker without an express batch is taken... one is left */
	REQUIRE(sched_job_add(s, 4, 1, 1, 63) == 0, "job 4");
	enqueue(s, 4, 1, 1, 63);
	ok = pop(s, 63, t);
	x4 = d;
	CHECK(ok && d.express && d.job == 4 && d.worker == MAX(a.worker, b.worker) &&
		      !pop(s, 63, t),
	      "the third express on the last worker, then none (one per worker)");
	/* job 2's express batch ends: no slot becomes free */
	CHECK(done(s, &x2, 70) == 0 && free_slots(s) == 0 && !pop(s, 70, t),
	      "an express batch's end frees no slot; job 2 is not started again");
	/* job 3 ended its queue; idle, it starts again: a new express */
	done(s, &x3, 71);
	enqueue(s, 3, 100, 1, 72);
	ok = pop(s, 72, t);
	CHECK(ok && d.express && d.job == 3 && d.worker != x4.worker,
	      "a job idle until now starts again: express (worker %u)", d.worker);
	x3 = d;
	/* a free slot: no express, whichever job it goes to */
	done(s, &soon, 80);
	REQUIRE(sched_job_add(s, 5, 1, 1, 80) == 0, "job 5");
	enqueue(s, 5, 1, 3, 80);
	ok = pop(s, 80, t);
	CHECK(ok && !d.express && d.worker == soon.worker && expresses(s) == 4,
	      "a free slot: a plain batch (express %d, %llu expresses)", d.express,
	      (unsigned long long)expresses(s));
	/* job 5 (or 2) waits; if job 5 did not get the slot it is still starting */
	if (d.job != 5) {
		ok = pop(s, 80, t);
		x5 = d;
		CHECK(ok && x5.express && x5.job == 5, "job 5: express once the slot went");
	} else {
		x5 = d;
	}
	/* the worker holding an express batch is removed: its queries go back */
	sched_job_info(s, 3, 90, &before);
	CHECK(sched_worker_remove(s, x3.worker, 90) >= 1, "remove worker %u", x3.worker);
	sched_job_info(s, 3, 90, &after);
	CHECK(after.queued == before.queued + 1 && after.inflight == 0,
	      "job 3's express query queued again (%u -> %u)", before.queued, after.queued);
	(void)x5;
	sched_free(s);
}

int main(void)
{
	static struct trace t1, t2;

	scenario(&t1);
	scenario(&t2);
	CHECK(t1.n == t2.n && t1.n > 8, "replay: %d vs %d decisions", t1.n, t2.n);
	for (int i = 0; i < t1.n && i < t2.n; i++)
		CHECK(t1.d[i].worker == t2.d[i].worker && t1.d[i].batch == t2.d[i].batch &&
			      t1.d[i].job == t2.d[i].job && t1.d[i].express == t2.d[i].express &&
			      t1.d[i].n == t2.d[i].n &&
			      !memcmp(t1.d[i].q, t2.d[i].q, t1.d[i].n * 8),
		      "replay: decision %d differs", i);
	int nx = 0;
	for (int i = 0; i < t1.n; i++)
		nx += t1.d[i].express;
	printf("express: %d decisions, %d of them express, made again identically\n", t1.n, nx);
	return t_result();
}
