/*
 * coord_cmd.c - the job commands (coord_rpc.h) on every agent: the
 * coordinator answers them; any other agent answers COORD_RPC_REDIRECT
 * with the coordinator's address (the CLI asks there), or EAGAIN while the
 * role names nobody yet.
 *
 * Shapes (text; JSON with COORD_RPC_JSON):
 *   launch   JOB                        {"job":JOB}
 *   stop     one line                   {"job","state":"stopped"}
 *   batch    one line                   {"job","batch"}
 *   jobs     a table                    [{"job","model","model_version","dataset",
 *                                         "index_version","images","batch","weight",
 *                                         "loop","client_only","state","queued","inflight",
 *                                         "completed","failed"}]
 *   qinfo    JOB RATE_10S QUERIES       [{"job","model","rate_10s","queries"}]
 *                                       (one object when a job is named)
 *   assign   WORKER SLOTS BUSY JOB:SHARE...
 *                                       [{"worker","slots","busy","batches",
 *                                         "jobs":[{"job","share"}]}]
 *   results  raw lines (coord_rpc.h), RESULTS_PAGE at a time
 *   qjob     JOB MODEL, source, then QUERIES MEAN STD MEDIAN P90 P95 P99 in ms
 *                                       {"job","model","source","queries_bpf",
 *                                        "queries_ring","answered","failed","count",
 *                                        "mean_ms","std_ms","median_ms","p90_ms",
 *                                        "p95_ms","p99_ms"}
 *            (the status 0 answers' service times, from the replicated
 *            histogram; source "bpf", "ring", "mixed" or "none")
 */
#include "tasks/coord_int.h"

#include "core/conn.h"
#include "core/loop.h"
#include "err.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEND_MS	     5000
#define RESULTS_PAGE 1000 /* results per answer (about 200 bytes each) */

/* ---- a growing text buffer ---- */

struct sb {
	char *p;
	size_t len, cap;
};

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n >= 0 && b->p && b->len + (size_t)n < b->cap)
			break;
		b->cap = MAX(2 * b->cap, b->len + (size_t)n + 256);
		b->p = xrealloc(b->p, b->cap);
	}
	b->len += (size_t)n;
}

/* ---- answering ---- */

uint8_t coord_cmd_status(int err)
{
	if (err == IDN_ENOJOB || err == IDN_ENOMODEL || err == IDN_ENODATASET)
		return ENOENT;
	if (err == IDN_ENOTCOORD)
		return EAGAIN;
	if (err > -256 && err < 0)
		return (uint8_t)-err;
	return err ? EINVAL : 0;
}

static void on_conn(void *arg, struct conn *conn, enum conn_ev ev, uint64_t tag, int res)
{
	(void)arg, (void)tag, (void)res;
	if (ev == CONN_EV_SENT)
		conn_close(conn);
}

void coord_cmd_answer(struct coord *c, struct conn *conn, uint8_t status, const char *text,
		      size_t len)
{
	uint8_t *b;

	if (len == SIZE_MAX)
		len = strlen(text);
	b = xmalloc(len + 1);
	b[0] = status;
	memcpy(b + 1, text, len);
	conn_own(conn, on_conn, c);
	if (conn_send_frame(conn, WIRE_RPC_RESP, b, len + 1, SEND_MS, 0))
		conn_close(conn);
	free(b);
}

/* ---- the commands ---- */

const char *coord_job_state(const struct coord_job_info *ji, const struct sched_job_info *si)
{
	if (ji->stopped)
		return "stopped";
	if (ji->dataset_done && !(ji->set.flags & COORD_JOB_CLIENT) && si->queued == 0 &&
	    si->inflight == 0)
		return "done";
	return "running";
}

static void cmd_jobs(struct coord *c, const struct coord_rpc_req *req, struct sb *b)
{
	struct coord_job_info *ji = xcalloc(COORD_JOBS_MAX, sizeof(*ji));
	int n = coord_state_jobs(c->st, ji, COORD_JOBS_MAX), json = req->flags & COORD_RPC_JSON;
	uint64_t now = loop_now_ms();

	if (json)
		sb_printf(b, "[");
	else
		sb_printf(b, "%-18s %-12s %-12s %6s %5s %6s %-8s %7s %8s %9s %6s\n", "JOB", "MODEL",
			  "DATASET", "IMAGES", "BATCH", "WEIGHT", "STATE", "QUEUED", "INFLIGHT",
			  "COMPLETED", "FAILED");
	for (int i = 0; i < n; i++) {
		const struct coord_job_settings *s = &ji[i].set;
		struct sched_job_info si = {0};
		sched_job_info(c->sched, ji[i].num, now, &si);
		if (json)
			sb_printf(
				b,
				"%s{\"job\":\"%s\",\"model\":\"%s\",\"model_version\":%llu,"
				"\"dataset\":\"%s\",\"index_version\":%llu,\"images\":%u,"
				"\"batch\":%u,\"weight\":%g,\"loop\":%s,\"client_only\":%s,"
				"\"state\":\"%s\","
				"\"queued\":%u,\"inflight\":%u,\"completed\":%llu,\"failed\":%llu}",
				i ? "," : "", s->id, s->model, (unsigned long long)s->model_version,
				s->dataset, (unsigned long long)s->index_version, s->images,
				s->batch, s->weight, (s->flags & COORD_JOB_LOOP) ? "true" : "false",
				(s->flags & COORD_JOB_CLIENT) ? "true" : "false",
				coord_job_state(&ji[i], &si), si.queued, si.inflight,
				(unsigned long long)ji[i].answered,
				(unsigned long long)ji[i].failed);
		else
			sb_printf(b, "%-18s %-12s %-12s %6u %5u %6g %-8s %7u %8u %9llu %6llu\n",
				  s->id, s->model, s->dataset, s->images, s->batch, s->weight,
				  coord_job_state(&ji[i], &si), si.queued, si.inflight,
				  (unsigned long long)ji[i].answered,
				  (unsigned long long)ji[i].failed);
	}
	if (json)
		sb_printf(b, "]\n");
	free(ji);
}

static int cmd_qinfo(struct coord *c, const struct coord_rpc_req *req, struct sb *b)
{
	struct coord_job_info *ji = xcalloc(COORD_JOBS_MAX, sizeof(*ji));
	int n, json = req->flags & COORD_RPC_JSON, one = req->job[0] != '\0';
	uint64_t now = loop_now_ms();

	if (one) {
		n = coord_job_id_check(req->job) ? IDN_ENOJOB
						 : coord_state_job(c->st, req->job, ji);
		if (n) {
			sb_printf(b, "no job %s", req->job);
			free(ji);
			return IDN_ENOJOB;
		}
		n = 1;
	} else {
		n = coord_state_jobs(c->st, ji, COORD_JOBS_MAX);
	}
	if (json && !one)
		sb_printf(b, "[");
	else if (!json)
		sb_printf(b, "%-18s %-12s %10s %10s\n", "JOB", "MODEL", "RATE_10S", "QUERIES");
	for (int i = 0; i < n; i++) {
		struct sched_job_info si = {0};
		sched_job_info(c->sched, ji[i].num, now, &si);
		if (json)
			sb_printf(b,
				  "%s{\"job\":\"%s\",\"model\":\"%s\",\"rate_10s\":%.3f,"
				  "\"queries\":%llu}",
				  i ? "," : "", ji[i].set.id, ji[i].set.model, si.rate,
				  (unsigned long long)ji[i].answered);
		else
			sb_printf(b, "%-18s %-12s %10.2f %10llu\n", ji[i].set.id, ji[i].set.model,
				  si.rate, (unsigned long long)ji[i].answered);
	}
	sb_printf(b, "%s", json ? (one ? "\n" : "]\n") : "");
	free(ji);
	return 0;
}

static void cmd_assign(struct coord *c, const struct coord_rpc_req *req, struct sb *b)
{
	struct sched_worker_info *wi = xcalloc(CW_MAX, sizeof(*wi));
	int n = sched_workers(c->sched, loop_now_ms(), wi, CW_MAX),
	    json = req->flags & COORD_RPC_JSON;

	if (json)
		sb_printf(b, "[");
	else
		sb_printf(b, "%-22s %5s %4s %8s %s\n", "WORKER", "SLOTS", "BUSY", "BATCHES",
			  "JOB:SHARE");
	for (int i = 0; i < n; i++) {
		char who[32];
		wire_addr_str(c->w[wi[i].id].addr, who, sizeof(who));
		if (json)
			sb_printf(b,
				  "%s{\"worker\":\"%s\",\"slots\":%u,\"busy\":%u,"
				  "\"batches\":%llu,\"jobs\":[",
				  i ? "," : "", who, wi[i].slots, wi[i].busy,
				  (unsigned long long)wi[i].batches);
		else
			sb_printf(b, "%-22s %5u %4u %8llu", who, wi[i].slots, wi[i].busy,
				  (unsigned long long)wi[i].batches);
		for (int k = 0; k < wi[i].nshare; k++) {
			uint32_t num = wi[i].share[k].job;
			const char *id = num >= 1 && num <= COORD_JOBS_MAX && c->jobs[num - 1].used
						 ? c->jobs[num - 1].set.id
						 : "?";
			if (json)
				sb_printf(b, "%s{\"job\":\"%s\",\"share\":%.3f}", k ? "," : "", id,
					  wi[i].share[k].share);
			else
				sb_printf(b, " %s:%.2f", id, wi[i].share[k].share);
		}
		sb_printf(b, "%s", json ? "]}" : "\n");
	}
	if (json)
		sb_printf(b, "]\n");
	free(wi);
}

static int cmd_results(struct coord *c, const struct coord_rpc_req *req, struct sb *b)
{
	struct coord_result *r = xcalloc(RESULTS_PAGE, sizeof(*r));
	struct cjob *j = coord_job_by_id(c, req->job);
	struct coord_job_info ji;
	uint64_t from = req->from ? req->from : 1;
	int n;

	if (!j) {
		sb_printf(b, "no job %s", req->job);
		free(r);
		return IDN_ENOJOB;
	}
	n = coord_state_results(c->st, req->job, from, r, RESULTS_PAGE);
	if (n < 0 || coord_state_job(c->st, req->job, &ji))
		n = 0, ji.persisted = 0;
	if (n == RESULTS_PAGE)
		sb_printf(b, "more %llu", (unsigned long long)(r[n - 1].rseq + 1));
	else
		sb_printf(b, "end");
	sb_printf(b, " persisted %llu\n", (unsigned long long)ji.persisted);
	for (int i = 0; i < n; i++) {
		const struct coord_answer *a = &r[i].a;
		char who[32];
		wire_addr_str(a->worker, who, sizeof(who));
		sb_printf(b, "%llu %llu %s %d %llu %llu", (unsigned long long)r[i].rseq,
			  (unsigned long long)a->qid, who, a->status,
			  (unsigned long long)a->service_ns, (unsigned long long)a->done_ms);
		for (int k = 0; k < COORD_TOP; k++)
			sb_printf(b, " %u %.6f", a->cls[k], (double)a->prob[k]);
		sb_printf(b, " %s\n",
			  r[i].image < j->ix.nimages ? j->ix.images[r[i].image].name : "?");
	}
	free(r);
	return 0;
}

static const char *lat_source(const struct coord_latency *l)
{
	if (!l->h.count)
		return "none";
	if (l->by_src[TASK_LAT_BPF] == l->h.count)
		return "bpf";
	return l->by_src[TASK_LAT_BPF] ? "mixed" : "ring";
}

static int cmd_qjob(struct coord *c, const struct coord_rpc_req *req, struct sb *b)
{
	struct coord_latency *l = xmalloc(sizeof(*l));
	struct coord_job_info ji;
	struct hist_stats hs;
	const double ms = 1e6;

	if (coord_job_id_check(req->job) || coord_state_job(c->st, req->job, &ji) ||
	    coord_state_latency(c->st, req->job, l)) {
		sb_printf(b, "no job %s", req->job);
		free(l);
		return IDN_ENOJOB;
	}
	hist_stats(&l->h, &hs);
	if (req->flags & COORD_RPC_JSON)
		sb_printf(b,
			  "{\"job\":\"%s\",\"model\":\"%s\",\"source\":\"%s\",\"queries_bpf\":%llu,"
			  "\"queries_ring\":%llu,\"answered\":%llu,\"failed\":%llu,\"count\":%llu,"
			  "\"mean_ms\":%.3f,\"std_ms\":%.3f,\"median_ms\":%.3f,\"p90_ms\":%.3f,"
			  "\"p95_ms\":%.3f,\"p99_ms\":%.3f}\n",
			  ji.set.id, ji.set.model, lat_source(l),
			  (unsigned long long)l->by_src[TASK_LAT_BPF],
			  (unsigned long long)l->by_src[TASK_LAT_RING],
			  (unsigned long long)ji.answered, (unsigned long long)ji.failed,
			  (unsigned long long)hs.count, hs.mean / ms, hs.std / ms, hs.p50 / ms,
			  hs.p90 / ms, hs.p95 / ms, hs.p99 / ms);
	else
		sb_printf(
			b,
			"job %s (%s): service time per query, %llu queries answered (%llu failed)\n"
			"source %s (bpf %llu, ring %llu)\n"
			"%10s %10s %10s %10s %10s %10s %10s\n"
			"%10llu %10.3f %10.3f %10.3f %10.3f %10.3f %10.3f\n",
			ji.set.id, ji.set.model, (unsigned long long)ji.answered,
			(unsigned long long)ji.failed, lat_source(l),
			(unsigned long long)l->by_src[TASK_LAT_BPF],
			(unsigned long long)l->by_src[TASK_LAT_RING], "QUERIES", "MEAN_MS",
			"STD_MS", "MEDIAN_MS", "P90_MS", "P95_MS", "P99_MS",
			(unsigned long long)hs.count, hs.mean / ms, hs.std / ms, hs.p50 / ms,
			hs.p90 / ms, hs.p95 / ms, hs.p99 / ms);
	free(l);
	return 0;
}

static void serve(void *arg, struct conn *conn, const struct wire_hdr *h, const uint8_t *p,
		  size_t len)
{
	struct coord *c = arg;
	struct coord_rpc_req req;
	struct sb b = {0};
	char why[200];
	int ret = 0;

	(void)h;
	c->n_cmds++;
	if (coord_rpc_req_decode(p, len, &req)) {
		coord_cmd_answer(c, conn, EINVAL, "malformed job command", SIZE_MAX);
		return;
	}
	if (!c->active) {
		char who[32];
		c->n_redirects++;
		wire_addr_str(c->coordinator, who, sizeof(who));
		if (c->coordinator.ip)
			coord_cmd_answer(c, conn, COORD_RPC_REDIRECT, who, SIZE_MAX);
		else
			coord_cmd_answer(c, conn, EAGAIN, "no coordinator yet", SIZE_MAX);
		return;
	}
	if (c->recovering && (req.cmd == COORD_RPC_LAUNCH || req.cmd == COORD_RPC_STOP ||
			      req.cmd == COORD_RPC_BATCH)) {
		coord_cmd_answer(c, conn, EAGAIN,
				 "the coordinator is recovering its jobs from SDFS", SIZE_MAX);
		return;
	}
	/* changes only where the majority is: a coordinator cut off, or one a
	 * newer coordinator has deposed, could not make them durable there */
	if ((!c->majority || c->deposed) &&
	    (req.cmd == COORD_RPC_LAUNCH || req.cmd == COORD_RPC_STOP ||
	     req.cmd == COORD_RPC_BATCH || req.cmd == COORD_RPC_SUBMIT)) {
		coord_cmd_answer(c, conn, EAGAIN,
				 c->deposed ? "this coordinator is deposed: ask again"
					    : "the coordinator sees no majority of the cluster",
				 SIZE_MAX);
		return;
	}
	switch (req.cmd) {
	case COORD_RPC_LAUNCH:
		coord_jobs_launch(c, conn, &req);
		return;
	case COORD_RPC_SUBMIT:
		coord_submit_open(c, conn, &req);
		return;
	case COORD_RPC_JOBS:
		cmd_jobs(c, &req, &b);
		break;
	case COORD_RPC_STOP:
		ret = coord_jobs_stop(c, req.job, why, sizeof(why));
		if (!ret && (req.flags & COORD_RPC_JSON))
			sb_printf(&b, "{\"job\":\"%s\",\"state\":\"stopped\"}\n", req.job);
		else
			sb_printf(&b, "%s\n", why);
		break;
	case COORD_RPC_BATCH:
		ret = coord_jobs_batch(c, req.job, req.batch, why, sizeof(why));
		if (!ret && (req.flags & COORD_RPC_JSON))
			sb_printf(&b, "{\"job\":\"%s\",\"batch\":%u}\n", req.job, req.batch);
		else
			sb_printf(&b, "%s\n", why);
		break;
	case COORD_RPC_QINFO:
		ret = cmd_qinfo(c, &req, &b);
		break;
	case COORD_RPC_ASSIGN:
		cmd_assign(c, &req, &b);
		break;
	case COORD_RPC_QJOB:
		ret = cmd_qjob(c, &req, &b);
		break;
	default:
		ret = cmd_results(c, &req, &b);
		break;
	}
	if (!ret && (req.cmd == COORD_RPC_STOP || req.cmd == COORD_RPC_BATCH))
		/* a change: answered once the standby and the checkpoint hold it */
		coord_persist_ack(c, conn, 0, b.p ? b.p : "", b.len);
	else
		coord_cmd_answer(c, conn, coord_cmd_status(ret), b.p ? b.p : "", b.len);
	free(b.p);
}

int coord_cmd_new(struct coord *c)
{
	return conn_route(c->env.conns, COORD_RPC_LAUNCH, COORD_RPC_END - 1, serve, c);
}
