/*
 * coord_adopt.c - a takeover's runtime (see coord_int.h).  The new
 * coordinator holds the old one's state (the standby's copy), which says
 * what every job is and which queries are answered; what it lacks is the
 * runtime beside it: each job's dataset index (held since it was the
 * standby, coord_ixcache.c, or else fetched from SDFS at the version the
 * job was launched with, as its DISPATCHes name it), its
 * place in the scheduler, and the queries to run.  Dataset queries are
 * fed again from the job's low-water mark, skipping the ones answered
 * (coord_jobs_feed); client queries accepted and not answered are queued
 * again.  Queries that were in flight under the old epoch run again
 * unless their results arrive first: a query is recorded once either way.
 */
#include "tasks/coord_int.h"

#include "core/log.h"
#include "core/loop.h"
#include "err.h"
#include "sdfs/sdfs_client.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_MS    500
#define PENDING_BUF 1024

struct fetch {
	struct coord *c;
	uint64_t gen;
	uint32_t num;
};

/* The job may run: the scheduler is told, its client queries queued again. */
static void job_ready(struct coord *c, uint32_t num)
{
	struct cjob *j = &c->jobs[num - 1];
	struct coord_pending *p = xcalloc(PENDING_BUF, sizeof(*p));
	uint64_t now = loop_now_ms(), from = 0;
	int n, queued = 0, ret;

	ret = sched_job_add(c->sched, num, j->set.weight, j->set.batch, now);
	if (ret && ret != -EEXIST) {
		log_msg(LOG_ERROR, "coordinator: job %s not scheduled: %s", j->set.id,
			idn_strerror(ret));
		free(p);
		return;
	}
	j->ready = 1;
	if (j->stopped)
		sched_job_stop(c->sched, num);
	while (!j->stopped &&
	       (n = coord_state_pending(c->st, j->set.id, from, p, PENDING_BUF)) > 0) {
		for (int i = 0; i < n; i++)
			queued += sched_enqueue(c->sched, num, p[i].qid, now) == 0;
		from = p[n - 1].qid + 1;
		if (n < PENDING_BUF)
			break;
	}
	free(p);
	log_msg(LOG_INFO, "coordinator: job %s taken over: %d client queries queued again",
		j->set.id, queued);
	coord_pump(c);
}

static void on_index(void *arg, int status, uint64_t version, uint64_t size, uint32_t crc,
		     uint8_t *data)
{
	struct fetch *f = arg;
	struct coord *c = f->c;
	struct cjob *j = &c->jobs[f->num - 1];
	char err[200] = "";

	(void)crc;
	if (f->gen != c->gen || !c->active || !j->used) {
		free(data);
		free(f);
		return;
	}
	j->loading = 0;
	if (status == 0 && version == j->set.index_version &&
	    dataset_index_decode(data, size, &j->ix, err, sizeof(err)) == 0 &&
	    j->ix.nimages == j->set.images) {
		job_ready(c, f->num);
	} else {
		if (status == 0 && !err[0])
			snprintf(err, sizeof(err), "version %llu, %u images",
				 (unsigned long long)version, j->ix.nimages);
		dataset_index_free(&j->ix);
		memset(&j->ix, 0, sizeof(j->ix));
		log_msg(LOG_WARN, "coordinator: job %s: index of %s@%llu: %s; tried again",
			j->set.id, j->set.dataset, (unsigned long long)j->set.index_version,
			status ? strerror(-status) : err);
		j->retry_ms = loop_now_ms() + RETRY_MS;
	}
	free(data);
	free(f);
}

static void fetch(struct coord *c, uint32_t num)
{
	struct cjob *j = &c->jobs[num - 1];
	struct fetch *f;
	char path[160];

	/* held since this node was the standby: no SDFS read (which a
	 * partition can put out of reach) */
	if (coord_ixcache_decode(c, j->set.dataset, j->set.index_version, &j->ix) == 0) {
		if (j->ix.nimages == j->set.images) {
			log_msg(LOG_INFO,
				"coordinator: job %s: index of %s@%llu held by the standby",
				j->set.id, j->set.dataset,
				(unsigned long long)j->set.index_version);
			job_ready(c, num);
			return;
		}
		dataset_index_free(&j->ix);
		memset(&j->ix, 0, sizeof(j->ix));
	}
	f = xmalloc(sizeof(*f));
	*f = (struct fetch){.c = c, .gen = c->gen, .num = num};
	dataset_index_path(j->set.dataset, path, sizeof(path));
	j->loading = 1;
	if (sdfs_client_get(c->env.sdfs, path, j->set.index_version, -1, DATASET_INDEX_FETCH_MAX,
			    on_index, f)) {
		j->loading = 0;
		j->retry_ms = loop_now_ms() + RETRY_MS;
		free(f);
	}
}

void coord_jobs_adopt(struct coord *c)
{
	struct coord_job_info *ji = xcalloc(COORD_JOBS_MAX, sizeof(*ji));
	int n = coord_state_jobs(c->st, ji, COORD_JOBS_MAX);

	c->jobs_then = (uint32_t)n; /* before a held index makes a job ready */
	for (int i = 0; i < n; i++) {
		struct cjob *j;
		if (ji[i].num < 1 || ji[i].num > COORD_JOBS_MAX)
			continue;
		j = &c->jobs[ji[i].num - 1];
		*j = (struct cjob){.used = 1,
				   .set = ji[i].set,
				   .stopped = ji[i].stopped,
				   .next_qid = ji[i].dataset_below,
				   .client_then = ji[i].accepted};
		fetch(c, ji[i].num); /* stopped jobs too: results name their images */
	}
	log_msg(LOG_INFO, "coordinator: %d jobs taken over", n);
	coord_ixcache_free(c); /* decoded where it was needed */
	free(ji);
}

void coord_adopt_tick(struct coord *c, uint64_t now_ms)
{
	for (uint32_t i = 0; i < COORD_JOBS_MAX; i++) {
		struct cjob *j = &c->jobs[i];
		if (j->used && !j->ready && !j->loading && now_ms >= j->retry_ms)
			fetch(c, i + 1);
	}
}
