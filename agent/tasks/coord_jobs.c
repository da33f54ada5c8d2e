/*
 * coord_jobs.c - the coordinator's jobs (see coord_int.h): every change of
 * state is a record (coord_log.h) applied by coord_record, and the
 * scheduler is told the same change; launches resolve the model's and the
 * dataset index's SDFS versions once, so every DISPATCH of a job names the
 * same bytes; dataset queries are fed to the scheduler FEED_MAX at a time
 * (query id = pass x images + image, coord_log.h); results are judged by
 * the scheduler (first completion, duplicates, retries) and the ones that
 * count are recorded, each query once.
 */
#include "tasks/coord_int.h"

#include "core/conn.h"
#include "core/log.h"
#include "core/loop.h"
#include "err.h"
#include "sdfs/sdfs_client.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int coord_record(struct coord *c, struct coord_rec *r, struct coord_effect *eff)
{
	struct coord_state_info si;
	int ret;

	coord_state_info(c->st, &si);
	r->seq = si.seq + 1;
	ret = coord_state_apply(c->st, r, eff);
	if (ret == 0) {
		int n = coord_rec_encode(r, c->out, sizeof(c->out));
		if (n > 0)
			coord_repl_record(c, r->seq, c->out, (size_t)n);
	}
	if (ret) {
		c->n_record_errors++;
		log_msg(LOG_WARN, "coordinator: record %s for job %s refused: %s",
			coord_rec_type_names[r->type < COORD_REC_TYPE_MAX ? r->type : 0], r->job,
			idn_strerror(ret));
	} else {
		c->n_records++;
	}
	return ret;
}

void coord_jobs_start(struct coord *c, struct coord_state *st)
{
	struct sched_config cfg;

	coord_jobs_reset(c);
	sched_config_default(&cfg);
	if (c->env.queue_max)
		cfg.queue_max = c->env.queue_max;
	c->st = st ? st : coord_state_new();
	c->sched = sched_new(&cfg);
}

static void launch_end(struct launch *l, int status, const char *why);

void coord_jobs_reset(struct coord *c)
{
	for (int i = 0; i < LAUNCH_MAX; i++)
		if (c->launch[i].used && !c->launch[i].lookups)
			launch_end(&c->launch[i], IDN_ENOTCOORD, "no longer the coordinator");
		else if (c->launch[i].used)
			c->launch[i].status = IDN_ENOTCOORD; /* answered when its look-ups end */
	for (int i = 0; i < COORD_JOBS_MAX; i++)
		if (c->jobs[i].used) {
			dataset_index_free(&c->jobs[i].ix);
			memset(&c->jobs[i], 0, sizeof(c->jobs[i]));
		}
	for (int i = 0; i < c->nw; i++)
		c->w[i].in_sched = 0;
	coord_state_free(c->st);
	sched_free(c->sched);
	c->st = NULL;
	c->sched = NULL;
}

struct cjob *coord_job_by_id(struct coord *c, const char *id)
{
	struct coord_job_info ji;

	if (!c->st || coord_job_id_check(id) || coord_state_job(c->st, id, &ji))
		return NULL;
	return ji.num >= 1 && ji.num <= COORD_JOBS_MAX ? &c->jobs[ji.num - 1] : NULL;
}

/* ---- queries and results ---- */

void coord_jobs_feed(struct coord *c, uint64_t now_ms)
{
	for (int i = 0; i < COORD_JOBS_MAX; i++) {
		struct cjob *j = &c->jobs[i];
		struct sched_job_info si;
		uint64_t end = (j->set.flags & COORD_JOB_LOOP) ? UINT64_MAX : j->set.images;

		if (!j->used || !j->ready || j->stopped || (j->set.flags & COORD_JOB_CLIENT) ||
		    j->next_qid >= end || sched_job_info(c->sched, (uint32_t)i + 1, now_ms, &si))
			continue;
		for (uint32_t q = si.queued; q < FEED_MAX && j->next_qid < end;) {
			int ret;
			/* answered already: by a coordinator before a cold recovery */
			if (coord_state_answered(c->st, j->set.id, j->next_qid) == 1) {
				j->next_qid++;
				continue;
			}
			ret = sched_enqueue(c->sched, (uint32_t)i + 1, j->next_qid, now_ms);
			if (ret && ret != -EEXIST)
				break;
			j->next_qid++;
			q++;
		}
	}
}

void coord_jobs_result(struct coord *c, uint32_t wid, const struct task_result *res,
		       const struct sched_result *r)
{
	uint8_t *verdict = xmalloc(r->n + 1u);
	struct coord_rec *rec = xcalloc(1, sizeof(*rec));
	struct coord_job_info ji;
	uint64_t done_ms = util_wall_ms(); /* a field of the record: applying it stays pure */
	int n = 0;

	if (!c->sched || !c->st) { /* stepped down: nothing to record into */
		free(rec);
		free(verdict);
		return;
	}
	sched_result(c->sched, r, loop_now_ms(), verdict);
	/* a cold recovery replays the results in SDFS first, in their order */
	if (c->recovering || r->job < 1 || r->job > COORD_JOBS_MAX || !c->jobs[r->job - 1].used)
		goto out;
	snprintf(rec->job, sizeof(rec->job), "%s", c->jobs[r->job - 1].set.id);
	if (coord_state_job(c->st, rec->job, &ji))
		goto out;
	rec->type = COORD_REC_RESULTS;
	for (int i = 0; i < r->n; i++) {
		struct coord_answer *a = &rec->u.results.a[n];
		if (verdict[i] != SCHED_DONE && verdict[i] != SCHED_FAILED)
			continue;
		*a = (struct coord_answer){.qid = r->a[i].query,
					   .worker = c->w[wid].addr,
					   .status = r->a[i].status,
					   .done_ms = done_ms};
		if (res && verdict[i] == SCHED_DONE) {
			a->service_ns = res->a[i].service_ns / (res->n ? res->n : 1);
			a->lat_src = res->lat_src < TASK_LAT_SRC_MAX ? res->lat_src : TASK_LAT_RING;
			memcpy(a->cls, res->a[i].cls, sizeof(a->cls));
			memcpy(a->prob, res->a[i].prob, sizeof(a->prob));
		}
		if (a->status > 0)
			a->status = -EIO;
		n++;
	}
	rec->u.results.n = (uint16_t)n;
	if (n && coord_record(c, rec, NULL) == 0) {
		coord_submit_results(c, rec->job, ji.rseq);
		coord_submit_durable(c, coord_durable_seq(c)); /* at once without a standby */
	}
out:
	free(rec);
	free(verdict);
}

/* ---- launch, stop, batch ---- */

static void launch_end(struct launch *l, int status, const char *why)
{
	struct coord *c = l->c;

	if (l->conn) {
		char text[300];
		int n = snprintf(text, sizeof(text), "%s\n", why);
		coord_cmd_answer(c, l->conn, coord_cmd_status(status), text,
				 (size_t)MIN(n, (int)sizeof(text) - 1));
	}
	free(l->index);
	memset(l, 0, sizeof(*l));
}

static void on_launch_conn(void *arg, struct conn *conn, enum conn_ev ev, uint64_t tag, int res)
{
	struct launch *l = arg;

	(void)tag, (void)res;
	if (ev == CONN_EV_CLOSED && l->conn == conn)
		l->conn = NULL;
}

int coord_jobs_add(struct coord *c, struct coord_rec *r, struct dataset_index *ix)
{
	struct coord_effect *eff = xmalloc(sizeof(*eff));
	int ret = coord_record(c, r, eff);

	if (!ret)
		ret = sched_job_add(c->sched, eff->job_num, r->u.launch.weight, r->u.launch.batch,
				    loop_now_ms());
	if (!ret) {
		c->jobs[eff->job_num - 1] =
			(struct cjob){.used = 1, .ready = 1, .set = r->u.launch, .ix = *ix};
		memset(ix, 0, sizeof(*ix));
		coord_persist_jobs_changed(c);
	}
	free(eff);
	return ret;
}

/* Both versions are known: the record, the scheduler, the runtime. */
static void launch_commit(struct launch *l)
{
	struct coord *c = l->c;
	struct coord_rec *r = xcalloc(1, sizeof(*r));
	struct coord_job_settings *s = &r->u.launch;
	struct coord_state_info si;
	struct dataset_index ix = {0};
	char err[200], text[300];
	int ret;

	if (dataset_index_decode(l->index, l->index_len, &ix, err, sizeof(err))) {
		snprintf(text, sizeof(text), "dataset %s: its index: %s", l->req.dataset, err);
		launch_end(l, IDN_ENODATASET, text);
		goto out;
	}
	coord_state_info(c->st, &si);
	r->type = COORD_REC_JOB_LAUNCH;
	coord_job_id_make(si.launched, c->env.self.ip ^ ((uint32_t)c->env.self.port << 8), r->job);
	memcpy(s->id, r->job, sizeof(s->id));
	snprintf(s->model, sizeof(s->model), "%s", l->req.model);
	snprintf(s->dataset, sizeof(s->dataset), "%s", l->req.dataset);
	s->model_version = l->model_version;
	s->index_version = l->index_version;
	s->images = ix.nimages;
	s->batch = l->req.batch;
	s->weight = l->req.weight_milli / 1000.0;
	s->flags = (l->req.flags & COORD_RPC_LOOP) ? COORD_JOB_LOOP : 0;
	s->flags |= (l->req.flags & COORD_RPC_CLIENT) ? COORD_JOB_CLIENT : 0;
	ret = coord_jobs_add(c, r, &ix);
	if (ret) {
		snprintf(text, sizeof(text), "job not launched: %s", idn_strerror(ret));
		dataset_index_free(&ix);
		launch_end(l, ret, text);
		goto out;
	}
	for (int i = 0; i < COORD_JOBS_MAX; i++)
		if (c->jobs[i].used && !strcmp(c->jobs[i].set.id, s->id))
			c->jobs[i].launch_ms = loop_now_ms();
	log_msg(LOG_INFO,
		"coordinator: job %s launched: %s@%llu over %s@%llu (%u images), batch %u (%llu ms "
		"after it was asked: the model's and the index's look-ups)",
		s->id, s->model, (unsigned long long)s->model_version, s->dataset,
		(unsigned long long)s->index_version, s->images, s->batch,
		(unsigned long long)(loop_now_ms() - l->asked_ms));
	snprintf(text, sizeof(text), "%s\n", s->id);
	if (l->conn) /* answered once the standby and the checkpoint in SDFS hold it */
		coord_persist_ack(c, l->conn, 0, text, SIZE_MAX);
	l->conn = NULL;
	launch_end(l, 0, text);
	coord_pump(c);
out:
	free(r);
}

static void on_lookup(struct launch *l, int is_model, int status, uint64_t version, uint64_t size,
		      uint8_t *data)
{
	if (is_model) {
		/* asked with a 1-byte limit: -EFBIG comes with the version and
		 * no byte of the weights fetched (the workers fetch them) */
		if (status == -EFBIG || status == 0)
			l->model_version = version;
		else if (!l->status) {
			l->status = IDN_ENOMODEL;
			snprintf(l->why, sizeof(l->why), "model %s is not in SDFS (%s)",
				 l->req.model,
				 status == -ENOENT ? "no such file" : strerror(-status));
		}
	} else if (status) {
		l->status = l->status ? l->status : IDN_ENODATASET;
		snprintf(l->why, sizeof(l->why), "dataset %s is not in SDFS (%s)", l->req.dataset,
			 status == -ENOENT ? "no index" : strerror(-status));
	} else {
		l->index_version = version;
		l->index = data;
		l->index_len = size;
		data = NULL;
	}
	free(data);
	if (--l->lookups)
		return;
	if (l->status == IDN_ENOTCOORD || !l->c->active)
		launch_end(l, IDN_ENOTCOORD, "no longer the coordinator");
	else if (l->status)
		launch_end(l, l->status, l->why);
	else
		launch_commit(l);
}

static void on_model(void *arg, int status, uint64_t version, uint64_t size, uint32_t crc,
		     uint8_t *data)
{
	(void)crc;
	on_lookup(arg, 1, status, version, size, data);
}

static void on_index(void *arg, int status, uint64_t version, uint64_t size, uint32_t crc,
		     uint8_t *data)
{
	(void)crc;
	on_lookup(arg, 0, status, version, size, data);
}

void coord_jobs_launch(struct coord *c, struct conn *conn, const struct coord_rpc_req *req)
{
	struct launch *l = NULL;
	char err[200], text[300], path[160];

	if (req->batch < 1 || req->batch > COORD_BATCH_MAX)
		snprintf(text, sizeof(text), "batch %u: a batch is 1..%d queries", req->batch,
			 COORD_BATCH_MAX);
	else if (req->weight_milli < 1 || req->weight_milli > COORD_WEIGHT_MAX * 1000)
		snprintf(text, sizeof(text), "weight %.3f: a weight is in (0, %g]",
			 req->weight_milli / 1000.0, COORD_WEIGHT_MAX);
	else if ((req->flags & COORD_RPC_LOOP) && (req->flags & COORD_RPC_CLIENT))
		snprintf(text, sizeof(text), "a job is either --loop or --client-only");
	else if (dataset_name_check(req->model, err, sizeof(err)) ||
		 dataset_name_check(req->dataset, err, sizeof(err)))
		snprintf(text, sizeof(text), "%s", err);
	else
		text[0] = '\0';
	for (int i = 0; i < LAUNCH_MAX && !l && !text[0]; i++)
		if (!c->launch[i].used)
			l = &c->launch[i];
	if (!l) {
		coord_cmd_answer(c, conn, text[0] ? EINVAL : EAGAIN,
				 text[0] ? text : "too many launches at once", SIZE_MAX);
		return;
	}
	*l = (struct launch){.used = 1,
			     .c = c,
			     .conn = conn,
			     .req = *req,
			     .lookups = 2,
			     .asked_ms = loop_now_ms()};
	conn_own(conn, on_launch_conn, l);
	snprintf(path, sizeof(path), "models/%s.safetensors", req->model);
	if (sdfs_client_get(c->env.sdfs, path, 0, -1, 1, on_model, l)) {
		launch_end(l, -EAGAIN, "SDFS is busy");
		return;
	}
	dataset_index_path(req->dataset, path, sizeof(path));
	if (sdfs_client_get(c->env.sdfs, path, 0, -1, DATASET_INDEX_FETCH_MAX, on_index, l)) {
		l->status = -EAGAIN;
		snprintf(l->why, sizeof(l->why), "SDFS is busy");
		on_index(l, -EAGAIN, 0, 0, 0, NULL);
	}
}

int coord_jobs_stop(struct coord *c, const char *job, char *why, size_t cap)
{
	struct cjob *j = coord_job_by_id(c, job);
	struct coord_rec r = {.type = COORD_REC_JOB_STOP};
	int ret;

	if (!j) {
		snprintf(why, cap, "no job %s", job);
		return IDN_ENOJOB;
	}
	snprintf(r.job, sizeof(r.job), "%s", job);
	ret = coord_record(c, &r, NULL);
	if (ret) {
		snprintf(why, cap, "job %s: %s", job, idn_strerror(ret));
		return ret;
	}
	j->stopped = 1;
	sched_job_stop(c->sched, (uint32_t)(j - c->jobs) + 1);
	coord_persist_jobs_changed(c);
	snprintf(why, cap, "job %s stopped", job);
	return 0;
}

int coord_jobs_batch(struct coord *c, const char *job, uint16_t batch, char *why, size_t cap)
{
	struct cjob *j = coord_job_by_id(c, job);
	struct coord_rec r = {.type = COORD_REC_JOB_BATCH};
	int ret;

	if (!j) {
		snprintf(why, cap, "no job %s", job);
		return IDN_ENOJOB;
	}
	if (batch < 1 || batch > COORD_BATCH_MAX) {
		snprintf(why, cap, "batch %u: a batch is 1..%d queries", batch, COORD_BATCH_MAX);
		return -EINVAL;
	}
	snprintf(r.job, sizeof(r.job), "%s", job);
	r.u.batch = batch;
	ret = coord_record(c, &r, NULL);
	if (ret) {
		snprintf(why, cap, "job %s: %s", job, idn_strerror(ret));
		return ret;
	}
	j->set.batch = batch;
	sched_job_set_batch(c->sched, (uint32_t)(j - c->jobs) + 1, batch);
	coord_persist_jobs_changed(c);
	snprintf(why, cap, "job %s: batch %u from its next dispatch", job, batch);
	return 0;
}
