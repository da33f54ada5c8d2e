/*
 * coord_metrics.c - the coordinator's per-job series on the agent's
 * /metrics (core/metrics.h), labelled idunno_job and model (not `job`:
 * Prometheus sets `job` on every target it scrapes); written only while
 * this node coordinates (the counters and the histogram are replicated
 * state, so a new coordinator goes on from the same values):
 *
 *   idunno_job_queries_completed_total   counter    queries answered (failed ones too)
 *   idunno_job_queries_failed_total      counter    ... of which failed for good
 *   idunno_job_queue_depth               gauge      queries waiting for a worker
 *   idunno_job_queries_inflight          gauge      queries running on workers
 *   idunno_job_query_rate_per_second     gauge      completed per second, last 10 s
 *   idunno_job_query_service_seconds     histogram  service time per query (status 0)
 *   idunno_jobs                          gauge      jobs by state (running, done, stopped)
 *
 * and the scheduler's figures (sched_stats; this coordinator's since it
 * took over): idunno_sched_workers, _slots, _free_slots, _running_batches,
 * _waiting_queries (gauges), idunno_sched_dispatched_batches_total,
 * _speculations_total, _duplicates_total, _stale_results_total.
 */
#include "tasks/coord_int.h"

#include "core/loop.h"
#include "core/prom.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum series { S_COMPLETED, S_FAILED, S_QUEUE, S_INFLIGHT, S_RATE, S_SERIES_MAX };

static const struct {
	const char *name, *type, *help;
} series[S_SERIES_MAX] = {
	{"idunno_job_queries_completed_total", "counter",
	 "Queries of the job answered, failed ones included (qinfo's count)."},
	{"idunno_job_queries_failed_total", "counter", "Queries of the job that failed for good."},
	{"idunno_job_queue_depth", "gauge", "Queries of the job waiting for a worker."},
	{"idunno_job_queries_inflight", "gauge", "Queries of the job running on workers."},
	{"idunno_job_query_rate_per_second", "gauge",
	 "Queries of the job completed per second over the last 10 s."},
};

#define HIST_NAME "idunno_job_query_service_seconds"

static void labels(const struct coord_job_info *ji, char *out, size_t cap)
{
	char job[64], model[2 * DATASET_NAME_MAX + 2];

	prom_escape(ji->set.id, job, sizeof(job));
	prom_escape(ji->set.model, model, sizeof(model));
	snprintf(out, cap, "idunno_job=\"%s\",model=\"%s\"", job, model);
}

static void sched_metrics(struct coord *c, struct prom_buf *b)
{
	struct sched_stats st;
	static const struct {
		const char *name, *type, *help;
	} m[] = {
		{"idunno_sched_workers", "gauge", "Workers the scheduler dispatches to."},
		{"idunno_sched_slots", "gauge", "Batch slots of those workers."},
		{"idunno_sched_free_slots", "gauge", "Batch slots free."},
		{"idunno_sched_running_batches", "gauge", "Batches in flight, copies included."},
		{"idunno_sched_waiting_queries", "gauge", "Queries queued in jobs not stopped."},
		{"idunno_sched_dispatched_batches_total", "counter",
		 "Batches dispatched by this coordinator, copies included."},
		{"idunno_sched_speculations_total", "counter",
		 "Copies dispatched for batches that overran their expected time."},
		{"idunno_sched_duplicates_total", "counter",
		 "Results of batches completed before (a copy, or a late batch)."},
		{"idunno_sched_stale_results_total", "counter",
		 "Results of batches no longer running."},
	};
	uint64_t v[sizeof(m) / sizeof(m[0])];

	sched_stats(c->sched, &st);
	v[0] = st.workers, v[1] = st.slots, v[2] = st.free_slots, v[3] = st.running;
	v[4] = st.waiting, v[5] = st.decisions, v[6] = st.speculations, v[7] = st.duplicates;
	v[8] = st.stale;
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		prom_family(b, m[i].name, m[i].type, m[i].help);
		prom_printf(b, "%s %llu\n", m[i].name, (unsigned long long)v[i]);
	}
}

void coord_metrics(struct coord *c, struct prom_buf *b)
{
	struct coord_job_info *ji;
	struct sched_job_info *si;
	struct coord_latency *lat;
	char lb[300];
	uint64_t now = loop_now_ms();
	int n;

	if (!c->active || !c->st || !c->sched)
		return;
	sched_metrics(c, b);
	ji = xcalloc(COORD_JOBS_MAX, sizeof(*ji));
	si = xcalloc(COORD_JOBS_MAX, sizeof(*si));
	n = coord_state_jobs(c->st, ji, COORD_JOBS_MAX);
	for (int i = 0; i < n; i++)
		sched_job_info(c->sched, ji[i].num, now, &si[i]); /* zeros when not scheduled */
	prom_family(b, "idunno_jobs", "gauge", "Jobs the coordinator knows, by state (job ls).");
	for (int k = 0; k < 3; k++) {
		static const char *const states[] = {"running", "done", "stopped"};
		int count = 0;
		for (int i = 0; i < n; i++)
			count += !strcmp(coord_job_state(&ji[i], &si[i]), states[k]);
		prom_printf(b, "idunno_jobs{state=\"%s\"} %d\n", states[k], count);
	}
	for (int s = 0; s < S_SERIES_MAX; s++) {
		prom_family(b, series[s].name, series[s].type, series[s].help);
		for (int i = 0; i < n; i++) {
			labels(&ji[i], lb, sizeof(lb));
			if (s == S_RATE)
				prom_printf(b, "%s{%s} %.6f\n", series[s].name, lb, si[i].rate);
			else
				prom_printf(b, "%s{%s} %llu\n", series[s].name, lb,
					    (unsigned long long)(s == S_COMPLETED ? ji[i].answered
								 : s == S_FAILED  ? ji[i].failed
								 : s == S_QUEUE	  ? si[i].queued
										: si[i].inflight));
		}
	}
	prom_family(b, HIST_NAME, "histogram",
		    "Service time per query of the job (answers with status 0; eBPF where the "
		    "workers have it, else the engine's timestamps).");
	lat = xmalloc(sizeof(*lat));
	for (int i = 0; i < n; i++) {
		if (coord_state_latency(c->st, ji[i].set.id, lat))
			continue;
		labels(&ji[i], lb, sizeof(lb));
		prom_hist(b, HIST_NAME, lb, &lat->h);
	}
	free(lat);
	free(si);
	free(ji);
}
