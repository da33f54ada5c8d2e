/*
 * coord_recover.c - a cold takeover (the coordinator and its standby died
 * together, so no state was handed over) rebuilds from SDFS: the jobs
 * from the checkpoint coord/jobs (coord_ckpt.h), then, job by job in
 * launch order, its dataset's index at the version it was launched with
 * and its result parts (result_part.h), followed from results/JOB/1 to the
 * part that does not exist.
 *
 * Every result read is applied again as the record that made it (a
 * RESULTS, and for a client's query the QUERIES_ACCEPTED before it:
 * result_replay.h), in rseq order, then a PERSISTED: so the rebuilt state numbers its results
 * as before, knows every answered query (the dataset feed skips them,
 * a client's re-submission is answered as answered), and its next part
 * goes after the last one in SDFS.  A job is stopped again after its
 * results if it was stopped.
 *
 * A step SDFS cannot serve now is tried again after RETRY_MS, for ever:
 * dispatch waits, as running without the checkpoint would run the
 * answered queries again.  What cannot be read at all is logged and left
 * out: an unreadable checkpoint (nothing recovered), a dataset index
 * version gone (the job comes back stopped), a part that does not parse
 * or does not follow its predecessor (the job's later results are run
 * again).
 */
#include "tasks/coord_int.h"

#include "core/log.h"
#include "core/loop.h"
#include "err.h"
#include "sdfs/sdfs_client.h"
#include "sdfs/store.h"
#include "tasks/coord_ckpt.h"
#include "tasks/result_part.h"
#include "tasks/result_replay.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_MS 1000
#define CKPT_MAX (1u << 20)
#define PART_MAX (8u << 20) /* a part's largest size read back */

enum rstate { RS_IDLE, RS_CKPT, RS_INDEX, RS_PART, RS_STATE_MAX };
static const char *const rstate_names[RS_STATE_MAX] = {"idle", "checkpoint", "index", "part"};

struct coord_recover {
	struct coord *c;
	enum rstate state;
	uint8_t busy;	      /* a get in flight (until its callback, even after a reset) */
	uint32_t gen, op_gen; /* bumped by a reset; the get's */
	uint64_t retry_ms;    /* the step is (re)started then */
	coord_recover_fn done;
	struct coord_ckpt_job *jobs;
	int njobs, at; /* the job being rebuilt */
	uint8_t lost;  /* its dataset index is gone: it comes back stopped */
	uint64_t next; /* the rseq of its next part */
	uint64_t n_results, n_parts, started_ms;
};

static void step(struct coord_recover *r);

static void finish(struct coord_recover *r, int status)
{
	struct coord *c = r->c;

	log_msg(status ? LOG_ERROR : LOG_INFO,
		"coordinator: cold recovery %s: %d jobs, %llu results from %llu parts in %llu ms",
		status ? "gave up" : "done", r->njobs, (unsigned long long)r->n_results,
		(unsigned long long)r->n_parts,
		(unsigned long long)(loop_now_ms() - r->started_ms));
	r->state = RS_IDLE;
	free(r->jobs);
	r->jobs = NULL;
	c->recovering = 0;
	if (r->done)
		r->done(c, status);
}

/* A transient failure: the same step again later. */
static void retry(struct coord_recover *r, int status, const char *what)
{
	log_msg(LOG_WARN, "coordinator: cold recovery: %s: %s (again in %d ms)", what,
		strerror(status < 0 ? -status : EIO), RETRY_MS);
	r->retry_ms = loop_now_ms() + RETRY_MS;
}

/* A callback of the current generation's get, or NULL (r was reset). */
static struct coord_recover *got(void *arg, uint8_t *data)
{
	struct coord_recover *r = arg;

	r->busy = 0;
	if (r->op_gen != r->gen || r->state == RS_IDLE || !r->c->active) {
		free(data);
		return NULL;
	}
	return r;
}

/* ---- the checkpoint ---- */

static void on_ckpt(void *arg, int status, uint64_t version, uint64_t size, uint32_t crc,
		    uint8_t *data)
{
	struct coord_recover *r = got(arg, data);
	int n;

	(void)crc;
	if (!r)
		return;
	if (status == -ENOENT) {
		log_msg(LOG_INFO, "coordinator: cold recovery: no " COORD_CKPT_NAME " in SDFS");
		finish(r, 0);
		return;
	}
	if (status) {
		retry(r, status, "get " COORD_CKPT_NAME);
		return;
	}
	r->jobs = xcalloc(COORD_JOBS_MAX, sizeof(*r->jobs));
	n = coord_ckpt_decode(data, size, r->jobs);
	free(data);
	if (n < 0) {
		log_msg(LOG_ERROR,
			"coordinator: cold recovery: " COORD_CKPT_NAME
			" version %llu is malformed: no job recovered",
			(unsigned long long)version);
		finish(r, -EINVAL);
		return;
	}
	r->njobs = n;
	r->at = 0;
	log_msg(LOG_INFO, "coordinator: cold recovery: " COORD_CKPT_NAME " version %llu: %d jobs",
		(unsigned long long)version, n);
	if (n == 0) {
		finish(r, 0);
		return;
	}
	r->state = RS_INDEX;
	step(r);
}

/* ---- a job ---- */

/* The job's results are all read: stopped again if it was, the feed past them. */
static void job_end(struct coord_recover *r)
{
	struct coord *c = r->c;
	const struct coord_ckpt_job *cj = &r->jobs[r->at];
	struct cjob *j = coord_job_by_id(c, cj->set.id);
	struct coord_job_info ji;
	char why[200];

	if (j && (cj->stopped || r->lost) && coord_jobs_stop(c, cj->set.id, why, sizeof(why)))
		log_msg(LOG_WARN, "coordinator: cold recovery: %s", why);
	if (j && coord_state_job(c->st, cj->set.id, &ji) == 0) {
		j->next_qid = ji.dataset_below;
		log_msg(LOG_INFO,
			"coordinator: cold recovery: job %s (%s over %s): %llu results, "
			"dataset answered below %llu%s",
			cj->set.id, cj->set.model, cj->set.dataset, (unsigned long long)ji.answered,
			(unsigned long long)ji.dataset_below, ji.stopped ? ", stopped" : "");
	}
	if (++r->at == r->njobs) {
		finish(r, 0);
		return;
	}
	r->state = RS_INDEX;
	step(r);
}

static void on_index(void *arg, int status, uint64_t version, uint64_t size, uint32_t crc,
		     uint8_t *data)
{
	struct coord_recover *r = got(arg, data);
	struct coord_rec *launch;
	struct dataset_index ix = {0};
	const struct coord_ckpt_job *cj;
	char err[200];
	int ret;

	(void)version, (void)crc;
	if (!r)
		return;
	cj = &r->jobs[r->at];
	if (status && status != -ENOENT) {
		retry(r, status, "get a dataset index");
		return;
	}
	r->lost = status != 0 || dataset_index_decode(data, size, &ix, err, sizeof(err)) != 0 ||
		  ix.nimages != cj->set.images;
	free(data);
	if (r->lost) {
		dataset_index_free(&ix);
		log_msg(LOG_WARN,
			"coordinator: cold recovery: job %s: dataset %s index version %llu is "
			"gone or unreadable: the job comes back stopped",
			cj->set.id, cj->set.dataset, (unsigned long long)cj->set.index_version);
	}
	launch = xcalloc(1, sizeof(*launch));
	launch->type = COORD_REC_JOB_LAUNCH;
	memcpy(launch->job, cj->set.id, sizeof(launch->job));
	launch->u.launch = cj->set;
	ret = coord_jobs_add(r->c, launch, &ix);
	free(launch);
	dataset_index_free(&ix);
	if (ret) {
		log_msg(LOG_ERROR, "coordinator: cold recovery: job %s not restored: %s",
			cj->set.id, idn_strerror(ret));
		r->next = 0;
		job_end(r);
		return;
	}
	r->state = RS_PART;
	r->next = 1;
	step(r);
}

static int replay_apply(void *arg, struct coord_rec *rec, struct coord_effect *eff)
{
	return coord_record(arg, rec, eff);
}

static void on_part(void *arg, int status, uint64_t version, uint64_t size, uint32_t crc,
		    uint8_t *data)
{
	struct coord_recover *r = got(arg, data);
	struct coord_rec pr = {.type = COORD_REC_PERSISTED};
	struct coord_job_info ji = {0};
	struct result_replay rp;
	struct coord_result res;
	char input[DATASET_NAME_MAX * 6 + 1];
	const char *id, *p, *end;
	int bad = 0, lines = 0;

	(void)version, (void)crc;
	if (!r)
		return;
	id = r->jobs[r->at].set.id;
	if (status == -ENOENT) {
		job_end(r);
		return;
	}
	if (status) {
		retry(r, status, "get a result part");
		return;
	}
	result_replay_init(&rp, id, replay_apply, r->c);
	for (p = (const char *)data, end = p + size; p < end && !bad;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		bad = !nl || result_part_parse(p, len, &res, input, sizeof(input)) ||
		      res.rseq != r->next + (uint64_t)lines || result_replay_add(&rp, &res);
		lines += !bad;
		p += len + 1;
	}
	bad = result_replay_flush(&rp) || bad || lines == 0;
	result_replay_free(&rp);
	free(data);
	if (coord_state_job(r->c->st, id, &ji) == 0 && ji.rseq > ji.persisted) {
		snprintf(pr.job, sizeof(pr.job), "%s", id);
		pr.u.persisted = ji.rseq;
		coord_record(r->c, &pr, NULL);
	}
	r->n_parts++;
	r->n_results += (uint64_t)lines;
	if (bad) {
		log_msg(LOG_ERROR,
			"coordinator: cold recovery: job %s: part %llu is malformed after %d lines "
			"(or does not follow the one before): its later results are run again",
			id, (unsigned long long)r->next, lines);
		job_end(r);
		return;
	}
	r->next = ji.rseq + 1;
	step(r);
}

/* ---- the steps ---- */

static void step(struct coord_recover *r)
{
	struct coord *c = r->c;
	char name[STORE_NAME_MAX + 1];
	sdfs_client_fn fn;
	uint64_t version = 0, max;
	int ret;

	if (r->busy || r->state == RS_IDLE || loop_now_ms() < r->retry_ms)
		return;
	switch (r->state) {
	case RS_CKPT:
		snprintf(name, sizeof(name), "%s", COORD_CKPT_NAME);
		fn = on_ckpt, max = CKPT_MAX;
		break;
	case RS_INDEX:
		dataset_index_path(r->jobs[r->at].set.dataset, name, sizeof(name));
		version = r->jobs[r->at].set.index_version;
		fn = on_index, max = DATASET_INDEX_FETCH_MAX;
		break;
	default:
		if (result_part_name(r->jobs[r->at].set.id, r->next, name, sizeof(name))) {
			job_end(r);
			return;
		}
		fn = on_part, max = PART_MAX;
		break;
	}
	r->op_gen = r->gen;
	r->busy = 1;
	ret = sdfs_client_get(c->env.sdfs, name, version, -1, max, fn, r);
	if (ret) {
		r->busy = 0;
		retry(r, ret, rstate_names[r->state]);
	}
}

int coord_persist_recover(struct coord *c, coord_recover_fn done)
{
	struct coord_recover *r = c->recover;

	if (!r) {
		r = c->recover = xcalloc(1, sizeof(*r));
		r->c = c;
	}
	if (r->state != RS_IDLE)
		return -EBUSY;
	r->state = RS_CKPT;
	r->done = done;
	r->retry_ms = 0;
	r->njobs = r->at = 0;
	r->n_results = r->n_parts = 0;
	r->started_ms = loop_now_ms();
	c->recovering = 1;
	log_msg(LOG_INFO, "coordinator: cold takeover: rebuilding the jobs from SDFS");
	step(r);
	return 0;
}

uint64_t coord_recover_tick(struct coord *c, uint64_t now_ms)
{
	struct coord_recover *r = c->recover;

	if (!r || r->state == RS_IDLE || r->busy)
		return LOOP_NEVER;
	if (now_ms >= r->retry_ms)
		step(r);
	return r->state == RS_IDLE || r->busy ? LOOP_NEVER : r->retry_ms;
}

void coord_recover_reset(struct coord *c)
{
	struct coord_recover *r = c->recover;

	c->recovering = 0;
	if (!r)
		return;
	r->gen++;
	r->state = RS_IDLE;
	free(r->jobs);
	r->jobs = NULL;
}

void coord_recover_free(struct coord *c)
{
	if (!c->recover)
		return;
	coord_recover_reset(c);
	free(c->recover);
	c->recover = NULL;
}
