/*
 * Description: the coordinator's state as records (agent/tasks/coord_log.h;
 * coord_rec.c, coord_state.c, coord_snapshot.c, coord_query.c, coord_map.c):
 * random record streams (launches, stops, batch changes, client
 * submissions with re-submissions, results with duplicates and unknown
 * queries, epochs, persisted marks, and invalid records among them) are
 * applied to a state; replaying the stream up to a random point, taking a
 * snapshot, decoding it and applying the rest gives the identical state
 * (equal canonical snapshots), and a repeated or skipped record is refused
 * and changes nothing; no query is ever recorded twice (a ledger of the
 * NEW verdicts), a second result for it is reported a duplicate, and a
 * re-submitted client query is pending or answered, never queued again; a
 * refused record changes nothing; results persisted leave memory and a
 * long in-order run keeps the snapshot small; job ids are made valid and
 * unique, bad ones refused; every prefix of every record and snapshot, a
 * trailing byte, a wrong version or type, bad names, batches, weights,
 * counts, classes, probabilities, statuses, seq and epoch 0 are refused;
 * 200000 random and mutated records and snapshots never crash a decoder,
 * and those accepted re-encode to the same bytes.  Each job's latency
 * histogram counts its status 0 answers once each, by latency source,
 * gives the known mean and quantiles, and survives a snapshot; one that
 * does not add up is refused.
 */
#include "check.h"
#include "err.h"
#include "tasks/coord_log.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static unsigned long long rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	return t_xorshift(&rng);
}

static uint32_t below(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

static const struct wire_addr W1 = {0x7f000001, 7001}, W2 = {0x7f000002, 7001};

/* ---- streams ---- */

struct stream {
	uint8_t (*enc)[COORD_REC_MAX]; /* the records applied, encoded */
	int *len;
	int n, cap;
};

static void stream_add(struct stream *st, const struct coord_rec *r)
{
	if (st->n == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 256;
		st->enc = realloc(st->enc, (size_t)st->cap * sizeof(*st->enc));
		st->len = realloc(st->len, (size_t)st->cap * sizeof(*st->len));
		REQUIRE(st->enc && st->len, "out of memory");
	}
	st->len[st->n] = coord_rec_encode(r, st->enc[st->n], COORD_REC_MAX);
	REQUIRE(st->len[st->n] > 0, "encode of an applied record: %d", st->len[st->n]);
	st->n++;
}

/* The canonical bytes of s (caller frees). */
static uint8_t *snap(const struct coord_state *s, size_t *len)
{
	uint8_t *p;

	REQUIRE(coord_state_snapshot_encode(s, &p, len) == 0, "snapshot");
	return p;
}

static int same(const struct coord_state *a, const struct coord_state *b)
{
	size_t la, lb;
	uint8_t *pa = snap(a, &la), *pb = snap(b, &lb);
	int eq = la == lb && !memcmp(pa, pb, la);

	free(pa);
	free(pb);
	return eq;
}

static struct coord_rec rec; /* large: static */
static struct coord_rec rec2;
static struct coord_effect eff;

/* Applies stream records [from, to) to s, through their encodings. */
static void replay(struct coord_state *s, const struct stream *st, int from, int to)
{
	for (int i = from; i < to; i++) {
		REQUIRE(coord_rec_decode(st->enc[i], (size_t)st->len[i], &rec2) == 0,
			"decode of record %d", i);
		int err = coord_state_apply(s, &rec2, NULL);
		REQUIRE(err == 0, "replay of record %d (%s): %d", i,
			coord_rec_type_names[rec2.type], err);
	}
}

/* The ledger of NEW results: (job num, qid) pairs, to find a query recorded twice. */
struct ledger {
	uint64_t *k;
	size_t n, cap;
};

static void ledger_add(struct ledger *l, uint32_t job, uint64_t qid)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->k = realloc(l->k, l->cap * 2 * sizeof(uint64_t));
		REQUIRE(l->k, "out of memory");
	}
	l->k[2 * l->n] = job;
	l->k[2 * l->n + 1] = qid;
	l->n++;
}

static int cmp_pair(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	if (x[0] != y[0])
		return x[0] < y[0] ? -1 : 1;
	return x[1] < y[1] ? -1 : x[1] > y[1];
}

static void answer_fill(struct coord_answer *a, uint64_t qid)
{
	memset(a, 0, sizeof(*a));
	a->qid = qid;
	a->worker = rnd() & 1 ? W1 : W2;
	a->status = below(20) == 0 ? -EIO : 0;
	a->service_ns = 1000 + below(100000);
	a->lat_src = (uint8_t)below(TASK_LAT_SRC_MAX);
	a->done_ms = below(2) ? 0 : 1796000000000ull + below(1000000);
	for (int k = 0; k < COORD_TOP; k++) {
		a->cls[k] = (uint16_t)below(1000);
		a->prob[k] = (float)(below(1000)) / 1000.0f;
	}
}

#define NJOBS 12

/* (client, client query id) pairs accepted lately, for re-submissions. */
static uint64_t recent[64][2];
static uint32_t nrecent;

static void recent_note(void)
{
	for (int i = 0; i < rec.u.accept.n; i++) {
		uint32_t k = nrecent < 64 ? nrecent++ : below(64);
		recent[k][0] = rec.u.accept.client;
		recent[k][1] = rec.u.accept.q[i].cqid;
	}
}

/*
 * Builds one random record for s into rec (sometimes invalid: the caller
 * sees it refused).  seq is s's seq + 1 (sometimes not, for the gap and
 * repeat cases, which the caller checks separately).
 */
static void random_record(const struct coord_state *s)
{
	struct coord_state_info si;
	struct coord_job_info ji[NJOBS];
	int nj;
	uint32_t kind = below(100);

	coord_state_info(s, &si);
	nj = coord_state_jobs(s, ji, NJOBS);
	memset(&rec, 0, sizeof(rec));
	rec.seq = si.seq + 1;
	if (nj == 0 || (kind < 4 && nj < NJOBS)) {
		struct coord_job_settings *j = &rec.u.launch;
		rec.type = COORD_REC_JOB_LAUNCH;
		coord_job_id_make(si.launched, 0x1234, rec.job);
		if (below(10) == 0 && nj) /* an existing id: refused */
			strcpy(rec.job, ji[below((uint32_t)nj)].set.id);
		strcpy(j->id, rec.job);
		strcpy(j->model, below(2) ? "resnet18" : "alexnet");
		strcpy(j->dataset, "imgs");
		j->model_version = 1 + below(5);
		j->index_version = 1 + below(5);
		j->images = 1 + below(60);
		j->batch = (uint16_t)(1 + below(16));
		j->weight = 1 + below(3);
		j->flags = (uint8_t)(below(3) == 0   ? COORD_JOB_LOOP
				     : below(4) == 0 ? COORD_JOB_CLIENT
						     : 0);
		return;
	}
	const struct coord_job_info *j = &ji[below((uint32_t)nj)];
	for (int t = 0; t < 4 && j->stopped && below(10); t++) /* mostly a running job */
		j = &ji[below((uint32_t)nj)];
	strcpy(rec.job, j->set.id);
	if (below(200) == 0)
		strcpy(rec.job, "no-such-job");
	if (kind < 6 && below(4) == 0) {
		rec.type = COORD_REC_JOB_STOP;
	} else if (kind < 10) {
		rec.type = COORD_REC_JOB_BATCH;
		rec.u.batch = (uint16_t)(1 + below(COORD_BATCH_MAX));
	} else if (kind < 35) {
		rec.type = COORD_REC_QUERIES_ACCEPTED;
		rec.u.accept.client = 1 + below(4);
		rec.u.accept.n = (uint16_t)(1 + below(8));
		for (int i = 0; i < rec.u.accept.n; i++) {
			/* mostly fresh sequential ids, some re-submissions, some sparse */
			uint32_t r = below(10);
			rec.u.accept.q[i].cqid = r < 6 ? si.seq * 8 + (uint64_t)i : rnd() >> 1;
			if (r >= 6 && r < 9 && nrecent) {
				const uint64_t *cq = recent[below(nrecent)];
				rec.u.accept.client = cq[0];
				rec.u.accept.q[i].cqid = cq[1];
			}
			rec.u.accept.q[i].image = below(j->set.images + (below(50) == 0));
		}
	} else if (kind < 85) {
		struct coord_pending p[8];
		int np = coord_state_pending(s, j->set.id, 0, p, 8);
		uint64_t dsb = j->dataset_below;
		rec.type = COORD_REC_RESULTS;
		rec.u.results.n = (uint16_t)(1 + below(8));
		for (int i = 0; i < rec.u.results.n; i++) {
			uint32_t r = below(10);
			uint64_t qid;
			if (r < 4 && np > 0)
				qid = p[below((uint32_t)np)].qid; /* a pending client query */
			else if (r < 8)
				qid = dsb +
				      below(6); /* a dataset query near the mark (or past it) */
			else if (r < 9)
				qid = below((uint32_t)dsb + 1); /* answered already: a duplicate */
			else
				qid = COORD_QID_CLIENT | below(64); /* maybe unknown */
			answer_fill(&rec.u.results.a[i], qid);
		}
	} else if (kind < 90) {
		rec.type = COORD_REC_EPOCH;
		memset(rec.job, 0, sizeof(rec.job));
		rec.u.epoch.epoch = si.epoch + (below(5) ? 1 : 0); /* sometimes stale */
		if (!rec.u.epoch.epoch)
			rec.u.epoch.epoch = 1;
		rec.u.epoch.coordinator = W1;
	} else {
		rec.type = COORD_REC_PERSISTED;
		rec.u.persisted = j->persisted + below((uint32_t)(j->rseq - j->persisted + 2));
	}
}

/* Checks what one applied record did against the state before it. */
static void check_effect(const struct coord_state *before, const struct coord_state *after,
			 struct ledger *led)
{
	struct coord_job_info ja, jb;

	if (rec.type != COORD_REC_RESULTS && rec.type != COORD_REC_QUERIES_ACCEPTED)
		return;
	REQUIRE(coord_state_job(before, rec.job, &jb) == 0, "job");
	REQUIRE(coord_state_job(after, rec.job, &ja) == 0, "job");
	CHECK(eff.n == (rec.type == COORD_REC_RESULTS ? rec.u.results.n : rec.u.accept.n),
	      "effect count %u", eff.n);
	if (rec.type == COORD_REC_RESULTS) {
		uint64_t news = 0, dups = 0;
		for (int i = 0; i < eff.n; i++) {
			uint64_t qid = rec.u.results.a[i].qid;
			int was = coord_state_answered(before, rec.job, qid);
			if (eff.verdict[i] == COORD_NEW) {
				news++;
				ledger_add(led, ja.num, qid);
				/* a query answered before is never NEW again (unless
				 * the same record names it twice: then only once) */
				CHECK(!was, "qid %llx answered before, recorded again",
				      (unsigned long long)qid);
			} else if (eff.verdict[i] == COORD_DUP) {
				dups++;
			}
			CHECK(coord_state_answered(after, rec.job, qid) ==
				      (eff.verdict[i] != COORD_UNKNOWN),
			      "answered after a %s verdict", coord_verdict_names[eff.verdict[i]]);
			if (was)
				CHECK(eff.verdict[i] == COORD_DUP,
				      "a result for an answered query is %s",
				      coord_verdict_names[eff.verdict[i]]);
		}
		CHECK(ja.answered == jb.answered + news, "answered count");
		CHECK(ja.rseq == jb.rseq + news, "rseq");
		CHECK(ja.duplicates == jb.duplicates + dups, "duplicates count");
	} else {
		uint64_t news = 0;
		for (int i = 0; i < eff.n; i++) {
			if (eff.verdict[i] == COORD_NEW) {
				news++;
				CHECK(eff.qid[i] & COORD_QID_CLIENT, "a client query id");
			} else {
				CHECK(eff.verdict[i] == COORD_PENDING ||
					      eff.verdict[i] == COORD_ANSWERED,
				      "verdict %u", eff.verdict[i]);
			}
		}
		CHECK(ja.accepted == jb.accepted + news, "accepted count");
		CHECK(ja.pending == jb.pending + news, "pending count");
	}
}

/* A copy of s, through its snapshot. */
static struct coord_state *clone(const struct coord_state *s)
{
	size_t len;
	uint8_t *p = snap(s, &len);
	struct coord_state *c;

	REQUIRE(coord_state_snapshot_decode(p, len, &c) == 0, "decode of a fresh snapshot");
	free(p);
	return c;
}

static int stat_refused, stat_applied, stat_dups, stat_unknown, stat_answered_again;

static void one_stream(int nrec, int cuts)
{
	struct coord_state *s = coord_state_new();
	struct stream st = {0};

	nrecent = 0;
	struct ledger led = {0};

	while (st.n < nrec) {
		struct coord_state *before = clone(s);
		random_record(s);
		int err = coord_state_apply(s, &rec, &eff);
		if (err) {
			stat_refused++;
			CHECK(same(before, s), "a refused %s record (%d) changed the state",
			      coord_rec_type_names[rec.type], err);
		} else {
			stat_applied++;
			check_effect(before, s, &led);
			for (int i = 0; i < eff.n; i++) {
				stat_dups += eff.verdict[i] == COORD_DUP;
				stat_unknown += eff.verdict[i] == COORD_UNKNOWN;
				stat_answered_again += eff.verdict[i] == COORD_ANSWERED;
			}
			stream_add(&st, &rec);
			if (rec.type == COORD_REC_QUERIES_ACCEPTED)
				recent_note();
		}
		coord_state_free(before);
	}

	/* no (job, qid) recorded twice */
	qsort(led.k, led.n, 2 * sizeof(uint64_t), cmp_pair);
	for (size_t i = 1; i < led.n; i++)
		CHECK(cmp_pair(&led.k[2 * i - 2], &led.k[2 * i]) != 0,
		      "query %llx of job %llu twice", (unsigned long long)led.k[2 * i + 1],
		      (unsigned long long)led.k[2 * i]);

	/* the held results: each rseq once, in order, each qid once */
	{
		struct coord_job_info ji[NJOBS];
		int nj = coord_state_jobs(s, ji, NJOBS);
		static struct coord_result res[20000];
		uint64_t total = 0;
		for (int k = 0; k < nj; k++) {
			int n = coord_state_results(s, ji[k].set.id, 0, res, 20000);
			CHECK((uint64_t)n == ji[k].in_memory, "held %d, info %llu", n,
			      (unsigned long long)ji[k].in_memory);
			for (int i = 0; i < n; i++)
				CHECK(res[i].rseq == ji[k].persisted + 1 + (uint64_t)i,
				      "rseq order");
			CHECK(ji[k].answered == ji[k].rseq, "answered %llu, rseq %llu",
			      (unsigned long long)ji[k].answered, (unsigned long long)ji[k].rseq);
			total += ji[k].answered;
			struct coord_latency lat;
			CHECK(coord_state_latency(s, ji[k].set.id, &lat) == 0 &&
				      lat.h.count == ji[k].answered - ji[k].failed &&
				      lat.by_src[TASK_LAT_RING] + lat.by_src[TASK_LAT_BPF] ==
					      lat.h.count,
			      "latency of %s: %llu queries, %llu answered, %llu failed",
			      ji[k].set.id, (unsigned long long)lat.h.count,
			      (unsigned long long)ji[k].answered, (unsigned long long)ji[k].failed);
		}
		CHECK(total == led.n, "answered %llu, ledger %zu", (unsigned long long)total,
		      led.n);
	}

	/* replay to a random point, snapshot, decode, replay the rest */
	for (int c = 0; c < cuts; c++) {
		int k = (int)below((uint32_t)st.n + 1);
		struct coord_state *a = coord_state_new(), *b;
		size_t len;
		uint8_t *p;

		replay(a, &st, 0, k);
		p = snap(a, &len);
		REQUIRE(coord_state_snapshot_decode(p, len, &b) == 0, "snapshot at %d decodes", k);
		CHECK(same(a, b), "a decoded snapshot equals its state");
		if (k < st.n) {
			/* a gap and a repeat are refused and change nothing */
			if (k + 1 < st.n) {
				REQUIRE(coord_rec_decode(st.enc[k + 1], (size_t)st.len[k + 1],
							 &rec2) == 0,
					"decode");
				CHECK(coord_state_apply(b, &rec2, NULL) == -ERANGE,
				      "a gap is refused");
			}
			if (k > 0) {
				REQUIRE(coord_rec_decode(st.enc[k - 1], (size_t)st.len[k - 1],
							 &rec2) == 0,
					"decode");
				CHECK(coord_state_apply(b, &rec2, NULL) == -EALREADY,
				      "a repeat is refused");
			}
			CHECK(same(a, b), "refused gap and repeat changed nothing");
		}
		replay(b, &st, k, st.n);
		CHECK(same(s, b), "snapshot at %d of %d + the rest = the whole stream", k, st.n);
		free(p);
		coord_state_free(a);
		coord_state_free(b);
	}
	coord_state_free(s);
	free(st.enc);
	free(st.len);
	free(led.k);
}

/* ---- specific behaviours ---- */

static struct coord_state *S;
static uint64_t seq;

static int put(void)
{
	rec.seq = ++seq;
	int err = coord_state_apply(S, &rec, &eff);
	if (err)
		seq--;
	return err;
}

static void launch(const char *id, uint32_t images, uint8_t flags)
{
	memset(&rec, 0, sizeof(rec));
	rec.type = COORD_REC_JOB_LAUNCH;
	strcpy(rec.job, id);
	strcpy(rec.u.launch.id, id);
	strcpy(rec.u.launch.model, "resnet18");
	strcpy(rec.u.launch.dataset, "imgs");
	rec.u.launch.model_version = 3;
	rec.u.launch.index_version = 4;
	rec.u.launch.images = images;
	rec.u.launch.batch = 4;
	rec.u.launch.weight = 1;
	rec.u.launch.flags = flags;
}

static void accept1(const char *job, uint64_t client, uint64_t cqid, uint32_t image)
{
	memset(&rec, 0, sizeof(rec));
	rec.type = COORD_REC_QUERIES_ACCEPTED;
	strcpy(rec.job, job);
	rec.u.accept.client = client;
	rec.u.accept.n = 1;
	rec.u.accept.q[0].cqid = cqid;
	rec.u.accept.q[0].image = image;
}

static void result1(const char *job, uint64_t qid)
{
	memset(&rec, 0, sizeof(rec));
	rec.type = COORD_REC_RESULTS;
	strcpy(rec.job, job);
	rec.u.results.n = 1;
	answer_fill(&rec.u.results.a[0], qid);
	rec.u.results.a[0].status = 0;
}

static void persisted(const char *job, uint64_t upto)
{
	memset(&rec, 0, sizeof(rec));
	rec.type = COORD_REC_PERSISTED;
	strcpy(rec.job, job);
	rec.u.persisted = upto;
}

static void test_semantics(void)
{
	struct coord_job_info ji;
	struct coord_pending p[4];
	struct coord_result res[4];
	struct coord_state *copy;
	uint64_t qid;

	S = coord_state_new();
	seq = 0;
	launch("job-a", 10, 0);
	CHECK(put() == 0 && eff.job_num == 1, "launch");
	launch("job-a", 10, 0);
	CHECK(put() == -EEXIST, "a second launch of job-a");
	launch("job-b", 10, COORD_JOB_CLIENT);
	CHECK(put() == 0 && eff.job_num == 2, "launch job-b");

	/* client submission, re-submission before and after the answer */
	accept1("job-b", 7, 100, 3);
	CHECK(put() == 0 && eff.verdict[0] == COORD_NEW, "accepted");
	qid = eff.qid[0];
	CHECK(qid == (COORD_QID_CLIENT | 0), "the first client query id");
	accept1("job-b", 7, 100, 3);
	CHECK(put() == 0 && eff.verdict[0] == COORD_PENDING, "re-submitted: pending");
	CHECK(coord_state_pending(S, "job-b", 0, p, 4) == 1 && p[0].qid == qid &&
		      p[0].client == 7 && p[0].cqid == 100 && p[0].image == 3,
	      "one pending query");
	accept1("job-b", 7, 101, 10);
	CHECK(put() == -EINVAL, "an image past the dataset");
	result1("job-b", qid);
	CHECK(put() == 0 && eff.verdict[0] == COORD_NEW, "its result");
	result1("job-b", qid);
	CHECK(put() == 0 && eff.verdict[0] == COORD_DUP, "a second result: a duplicate");
	accept1("job-b", 7, 100, 3);
	CHECK(put() == 0 && eff.verdict[0] == COORD_ANSWERED, "re-submitted: answered");
	CHECK(coord_state_pending(S, "job-b", 0, p, 4) == 0, "none pending");
	CHECK(coord_state_results(S, "job-b", 0, res, 4) == 1 && res[0].client == 7 &&
		      res[0].cqid == 100 && res[0].image == 3 && res[0].rseq == 1,
	      "the result says whose it was");
	result1("job-b", COORD_QID_CLIENT | 5);
	CHECK(put() == 0 && eff.verdict[0] == COORD_UNKNOWN, "a result for no query");
	result1("job-b", 2);
	CHECK(put() == 0 && eff.verdict[0] == COORD_UNKNOWN, "a dataset result in a client job");

	/* dataset results, persisted and dropped, dedup kept */
	for (uint64_t q = 0; q < 10; q++) {
		result1("job-a", q);
		CHECK(put() == 0 && eff.verdict[0] == COORD_NEW, "dataset query %llu",
		      (unsigned long long)q);
	}
	result1("job-a", 10);
	CHECK(put() == 0 && eff.verdict[0] == COORD_UNKNOWN, "past a one-pass dataset");
	CHECK(coord_state_job(S, "job-a", &ji) == 0 && ji.dataset_done && ji.dataset_below == 10 &&
		      ji.in_memory == 10,
	      "dataset done");
	persisted("job-a", 11);
	CHECK(put() == -EINVAL, "persisted past the log");
	persisted("job-a", 6);
	CHECK(put() == 0, "persisted 6");
	persisted("job-a", 5);
	CHECK(put() == -EINVAL, "persisted going back");
	CHECK(coord_state_job(S, "job-a", &ji) == 0 && ji.in_memory == 4 && ji.persisted == 6,
	      "4 held");
	CHECK(coord_state_results(S, "job-a", 0, res, 4) == 4 && res[0].rseq == 7, "from rseq 7");
	CHECK(coord_state_results(S, "job-a", 9, res, 4) == 2 && res[0].rseq == 9 &&
		      res[1].rseq == 10,
	      "from rseq 9");
	CHECK(coord_state_results(S, "job-a", 11, res, 4) == 0, "none from rseq 11");
	result1("job-a", 2);
	CHECK(put() == 0 && eff.verdict[0] == COORD_DUP, "a persisted query is still a duplicate");

	/* stop, batch, epochs, unknown jobs */
	memset(&rec, 0, sizeof(rec));
	rec.type = COORD_REC_JOB_BATCH;
	strcpy(rec.job, "job-a");
	rec.u.batch = 32;
	CHECK(put() == 0, "batch");
	CHECK(coord_state_job(S, "job-a", &ji) == 0 && ji.set.batch == 32, "batch 32");
	rec.type = COORD_REC_JOB_STOP;
	CHECK(put() == 0, "stop");
	rec.type = COORD_REC_JOB_BATCH;
	CHECK(put() == -ESHUTDOWN, "batch of a stopped job");
	accept1("job-a", 1, 1, 1);
	CHECK(put() == -ESHUTDOWN, "queries for a stopped job");
	result1("job-a", COORD_QID_CLIENT | 0);
	CHECK(put() == 0 && eff.verdict[0] == COORD_UNKNOWN, "results still recorded when stopped");
	accept1("nope", 1, 1, 1);
	CHECK(put() == IDN_ENOJOB, "unknown job");
	memset(&rec, 0, sizeof(rec));
	rec.type = COORD_REC_EPOCH;
	rec.u.epoch.epoch = 5;
	rec.u.epoch.coordinator = W2;
	CHECK(put() == 0, "epoch 5");
	CHECK(put() == IDN_ESTALE_EPOCH, "epoch 5 again");
	rec.u.epoch.epoch = 4;
	CHECK(put() == IDN_ESTALE_EPOCH, "epoch 4 after 5");
	{
		struct coord_state_info si;
		coord_state_info(S, &si);
		CHECK(si.epoch == 5 && wire_addr_eq(si.coordinator, W2) && si.seq == seq &&
			      si.launched == 2 && si.jobs == 2,
		      "state info");
	}

	/* a record refused in the middle of a batch changes nothing */
	copy = clone(S);
	memset(&rec, 0, sizeof(rec));
	rec.type = COORD_REC_QUERIES_ACCEPTED;
	strcpy(rec.job, "job-b");
	rec.u.accept.client = 9;
	rec.u.accept.n = 3;
	rec.u.accept.q[0] = (struct coord_accept_q){1, 1};
	rec.u.accept.q[1] = (struct coord_accept_q){2, 2};
	rec.u.accept.q[2] = (struct coord_accept_q){3, 99};
	CHECK(put() == -EINVAL, "one bad image");
	CHECK(same(copy, S), "all or nothing");
	coord_state_free(copy);
	coord_state_free(S);

	/* looped dataset: passes continue the ids; a long in-order run stays small */
	S = coord_state_new();
	seq = 0;
	launch("loop", 50, COORD_JOB_LOOP);
	CHECK(put() == 0, "launch loop");
	for (uint64_t q = 0; q < 20000; q += COORD_REC_Q_MAX) {
		memset(&rec, 0, sizeof(rec));
		rec.type = COORD_REC_RESULTS;
		strcpy(rec.job, "loop");
		rec.u.results.n = COORD_REC_Q_MAX;
		/* in a batch, out of order: the mark catches up */
		for (int i = 0; i < COORD_REC_Q_MAX; i++)
			answer_fill(&rec.u.results.a[i], q + (uint64_t)(COORD_REC_Q_MAX - 1 - i));
		CHECK(put() == 0, "loop results");
		persisted("loop", q + COORD_REC_Q_MAX);
		CHECK(put() == 0, "persisted");
	}
	{
		size_t len;
		uint8_t *bytes = snap(S, &len);
		CHECK(coord_state_job(S, "loop", &ji) == 0 && ji.in_memory == 0 &&
			      ji.dataset_below == 20224 && !ji.dataset_done && ji.answered == 20224,
		      "loop: all persisted, mark %llu", (unsigned long long)ji.dataset_below);
		/* the ids and the log stay small; the histogram is bounded */
		CHECK(len < 512 + 10 * HIST_NBUCKETS,
		      "a state of 20224 persisted results takes %zu bytes", len);
		free(bytes);
	}
	coord_state_free(S);
}

/* The latency histogram: status 0 answers only, once each, by source;
 * replicated through records and snapshots; a snapshot whose histogram
 * does not add up is refused. */
static void test_latency(void)
{
	struct coord_latency lat, lat2;
	struct coord_state *copy;
	struct hist_stats hs;
	uint64_t sum = 0;

	S = coord_state_new();
	seq = 0;
	launch("lat", 1000, 0);
	CHECK(put() == 0, "launch lat");
	CHECK(coord_state_latency(S, "lat", &lat) == 0 && lat.h.count == 0, "empty latency");
	CHECK(coord_state_latency(S, "nope", &lat) == IDN_ENOJOB, "latency of no job");
	/* 100 answers: 1..100 ms, the even ones from BPF; 10 failed ones; duplicates */
	for (uint64_t q = 0; q < 110; q += 10) {
		memset(&rec, 0, sizeof(rec));
		rec.type = COORD_REC_RESULTS;
		strcpy(rec.job, "lat");
		rec.u.results.n = 10;
		for (int i = 0; i < 10; i++) {
			struct coord_answer *a = &rec.u.results.a[i];
			answer_fill(a, q + (uint64_t)i);
			a->status = q >= 100 ? -EIO : 0;
			a->service_ns = (q + (uint64_t)i + 1) * 1000000;
			a->lat_src = (q + (uint64_t)i) % 2 == 0 ? TASK_LAT_RING : TASK_LAT_BPF;
			a->done_ms = 1796000000000ull + q + (uint64_t)i;
			if (!a->status)
				sum += a->service_ns;
		}
		CHECK(put() == 0, "results %llu", (unsigned long long)q);
	}
	rec.u.results.a[0].qid = 5; /* a duplicate is not counted again */
	rec.u.results.a[0].status = 0;
	rec.u.results.n = 1;
	CHECK(put() == 0 && eff.verdict[0] == COORD_DUP, "duplicate");
	REQUIRE(coord_state_latency(S, "lat", &lat) == 0, "latency");
	hist_stats(&lat.h, &hs);
	CHECK(lat.h.count == 100 && lat.h.sum == sum, "100 status 0 answers counted (%llu), sum",
	      (unsigned long long)lat.h.count);
	CHECK(lat.by_src[TASK_LAT_RING] == 50 && lat.by_src[TASK_LAT_BPF] == 50, "by source");
	CHECK(fabs(hs.mean - 50.5e6) < 1, "mean %.0f", hs.mean);
	CHECK(fabs(hs.p50 - 50e6) <= 50e6 * 0.0625, "median %.0f", hs.p50);
	CHECK(fabs(hs.p99 - 99e6) <= 99e6 * 0.0625, "p99 %.0f", hs.p99);
	CHECK(fabs(hs.std - 29.01e6) <= 29.01e6 * 0.05, "std %.0f", hs.std);

	/* replicated: a copy through the snapshot holds the same histogram */
	copy = clone(S);
	CHECK(coord_state_latency(copy, "lat", &lat2) == 0 && !memcmp(&lat, &lat2, sizeof(lat)),
	      "the snapshot carries the histogram");
	{ /* and each held result's done_ms, as recorded */
		static struct coord_result ra[128], rb[128];
		int na = coord_state_results(S, "lat", 1, ra, 128);
		int nb = coord_state_results(copy, "lat", 1, rb, 128);
		CHECK(na == 110 && nb == na, "results held: %d %d", na, nb);
		for (int i = 0; i < na && i < nb; i++)
			CHECK(ra[i].a.done_ms == 1796000000000ull + ra[i].a.qid &&
				      rb[i].a.done_ms == ra[i].a.done_ms,
			      "result %d's done_ms %llu", i, (unsigned long long)rb[i].a.done_ms);
	}
	coord_state_free(copy);

	/* a snapshot whose histogram does not add up is refused */
	{
		size_t len;
		uint8_t *p = snap(S, &len);
		struct coord_state *d;
		int found = 0;
		/* find by_src[ring] = 50, by_src[bpf] = 50, count = 100 (little endian) */
		for (size_t i = 0; i + 24 <= len && !found; i++) {
			uint64_t v[3];
			memcpy(v, p + i, sizeof(v));
			if (v[0] == 50 && v[1] == 50 && v[2] == 100) {
				found = 1;
				p[i] = 51; /* by source no longer adds up */
				CHECK(coord_state_snapshot_decode(p, len, &d) == -EINVAL && !d,
				      "by_src not adding up refused");
				p[i] = 50;
				p[i + 16] = 101; /* count != answered - failed */
				CHECK(coord_state_snapshot_decode(p, len, &d) == -EINVAL && !d,
				      "a count off by one refused");
				p[i + 16] = 100;
				CHECK(coord_state_snapshot_decode(p, len, &d) == 0,
				      "restored decodes");
				coord_state_free(d);
			}
		}
		CHECK(found, "the histogram's counts are in the snapshot");
		free(p);
	}
	coord_state_free(S);
}

static void test_job_ids(void)
{
	char id[COORD_JOB_ID_MAX + 1], prev[COORD_JOB_ID_MAX + 1] = "";
	const char *bad[] = {"", "Job", "a_b", "a b", "a/b", "abcdefghijklmnopq", "é"};
	const char *good[] = {"a", "job-1", "0", "abcdefghijklmnop", "-"};

	for (uint64_t c = 0; c < 5000; c++) {
		uint64_t counter = c < 4000 ? c : rnd();
		coord_job_id_make(counter, (uint32_t)rnd(), id);
		CHECK(coord_job_id_check(id) == 0, "made id '%s' is valid", id);
		CHECK(strcmp(id, prev) != 0, "ids differ");
		memcpy(prev, id, sizeof(id));
	}
	coord_job_id_make(1, 7, id);
	coord_job_id_make(2, 7, prev);
	CHECK(strcmp(id, prev) != 0, "counters 1 and 2 give different ids");
	coord_job_id_make(1, 8, prev);
	CHECK(strcmp(id, prev) != 0, "nodes 7 and 8 give different ids");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(coord_job_id_check(bad[i]) == -EINVAL, "'%s' refused", bad[i]);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(coord_job_id_check(good[i]) == 0, "'%s' accepted", good[i]);
}

/* ---- malformed records and snapshots ---- */

static uint8_t buf[COORD_REC_MAX + 16];

/* Every prefix of r's encoding is refused, the whole decodes to the same bytes. */
static void check_prefixes(const struct coord_rec *r)
{
	static uint8_t again[COORD_REC_MAX];
	int len = coord_rec_encode(r, buf, sizeof(buf));

	REQUIRE(len > 0, "encode %s: %d", coord_rec_type_names[r->type], len);
	for (int i = 0; i < len; i++)
		CHECK(coord_rec_decode(buf, (size_t)i, &rec2) == -EINVAL, "%s prefix %d of %d",
		      coord_rec_type_names[r->type], i, len);
	CHECK(coord_rec_decode(buf, (size_t)len, &rec2) == 0, "decodes");
	CHECK(coord_rec_encode(&rec2, again, sizeof(again)) == len &&
		      !memcmp(again, buf, (size_t)len),
	      "round trip");
	buf[len] = 0;
	CHECK(coord_rec_decode(buf, (size_t)len + 1, &rec2) == -EINVAL, "a trailing byte");
	buf[0] = COORD_LOG_VERSION + 1;
	CHECK(coord_rec_decode(buf, (size_t)len, &rec2) == -EINVAL, "another version");
	buf[0] = COORD_LOG_VERSION;
	buf[1] = COORD_REC_TYPE_MAX;
	CHECK(coord_rec_decode(buf, (size_t)len, &rec2) == -EINVAL, "an unknown type");
	CHECK(coord_rec_encode(r, buf, (size_t)len - 1) == -EMSGSIZE, "too small a buffer");
}

/* r with one field spoiled is refused by encode and, encoded anyway, by decode. */
static void check_bad(const struct coord_rec *r, const char *what)
{
	CHECK(coord_rec_encode(r, buf, sizeof(buf)) == -EINVAL, "encode of %s refused", what);
}

static void test_malformed(void)
{
	struct coord_rec r;
	struct coord_state *s = coord_state_new();
	size_t len;
	uint8_t *p;
	int n;

	/* every type round-trips and every prefix is refused */
	launch("job-x", 5, 0);
	rec.seq = 1;
	check_prefixes(&rec);
	r = rec;
	strcpy(r.job, "Job-x");
	strcpy(r.u.launch.id, "Job-x");
	check_bad(&r, "a capital in a job id");
	r = rec;
	strcpy(r.u.launch.id, "job-y");
	check_bad(&r, "a launch whose id differs");
	r = rec;
	strcpy(r.u.launch.model, "res/net");
	check_bad(&r, "a model name with '/'");
	r = rec;
	strcpy(r.u.launch.dataset, "");
	check_bad(&r, "an empty dataset name");
	r = rec;
	r.u.launch.batch = 0;
	check_bad(&r, "batch 0");
	r.u.launch.batch = COORD_BATCH_MAX + 1;
	check_bad(&r, "batch 257");
	r = rec;
	r.u.launch.weight = 0;
	check_bad(&r, "weight 0");
	r.u.launch.weight = NAN;
	check_bad(&r, "weight NaN");
	r.u.launch.weight = INFINITY;
	check_bad(&r, "weight inf");
	r = rec;
	r.u.launch.images = 0;
	check_bad(&r, "no image");
	r = rec;
	r.u.launch.flags = COORD_JOB_LOOP | COORD_JOB_CLIENT;
	check_bad(&r, "loop and client-only");
	r = rec;
	r.seq = 0;
	check_bad(&r, "seq 0");
	REQUIRE(coord_state_apply(s, &rec, NULL) == 0, "launch");

	/* the wire refuses what encode refuses: patch a valid encoding */
	n = coord_rec_encode(&rec, buf, sizeof(buf));
	buf[11] = 'J'; /* the job id's first byte (after version, type, seq, length) */
	CHECK(coord_rec_decode(buf, (size_t)n, &rec2) == -EINVAL, "a capital on the wire");

	accept1("job-x", 3, 4, 4);
	rec.seq = 2;
	check_prefixes(&rec);
	rec.u.accept.n = 0;
	check_bad(&rec, "no query");
	rec.u.accept.n = COORD_REC_Q_MAX + 1;
	check_bad(&rec, "too many queries");
	rec.u.accept.n = 1;
	rec.u.accept.q[0].cqid = UINT64_MAX;
	check_bad(&rec, "client query id UINT64_MAX");

	result1("job-x", 3);
	rec.seq = 2;
	check_prefixes(&rec);
	r = rec;
	r.u.results.a[0].status = 1;
	check_bad(&r, "a positive status");
	r = rec;
	r.u.results.a[0].cls[2] = 1000;
	check_bad(&r, "class 1000");
	r = rec;
	r.u.results.a[0].prob[1] = NAN;
	check_bad(&r, "probability NaN");
	r.u.results.a[0].prob[1] = 1.5f;
	check_bad(&r, "probability 1.5");
	r.u.results.a[0].status = -EIO; /* a failed query's top-5 is not read */
	CHECK(coord_rec_encode(&r, buf, sizeof(buf)) > 0, "a failed query's top-5 is free");
	r = rec;
	r.u.results.a[0].worker.ip = 0;
	check_bad(&r, "no worker");
	r = rec;
	r.u.results.n = 0;
	check_bad(&r, "no answer");
	r = rec;
	r.u.results.a[0].lat_src = TASK_LAT_SRC_MAX;
	check_bad(&r, "latency source 2");

	memset(&rec, 0, sizeof(rec));
	rec.type = COORD_REC_EPOCH;
	rec.seq = 2;
	rec.u.epoch.epoch = 3;
	rec.u.epoch.coordinator = W1;
	check_prefixes(&rec);
	rec.u.epoch.epoch = 0;
	check_bad(&rec, "epoch 0");

	memset(&rec, 0, sizeof(rec));
	rec.type = COORD_REC_JOB_BATCH;
	rec.seq = 2;
	strcpy(rec.job, "job-x");
	rec.u.batch = 8;
	check_prefixes(&rec);
	rec.u.batch = 0;
	check_bad(&rec, "batch change to 0");
	rec.type = COORD_REC_JOB_STOP;
	check_prefixes(&rec);
	persisted("job-x", 0);
	rec.seq = 2;
	check_prefixes(&rec);
	strcpy(rec.job, "abcdefghijklmnopq");
	check_bad(&rec, "a 17-character job id");
	rec.type = 0;
	check_bad(&rec, "type 0");

	/* snapshots: every prefix, a trailing byte, another version, bad magic */
	result1("job-x", 1);
	rec.seq = 2;
	REQUIRE(coord_state_apply(s, &rec, NULL) == 0, "result");
	accept1("job-x", 3, 4, 4);
	rec.seq = 3;
	REQUIRE(coord_state_apply(s, &rec, NULL) == 0, "accept");
	p = snap(s, &len);
	for (size_t i = 0; i < len; i++) {
		struct coord_state *d = NULL;
		CHECK(coord_state_snapshot_decode(p, i, &d) == -EINVAL && !d, "snapshot prefix %zu",
		      i);
	}
	{
		uint8_t *q = malloc(len + 1);
		struct coord_state *d = NULL;
		memcpy(q, p, len);
		q[len] = 0;
		CHECK(coord_state_snapshot_decode(q, len + 1, &d) == -EINVAL, "snapshot + a byte");
		q[4] = COORD_LOG_VERSION + 1;
		CHECK(coord_state_snapshot_decode(q, len, &d) == -EINVAL, "snapshot version");
		q[4] = COORD_LOG_VERSION;
		q[0] = 'X';
		CHECK(coord_state_snapshot_decode(q, len, &d) == -EINVAL, "snapshot magic");
		free(q);
	}

	/* fuzz: random and mutated records and snapshots */
	{
		static uint8_t seeds[8][COORD_REC_MAX];
		int slen[8], ns = 0;
		launch("fz", 9, COORD_JOB_LOOP);
		rec.seq = 1;
		slen[ns] = coord_rec_encode(&rec, seeds[ns], COORD_REC_MAX), ns++;
		accept1("fz", 1, 2, 3);
		rec.seq = 2;
		slen[ns] = coord_rec_encode(&rec, seeds[ns], COORD_REC_MAX), ns++;
		memset(&rec, 0, sizeof(rec));
		rec.type = COORD_REC_RESULTS;
		rec.seq = 3;
		strcpy(rec.job, "fz");
		rec.u.results.n = 3;
		for (int i = 0; i < 3; i++)
			answer_fill(&rec.u.results.a[i], (uint64_t)i);
		slen[ns] = coord_rec_encode(&rec, seeds[ns], COORD_REC_MAX), ns++;
		persisted("fz", 1);
		rec.seq = 4;
		slen[ns] = coord_rec_encode(&rec, seeds[ns], COORD_REC_MAX), ns++;
		for (int i = 0; i < ns; i++)
			REQUIRE(slen[i] > 0, "seed %d", i);

		int accepted = 0, snaps_ok = 0;
		for (int it = 0; it < 200000; it++) {
			static uint8_t m[COORD_REC_MAX], again[COORD_REC_MAX];
			size_t ml;
			if (it % 4 == 0) {
				ml = below(64);
				for (size_t i = 0; i < ml; i++)
					m[i] = (uint8_t)rnd();
				if (ml > 1 && below(2))
					m[0] = COORD_LOG_VERSION, m[1] = (uint8_t)(1 + below(7));
			} else {
				int k = (int)below((uint32_t)ns);
				ml = (size_t)slen[k];
				memcpy(m, seeds[k], ml);
				for (int f = 0, nf = 1 + (int)below(4); f < nf; f++)
					m[below((uint32_t)ml)] ^= (uint8_t)(1u << below(8));
				if (below(8) == 0)
					ml = below((uint32_t)ml + 1);
			}
			if (coord_rec_decode(m, ml, &rec2) == 0) {
				accepted++;
				int l2 = coord_rec_encode(&rec2, again, sizeof(again));
				CHECK(l2 == (int)ml && !memcmp(again, m, ml),
				      "an accepted record re-encodes the same");
				/* applying it to a state never crashes */
				struct coord_state *t = coord_state_new();
				launch("fz", 9, COORD_JOB_LOOP);
				rec.seq = 1;
				coord_state_apply(t, &rec, NULL);
				rec2.seq = 2;
				coord_state_apply(t, &rec2, &eff);
				coord_state_free(t);
			}
			if (it % 10 == 0) {
				/* a mutated snapshot */
				uint8_t *q = malloc(len);
				struct coord_state *d = NULL;
				memcpy(q, p, len);
				for (int f = 0, nf = 1 + (int)below(3); f < nf; f++)
					q[below((uint32_t)len)] ^= (uint8_t)(1u << below(8));
				if (coord_state_snapshot_decode(q, len, &d) == 0) {
					size_t l2;
					uint8_t *q2 = snap(d, &l2);
					snaps_ok++;
					CHECK(l2 == len && !memcmp(q2, q, len),
					      "an accepted snapshot re-encodes the same");
					/* and it takes records without crashing */
					result1("job-x", COORD_QID_CLIENT | 0);
					struct coord_state_info si;
					coord_state_info(d, &si);
					rec.seq = si.seq + 1;
					coord_state_apply(d, &rec, &eff);
					free(q2);
					coord_state_free(d);
				}
				free(q);
			}
		}
		printf("fuzz: %d of 200000 mutated records decoded (all re-encode the same), "
		       "%d of 20000 mutated snapshots\n",
		       accepted, snaps_ok);
	}
	free(p);
	coord_state_free(s);
}

int main(void)
{
	test_job_ids();
	test_semantics();
	test_latency();
	test_malformed();
	for (int seed = 0; seed < 12; seed++) {
		rng = 0x9e3779b97f4a7c15ull * (uint64_t)(seed + 1);
		one_stream(seed < 2 ? 4000 : 1200, 4);
	}
	printf("streams: %d records applied, %d refused; %d duplicate and %d unknown results, "
	       "%d re-submissions answered\n",
	       stat_applied, stat_refused, stat_dups, stat_unknown, stat_answered_again);
	return t_result();
}
