/*
 * coord_state.c - the coordinator's state (coord_log.h): new and free, a
 * job's parts (its clients, its pending client queries, its result log)
 * and coord_state_apply, the only mutation of a state.
 */
#include "tasks/coord_log_int.h"

#include "err.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *const coord_verdict_names[COORD_VERDICT_MAX] = {"new", "pending", "answered", "dup",
							    "unknown"};

/* ---- the state ---- */

struct coord_state *coord_state_new(void)
{
	struct coord_state *s = xcalloc(1, sizeof(*s));

	s->jobs = xcalloc(COORD_JOBS_MAX, sizeof(*s->jobs));
	return s;
}

static void job_free(struct coord_job *j)
{
	free(j->pend);
	coord_map_free(&j->pend_ix);
	for (uint32_t i = 0; i < j->nclients; i++) {
		coord_map_free(&j->clients[i].accepted.out);
		coord_map_free(&j->clients[i].answered.out);
	}
	free(j->clients);
	coord_map_free(&j->done_ds.out);
	coord_map_free(&j->done_cl.out);
	free(j->log);
}

void coord_state_free(struct coord_state *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->njobs; i++)
		job_free(&s->jobs[i]);
	free(s->jobs);
	free(s);
}

struct coord_job *coord_job_find(const struct coord_state *s, const char *id)
{
	for (uint32_t i = 0; i < s->njobs; i++)
		if (!strcmp(s->jobs[i].set.id, id))
			return &s->jobs[i];
	return NULL;
}

/* The client's slot, or where it goes (*found 0). */
uint32_t coord_client_pos(const struct coord_job *j, uint64_t id, int *found)
{
	uint32_t lo = 0, hi = j->nclients;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (j->clients[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < j->nclients && j->clients[lo].id == id;
	return lo;
}

struct coord_client *coord_client_insert(struct coord_job *j, uint32_t pos, uint64_t id)
{
	if (j->nclients == j->cap_clients) {
		j->cap_clients = j->cap_clients ? j->cap_clients * 2 : 4;
		j->clients = xrealloc(j->clients, j->cap_clients * sizeof(*j->clients));
	}
	memmove(&j->clients[pos + 1], &j->clients[pos], (j->nclients - pos) * sizeof(*j->clients));
	j->nclients++;
	memset(&j->clients[pos], 0, sizeof(j->clients[pos]));
	j->clients[pos].id = id;
	return &j->clients[pos];
}

void coord_pend_add(struct coord_job *j, const struct coord_pending *p)
{
	if (j->npend == j->cap_pend) {
		j->cap_pend = j->cap_pend ? j->cap_pend * 2 : 16;
		j->pend = xrealloc(j->pend, j->cap_pend * sizeof(*j->pend));
	}
	coord_map_put(&j->pend_ix, p->qid, j->npend);
	j->pend[j->npend++] = *p;
}

static void pend_del(struct coord_job *j, uint32_t i)
{
	coord_map_del(&j->pend_ix, j->pend[i].qid);
	if (i != --j->npend) {
		j->pend[i] = j->pend[j->npend];
		coord_map_put(&j->pend_ix, j->pend[i].qid, i);
	}
}

int coord_pending_cmp(const void *a, const void *b)
{
	const struct coord_pending *x = a, *y = b;

	return x->qid < y->qid ? -1 : x->qid > y->qid;
}

void coord_job_log_append(struct coord_job *j, const struct coord_result *r)
{
	if (j->n == j->cap_log) {
		if (j->head > j->n / 2) {
			memmove(j->log, j->log + j->head, (j->n - j->head) * sizeof(*j->log));
			j->n -= j->head;
			j->head = 0;
		} else {
			j->cap_log = j->cap_log ? j->cap_log * 2 : 64;
			j->log = xrealloc(j->log, j->cap_log * sizeof(*j->log));
		}
	}
	j->log[j->n++] = *r;
}

/* Drops the held results up to rseq upto (they are in SDFS). */
static void log_drop(struct coord_job *j, uint64_t upto)
{
	while (j->head < j->n && j->log[j->head].rseq <= upto)
		j->head++;
	if (j->head == j->n) {
		j->head = j->n = 0;
		if (j->cap_log > 1024) { /* give a large idle buffer back */
			free(j->log);
			j->log = NULL;
			j->cap_log = 0;
		}
	}
}

/* ---- apply ---- */

static uint64_t dataset_end(const struct coord_job *j)
{
	if (j->set.flags & COORD_JOB_CLIENT)
		return 0;
	if (j->set.flags & COORD_JOB_LOOP)
		return COORD_QID_CLIENT;
	return j->set.images;
}

static int apply_launch(struct coord_state *s, const struct coord_rec *r)
{
	struct coord_job *j;

	if (coord_job_find(s, r->job))
		return -EEXIST;
	if (s->njobs == COORD_JOBS_MAX)
		return -ENOSPC;
	j = &s->jobs[s->njobs++];
	memset(j, 0, sizeof(*j));
	j->set = r->u.launch;
	j->num = (uint32_t)++s->launched;
	return 0;
}

static int apply_accept(struct coord_job *j, const struct coord_rec *r, struct coord_effect *eff)
{
	uint32_t new_pending = 0, new_clients = 0;
	int found;
	uint32_t pos = coord_client_pos(j, r->u.accept.client, &found);
	struct coord_client *c = found ? &j->clients[pos] : NULL;

	if (j->stopped)
		return -ESHUTDOWN;
	/* check everything first: all or nothing */
	for (int i = 0; i < r->u.accept.n; i++) {
		const struct coord_accept_q *q = &r->u.accept.q[i];
		if (q->image >= j->set.images)
			return -EINVAL;
		if (!c || !coord_idset_has(&c->accepted, q->cqid))
			new_pending++; /* an upper bound: a repeat inside r counts twice */
	}
	new_clients = !found;
	if (j->npend + new_pending > COORD_PENDING_MAX)
		return -ENOSPC;
	if (j->nclients + new_clients > COORD_CLIENTS_MAX)
		return -ENOSPC;
	if (!c)
		c = coord_client_insert(j, pos, r->u.accept.client);
	for (int i = 0; i < r->u.accept.n; i++) {
		const struct coord_accept_q *q = &r->u.accept.q[i];
		uint8_t v;
		uint64_t qid = 0;
		if (coord_idset_add(&c->accepted, q->cqid)) {
			struct coord_pending p = {COORD_QID_CLIENT | j->next_client++, c->id,
						  q->cqid, q->image};
			coord_pend_add(j, &p);
			j->accepted++;
			qid = p.qid;
			v = COORD_NEW;
		} else {
			v = coord_idset_has(&c->answered, q->cqid) ? COORD_ANSWERED : COORD_PENDING;
		}
		if (eff) {
			eff->verdict[i] = v;
			eff->qid[i] = qid;
		}
	}
	return 0;
}

static void apply_results(struct coord_job *j, const struct coord_rec *r, struct coord_effect *eff)
{
	for (int i = 0; i < r->u.results.n; i++) {
		const struct coord_answer *a = &r->u.results.a[i];
		struct coord_result res = {.a = *a};
		uint8_t v = COORD_NEW;
		uint64_t ix;

		if (a->qid & COORD_QID_CLIENT) {
			if (coord_idset_has(&j->done_cl, a->qid & ~COORD_QID_CLIENT)) {
				v = COORD_DUP;
			} else if (!coord_map_find(&j->pend_ix, a->qid, &ix)) {
				v = COORD_UNKNOWN;
			} else {
				const struct coord_pending *p = &j->pend[ix];
				int found;
				uint32_t pos = coord_client_pos(j, p->client, &found);
				ASSERT(found);
				coord_idset_add(&j->clients[pos].answered, p->cqid);
				res.client = p->client;
				res.cqid = p->cqid;
				res.image = p->image;
				pend_del(j, (uint32_t)ix);
				coord_idset_add(&j->done_cl, a->qid & ~COORD_QID_CLIENT);
			}
		} else if (a->qid >= dataset_end(j)) {
			v = COORD_UNKNOWN;
		} else if (!coord_idset_add(&j->done_ds, a->qid)) {
			v = COORD_DUP;
		} else {
			res.image = (uint32_t)(a->qid % j->set.images);
		}
		if (v == COORD_NEW) {
			res.rseq = ++j->rseq;
			coord_job_log_append(j, &res);
			j->answered++;
			j->failed += a->status < 0;
			j->service_ns_sum += a->service_ns;
			if (a->status == 0) {
				hist_record(&j->lat.h, a->service_ns);
				j->lat.by_src[a->lat_src]++;
			}
		} else if (v == COORD_DUP) {
			j->duplicates++;
		}
		if (eff) {
			eff->verdict[i] = v;
			eff->qid[i] = a->qid;
		}
	}
}

int coord_state_apply(struct coord_state *s, const struct coord_rec *r, struct coord_effect *eff)
{
	struct coord_job *j = NULL;
	int err = 0;

	if (r->seq <= s->seq)
		return -EALREADY;
	if (r->seq != s->seq + 1)
		return -ERANGE;
	if (r->type < 1 || r->type >= COORD_REC_TYPE_MAX || !coord_rec_ok(r))
		return -EINVAL;
	if (r->type != COORD_REC_EPOCH && r->type != COORD_REC_JOB_LAUNCH) {
		j = coord_job_find(s, r->job);
		if (!j)
			return IDN_ENOJOB;
	}
	if (eff) {
		eff->n = 0;
		eff->job_num = j ? j->num : 0;
	}
	switch (r->type) {
	case COORD_REC_JOB_LAUNCH:
		err = apply_launch(s, r);
		if (!err && eff)
			eff->job_num = s->jobs[s->njobs - 1].num;
		break;
	case COORD_REC_JOB_STOP:
		j->stopped = 1;
		break;
	case COORD_REC_JOB_BATCH:
		if (j->stopped)
			err = -ESHUTDOWN;
		else
			j->set.batch = r->u.batch;
		break;
	case COORD_REC_QUERIES_ACCEPTED:
		err = apply_accept(j, r, eff);
		if (!err && eff)
			eff->n = r->u.accept.n;
		break;
	case COORD_REC_RESULTS:
		apply_results(j, r, eff);
		if (eff)
			eff->n = r->u.results.n;
		break;
	case COORD_REC_EPOCH:
		if (r->u.epoch.epoch <= s->epoch) {
			err = IDN_ESTALE_EPOCH;
			break;
		}
		s->epoch = r->u.epoch.epoch;
		s->coordinator = r->u.epoch.coordinator;
		break;
	case COORD_REC_PERSISTED:
		if (r->u.persisted < j->persisted || r->u.persisted > j->rseq) {
			err = -EINVAL;
			break;
		}
		j->persisted = r->u.persisted;
		log_drop(j, j->persisted);
		break;
	}
	if (!err)
		s->seq = r->seq;
	return err;
}
