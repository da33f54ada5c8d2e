/*
 * coord_persist.c - what the coordinator keeps in SDFS (docs/tasks.md,
 * "What the coordinator keeps in SDFS"): each job's result log in parts
 * (result_part.h) and a checkpoint of the job records, coord/jobs.
 *
 * Parts: a job's results in memory (rseq persisted + 1 .. rseq) are put
 * as one part when PART_MAX of them are held, when the oldest of them was
 * recorded PART_DELAY_MS ago, or at once when the job is stopped or done.
 * At most one put per job is in flight; its success is a PERSISTED record
 * (coord_record), which drops those results from memory; a failure is
 * tried again after RETRY_MS with whatever is held then (the same first
 * rseq, so the same name: a newer version of it, never a gap).
 *
 * Checkpoint: every launch, stop or batch change bumps a generation
 * (coord_persist_jobs_changed); the tick puts the jobs' records as they
 * are then (coord_ckpt_encode) whenever the generation in SDFS is behind.
 * The answers of those commands wait for it (coord_persist_ack), at most
 * ACK_WAIT_MS: past that they are sent anyway and the put goes on.
 *
 * Nothing is put while a cold recovery reads SDFS (c->recovering): the
 * checkpoint there is the one being read.  A put still in flight when the
 * coordinator steps down ends quietly: its slot stays busy until then and
 * its answer is ignored (the generation moved).
 */
#include "tasks/coord_int.h"

#include "core/conn.h"
#include "core/log.h"
#include "core/loop.h"
#include "err.h"
#include "sdfs/sdfs_client.h"
#include "tasks/coord_ckpt.h"
#include "tasks/result_part.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PART_MAX      1000 /* results in one part */
#define PART_DELAY_MS 2000 /* a result is in SDFS within this (plus one put) */
#define RETRY_MS      1000 /* after a failed put */
#define ACK_MAX	      16   /* command answers waiting for the checkpoint */
#define ACK_WAIT_MS   3000 /* ... at most this long */

struct pjob {
	struct coord_persist *p;
	uint8_t busy;	  /* a put in flight (until its callback, even after a reset) */
	uint32_t gen;	  /* the persist generation it was started in */
	uint64_t upto;	  /* its last rseq */
	uint64_t started; /* when it started, and the job's rseq then */
	uint64_t rseq_then;
	uint64_t since_ms; /* the oldest held result was recorded by then (0: none held) */
	uint64_t retry_ms;
};

struct ack {
	struct coord_persist *p;
	struct conn *conn; /* NULL: free */
	uint8_t status;
	char *text;
	size_t len;
	uint64_t need;	   /* the checkpoint generation it waits for */
	uint64_t deadline; /* sent anyway then */
};

struct coord_persist {
	struct coord *c;
	uint32_t gen; /* bumped when the coordinator starts or stops */
	struct pjob job[COORD_JOBS_MAX];
	uint64_t ck_want, ck_done, ck_put; /* checkpoint generations: wanted, in SDFS, in flight */
	uint8_t ck_busy;
	uint32_t ck_gen;
	uint64_t ck_retry_ms;
	struct ack ack[ACK_MAX];
	struct coord_job_info ji[COORD_JOBS_MAX]; /* the tick's scratch */
	uint64_t n_parts, n_persisted, n_put_failures, n_ckpts;
};

static struct coord_persist *persist(struct coord *c)
{
	if (!c->persist) {
		c->persist = xcalloc(1, sizeof(*c->persist));
		c->persist->c = c;
		for (int i = 0; i < COORD_JOBS_MAX; i++)
			c->persist->job[i].p = c->persist;
		for (int i = 0; i < ACK_MAX; i++)
			c->persist->ack[i].p = c->persist;
	}
	return c->persist;
}

/* ---- command answers after the checkpoint ---- */

/* Then after the standby holds the records made so far (coord_repl.c). */
static void answer_durable(struct coord *c, struct conn *conn, uint8_t status, const char *text,
			   size_t len)
{
	struct coord_state_info si = {0};

	if (c->st)
		coord_state_info(c->st, &si);
	coord_answer_durable(c, conn, si.seq, status, text, len);
}

static void ack_send(struct ack *a)
{
	struct conn *conn = a->conn;

	a->conn = NULL;
	answer_durable(a->p->c, conn, a->status, a->text ? a->text : "", a->len);
	free(a->text);
	a->text = NULL;
}

static void on_ack_conn(void *arg, struct conn *conn, enum conn_ev ev, uint64_t tag, int res)
{
	struct ack *a = arg;

	(void)tag, (void)res;
	if (ev == CONN_EV_CLOSED && a->conn == conn) {
		a->conn = NULL;
		free(a->text);
		a->text = NULL;
	}
}

void coord_persist_ack(struct coord *c, struct conn *conn, uint8_t status, const char *text,
		       size_t len)
{
	struct coord_persist *p = persist(c);
	struct ack *a = NULL;

	if (len == SIZE_MAX)
		len = strlen(text);
	for (int i = 0; i < ACK_MAX && !a; i++)
		if (!p->ack[i].conn)
			a = &p->ack[i];
	if (!a || p->ck_done >= p->ck_want) { /* nothing to wait for, or no room to wait */
		answer_durable(c, conn, status, text, len);
		return;
	}
	a->conn = conn;
	a->status = status;
	a->text = xmalloc(len + 1);
	memcpy(a->text, text, len);
	a->len = len;
	a->need = p->ck_want;
	a->deadline = loop_now_ms() + ACK_WAIT_MS;
	conn_own(conn, on_ack_conn, a);
}

static uint64_t acks_run(struct coord_persist *p, uint64_t now)
{
	uint64_t next = LOOP_NEVER;

	for (int i = 0; i < ACK_MAX; i++) {
		struct ack *a = &p->ack[i];
		if (!a->conn)
			continue;
		if (p->ck_done >= a->need) {
			ack_send(a);
		} else if (now >= a->deadline) {
			log_msg(LOG_WARN, "coordinator: a job command answered before its "
					  "checkpoint reached SDFS (still trying)");
			ack_send(a);
		} else {
			next = MIN(next, a->deadline);
		}
	}
	return next;
}

/* ---- the checkpoint ---- */

void coord_persist_jobs_changed(struct coord *c)
{
	persist(c)->ck_want++;
}

static void on_ckpt_put(void *arg, int status, uint64_t version, uint64_t size, uint32_t crc,
			uint8_t *data)
{
	struct coord_persist *p = arg;

	(void)size, (void)crc;
	free(data);
	p->ck_busy = 0;
	if (p->ck_gen != p->gen)
		return;
	if (status) {
		p->n_put_failures++;
		p->ck_retry_ms = loop_now_ms() + RETRY_MS;
		return;
	}
	p->n_ckpts++;
	p->ck_done = MAX(p->ck_done, p->ck_put);
	log_msg(LOG_DEBUG, "coordinator: checkpoint " COORD_CKPT_NAME " version %llu",
		(unsigned long long)version);
	acks_run(p, loop_now_ms());
}

static void ckpt_tick(struct coord_persist *p, uint64_t now)
{
	uint8_t *buf;
	size_t len;

	if (p->ck_busy || p->ck_done >= p->ck_want || now < p->ck_retry_ms)
		return;
	if (coord_ckpt_encode(p->c->st, &buf, &len))
		return;
	if (sdfs_client_put(p->c->env.sdfs, COORD_CKPT_NAME, buf, -1, len, on_ckpt_put, p) == 0) {
		p->ck_busy = 1;
		p->ck_gen = p->gen;
		p->ck_put = p->ck_want;
	} else {
		p->ck_retry_ms = now + RETRY_MS;
	}
	free(buf);
}

/* ---- parts ---- */

static void on_part_put(void *arg, int status, uint64_t version, uint64_t size, uint32_t crc,
			uint8_t *data)
{
	struct pjob *pj = arg;
	struct coord_persist *p = pj->p;
	struct coord *c = p->c;
	uint32_t num = (uint32_t)(pj - p->job) + 1;
	struct coord_rec r = {.type = COORD_REC_PERSISTED};
	struct coord_job_info ji;
	uint64_t now = loop_now_ms();

	(void)version, (void)crc;
	free(data);
	pj->busy = 0;
	if (pj->gen != p->gen || !c->active || !c->jobs[num - 1].used)
		return;
	if (status) {
		p->n_put_failures++;
		pj->retry_ms = now + RETRY_MS;
		return;
	}
	snprintf(r.job, sizeof(r.job), "%s", c->jobs[num - 1].set.id);
	r.u.persisted = pj->upto;
	if (coord_state_job(c->st, r.job, &ji) == 0 && ji.persisted < pj->upto &&
	    coord_record(c, &r, NULL) == 0) {
		p->n_parts++;
		p->n_persisted += pj->upto - ji.persisted;
		log_msg(LOG_DEBUG,
			"coordinator: job %s: results %llu..%llu in SDFS (%llu bytes) in %llu ms",
			r.job, (unsigned long long)ji.persisted + 1, (unsigned long long)pj->upto,
			(unsigned long long)size, (unsigned long long)(now - pj->started));
		coord_state_job(c->st, r.job, &ji);
		/* what is left: older than the put when the part was full,
		 * else recorded while it was in flight */
		pj->since_ms = ji.in_memory == 0	      ? 0
			       : ji.persisted < pj->rseq_then ? 1
							      : pj->started;
	}
}

/* Puts the held results of job ji (not busy): 0, or -errno (tried again later). */
static int part_put(struct coord_persist *p, struct pjob *pj, const struct coord_job_info *ji)
{
	struct coord *c = p->c;
	struct cjob *j = &c->jobs[ji->num - 1];
	struct coord_result *r = xcalloc(PART_MAX, sizeof(*r));
	char *buf = NULL, name[RESULT_PART_NAME_MAX];
	size_t len = 0;
	int n = coord_state_results(c->st, ji->set.id, ji->persisted + 1, r, PART_MAX), ret;

	ret = n <= 0 ? -EINVAL : result_part_name(ji->set.id, r[0].rseq, name, sizeof(name));
	if (ret)
		goto out;
	buf = xmalloc((size_t)n * RESULT_PART_LINE_MAX);
	for (int i = 0; i < n; i++) {
		const char *input =
			r[i].image < j->ix.nimages ? j->ix.images[r[i].image].name : "?";
		int l = result_part_line(&r[i], input, buf + len, RESULT_PART_LINE_MAX);
		if (l < 0) {
			ret = l;
			goto out;
		}
		len += (size_t)l;
	}
	ret = sdfs_client_put(c->env.sdfs, name, buf, -1, len, on_part_put, pj);
	if (ret == 0) {
		pj->busy = 1;
		pj->gen = p->gen;
		pj->upto = r[n - 1].rseq;
		pj->started = loop_now_ms();
		pj->rseq_then = ji->rseq;
	}
out:
	free(buf);
	free(r);
	return ret;
}

static uint64_t parts_tick(struct coord_persist *p, uint64_t now)
{
	struct coord *c = p->c;
	struct coord_job_info *ji = p->ji;
	int n = coord_state_jobs(c->st, ji, COORD_JOBS_MAX);
	uint64_t next = LOOP_NEVER;

	for (int i = 0; i < n; i++) {
		struct pjob *pj;
		int flush;
		if (ji[i].num < 1 || ji[i].num > COORD_JOBS_MAX)
			continue;
		pj = &p->job[ji[i].num - 1];
		if (ji[i].in_memory == 0) {
			pj->since_ms = 0;
			continue;
		}
		if (pj->since_ms == 0) /* the tick runs after every batch of completions */
			pj->since_ms = now;
		flush = ji[i].stopped || ji[i].dataset_done || ji[i].in_memory >= PART_MAX ||
			now >= pj->since_ms + PART_DELAY_MS;
		/* after a takeover, a job's index (its images' names) is fetched
		 * again first (coord_adopt.c) */
		if (pj->busy || !p->c->jobs[ji[i].num - 1].ready)
			continue;
		if (now < pj->retry_ms) {
			next = MIN(next, pj->retry_ms);
			continue;
		}
		if (!flush) {
			next = MIN(next, pj->since_ms + PART_DELAY_MS);
			continue;
		}
		if (part_put(p, pj, &ji[i]))
			pj->retry_ms = now + RETRY_MS, next = MIN(next, pj->retry_ms);
	}
	return next;
}

/* ---- the coordinator's side ---- */

uint64_t coord_persist_tick(struct coord *c, uint64_t now_ms)
{
	struct coord_persist *p = persist(c);
	uint64_t next;

	if (!c->active || c->recovering || !c->st)
		return LOOP_NEVER;
	/* a coordinator cut off from the majority, told of a newer one, or
	 * held after either (coord_writable) writes nothing to SDFS: the
	 * coordinator the majority follows writes the same part names */
	if (!coord_writable(c))
		return MIN(now_ms + 500, acks_run(p, now_ms));
	/* and only results its standby holds: a part then holds what the
	 * coordinator after a failover holds too, under the same rseq */
	{
		struct coord_state_info si;
		coord_state_info(c->st, &si);
		if (coord_durable_seq(c) < si.seq)
			return MIN(now_ms + 50, acks_run(p, now_ms));
	}
	next = parts_tick(p, now_ms);
	ckpt_tick(p, now_ms);
	if (p->ck_done < p->ck_want && !p->ck_busy)
		next = MIN(next, MAX(p->ck_retry_ms, now_ms));
	return MIN(next, acks_run(p, now_ms));
}

void coord_persist_reset(struct coord *c)
{
	struct coord_persist *p = persist(c);

	p->gen++;
	for (int i = 0; i < ACK_MAX; i++)
		if (p->ack[i].conn)
			ack_send(&p->ack[i]); /* the command was applied; its state is gone now */
	for (int i = 0; i < COORD_JOBS_MAX; i++) {
		struct pjob *pj = &p->job[i];
		uint8_t busy = pj->busy;
		*pj = (struct pjob){.p = p, .busy = busy};
	}
	p->ck_want = p->ck_done = p->ck_put = 0;
	p->ck_retry_ms = 0;
}

size_t coord_persist_stats(const struct coord *c, char *buf, size_t cap)
{
	const struct coord_persist *p = c->persist;
	int n;

	if (!p)
		return 0;
	n = snprintf(buf, cap,
		     "coord_parts_put %llu\ncoord_results_put %llu\ncoord_persist_failures %llu\n"
		     "coord_checkpoints %llu\n",
		     (unsigned long long)p->n_parts, (unsigned long long)p->n_persisted,
		     (unsigned long long)p->n_put_failures, (unsigned long long)p->n_ckpts);
	return n < 0 ? 0 : MIN((size_t)n, cap);
}

void coord_persist_free(struct coord *c)
{
	if (!c->persist)
		return;
	for (int i = 0; i < ACK_MAX; i++)
		free(c->persist->ack[i].text);
	free(c->persist);
	c->persist = NULL;
}
