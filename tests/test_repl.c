/*
 * Description: the hot standby's replication (agent/tasks/repl_wire.c,
 * repl_log.c, with the coordinator's state, coord_log.h): the stream's
 * codecs round-trip and refuse every prefix, a trailing byte, another
 * type and out-of-range fields, and random bytes never crash them; the
 * log of unacknowledged records keeps order, drops what is acknowledged,
 * says when a snapshot is needed and stays within its byte budget.  Then
 * 1000 simulated coordinators (each its own seed), with a client
 * submitting queries, workers answering them, the record stream to the
 * standby delayed at random, acknowledgements released to the client
 * only once their record is on the standby, the standby restarted now
 * and then (caught up by a snapshot): the coordinator is killed at a
 * random point of its stream, the standby takes over with its copy, late
 * answers of the old epoch arrive (filtered by coord_old_answer_ok), the
 * client re-submits what it has no answer for, and the run completes.
 * Every query the client was told was accepted is in the standby's copy,
 * every answer it saw is the one recorded, and in the end each of its
 * queries is answered exactly once, with the answer its image gives.
 */
#include "check.h"
#include "err.h"
#include "tasks/coord_log.h"
#include "tasks/repl_log.h"
#include "tasks/repl_wire.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static unsigned long long rng = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
	return t_xorshift(&rng);
}

static uint32_t below(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

static const struct wire_addr A1 = {0x7f000001, 7001}, A2 = {0x7f000002, 7001};

/* ---- codecs ---- */

static void test_codecs(void)
{
	uint8_t buf[4096], big[REPL_FRAME_MAX], chunk[100];
	struct repl_hello h = {.epoch = 7, .coordinator = A1, .seq = 99}, h2;
	struct repl_state s = {.status = -ERANGE, .epoch = 7, .seq = 5}, s2;
	struct repl_snap sn = {.epoch = 7,
			       .seq = 40,
			       .total = 300,
			       .offset = 200,
			       .len = 100,
			       .chunk = chunk},
			 sn2;
	static struct repl_recs rr;
	struct repl_recs_buf b;
	int n;

	for (int i = 0; i < 100; i++)
		chunk[i] = (uint8_t)i;
	n = repl_hello_encode(&h, buf, sizeof(buf));
	CHECK(n > 0 && repl_hello_decode(buf, (size_t)n, &h2) == 0 && h2.epoch == 7 &&
		      h2.seq == 99 && wire_addr_eq(h2.coordinator, A1),
	      "hello round trip");
	for (int k = 0; k < n; k++)
		CHECK(repl_hello_decode(buf, (size_t)k, &h2) == -EINVAL, "hello prefix %d", k);
	CHECK(repl_hello_decode(buf, (size_t)n + 1, &h2) == -EINVAL, "hello trailing byte");
	h.epoch = 0;
	n = repl_hello_encode(&h, buf, sizeof(buf));
	CHECK(repl_hello_decode(buf, (size_t)n, &h2) == -EINVAL, "hello epoch 0");

	n = repl_state_encode(&s, buf, sizeof(buf));
	CHECK(n > 0 && repl_state_decode(buf, (size_t)n, &s2) == 0 && s2.status == -ERANGE &&
		      s2.seq == 5,
	      "state round trip");
	s.status = -EIO;
	n = repl_state_encode(&s, buf, sizeof(buf));
	CHECK(repl_state_decode(buf, (size_t)n, &s2) == -EINVAL, "state with an unknown status");
	buf[0] = REPL_HELLO;
	CHECK(repl_state_decode(buf, (size_t)n, &s2) == -EINVAL, "state of another type");

	n = repl_snap_encode(&sn, buf, sizeof(buf));
	CHECK(n > 0 && repl_snap_decode(buf, (size_t)n, &sn2) == 0 && sn2.len == 100 &&
		      sn2.offset == 200 && memcmp(sn2.chunk, chunk, 100) == 0,
	      "snap round trip");
	for (int k = 0; k < n; k++)
		CHECK(repl_snap_decode(buf, (size_t)k, &sn2) == -EINVAL, "snap prefix %d", k);
	sn.offset = 201;
	CHECK(repl_snap_encode(&sn, buf, sizeof(buf)) < 0, "a chunk past its total");
	/* a chunk past its total, forged on the wire */
	sn.offset = 200;
	n = repl_snap_encode(&sn, buf, sizeof(buf));
	buf[1 + 8 + 8] = 250; /* total 250 < offset + len */
	buf[1 + 8 + 8 + 1] = 0;
	CHECK(repl_snap_decode(buf, (size_t)n, &sn2) == -EINVAL, "forged total");

	repl_recs_start(&b, big, sizeof(big), 9);
	CHECK(repl_recs_finish(&b) == -EINVAL, "an empty RECS");
	for (int i = 0; i < 10; i++)
		CHECK(repl_recs_add(&b, chunk, (size_t)10 + i) == 0, "add %d", i);
	CHECK(repl_recs_add(&b, chunk, 0) == -EMSGSIZE, "an empty record");
	n = repl_recs_finish(&b);
	CHECK(n > 0 && repl_recs_decode(big, (size_t)n, &rr) == 0 && rr.n == 10 && rr.epoch == 9 &&
		      rr.len[3] == 13 && memcmp(rr.rec[3], chunk, 13) == 0,
	      "recs round trip");
	for (int k = 0; k < n; k++)
		CHECK(repl_recs_decode(big, (size_t)k, &rr) == -EINVAL, "recs prefix %d", k);
	CHECK(repl_recs_decode(big, (size_t)n + 1, &rr) == -EINVAL, "recs trailing byte");
	repl_recs_start(&b, buf, 64, 9);
	CHECK(repl_recs_add(&b, chunk, 60) == -EMSGSIZE && b.n == 0, "a record past cap");

	for (int i = 0; i < 200000; i++) { /* random bytes and mutations */
		size_t len = below(80);
		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)rnd();
		if (len)
			buf[0] = (uint8_t)(REPL_HELLO + below(4));
		repl_hello_decode(buf, len, &h2);
		repl_state_decode(buf, len, &s2);
		repl_snap_decode(buf, len, &sn2);
		repl_recs_decode(buf, len, &rr);
	}
}

/* ---- the log ---- */

static void test_log(void)
{
	struct repl_log *l = repl_log_new(1000);
	uint8_t rec[100] = {0};
	const uint8_t *p;
	uint64_t seq;
	size_t pos, len;

	CHECK(repl_log_after(l, 0, &pos) == -ENOENT, "empty: nothing to send");
	for (uint64_t s = 11; s <= 15; s++)
		CHECK(repl_log_append(l, s, rec, 100) == 0, "append %llu", (unsigned long long)s);
	CHECK(repl_log_append(l, 17, rec, 10) == -EINVAL, "a gap refused");
	CHECK(repl_log_after(l, 9, &pos) == -ERANGE, "10 not held: a snapshot");
	CHECK(repl_log_after(l, 10, &pos) == 0 && pos == 0, "from 11");
	CHECK(repl_log_after(l, 13, &pos) == 0 && repl_log_get(l, pos, &seq, &p, &len) == 0 &&
		      seq == 14,
	      "after 13 comes 14");
	CHECK(repl_log_after(l, 15, &pos) == -ENOENT, "after the last: nothing");
	repl_log_ack(l, 13);
	CHECK(repl_log_count(l) == 2 && repl_log_bytes(l) == 200, "ack drops 11..13");
	CHECK(repl_log_after(l, 12, &pos) == -ERANGE, "acknowledged records are gone");
	for (uint64_t s = 16; s <= 23; s++)
		CHECK(repl_log_append(l, s, rec, 100) == 0, "append %llu", (unsigned long long)s);
	CHECK(repl_log_bytes(l) == 1000, "at the budget");
	CHECK(repl_log_append(l, 24, rec, 1) == -ENOSPC && repl_log_count(l) == 0,
	      "over the budget: cleared");
	CHECK(repl_log_append(l, 30, rec, 1) == 0, "after a clear any seq starts it");
	repl_log_free(l);
}

/* ---- the simulation ---- */

#define NQ     400 /* client queries per run */
#define IMAGES 50
#define JOB    "sim"

enum { NOTE_ACK, NOTE_RESULT };
struct note {
	uint64_t seq;
	uint8_t kind;
	uint32_t cq;
};

static struct sim {
	struct coord_state *co, *sb; /* the coordinator's state and the standby's copy */
	struct repl_log *log;
	uint64_t sent, acked, epoch;
	/* the network: records on their way to the standby, acks on their way back */
	uint64_t net_seq[4096];
	int net_n;
	uint64_t ack_q[4096];
	int ack_n;
	struct note notes[8192];
	int nnotes;
	/* the client */
	uint32_t issued;
	uint8_t told_accepted[NQ], told_answered[NQ];
	uint16_t told_cls[NQ];
	/* the coordinator's own map, query id -> client query (for its workers) */
	uint64_t qid_of[NQ];
	uint8_t has_qid[NQ];
	uint64_t stream_snaps;
	int need_snap; /* the log was cut: the standby gets a snapshot */
} S;

static struct coord_rec R;
static struct coord_effect E;
static uint8_t buf[COORD_REC_MAX];

static uint32_t image_of(uint32_t cq)
{
	return cq % IMAGES;
}

static uint64_t sim_ms = 1796000000000ull; /* the coordinators' wall clock, simulated */

static void answer_for(struct coord_answer *a, uint64_t qid, uint32_t image)
{
	memset(a, 0, sizeof(*a));
	a->qid = qid;
	a->worker = A2;
	a->service_ns = 1000;
	a->done_ms = ++sim_ms;
	a->cls[0] = (uint16_t)(image * 7 % 1000); /* the model's answer: a function of the image */
	a->prob[0] = 0.9f;
}

/* The coordinator applies R (seq set here), logs it and sends what it can. */
static int co_record(void)
{
	struct coord_state_info si;
	int ret, n;

	coord_state_info(S.co, &si);
	R.seq = si.seq + 1;
	ret = coord_state_apply(S.co, &R, &E);
	if (ret)
		return ret;
	n = coord_rec_encode(&R, buf, sizeof(buf));
	REQUIRE(n > 0, "encode");
	if (repl_log_append(S.log, R.seq, buf, (size_t)n) == -ENOSPC) {
		S.need_snap = 1; /* the stream is cut: a snapshot next */
		S.net_n = 0;
	}
	return 0;
}

static void note(uint64_t seq, uint8_t kind, uint32_t cq)
{
	REQUIRE(S.nnotes < (int)(sizeof(S.notes) / sizeof(S.notes[0])), "notes");
	S.notes[S.nnotes++] = (struct note){seq, kind, cq};
}

static void co_submit(void)
{
	int k = 1 + (int)below(8);

	memset(&R, 0, sizeof(R));
	R.type = COORD_REC_QUERIES_ACCEPTED;
	snprintf(R.job, sizeof(R.job), JOB);
	R.u.accept.client = 42;
	for (int i = 0; i < k; i++) {
		uint32_t cq = S.issued < NQ && below(4) ? S.issued++ : below(S.issued + 1);
		if (cq >= NQ)
			cq = NQ - 1;
		R.u.accept.q[R.u.accept.n++] = (struct coord_accept_q){cq, image_of(cq)};
		if (cq == S.issued && S.issued < NQ)
			S.issued++;
	}
	if (co_record())
		return;
	for (int i = 0; i < R.u.accept.n; i++) {
		uint32_t cq = (uint32_t)R.u.accept.q[i].cqid;
		if (E.verdict[i] == COORD_NEW) {
			S.qid_of[cq] = E.qid[i];
			S.has_qid[cq] = 1;
		}
		note(R.seq, NOTE_ACK, cq);
	}
}

/* Workers answer some of the pending queries. */
static void co_results(struct coord_state *st)
{
	static struct coord_pending p[64];
	int n = coord_state_pending(st, JOB, 0, p, 64);

	if (n <= 0)
		return;
	memset(&R, 0, sizeof(R));
	R.type = COORD_REC_RESULTS;
	snprintf(R.job, sizeof(R.job), JOB);
	for (int i = 0; i < n && R.u.results.n < COORD_REC_Q_MAX; i++)
		if (below(2))
			answer_for(&R.u.results.a[R.u.results.n++], p[i].qid, p[i].image);
	if (!R.u.results.n || co_record())
		return;
	for (int i = 0; i < R.u.results.n; i++)
		if (E.verdict[i] == COORD_NEW)
			for (int k = 0; k < n; k++)
				if (p[k].qid == R.u.results.a[i].qid)
					note(R.seq, NOTE_RESULT, (uint32_t)p[k].cqid);
}

/* The standby (re)starts: it asks, and gets records or a snapshot. */
static void sb_sync(void)
{
	struct coord_state_info si, mi;
	size_t pos;
	uint8_t *snap;
	size_t len;

	coord_state_info(S.co, &mi);
	si.seq = 0;
	if (S.sb)
		coord_state_info(S.sb, &si);
	S.net_n = 0;
	if (!S.need_snap && si.seq && repl_log_after(S.log, si.seq, &pos) != -ERANGE) {
		S.sent = si.seq;
		return;
	}
	REQUIRE(coord_state_snapshot_encode(S.co, &snap, &len) == 0, "snapshot");
	coord_state_free(S.sb);
	S.sb = NULL;
	REQUIRE(coord_state_snapshot_decode(snap, len, &S.sb) == 0, "snapshot decodes");
	free(snap);
	repl_log_clear(S.log);
	S.sent = mi.seq;
	S.need_snap = 0;
	S.ack_q[S.ack_n++] = mi.seq;
	S.stream_snaps++;
}

static void net_send(void)
{
	size_t pos;
	uint64_t seq;
	const uint8_t *p;
	size_t len;

	if (S.need_snap || repl_log_after(S.log, S.sent, &pos) == -ERANGE) {
		sb_sync();
		return;
	}
	if (repl_log_after(S.log, S.sent, &pos))
		return;
	while (repl_log_get(S.log, pos++, &seq, &p, &len) == 0 && S.net_n < 4096) {
		S.net_seq[S.net_n++] = seq;
		S.sent = seq;
	}
}

static void net_deliver(void)
{
	int k = (int)below((uint32_t)S.net_n + 1), done = 0;
	struct coord_rec *r = malloc(sizeof(*r));

	for (int i = 0; i < k; i++) {
		size_t pos, len;
		uint64_t seq;
		const uint8_t *p;
		int ret;
		/* the bytes the coordinator sent, still in its log (nothing acked past them) */
		REQUIRE(repl_log_after(S.log, S.net_seq[i] - 1, &pos) == 0 &&
				repl_log_get(S.log, pos, &seq, &p, &len) == 0 &&
				seq == S.net_seq[i],
			"record %llu held until acked", (unsigned long long)S.net_seq[i]);
		REQUIRE(coord_rec_decode(p, len, r) == 0, "decode");
		ret = coord_state_apply(S.sb, r, NULL);
		CHECK(ret == 0, "the standby applies record %llu: %d", (unsigned long long)seq,
		      ret);
		done = i + 1;
	}
	free(r);
	if (done) {
		memmove(S.net_seq, S.net_seq + done, (size_t)(S.net_n - done) * sizeof(uint64_t));
		S.net_n -= done;
		struct coord_state_info si;
		coord_state_info(S.sb, &si);
		S.ack_q[S.ack_n++] = si.seq;
	}
}

/* Acks arrive: the notes they cover are released to the client. */
static void ack_arrive(void)
{
	int k = (int)below((uint32_t)S.ack_n + 1);

	for (int i = 0; i < k; i++)
		if (S.ack_q[i] > S.acked) {
			S.acked = S.ack_q[i];
			repl_log_ack(S.log, S.acked);
		}
	memmove(S.ack_q, S.ack_q + k, (size_t)(S.ack_n - k) * sizeof(uint64_t));
	S.ack_n -= k;
	for (int i = 0; i < S.nnotes;) {
		struct note *n = &S.notes[i];
		if (n->seq > S.acked) {
			i++;
			continue;
		}
		if (n->kind == NOTE_ACK)
			S.told_accepted[n->cq] = 1;
		else
			S.told_answered[n->cq] = 1;
		*n = S.notes[--S.nnotes];
	}
}

/* What the standby's copy says of client query cq: 0 unknown, 1 pending, 2 answered (cls). */
static int sb_knows(uint32_t cq, uint16_t *cls)
{
	static struct coord_result res[NQ + 8];
	static struct coord_pending p[NQ + 8];
	int n = coord_state_results(S.sb, JOB, 1, res, NQ + 8);

	for (int i = 0; i < n; i++)
		if (res[i].cqid == cq && res[i].client == 42) {
			*cls = res[i].a.cls[0];
			return 2;
		}
	n = coord_state_pending(S.sb, JOB, 0, p, NQ + 8);
	for (int i = 0; i < n; i++)
		if (p[i].cqid == cq)
			return 1;
	return 0;
}

static void one_run(uint64_t seed)
{
	struct coord_state_info si;
	struct coord_job_info ji;
	uint32_t kill_at = 20 + below(400), jobs_then;
	uint64_t client_then;
	static struct coord_result res[NQ * 2];
	static uint8_t seen[NQ];
	static uint32_t order[NQ];
	uint32_t nre;
	int n;

	rng = seed * 0x9e3779b97f4a7c15ull + 1;
	memset(&S, 0, sizeof(S));
	S.co = coord_state_new();
	S.log = repl_log_new(below(2) ? 4096 : 1 << 20);
	memset(&R, 0, sizeof(R));
	R.type = COORD_REC_EPOCH;
	R.u.epoch.epoch = 1;
	R.u.epoch.coordinator = A1;
	REQUIRE(co_record() == 0, "epoch");
	memset(&R, 0, sizeof(R));
	R.type = COORD_REC_JOB_LAUNCH;
	snprintf(R.job, sizeof(R.job), JOB);
	R.u.launch = (struct coord_job_settings){
		.model = "m", .model_version = 1, .dataset = "d", .index_version = 1};
	snprintf(R.u.launch.id, sizeof(R.u.launch.id), JOB);
	R.u.launch.images = IMAGES;
	R.u.launch.batch = 4;
	R.u.launch.weight = 1;
	R.u.launch.flags = COORD_JOB_CLIENT;
	REQUIRE(co_record() == 0, "launch");
	sb_sync();

	for (uint32_t step = 0; step < kill_at; step++) {
		switch (below(6)) {
		case 0:
			co_submit();
			break;
		case 1:
			co_results(S.co);
			break;
		case 2:
			net_send();
			break;
		case 3:
			net_deliver();
			break;
		case 4:
			ack_arrive();
			break;
		default:
			if (below(40) == 0) /* the standby restarts: nothing kept */
				coord_state_free(S.sb), S.sb = NULL, sb_sync();
			break;
		}
	}
	/* the coordinator dies: what the client was told is on the standby */
	for (uint32_t cq = 0; cq < S.issued; cq++) {
		uint16_t cls = 0;
		int k = sb_knows(cq, &cls);
		if (S.told_answered[cq])
			CHECK(k == 2 && cls == image_of(cq) * 7 % 1000,
			      "seed %llu: answered query %u lost or changed (%d)",
			      (unsigned long long)seed, cq, k);
		else if (S.told_accepted[cq])
			CHECK(k >= 1, "seed %llu: accepted query %u lost", (unsigned long long)seed,
			      cq);
	}
	/* the standby takes over: epoch 2 */
	coord_state_info(S.sb, &si);
	REQUIRE(coord_state_job(S.sb, JOB, &ji) == 0, "the job is on the standby");
	jobs_then = si.jobs;
	client_then = ji.accepted;
	memset(&R, 0, sizeof(R));
	R.type = COORD_REC_EPOCH;
	R.seq = si.seq + 1;
	R.u.epoch.epoch = 2;
	R.u.epoch.coordinator = A2;
	REQUIRE(coord_state_apply(S.sb, &R, NULL) == 0, "epoch 2");
	/* the client re-submits everything it has no answer for, in any order */
	nre = 0;
	for (uint32_t cq = 0; cq < S.issued; cq++)
		if (!S.told_answered[cq])
			order[nre++] = cq;
	for (uint32_t i = nre; i > 1; i--) {
		uint32_t k = below(i), t = order[i - 1];
		order[i - 1] = order[k];
		order[k] = t;
	}
	for (uint32_t at = 0; at < nre; at += COORD_REC_Q_MAX) {
		memset(&R, 0, sizeof(R));
		R.type = COORD_REC_QUERIES_ACCEPTED;
		snprintf(R.job, sizeof(R.job), JOB);
		R.u.accept.client = 42;
		for (uint32_t k = at; k < nre && k < at + COORD_REC_Q_MAX; k++)
			R.u.accept.q[R.u.accept.n++] =
				(struct coord_accept_q){order[k], image_of(order[k])};
		coord_state_info(S.sb, &si);
		R.seq = si.seq + 1;
		REQUIRE(coord_state_apply(S.sb, &R, &E) == 0, "re-submission");
		for (int i = 0; i < R.u.accept.n; i++)
			CHECK(!S.told_accepted[R.u.accept.q[i].cqid] || E.verdict[i] != COORD_NEW,
			      "seed %llu: acknowledged query %llu new again",
			      (unsigned long long)seed, (unsigned long long)R.u.accept.q[i].cqid);
	}
	/* late answers from the old coordinator's workers, by its own map */
	memset(&R, 0, sizeof(R));
	R.type = COORD_REC_RESULTS;
	snprintf(R.job, sizeof(R.job), JOB);
	for (uint32_t cq = 0; cq < S.issued && R.u.results.n < COORD_REC_Q_MAX; cq++)
		if (S.has_qid[cq] && below(2) &&
		    coord_old_answer_ok(ji.num, jobs_then, S.qid_of[cq], client_then))
			answer_for(&R.u.results.a[R.u.results.n++], S.qid_of[cq], image_of(cq));
	if (R.u.results.n) {
		coord_state_info(S.sb, &si);
		R.seq = si.seq + 1;
		CHECK(coord_state_apply(S.sb, &R, NULL) == 0, "late answers");
	}
	/* the new coordinator runs the rest */
	for (int guard = 0; guard < 1000; guard++) {
		struct coord_state *tmp = S.co;
		S.co = S.sb;
		co_results(S.co);
		S.co = tmp;
		if (coord_state_job(S.sb, JOB, &ji) == 0 && ji.pending == 0)
			break;
	}
	n = coord_state_results(S.sb, JOB, 1, res, NQ * 2);
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < n; i++) {
		uint32_t cq = (uint32_t)res[i].cqid;
		REQUIRE(cq < NQ, "a result for a query never asked");
		CHECK(res[i].a.cls[0] == image_of(cq) * 7 % 1000,
		      "seed %llu: query %u answered with another image's answer",
		      (unsigned long long)seed, cq);
		seen[cq]++;
		/* the recording time travels with the result, through snapshots too */
		CHECK(res[i].a.done_ms > 1796000000000ull &&
			      (i == 0 || res[i].a.done_ms >= res[i - 1].a.done_ms),
		      "seed %llu: result %d's done_ms %llu", (unsigned long long)seed, i,
		      (unsigned long long)res[i].a.done_ms);
	}
	for (uint32_t cq = 0; cq < S.issued; cq++)
		CHECK(seen[cq] == 1, "seed %llu: query %u answered %u times",
		      (unsigned long long)seed, cq, seen[cq]);
	coord_state_free(S.co);
	coord_state_free(S.sb);
	repl_log_free(S.log);
}

int main(void)
{
	uint64_t snaps = 0;

	test_codecs();
	test_log();
	for (uint64_t seed = 1; seed <= 1000 && !t_failures; seed++) {
		one_run(seed);
		snaps += S.stream_snaps;
	}
	printf("1000 simulated coordinator kills: %llu standby snapshots, %d failures\n",
	       (unsigned long long)snaps, t_failures);
	return t_result();
}
