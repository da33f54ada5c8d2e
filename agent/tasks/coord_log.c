/*
 * coord_log.c - the coordinator's state, its records and snapshots (see
 * coord_log.h).
 */
#include "tasks/coord_log.h"

#include "err.h"
#include "util.h"
#include "wire/wire_codec.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

const char *const coord_rec_type_names[COORD_REC_TYPE_MAX] = {
	"none",	   "job_launch", "job_stop", "job_batch", "queries_accepted",
	"results", "epoch",	 "persisted"};
const char *const coord_verdict_names[COORD_VERDICT_MAX] = {"new", "pending", "answered", "dup",
							    "unknown"};

#define SNAP_MAGIC "IDCS"
#define EMPTY	   UINT64_MAX /* a free slot of a u64 map (never a key) */

/* ---- a u64 -> u64 map: open addressing, linear probing ---- */

struct u64map {
	uint64_t *key, *val;
	uint32_t cap, n; /* cap: 0 or a power of two */
};

static uint32_t hash64(uint64_t x, uint32_t mask)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (uint32_t)x & mask;
}

static void map_free(struct u64map *m)
{
	free(m->key);
	free(m->val);
	memset(m, 0, sizeof(*m));
}

static int map_find(const struct u64map *m, uint64_t k, uint64_t *v)
{
	if (!m->n)
		return 0;
	for (uint32_t i = hash64(k, m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->key[i] == EMPTY)
			return 0;
		if (m->key[i] == k) {
			if (v)
				*v = m->val[i];
			return 1;
		}
	}
}

static void map_put(struct u64map *m, uint64_t k, uint64_t v);

static void map_grow(struct u64map *m)
{
	struct u64map old = *m;

	m->cap = old.cap ? old.cap * 2 : 16;
	m->n = 0;
	m->key = xmalloc(m->cap * sizeof(uint64_t));
	m->val = xmalloc(m->cap * sizeof(uint64_t));
	memset(m->key, 0xff, m->cap * sizeof(uint64_t));
	for (uint32_t i = 0; i < old.cap; i++)
		if (old.key[i] != EMPTY)
			map_put(m, old.key[i], old.val[i]);
	map_free(&old);
}

/* Inserts or replaces. */
static void map_put(struct u64map *m, uint64_t k, uint64_t v)
{
	if ((m->n + 1) * 4 > m->cap * 3)
		map_grow(m);
	for (uint32_t i = hash64(k, m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->key[i] == k) {
			m->val[i] = v;
			return;
		}
		if (m->key[i] == EMPTY) {
			m->key[i] = k;
			m->val[i] = v;
			m->n++;
			return;
		}
	}
}

/* Removes k (backward-shift deletion, so no tombstones). */
static void map_del(struct u64map *m, uint64_t k)
{
	uint32_t mask = m->cap - 1, i, j;

	if (!m->n)
		return;
	for (i = hash64(k, mask);; i = (i + 1) & mask) {
		if (m->key[i] == EMPTY)
			return;
		if (m->key[i] == k)
			break;
	}
	m->n--;
	for (j = (i + 1) & mask; m->key[j] != EMPTY; j = (j + 1) & mask) {
		uint32_t h = hash64(m->key[j], mask);
		/* j's entry may move to i when its home is not in (i, j] */
		if ((j > i && (h <= i || h > j)) || (j < i && h <= i && h > j)) {
			m->key[i] = m->key[j];
			m->val[i] = m->val[j];
			i = j;
		}
	}
	m->key[i] = EMPTY;
}

static int cmp_u64(const void *a, const void *b)
{
	return util_cmp_u64(a, b);
}

/* The keys in ascending order (a malloc'd array of m->n, or NULL). */
static uint64_t *map_sorted_keys(const struct u64map *m)
{
	uint64_t *k;
	uint32_t n = 0;

	if (!m->n)
		return NULL;
	k = xmalloc(m->n * sizeof(*k));
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->key[i] != EMPTY)
			k[n++] = m->key[i];
	qsort(k, n, sizeof(*k), cmp_u64);
	return k;
}

/*
 * ---- a set of ids: the range [lo, below) plus the ids outside it ----
 * The range grows at both ends over the ids next to it, so ids that
 * arrive nearly in order cost nothing beyond the ones out of order.
 */

struct idset {
	uint64_t lo, below; /* lo == below: the range is empty */
	struct u64map out;  /* ids outside [lo, below) */
};

static int idset_has(const struct idset *s, uint64_t x)
{
	return (x >= s->lo && x < s->below) || map_find(&s->out, x, NULL);
}

/* Adds x; 0 when it was there already, else 1. */
static int idset_add(struct idset *s, uint64_t x)
{
	if (idset_has(s, x))
		return 0;
	if (s->lo == s->below && !s->out.n) {
		s->lo = x;
		s->below = x + 1;
	} else if (x == s->below) {
		s->below++;
	} else if (x == s->lo - 1) {
		s->lo--;
		while (s->lo && s->out.n && map_find(&s->out, s->lo - 1, NULL)) {
			map_del(&s->out, s->lo - 1);
			s->lo--;
		}
		return 1;
	} else {
		map_put(&s->out, x, 0);
		return 1;
	}
	/* the range grows over the ids that follow it */
	while (s->out.n && map_find(&s->out, s->below, NULL)) {
		map_del(&s->out, s->below);
		s->below++;
	}
	return 1;
}

static uint64_t idset_count(const struct idset *s)
{
	return s->below - s->lo + s->out.n;
}

/* ---- the state ---- */

struct client {
	uint64_t id;
	struct idset accepted, answered; /* the client's query ids */
};

struct job {
	struct coord_job_settings set;
	uint32_t num;
	uint8_t stopped;
	uint64_t next_client; /* client queries accepted so far */
	struct coord_pending *pend;
	uint32_t npend, cap_pend;
	struct u64map pend_ix;	/* qid -> index in pend */
	struct client *clients; /* sorted by id */
	uint32_t nclients, cap_clients;
	struct idset done_ds, done_cl; /* answered: dataset ids, client ids (low 63 bits) */
	struct coord_result *log;      /* log[head .. n) are held, in rseq order */
	size_t head, n, cap_log;
	uint64_t rseq, persisted;
	uint64_t accepted, answered, failed, duplicates, service_ns_sum;
};

struct coord_state {
	uint64_t seq, epoch;
	struct wire_addr coordinator;
	uint64_t launched;
	struct job *jobs;
	uint32_t njobs;
};

struct coord_state *coord_state_new(void)
{
	struct coord_state *s = xcalloc(1, sizeof(*s));

	s->jobs = xcalloc(COORD_JOBS_MAX, sizeof(*s->jobs));
	return s;
}

static void job_free(struct job *j)
{
	free(j->pend);
	map_free(&j->pend_ix);
	for (uint32_t i = 0; i < j->nclients; i++) {
		map_free(&j->clients[i].accepted.out);
		map_free(&j->clients[i].answered.out);
	}
	free(j->clients);
	map_free(&j->done_ds.out);
	map_free(&j->done_cl.out);
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

static struct job *job_find(const struct coord_state *s, const char *id)
{
	for (uint32_t i = 0; i < s->njobs; i++)
		if (!strcmp(s->jobs[i].set.id, id))
			return &s->jobs[i];
	return NULL;
}

/* The client's slot, or where it goes (*found 0). */
static uint32_t client_pos(const struct job *j, uint64_t id, int *found)
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

static struct client *client_insert(struct job *j, uint32_t pos, uint64_t id)
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

static void pend_add(struct job *j, const struct coord_pending *p)
{
	if (j->npend == j->cap_pend) {
		j->cap_pend = j->cap_pend ? j->cap_pend * 2 : 16;
		j->pend = xrealloc(j->pend, j->cap_pend * sizeof(*j->pend));
	}
	map_put(&j->pend_ix, p->qid, j->npend);
	j->pend[j->npend++] = *p;
}

static void pend_del(struct job *j, uint32_t i)
{
	map_del(&j->pend_ix, j->pend[i].qid);
	if (i != --j->npend) {
		j->pend[i] = j->pend[j->npend];
		map_put(&j->pend_ix, j->pend[i].qid, i);
	}
}

static void log_append(struct job *j, const struct coord_result *r)
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
static void log_drop(struct job *j, uint64_t upto)
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

/* ---- field checks ---- */

int coord_job_id_check(const char *id)
{
	size_t n = strnlen(id, COORD_JOB_ID_MAX + 1);

	if (n == 0 || n > COORD_JOB_ID_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') ||
		      id[i] == '-'))
			return -EINVAL;
	return 0;
}

void coord_job_id_make(uint64_t counter, uint32_t node, char out[COORD_JOB_ID_MAX + 1])
{
	static const char digits[] = "0123456789abcdefghjkmnpqrstvwxyz";
	char tmp[16];
	int n = 0, k = 0;

	counter &= (1ull << 55) - 1; /* 11 digits at most */
	do {
		tmp[n++] = digits[counter & 31];
		counter >>= 5;
	} while (counter);
	while (n)
		out[k++] = tmp[--n];
	out[k++] = '-';
	for (int i = 3; i >= 0; i--)
		out[k++] = digits[(node >> (5 * i)) & 31];
	out[k] = '\0';
}

static int name_ok(const char *name)
{
	return dataset_name_check(name, NULL, 0) == 0;
}

static int settings_ok(const struct coord_job_settings *j)
{
	return coord_job_id_check(j->id) == 0 && name_ok(j->model) && name_ok(j->dataset) &&
	       j->images >= 1 && j->batch >= 1 && j->batch <= COORD_BATCH_MAX &&
	       isfinite(j->weight) && j->weight > 0 && j->weight <= COORD_WEIGHT_MAX &&
	       !(j->flags & ~(COORD_JOB_LOOP | COORD_JOB_CLIENT)) &&
	       (j->flags & (COORD_JOB_LOOP | COORD_JOB_CLIENT)) !=
		       (COORD_JOB_LOOP | COORD_JOB_CLIENT);
}

static int answer_ok(const struct coord_answer *a)
{
	if (a->qid == UINT64_MAX || a->status > 0 || a->worker.ip == 0)
		return 0;
	if (a->status == 0)
		for (int k = 0; k < COORD_TOP; k++)
			if (a->cls[k] >= 1000 || !(a->prob[k] >= 0.0f && a->prob[k] <= 1.0f))
				return 0;
	return 1;
}

/* Whether r's fields are in range (what decode checks, what apply rechecks). */
static int rec_ok(const struct coord_rec *r)
{
	if (r->seq == 0)
		return 0;
	if (r->type != COORD_REC_EPOCH && coord_job_id_check(r->job))
		return 0;
	switch (r->type) {
	case COORD_REC_JOB_LAUNCH:
		return settings_ok(&r->u.launch) && !strcmp(r->u.launch.id, r->job);
	case COORD_REC_JOB_STOP:
		return 1;
	case COORD_REC_JOB_BATCH:
		return r->u.batch >= 1 && r->u.batch <= COORD_BATCH_MAX;
	case COORD_REC_QUERIES_ACCEPTED:
		if (r->u.accept.n < 1 || r->u.accept.n > COORD_REC_Q_MAX)
			return 0;
		for (int i = 0; i < r->u.accept.n; i++)
			if (r->u.accept.q[i].cqid == UINT64_MAX)
				return 0;
		return 1;
	case COORD_REC_RESULTS:
		if (r->u.results.n < 1 || r->u.results.n > COORD_REC_Q_MAX)
			return 0;
		for (int i = 0; i < r->u.results.n; i++)
			if (!answer_ok(&r->u.results.a[i]))
				return 0;
		return 1;
	case COORD_REC_EPOCH:
		return r->u.epoch.epoch > 0 && r->u.epoch.coordinator.ip != 0;
	case COORD_REC_PERSISTED:
		return 1;
	}
	return 0;
}

/* ---- codec ---- */

static void put_str(struct wire_buf *b, const char *s)
{
	size_t n = strlen(s);

	if (n > 255) {
		b->err = 1;
		return;
	}
	wire_put_u8(b, (uint8_t)n);
	wire_put_bytes(b, s, n);
}

static void get_str(struct wire_rd *r, char *out, size_t cap)
{
	size_t n = wire_get_u8(r);
	const uint8_t *p = wire_get_bytes(r, n);

	out[0] = '\0';
	if (!p || n >= cap || memchr(p, 0, n)) {
		r->err = 1;
		return;
	}
	memcpy(out, p, n);
	out[n] = '\0';
}

static void put_f64(struct wire_buf *b, double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	wire_put_u64(b, u);
}

static double get_f64(struct wire_rd *r)
{
	uint64_t u = wire_get_u64(r);
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

static void put_f32(struct wire_buf *b, float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	wire_put_u32(b, u);
}

static float get_f32(struct wire_rd *r)
{
	uint32_t u = wire_get_u32(r);
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static void put_settings(struct wire_buf *b, const struct coord_job_settings *j)
{
	put_str(b, j->id);
	put_str(b, j->model);
	wire_put_u64(b, j->model_version);
	put_str(b, j->dataset);
	wire_put_u64(b, j->index_version);
	wire_put_u32(b, j->images);
	wire_put_u16(b, j->batch);
	put_f64(b, j->weight);
	wire_put_u8(b, j->flags);
}

static void get_settings(struct wire_rd *r, struct coord_job_settings *j)
{
	get_str(r, j->id, sizeof(j->id));
	get_str(r, j->model, sizeof(j->model));
	j->model_version = wire_get_u64(r);
	get_str(r, j->dataset, sizeof(j->dataset));
	j->index_version = wire_get_u64(r);
	j->images = wire_get_u32(r);
	j->batch = wire_get_u16(r);
	j->weight = get_f64(r);
	j->flags = wire_get_u8(r);
}

static void put_answer(struct wire_buf *b, const struct coord_answer *a)
{
	wire_put_u64(b, a->qid);
	wire_put_addr(b, a->worker);
	wire_put_u32(b, (uint32_t)a->status);
	wire_put_u64(b, a->service_ns);
	for (int k = 0; k < COORD_TOP; k++) {
		wire_put_u16(b, a->cls[k]);
		put_f32(b, a->prob[k]);
	}
}

static void get_answer(struct wire_rd *r, struct coord_answer *a)
{
	a->qid = wire_get_u64(r);
	a->worker = wire_get_addr(r);
	a->status = (int32_t)wire_get_u32(r);
	a->service_ns = wire_get_u64(r);
	for (int k = 0; k < COORD_TOP; k++) {
		a->cls[k] = wire_get_u16(r);
		a->prob[k] = get_f32(r);
	}
}

int coord_rec_encode(const struct coord_rec *r, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {buf, 0, cap, 0};

	if (r->type < 1 || r->type >= COORD_REC_TYPE_MAX || !rec_ok(r))
		return -EINVAL;
	wire_put_u8(&b, COORD_LOG_VERSION);
	wire_put_u8(&b, r->type);
	wire_put_u64(&b, r->seq);
	if (r->type != COORD_REC_EPOCH)
		put_str(&b, r->job);
	switch (r->type) {
	case COORD_REC_JOB_LAUNCH:
		put_settings(&b, &r->u.launch);
		break;
	case COORD_REC_JOB_STOP:
		break;
	case COORD_REC_JOB_BATCH:
		wire_put_u16(&b, r->u.batch);
		break;
	case COORD_REC_QUERIES_ACCEPTED:
		wire_put_u64(&b, r->u.accept.client);
		wire_put_u16(&b, r->u.accept.n);
		for (int i = 0; i < r->u.accept.n; i++) {
			wire_put_u64(&b, r->u.accept.q[i].cqid);
			wire_put_u32(&b, r->u.accept.q[i].image);
		}
		break;
	case COORD_REC_RESULTS:
		wire_put_u16(&b, r->u.results.n);
		for (int i = 0; i < r->u.results.n; i++)
			put_answer(&b, &r->u.results.a[i]);
		break;
	case COORD_REC_EPOCH:
		wire_put_u64(&b, r->u.epoch.epoch);
		wire_put_addr(&b, r->u.epoch.coordinator);
		break;
	case COORD_REC_PERSISTED:
		wire_put_u64(&b, r->u.persisted);
		break;
	}
	return b.err ? -EMSGSIZE : (int)b.len;
}

int coord_rec_decode(const uint8_t *p, size_t len, struct coord_rec *r)
{
	struct wire_rd rd = {p, len, 0, 0};
	int version = wire_get_u8(&rd);

	memset(r, 0, offsetof(struct coord_rec, u));
	r->type = wire_get_u8(&rd);
	r->seq = wire_get_u64(&rd);
	if (version != COORD_LOG_VERSION || r->type < 1 || r->type >= COORD_REC_TYPE_MAX)
		return -EINVAL;
	if (r->type != COORD_REC_EPOCH)
		get_str(&rd, r->job, sizeof(r->job));
	switch (r->type) {
	case COORD_REC_JOB_LAUNCH:
		get_settings(&rd, &r->u.launch);
		break;
	case COORD_REC_JOB_STOP:
		break;
	case COORD_REC_JOB_BATCH:
		r->u.batch = wire_get_u16(&rd);
		break;
	case COORD_REC_QUERIES_ACCEPTED:
		r->u.accept.client = wire_get_u64(&rd);
		r->u.accept.n = wire_get_u16(&rd);
		if (r->u.accept.n > COORD_REC_Q_MAX)
			return -EINVAL;
		for (int i = 0; i < r->u.accept.n; i++) {
			r->u.accept.q[i].cqid = wire_get_u64(&rd);
			r->u.accept.q[i].image = wire_get_u32(&rd);
		}
		break;
	case COORD_REC_RESULTS:
		r->u.results.n = wire_get_u16(&rd);
		if (r->u.results.n > COORD_REC_Q_MAX)
			return -EINVAL;
		for (int i = 0; i < r->u.results.n; i++)
			get_answer(&rd, &r->u.results.a[i]);
		break;
	case COORD_REC_EPOCH:
		r->u.epoch.epoch = wire_get_u64(&rd);
		r->u.epoch.coordinator = wire_get_addr(&rd);
		break;
	case COORD_REC_PERSISTED:
		r->u.persisted = wire_get_u64(&rd);
		break;
	}
	return !rd.err && rd.off == rd.len && rec_ok(r) ? 0 : -EINVAL;
}

/* ---- apply ---- */

static uint64_t dataset_end(const struct job *j)
{
	if (j->set.flags & COORD_JOB_CLIENT)
		return 0;
	if (j->set.flags & COORD_JOB_LOOP)
		return COORD_QID_CLIENT;
	return j->set.images;
}

static int apply_launch(struct coord_state *s, const struct coord_rec *r)
{
	struct job *j;

	if (job_find(s, r->job))
		return -EEXIST;
	if (s->njobs == COORD_JOBS_MAX)
		return -ENOSPC;
	j = &s->jobs[s->njobs++];
	memset(j, 0, sizeof(*j));
	j->set = r->u.launch;
	j->num = (uint32_t)++s->launched;
	return 0;
}

static int apply_accept(struct job *j, const struct coord_rec *r, struct coord_effect *eff)
{
	uint32_t new_pending = 0, new_clients = 0;
	int found;
	uint32_t pos = client_pos(j, r->u.accept.client, &found);
	struct client *c = found ? &j->clients[pos] : NULL;

	if (j->stopped)
		return -ESHUTDOWN;
	/* check everything first: all or nothing */
	for (int i = 0; i < r->u.accept.n; i++) {
		const struct coord_accept_q *q = &r->u.accept.q[i];
		if (q->image >= j->set.images)
			return -EINVAL;
		if (!c || !idset_has(&c->accepted, q->cqid))
			new_pending++; /* an upper bound: a repeat inside r counts twice */
	}
	new_clients = !found;
	if (j->npend + new_pending > COORD_PENDING_MAX)
		return -ENOSPC;
	if (j->nclients + new_clients > COORD_CLIENTS_MAX)
		return -ENOSPC;
	if (!c)
		c = client_insert(j, pos, r->u.accept.client);
	for (int i = 0; i < r->u.accept.n; i++) {
		const struct coord_accept_q *q = &r->u.accept.q[i];
		uint8_t v;
		uint64_t qid = 0;
		if (idset_add(&c->accepted, q->cqid)) {
			struct coord_pending p = {COORD_QID_CLIENT | j->next_client++, c->id,
						  q->cqid, q->image};
			pend_add(j, &p);
			j->accepted++;
			qid = p.qid;
			v = COORD_NEW;
		} else {
			v = idset_has(&c->answered, q->cqid) ? COORD_ANSWERED : COORD_PENDING;
		}
		if (eff) {
			eff->verdict[i] = v;
			eff->qid[i] = qid;
		}
	}
	return 0;
}

static void apply_results(struct job *j, const struct coord_rec *r, struct coord_effect *eff)
{
	for (int i = 0; i < r->u.results.n; i++) {
		const struct coord_answer *a = &r->u.results.a[i];
		struct coord_result res = {.a = *a};
		uint8_t v = COORD_NEW;
		uint64_t ix;

		if (a->qid & COORD_QID_CLIENT) {
			if (idset_has(&j->done_cl, a->qid & ~COORD_QID_CLIENT)) {
				v = COORD_DUP;
			} else if (!map_find(&j->pend_ix, a->qid, &ix)) {
				v = COORD_UNKNOWN;
			} else {
				const struct coord_pending *p = &j->pend[ix];
				int found;
				uint32_t pos = client_pos(j, p->client, &found);
				ASSERT(found);
				idset_add(&j->clients[pos].answered, p->cqid);
				res.client = p->client;
				res.cqid = p->cqid;
				res.image = p->image;
				pend_del(j, (uint32_t)ix);
				idset_add(&j->done_cl, a->qid & ~COORD_QID_CLIENT);
			}
		} else if (a->qid >= dataset_end(j)) {
			v = COORD_UNKNOWN;
		} else if (!idset_add(&j->done_ds, a->qid)) {
			v = COORD_DUP;
		} else {
			res.image = (uint32_t)(a->qid % j->set.images);
		}
		if (v == COORD_NEW) {
			res.rseq = ++j->rseq;
			log_append(j, &res);
			j->answered++;
			j->failed += a->status < 0;
			j->service_ns_sum += a->service_ns;
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
	struct job *j = NULL;
	int err = 0;

	if (r->seq <= s->seq)
		return -EALREADY;
	if (r->seq != s->seq + 1)
		return -ERANGE;
	if (r->type < 1 || r->type >= COORD_REC_TYPE_MAX || !rec_ok(r))
		return -EINVAL;
	if (r->type != COORD_REC_EPOCH && r->type != COORD_REC_JOB_LAUNCH) {
		j = job_find(s, r->job);
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

/* ---- snapshots ---- */

static size_t idset_size(const struct idset *s)
{
	return 20 + 8 * (size_t)s->out.n;
}

static void put_idset(struct wire_buf *b, const struct idset *s)
{
	uint64_t *k = map_sorted_keys(&s->out);

	wire_put_u64(b, s->lo);
	wire_put_u64(b, s->below);
	wire_put_u32(b, s->out.n);
	for (uint32_t i = 0; i < s->out.n; i++)
		wire_put_u64(b, k[i]);
	free(k);
}

/* An idset; canonical: ids outside the range ascending and not next to it. */
static void get_idset(struct wire_rd *r, struct idset *s)
{
	uint32_t n;
	uint64_t prev = 0;

	s->lo = wire_get_u64(r);
	s->below = wire_get_u64(r);
	n = wire_get_u32(r);
	if (s->below < s->lo || n > (r->len - r->off) / 8 || (s->lo == s->below && (n || s->lo))) {
		r->err = 1;
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint64_t x = wire_get_u64(r);
		if ((i && x <= prev) || (x + 1 >= s->lo && x <= s->below) || x == EMPTY)
			r->err = 1;
		prev = x;
		if (!r->err)
			map_put(&s->out, x, 0);
	}
}

static void put_result(struct wire_buf *b, const struct coord_result *x)
{
	wire_put_u64(b, x->rseq);
	wire_put_u64(b, x->client);
	wire_put_u64(b, x->cqid);
	wire_put_u32(b, x->image);
	put_answer(b, &x->a);
}

static int cmp_pending(const void *a, const void *b)
{
	const struct coord_pending *x = a, *y = b;

	return x->qid < y->qid ? -1 : x->qid > y->qid;
}

static void put_job(struct wire_buf *b, const struct job *j)
{
	struct coord_pending *p = NULL;

	put_settings(b, &j->set);
	wire_put_u32(b, j->num);
	wire_put_u8(b, j->stopped);
	wire_put_u64(b, j->next_client);
	wire_put_u64(b, j->rseq);
	wire_put_u64(b, j->persisted);
	wire_put_u64(b, j->accepted);
	wire_put_u64(b, j->answered);
	wire_put_u64(b, j->failed);
	wire_put_u64(b, j->duplicates);
	wire_put_u64(b, j->service_ns_sum);
	put_idset(b, &j->done_ds);
	put_idset(b, &j->done_cl);
	wire_put_u32(b, j->nclients);
	for (uint32_t i = 0; i < j->nclients; i++) {
		wire_put_u64(b, j->clients[i].id);
		put_idset(b, &j->clients[i].accepted);
		put_idset(b, &j->clients[i].answered);
	}
	if (j->npend) {
		p = xmalloc(j->npend * sizeof(*p));
		memcpy(p, j->pend, j->npend * sizeof(*p));
		qsort(p, j->npend, sizeof(*p), cmp_pending);
	}
	wire_put_u32(b, j->npend);
	for (uint32_t i = 0; i < j->npend; i++) {
		wire_put_u64(b, p[i].qid);
		wire_put_u64(b, p[i].client);
		wire_put_u64(b, p[i].cqid);
		wire_put_u32(b, p[i].image);
	}
	free(p);
	wire_put_u64(b, j->n - j->head);
	for (size_t i = j->head; i < j->n; i++)
		put_result(b, &j->log[i]);
}

static size_t job_size(const struct job *j)
{
	size_t n = 256 + idset_size(&j->done_ds) + idset_size(&j->done_cl);

	for (uint32_t i = 0; i < j->nclients; i++)
		n += 8 + idset_size(&j->clients[i].accepted) + idset_size(&j->clients[i].answered);
	return n + 28 * (size_t)j->npend + 100 * (j->n - j->head);
}

int coord_state_snapshot_encode(const struct coord_state *s, uint8_t **out, size_t *len)
{
	size_t cap = 64;
	struct wire_buf b;

	for (uint32_t i = 0; i < s->njobs; i++)
		cap += job_size(&s->jobs[i]);
	b = (struct wire_buf){xmalloc(cap), 0, cap, 0};
	wire_put_bytes(&b, SNAP_MAGIC, 4);
	wire_put_u8(&b, COORD_LOG_VERSION);
	wire_put_u64(&b, s->seq);
	wire_put_u64(&b, s->epoch);
	wire_put_addr(&b, s->coordinator);
	wire_put_u64(&b, s->launched);
	wire_put_u32(&b, s->njobs);
	for (uint32_t i = 0; i < s->njobs; i++)
		put_job(&b, &s->jobs[i]);
	ASSERT(!b.err);
	*out = b.p;
	*len = b.len;
	return 0;
}

static void get_job(struct wire_rd *r, struct job *j)
{
	uint32_t n;
	uint64_t nlog;

	get_settings(r, &j->set);
	j->num = wire_get_u32(r);
	j->stopped = wire_get_u8(r);
	j->next_client = wire_get_u64(r);
	j->rseq = wire_get_u64(r);
	j->persisted = wire_get_u64(r);
	j->accepted = wire_get_u64(r);
	j->answered = wire_get_u64(r);
	j->failed = wire_get_u64(r);
	j->duplicates = wire_get_u64(r);
	j->service_ns_sum = wire_get_u64(r);
	get_idset(r, &j->done_ds);
	get_idset(r, &j->done_cl);
	if (r->err || !settings_ok(&j->set) || j->stopped > 1) {
		r->err = 1;
		return;
	}
	n = wire_get_u32(r);
	if (n > COORD_CLIENTS_MAX || n > (r->len - r->off) / 48) {
		r->err = 1;
		return;
	}
	for (uint32_t i = 0; i < n && !r->err; i++) {
		uint64_t id = wire_get_u64(r);
		struct client *c;
		if (i && id <= j->clients[i - 1].id)
			r->err = 1;
		c = client_insert(j, j->nclients, id);
		get_idset(r, &c->accepted);
		get_idset(r, &c->answered);
	}
	n = wire_get_u32(r);
	if (r->err || n > COORD_PENDING_MAX || n > (r->len - r->off) / 28) {
		r->err = 1;
		return;
	}
	for (uint32_t i = 0; i < n && !r->err; i++) {
		struct coord_pending p;
		p.qid = wire_get_u64(r);
		p.client = wire_get_u64(r);
		p.cqid = wire_get_u64(r);
		p.image = wire_get_u32(r);
		int found;
		uint32_t pos = client_pos(j, p.client, &found);
		/* a client's query, given an id, accepted and not answered */
		if ((i && p.qid <= j->pend[i - 1].qid) || !(p.qid & COORD_QID_CLIENT) ||
		    (p.qid & ~COORD_QID_CLIENT) >= j->next_client || p.image >= j->set.images ||
		    !found || !idset_has(&j->clients[pos].accepted, p.cqid) ||
		    idset_has(&j->clients[pos].answered, p.cqid) ||
		    idset_has(&j->done_cl, p.qid & ~COORD_QID_CLIENT))
			r->err = 1;
		else
			pend_add(j, &p);
	}
	nlog = wire_get_u64(r);
	if (r->err || nlog > (r->len - r->off) / 84 || nlog != j->rseq - j->persisted ||
	    j->persisted > j->rseq) {
		r->err = 1;
		return;
	}
	for (uint64_t i = 0; i < nlog && !r->err; i++) {
		struct coord_result x;
		x.rseq = wire_get_u64(r);
		x.client = wire_get_u64(r);
		x.cqid = wire_get_u64(r);
		x.image = wire_get_u32(r);
		get_answer(r, &x.a);
		if (x.rseq != j->persisted + 1 + i || !answer_ok(&x.a) || x.image >= j->set.images)
			r->err = 1;
		else
			log_append(j, &x);
	}
}

int coord_state_snapshot_decode(const uint8_t *p, size_t len, struct coord_state **out)
{
	struct wire_rd r = {p, len, 0, 0};
	struct coord_state *s = coord_state_new();
	const uint8_t *magic = wire_get_bytes(&r, 4);
	uint8_t *again = NULL;
	size_t again_len = 0;
	uint32_t n;

	if (!magic || memcmp(magic, SNAP_MAGIC, 4) || wire_get_u8(&r) != COORD_LOG_VERSION)
		goto err;
	s->seq = wire_get_u64(&r);
	s->epoch = wire_get_u64(&r);
	s->coordinator = wire_get_addr(&r);
	s->launched = wire_get_u64(&r);
	n = wire_get_u32(&r);
	if (r.err || n > COORD_JOBS_MAX || n > s->launched)
		goto err;
	for (uint32_t i = 0; i < n && !r.err; i++) {
		struct job *j = &s->jobs[s->njobs++];
		get_job(&r, j);
		if (!r.err && (job_find(s, j->set.id) != j || j->num == 0 || j->num > s->launched ||
			       (i && j->num <= s->jobs[i - 1].num)))
			r.err = 1;
	}
	if (r.err || r.off != r.len)
		goto err;
	/* canonical: the state encodes back to the very same bytes */
	coord_state_snapshot_encode(s, &again, &again_len);
	if (again_len != len || memcmp(again, p, len))
		goto err;
	free(again);
	*out = s;
	return 0;
err:
	free(again);
	coord_state_free(s);
	*out = NULL;
	return -EINVAL;
}

/* ---- reads ---- */

void coord_state_info(const struct coord_state *s, struct coord_state_info *out)
{
	out->seq = s->seq;
	out->epoch = s->epoch;
	out->coordinator = s->coordinator;
	out->jobs = s->njobs;
	out->launched = s->launched;
}

static void job_info(const struct job *j, struct coord_job_info *o)
{
	memset(o, 0, sizeof(*o));
	o->set = j->set;
	o->num = j->num;
	o->stopped = j->stopped;
	o->accepted = j->accepted;
	o->answered = j->answered;
	o->failed = j->failed;
	o->duplicates = j->duplicates;
	o->service_ns_sum = j->service_ns_sum;
	o->pending = j->npend;
	o->rseq = j->rseq;
	o->persisted = j->persisted;
	o->in_memory = j->n - j->head;
	o->dataset_below = j->done_ds.lo == 0 ? j->done_ds.below : 0;
	o->dataset_done =
		!(j->set.flags & COORD_JOB_LOOP) &&
		((j->set.flags & COORD_JOB_CLIENT) || idset_count(&j->done_ds) >= j->set.images);
}

int coord_state_job(const struct coord_state *s, const char *job, struct coord_job_info *out)
{
	const struct job *j = job_find(s, job);

	if (!j)
		return IDN_ENOJOB;
	job_info(j, out);
	return 0;
}

int coord_state_jobs(const struct coord_state *s, struct coord_job_info *out, int max)
{
	int n = 0;

	for (uint32_t i = 0; i < s->njobs && n < max; i++)
		job_info(&s->jobs[i], &out[n++]);
	return n;
}

int coord_state_answered(const struct coord_state *s, const char *job, uint64_t qid)
{
	const struct job *j = job_find(s, job);

	if (!j)
		return IDN_ENOJOB;
	if (qid & COORD_QID_CLIENT)
		return idset_has(&j->done_cl, qid & ~COORD_QID_CLIENT);
	return idset_has(&j->done_ds, qid);
}

int coord_state_pending(const struct coord_state *s, const char *job, uint64_t from,
			struct coord_pending *out, int max)
{
	const struct job *j = job_find(s, job);
	struct coord_pending *p;
	int n = 0;

	if (!j)
		return IDN_ENOJOB;
	if (!j->npend || max <= 0)
		return 0;
	p = xmalloc(j->npend * sizeof(*p));
	memcpy(p, j->pend, j->npend * sizeof(*p));
	qsort(p, j->npend, sizeof(*p), cmp_pending);
	for (uint32_t i = 0; i < j->npend && n < max; i++)
		if (p[i].qid >= from)
			out[n++] = p[i];
	free(p);
	return n;
}

int coord_state_results(const struct coord_state *s, const char *job, uint64_t from,
			struct coord_result *out, int max)
{
	const struct job *j = job_find(s, job);
	int n = 0;

	if (!j)
		return IDN_ENOJOB;
	/* the held results are rseq persisted + 1, + 2, ... in order */
	size_t i = j->head;
	if (from > j->persisted + 1)
		i += (size_t)MIN(from - (j->persisted + 1), (uint64_t)(j->n - j->head));
	for (; i < j->n && n < max; i++)
		out[n++] = j->log[i];
	return n;
}
