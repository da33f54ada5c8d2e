/*
 * sched.c - the coordinator's scheduler (sched.h): weighted max-min fair
 * query rates over a cluster of worker slots, with retries, re-dispatch
 * of a failed worker's queries and speculation on overrun batches.
 *
 * Layout: a hash table (queries by job and id; workers, batches and jobs
 * by id), two indexed binary heaps (workers with a free slot; running
 * batches by deadline), per-job queues (deques of query ids), then the
 * policy: dispatch (sched_pop), the end of a batch (sched_result, worker
 * removal), the reports.
 *
 * Every query queued or running has one record: its state, how many
 * copies of it run (a speculative copy makes two), how many times it
 * failed.  A record goes when nothing refers to it any more (done or
 * failed for good, no copy running, not in a queue), so memory follows
 * the queues and the running batches, never the history.
 */
#include "tasks/sched.h"
#include "tasks/task_wire.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(SCHED_BATCH_MAX == TASK_BATCH_MAX, "a batch is one DISPATCH");

#define RATE_BUCKETS 100 /* the rate window in this many buckets */

const char *const sched_verdict_names[SCHED_VERDICT_MAX] = {
	[SCHED_DONE] = "done",	   [SCHED_DUP] = "duplicate", [SCHED_RETRY] = "retry",
	[SCHED_FAILED] = "failed", [SCHED_STALE] = "stale",
};

/* --- hash table: (k, k2) -> v, v = 0 marks an empty slot ------------------ */

struct slot {
	uint64_t k;
	uint32_t k2;
	uint32_t v;
};

struct table {
	struct slot *a;
	uint32_t mask, n;
};

static uint32_t table_home(const struct table *t, uint64_t k, uint32_t k2)
{
	uint64_t x = k ^ ((uint64_t)k2 * 0x9e3779b97f4a7c15ull);

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return (uint32_t)x & t->mask;
}

static void table_init(struct table *t, uint32_t cap)
{
	t->mask = cap - 1;
	t->n = 0;
	t->a = xcalloc(cap, sizeof(*t->a));
}

static struct slot *table_find(const struct table *t, uint64_t k, uint32_t k2)
{
	for (uint32_t i = table_home(t, k, k2);; i = (i + 1) & t->mask) {
		struct slot *e = &t->a[i];

		if (!e->v)
			return NULL;
		if (e->k == k && e->k2 == k2)
			return e;
	}
}

static void table_put(struct table *t, struct slot e)
{
	uint32_t i = table_home(t, e.k, e.k2);

	while (t->a[i].v)
		i = (i + 1) & t->mask;
	t->a[i] = e;
	t->n++;
}

/* Adds (k, k2) -> v (absent, v != 0), growing at half full.  Slots move. */
static void table_add(struct table *t, uint64_t k, uint32_t k2, uint32_t v)
{
	if (2 * (t->n + 1) > t->mask + 1) {
		struct table old = *t;

		table_init(t, 2 * (old.mask + 1));
		for (uint32_t i = 0; i <= old.mask; i++)
			if (old.a[i].v)
				table_put(t, old.a[i]);
		free(old.a);
	}
	table_put(t, (struct slot){.k = k, .k2 = k2, .v = v});
}

/* Deletes e by shifting back the entries after it (no tombstones). */
static void table_del(struct table *t, struct slot *e)
{
	uint32_t i = (uint32_t)(e - t->a), j = i;

	for (;;) {
		j = (j + 1) & t->mask;
		if (!t->a[j].v)
			break;
		/* the entry at j may fill the hole at i unless its home lies in (i, j] */
		uint32_t h = table_home(t, t->a[j].k, t->a[j].k2);
		if (((j - h) & t->mask) >= ((j - i) & t->mask)) {
			t->a[i] = t->a[j];
			i = j;
		}
	}
	t->a[i].v = 0;
	t->n--;
}

/* --- query records, packed in a slot's v ----------------------------------- */

enum q_state { Q_QUEUED = 1, Q_RUNNING, Q_DONE };

struct qrec {
	uint8_t state;	/* enum q_state */
	uint8_t inq;	/* its id is in the job's queue (a done one is skipped there) */
	uint8_t copies; /* running batches holding it */
	uint16_t tries; /* failed runs */
};

static struct qrec qr_get(const struct slot *e)
{
	return (struct qrec){.state = e->v & 3,
			     .inq = (e->v >> 2) & 1,
			     .copies = (e->v >> 3) & 0xff,
			     .tries = e->v >> 16};
}

static uint32_t qr_pack(struct qrec r)
{
	return (uint32_t)r.state | (uint32_t)r.inq << 2 | (uint32_t)r.copies << 3 |
	       (uint32_t)r.tries << 16;
}

static void qr_set(struct slot *e, struct qrec r)
{
	e->v = qr_pack(r);
}

/* --- a deque of query ids --------------------------------------------------- */

struct deque {
	uint64_t *a;
	uint32_t mask, head, len;
};

static void dq_grow(struct deque *d)
{
	uint32_t cap = d->a ? 2 * (d->mask + 1) : 16;
	uint64_t *a = xmalloc(cap * sizeof(*a));

	for (uint32_t i = 0; i < d->len; i++)
		a[i] = d->a[(d->head + i) & d->mask];
	free(d->a);
	*d = (struct deque){.a = a, .mask = cap - 1, .head = 0, .len = d->len};
}

static void dq_push_back(struct deque *d, uint64_t x)
{
	if (!d->a || d->len > d->mask)
		dq_grow(d);
	d->a[(d->head + d->len++) & d->mask] = x;
}

static void dq_push_front(struct deque *d, uint64_t x)
{
	if (!d->a || d->len > d->mask)
		dq_grow(d);
	d->head = (d->head - 1) & d->mask;
	d->a[d->head] = x;
	d->len++;
}

static uint64_t dq_pop_front(struct deque *d)
{
	uint64_t x = d->a[d->head];

	d->head = (d->head + 1) & d->mask;
	d->len--;
	return x;
}

/* --- the state --------------------------------------------------------------- */

struct job {
	uint32_t id;
	uint8_t used, stopped, measured;
	uint16_t batch;
	double weight;
	double norm;	/* (completed + in flight) / weight, lifted on waking */
	double cost_ns; /* service time per query, EWMA */
	uint64_t added_ms;
	struct deque q;	   /* queued ids (and done ones left to skip) */
	uint32_t queued;   /* queued ids not done */
	uint32_t inflight; /* ids running, once each */
	uint64_t completed, failed, retried;
	struct {
		uint64_t idx; /* now / bucket width when it was last counted in */
		uint32_t count;
	} rate[RATE_BUCKETS];
};

struct worker {
	uint32_t id;
	uint8_t used;
	uint16_t slots, busy;
	uint64_t seq;	      /* when a slot last became free: longest free first */
	int32_t hidx;	      /* in the free-slot heap, or -1; the free list's link when unused */
	int32_t bhead, btail; /* its running batches, oldest first */
	uint64_t expect_ns;   /* the expected time of its running batches */
	uint64_t batches;
	uint64_t share_ms; /* when the shares were last decayed */
	uint16_t nshare;
	struct {
		uint32_t job;
		double ns; /* decayed busy time on that job */
	} share[SCHED_SHARE_MAX];
};

struct batch {
	uint64_t id, copy_of;
	uint64_t deadline_ms;
	uint64_t expect_ns;
	int32_t worker, job; /* indexes; job -1 once its job is removed */
	int32_t hidx;	     /* in the deadline heap, or -1; the free list's link when unused */
	int32_t wprev, wnext;
	uint8_t used;
	uint16_t n, cap;
	uint64_t *q;
};

enum heap_kind { H_FREE, H_DEADLINE };

struct heap {
	int32_t *a;
	uint32_t n, cap;
};

struct sched {
	struct sched_config c;
	struct table qt;	       /* (query, job) -> struct qrec */
	struct table wmap, bmap, jmap; /* id -> index + 1 */
	struct worker *w;
	uint32_t nw;
	int32_t wfree;
	struct batch *b;
	uint32_t nb;
	int32_t bfree;
	struct job *j;
	uint32_t nj;
	struct heap fh, dh;  /* workers with a free slot; running batches by deadline */
	struct deque spec;   /* overrun batches waiting for a copy */
	uint64_t next_batch; /* batch ids: 1, 2, ... */
	uint64_t seq;
	double vclock; /* the count of the latest pick: where a lone waking job starts */
	uint32_t nworkers, njobs, slots, busy, running;
	uint64_t decisions, speculations, duplicates, stale;
};

void sched_config_default(struct sched_config *c)
{
	*c = (struct sched_config){.queue_max = 4096,
				   .retry_max = 3,
				   .overrun_factor = 4,
				   .overrun_floor_ms = 500,
				   .cost_init_ns = 100 * 1000000ull,
				   .cost_ewma_div = 8,
				   .rate_window_ms = 10000,
				   .share_window_ms = 10000};
}

struct sched *sched_new(const struct sched_config *c)
{
	struct sched *s;
	struct sched_config d;

	if (!c) {
		sched_config_default(&d);
		c = &d;
	}
	if (!c->queue_max || !c->overrun_factor || !c->cost_ewma_div ||
	    c->rate_window_ms < RATE_BUCKETS || !c->share_window_ms || !c->cost_init_ns)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->c = *c;
	table_init(&s->qt, 1024);
	table_init(&s->wmap, 64);
	table_init(&s->bmap, 64);
	table_init(&s->jmap, 16);
	s->wfree = s->bfree = -1;
	s->next_batch = 1;
	return s;
}

void sched_free(struct sched *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->nb; i++)
		free(s->b[i].q);
	for (uint32_t i = 0; i < s->nj; i++)
		free(s->j[i].q.a);
	free(s->qt.a);
	free(s->wmap.a);
	free(s->bmap.a);
	free(s->jmap.a);
	free(s->w);
	free(s->b);
	free(s->j);
	free(s->fh.a);
	free(s->dh.a);
	free(s->spec.a);
	free(s);
}

static int32_t lookup(const struct table *t, uint64_t id)
{
	const struct slot *e = table_find(t, id, 0);

	return e ? (int32_t)e->v - 1 : -1;
}

static struct job *job_get(const struct sched *s, uint32_t id)
{
	int32_t i = lookup(&s->jmap, id);

	return i < 0 ? NULL : &s->j[i];
}

/* --- indexed heaps -------------------------------------------------------- */

static int heap_less(const struct sched *s, enum heap_kind k, int32_t x, int32_t y)
{
	if (k == H_FREE) {
		const struct worker *a = &s->w[x], *b = &s->w[y];

		if (a->busy != b->busy)
			return a->busy < b->busy;
		return a->seq < b->seq;
	}
	const struct batch *a = &s->b[x], *b = &s->b[y];

	if (a->deadline_ms != b->deadline_ms)
		return a->deadline_ms < b->deadline_ms;
	return a->id < b->id;
}

static struct heap *heap_of(struct sched *s, enum heap_kind k)
{
	return k == H_FREE ? &s->fh : &s->dh;
}

static int32_t *heap_pos(struct sched *s, enum heap_kind k, int32_t x)
{
	return k == H_FREE ? &s->w[x].hidx : &s->b[x].hidx;
}

static void heap_set(struct sched *s, enum heap_kind k, uint32_t i, int32_t x)
{
	heap_of(s, k)->a[i] = x;
	*heap_pos(s, k, x) = (int32_t)i;
}

static void heap_up(struct sched *s, enum heap_kind k, uint32_t i)
{
	struct heap *h = heap_of(s, k);
	int32_t x = h->a[i];

	while (i > 0 && heap_less(s, k, x, h->a[(i - 1) / 2])) {
		heap_set(s, k, i, h->a[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(s, k, i, x);
}

static void heap_down(struct sched *s, enum heap_kind k, uint32_t i)
{
	struct heap *h = heap_of(s, k);
	int32_t x = h->a[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && heap_less(s, k, h->a[c + 1], h->a[c]))
			c++;
		if (!heap_less(s, k, h->a[c], x))
			break;
		heap_set(s, k, i, h->a[c]);
		i = c;
	}
	heap_set(s, k, i, x);
}

static void heap_push(struct sched *s, enum heap_kind k, int32_t x)
{
	struct heap *h = heap_of(s, k);

	if (h->n == h->cap) {
		h->cap = h->cap ? 2 * h->cap : 64;
		h->a = xrealloc(h->a, h->cap * sizeof(*h->a));
	}
	h->a[h->n++] = x;
	heap_up(s, k, h->n - 1);
}

static void heap_remove(struct sched *s, enum heap_kind k, int32_t x)
{
	struct heap *h = heap_of(s, k);
	int32_t *pos = heap_pos(s, k, x);
	uint32_t i = (uint32_t)*pos;
	int32_t last = h->a[--h->n];

	*pos = -1;
	if (i < h->n) {
		heap_set(s, k, i, last);
		heap_up(s, k, i);
		heap_down(s, k, (uint32_t)*heap_pos(s, k, last));
	}
}

static void heap_fix(struct sched *s, enum heap_kind k, int32_t x)
{
	heap_up(s, k, (uint32_t)*heap_pos(s, k, x));
	heap_down(s, k, (uint32_t)*heap_pos(s, k, x));
}

/* --- workers ---------------------------------------------------------------- */

int sched_worker_add(struct sched *s, uint32_t id, uint16_t slots, uint64_t now_ms)
{
	struct worker *w;
	int32_t wi;

	if (!slots)
		return -EINVAL;
	if (lookup(&s->wmap, id) >= 0)
		return -EEXIST;
	if (s->wfree >= 0) {
		wi = s->wfree;
		s->wfree = s->w[wi].hidx;
	} else {
		if ((s->nw & (s->nw - 1)) == 0)
			s->w = xrealloc(s->w, (s->nw ? 2 * s->nw : 1) * sizeof(*s->w));
		wi = (int32_t)s->nw++;
	}
	w = &s->w[wi];
	*w = (struct worker){.id = id,
			     .used = 1,
			     .slots = slots,
			     .seq = ++s->seq,
			     .hidx = -1,
			     .bhead = -1,
			     .btail = -1,
			     .share_ms = now_ms};
	table_add(&s->wmap, id, 0, (uint32_t)wi + 1);
	heap_push(s, H_FREE, wi);
	s->nworkers++;
	s->slots += slots;
	return 0;
}

/* The best worker with a free slot other than not, or -1. */
static int32_t free_worker_except(const struct sched *s, int32_t not )
{
	const struct heap *h = &s->fh;
	int32_t best = -1;

	if (!h->n)
		return -1;
	if (h->a[0] != not )
		return h->a[0];
	for (uint32_t c = 1; c <= 2 && c < h->n; c++)
		if (best < 0 || heap_less(s, H_FREE, h->a[c], best))
			best = h->a[c];
	return best;
}

static void worker_share_decay(const struct sched *s, struct worker *w, uint64_t now_ms)
{
	if (now_ms <= w->share_ms)
		return;
	double f = exp(-(double)(now_ms - w->share_ms) / s->c.share_window_ms);

	for (uint16_t i = 0; i < w->nshare; i++)
		w->share[i].ns *= f;
	w->share_ms = now_ms;
}

static void worker_share_add(const struct sched *s, struct worker *w, uint32_t job, double ns,
			     uint64_t now_ms)
{
	uint16_t i, lo = 0;

	worker_share_decay(s, w, now_ms);
	for (i = 0; i < w->nshare && w->share[i].job != job; i++)
		if (w->share[i].ns < w->share[lo].ns)
			lo = i;
	if (i == w->nshare) {
		if (w->nshare < SCHED_SHARE_MAX)
			w->nshare++;
		else
			i = lo; /* forget the job it served least */
		w->share[i].job = job;
		w->share[i].ns = 0;
	}
	w->share[i].ns += ns;
}

/* --- jobs ----------------------------------------------------------------- */

static int job_has_work(const struct job *j)
{
	return j->used && !j->stopped && j->queued > 0;
}

/*
 * A job that had no queued work and now has some starts from the lowest
 * count of the jobs with work (or, when none has, of the latest pick): it
 * neither starves them nor gets a burst for the time it asked nothing.
 */
static void job_wake(struct sched *s, struct job *j)
{
	double lo = INFINITY;

	if (j->stopped)
		return;
	for (uint32_t i = 0; i < s->nj; i++)
		if (&s->j[i] != j && job_has_work(&s->j[i]) && s->j[i].norm < lo)
			lo = s->j[i].norm;
	if (lo == INFINITY)
		lo = s->vclock;
	if (j->norm < lo)
		j->norm = lo;
}

static int weight_ok(double weight)
{
	return weight > 0 && weight < 1e9;
}

int sched_job_add(struct sched *s, uint32_t id, double weight, uint16_t batch, uint64_t now_ms)
{
	uint32_t ji;
	struct job *j;

	if (id == UINT32_MAX || !weight_ok(weight) || !batch || batch > SCHED_BATCH_MAX)
		return -EINVAL;
	if (lookup(&s->jmap, id) >= 0)
		return -EEXIST;
	for (ji = 0; ji < s->nj && s->j[ji].used; ji++)
		;
	if (ji == s->nj)
		s->j = xrealloc(s->j, ++s->nj * sizeof(*s->j));
	j = &s->j[ji];
	*j = (struct job){.id = id,
			  .used = 1,
			  .batch = batch,
			  .weight = weight,
			  .cost_ns = (double)s->c.cost_init_ns,
			  .added_ms = now_ms};
	table_add(&s->jmap, id, 0, ji + 1);
	s->njobs++;
	return 0;
}

int sched_job_set_weight(struct sched *s, uint32_t id, double weight)
{
	struct job *j = job_get(s, id);

	if (!j)
		return -ENOENT;
	if (!weight_ok(weight))
		return -EINVAL;
	j->weight = weight; /* counts from now on grow by 1 / the new weight */
	return 0;
}

int sched_job_set_batch(struct sched *s, uint32_t id, uint16_t batch)
{
	struct job *j = job_get(s, id);

	if (!j)
		return -ENOENT;
	if (!batch || batch > SCHED_BATCH_MAX)
		return -EINVAL;
	j->batch = batch;
	return 0;
}

int sched_job_stop(struct sched *s, uint32_t id)
{
	struct job *j = job_get(s, id);

	if (!j)
		return -ENOENT;
	j->stopped = 1;
	return 0;
}

int sched_job_remove(struct sched *s, uint32_t id)
{
	int32_t ji = lookup(&s->jmap, id);
	struct table old = s->qt;

	if (ji < 0)
		return -ENOENT;
	/* its running batches run on, orphaned: they will only free their slot */
	for (uint32_t i = 0; i < s->nb; i++) {
		struct batch *b = &s->b[i];

		if (b->used && b->job == ji) {
			b->job = -1;
			if (b->hidx >= 0)
				heap_remove(s, H_DEADLINE, (int32_t)i);
		}
	}
	/* its query records go: the table is rebuilt without them */
	table_init(&s->qt, old.mask + 1);
	for (uint32_t i = 0; i <= old.mask; i++)
		if (old.a[i].v && old.a[i].k2 != id)
			table_put(&s->qt, old.a[i]);
	free(old.a);
	free(s->j[ji].q.a);
	memset(&s->j[ji], 0, sizeof(s->j[ji]));
	table_del(&s->jmap, table_find(&s->jmap, id, 0));
	s->njobs--;
	return 0;
}

int sched_enqueue(struct sched *s, uint32_t id, uint64_t query, uint64_t now_ms)
{
	struct job *j = job_get(s, id);

	if (!j)
		return -ENOENT;
	if (j->stopped)
		return -ESHUTDOWN;
	if (table_find(&s->qt, query, id))
		return -EEXIST;
	if (j->queued >= s->c.queue_max)
		return -ENOSPC;
	table_add(&s->qt, query, id, qr_pack((struct qrec){.state = Q_QUEUED, .inq = 1}));
	dq_push_back(&j->q, query);
	if (j->queued++ == 0)
		job_wake(s, j);
	return 0;
}

static void job_count_done(const struct sched *s, struct job *j, uint64_t now_ms)
{
	uint64_t bw = s->c.rate_window_ms / RATE_BUCKETS, idx = now_ms / bw;
	int i = (int)(idx % RATE_BUCKETS);

	j->completed++;
	if (j->rate[i].idx != idx) {
		j->rate[i].idx = idx;
		j->rate[i].count = 0;
	}
	j->rate[i].count++;
}

static double job_rate(const struct sched *s, const struct job *j, uint64_t now_ms)
{
	uint64_t bw = s->c.rate_window_ms / RATE_BUCKETS, cur = now_ms / bw, n = 0;
	uint64_t span = (RATE_BUCKETS - 1) * bw + now_ms % bw;

	for (int i = 0; i < RATE_BUCKETS; i++)
		if (j->rate[i].count && j->rate[i].idx <= cur &&
		    j->rate[i].idx + RATE_BUCKETS > cur)
			n += j->rate[i].count;
	if (now_ms - j->added_ms < span)
		span = now_ms - j->added_ms;
	return span ? (double)n * 1000.0 / (double)span : 0;
}

/* Moves up to max queued queries of j into q, as running. */
static uint16_t job_take(struct sched *s, struct job *j, uint64_t *q, uint16_t max)
{
	uint16_t n = 0;

	while (n < max && j->queued > 0) {
		uint64_t id = dq_pop_front(&j->q);
		struct slot *e = table_find(&s->qt, id, j->id);
		struct qrec r;

		ASSERT(e);
		r = qr_get(e);
		r.inq = 0;
		if (r.state == Q_DONE) { /* completed by a late result while queued */
			if (r.copies)
				qr_set(e, r);
			else
				table_del(&s->qt, e);
			continue;
		}
		ASSERT(r.state == Q_QUEUED && !r.copies);
		r.state = Q_RUNNING;
		r.copies = 1;
		qr_set(e, r);
		j->queued--;
		j->inflight++;
		q[n++] = id;
	}
	j->norm += n / j->weight;
	return n;
}

/* A running query of j goes back to the front of its queue. */
static void job_requeue(struct sched *s, struct job *j, struct slot *e, struct qrec r)
{
	r.state = Q_QUEUED;
	r.inq = 1;
	qr_set(e, r);
	dq_push_front(&j->q, e->k);
	j->inflight--;
	j->queued++;
	j->norm -= 1 / j->weight;
}

/* --- batches ------------------------------------------------------------- */

static int32_t batch_alloc(struct sched *s)
{
	int32_t bi;

	if (s->bfree >= 0) {
		bi = s->bfree;
		s->bfree = s->b[bi].hidx;
	} else {
		if ((s->nb & (s->nb - 1)) == 0)
			s->b = xrealloc(s->b, (s->nb ? 2 * s->nb : 1) * sizeof(*s->b));
		bi = (int32_t)s->nb++;
		s->b[bi] = (struct batch){0};
	}
	return bi;
}

/* Starts batch bi (its queries in d) on worker wi, and fills the rest of d. */
static void batch_start(struct sched *s, int32_t bi, int32_t wi, int32_t ji, uint64_t copy_of,
			struct sched_dispatch *d, uint64_t now_ms)
{
	struct batch *b = &s->b[bi];
	struct worker *w = &s->w[wi];
	struct job *j = &s->j[ji];
	uint64_t expect = (uint64_t)(j->cost_ns * d->n), ms;

	if (b->cap < d->n) {
		free(b->q);
		b->cap = SCHED_BATCH_MAX;
		b->q = xmalloc(b->cap * sizeof(*b->q));
	}
	memcpy(b->q, d->q, d->n * sizeof(*b->q));
	b->id = s->next_batch++;
	b->copy_of = copy_of;
	b->worker = wi;
	b->job = ji;
	b->n = d->n;
	b->used = 1;
	b->expect_ns = expect;
	b->hidx = -1;
	table_add(&s->bmap, b->id, 0, (uint32_t)bi + 1);

	b->wnext = -1;
	b->wprev = w->btail;
	if (w->btail >= 0)
		s->b[w->btail].wnext = bi;
	else
		w->bhead = bi;
	w->btail = bi;
	w->expect_ns += expect;
	w->busy++;
	if (w->busy == w->slots)
		heap_remove(s, H_FREE, wi);
	else
		heap_fix(s, H_FREE, wi);
	s->busy++;
	s->running++;
	s->decisions++;

	/* it overruns after factor x the time it should take behind the worker's others */
	if (copy_of) {
		b->deadline_ms = SCHED_NEVER; /* a copy is not copied again */
	} else {
		ms = (uint64_t)((double)s->c.overrun_factor * (double)w->expect_ns / 1e6) + 1;
		b->deadline_ms = now_ms + MAX(ms, (uint64_t)s->c.overrun_floor_ms);
		heap_push(s, H_DEADLINE, bi);
	}
	d->worker = w->id;
	d->job = j->id;
	d->batch = b->id;
	d->copy_of = copy_of;
	d->deadline_ms = b->deadline_ms;
}

/* Forgets batch bi: off its worker (whose slot is free again), its heap, its id. */
static void batch_end(struct sched *s, int32_t bi)
{
	struct batch *b = &s->b[bi];
	struct worker *w = &s->w[b->worker];

	if (b->wprev >= 0)
		s->b[b->wprev].wnext = b->wnext;
	else
		w->bhead = b->wnext;
	if (b->wnext >= 0)
		s->b[b->wnext].wprev = b->wprev;
	else
		w->btail = b->wprev;
	w->expect_ns -= b->expect_ns;
	w->busy--;
	w->seq = ++s->seq;
	if (w->hidx >= 0)
		heap_fix(s, H_FREE, b->worker);
	else
		heap_push(s, H_FREE, b->worker);
	s->busy--;
	s->running--;
	if (b->hidx >= 0)
		heap_remove(s, H_DEADLINE, bi);
	table_del(&s->bmap, table_find(&s->bmap, b->id, 0));
	b->used = 0;
	b->hidx = s->bfree;
	s->bfree = bi;
}

/* A copy of a query stopped running without an answer (its worker is gone). */
static void query_abandon(struct sched *s, struct job *j, uint64_t id)
{
	struct slot *e = table_find(&s->qt, id, j->id);
	struct qrec r;

	ASSERT(e);
	r = qr_get(e);
	ASSERT(r.copies > 0);
	r.copies--;
	if (r.state == Q_RUNNING && !r.copies)
		job_requeue(s, j, e, r);
	else if (r.state == Q_DONE && !r.copies && !r.inq)
		table_del(&s->qt, e);
	else
		qr_set(e, r);
}

/* A copy of a query ended with status.  Returns its verdict. */
static enum sched_verdict query_end(struct sched *s, struct job *j, uint64_t id, int status,
				    uint64_t now_ms)
{
	struct slot *e = table_find(&s->qt, id, j->id);
	struct qrec r;

	ASSERT(e);
	r = qr_get(e);
	ASSERT(r.copies > 0);
	r.copies--;
	if (r.state == Q_DONE) {
		s->duplicates++;
		if (!r.copies && !r.inq)
			table_del(&s->qt, e);
		else
			qr_set(e, r);
		return SCHED_DUP;
	}
	ASSERT(r.state == Q_RUNNING);
	if (!status) {
		r.state = Q_DONE;
		j->inflight--;
		job_count_done(s, j, now_ms);
		if (!r.copies && !r.inq)
			table_del(&s->qt, e);
		else
			qr_set(e, r);
		return SCHED_DONE;
	}
	if (r.tries < UINT16_MAX)
		r.tries++;
	if (r.copies) { /* another copy may still complete it */
		qr_set(e, r);
		return SCHED_RETRY;
	}
	if (r.tries > s->c.retry_max) {
		j->inflight--;
		j->failed++;
		table_del(&s->qt, e);
		return SCHED_FAILED;
	}
	j->retried++;
	job_requeue(s, j, e, r);
	return SCHED_RETRY;
}

/* --- decisions --------------------------------------------------------------- */

/* A copy of the first overrun batch that can have one, on another worker. */
static int pop_copy(struct sched *s, uint64_t now_ms, struct sched_dispatch *d)
{
	while (s->spec.len) {
		int32_t bi = lookup(&s->bmap, s->spec.a[s->spec.head]), wi, ji;
		struct batch *b;

		if (bi < 0 || s->b[bi].job < 0) { /* finished meanwhile, or job removed */
			dq_pop_front(&s->spec);
			continue;
		}
		b = &s->b[bi];
		wi = free_worker_except(s, b->worker);
		if (wi < 0)
			return 0; /* it waits for a slot elsewhere */
		dq_pop_front(&s->spec);
		ji = b->job;
		d->n = 0;
		for (uint16_t i = 0; i < b->n; i++) {
			struct slot *e = table_find(&s->qt, b->q[i], s->j[ji].id);
			struct qrec r = qr_get(e);

			if (r.state != Q_RUNNING)
				continue;
			r.copies++;
			qr_set(e, r);
			d->q[d->n++] = b->q[i];
		}
		if (!d->n)
			continue;
		uint64_t copy_of = b->id;
		batch_start(s, batch_alloc(s), wi, ji, copy_of, d, now_ms);
		s->speculations++;
		return 1;
	}
	return 0;
}

int sched_pop(struct sched *s, uint64_t now_ms, struct sched_dispatch *d)
{
	struct job *best = NULL;
	double from;

	/* batches overrun by now wait for a copy (in the order they overran) */
	while (s->dh.n && s->b[s->dh.a[0]].deadline_ms <= now_ms) {
		int32_t bi = s->dh.a[0];

		heap_remove(s, H_DEADLINE, bi);
		dq_push_back(&s->spec, s->b[bi].id);
	}
	if (!s->fh.n)
		return 0;
	if (pop_copy(s, now_ms, d))
		return 1;
	for (uint32_t i = 0; i < s->nj; i++)
		if (job_has_work(&s->j[i]) && (!best || s->j[i].norm < best->norm))
			best = &s->j[i];
	if (!best)
		return 0;
	from = best->norm;
	d->n = job_take(s, best, d->q, best->batch);
	ASSERT(d->n > 0);
	if (from > s->vclock)
		s->vclock = from;
	batch_start(s, batch_alloc(s), s->fh.a[0], (int32_t)(best - s->j), 0, d, now_ms);
	return 1;
}

uint64_t sched_next_deadline(const struct sched *s)
{
	return s->dh.n ? s->b[s->dh.a[0]].deadline_ms : SCHED_NEVER;
}

int sched_worker_remove(struct sched *s, uint32_t id, uint64_t now_ms)
{
	int32_t wi = lookup(&s->wmap, id), bi, prev;
	struct worker *w;
	int back = 0;

	if (wi < 0)
		return -ENOENT;
	w = &s->w[wi];
	/* newest batch first, each query last first: the oldest ends up in front */
	for (bi = w->btail; bi >= 0; bi = prev) {
		struct batch *b = &s->b[bi];

		prev = b->wprev;
		if (b->job >= 0) {
			struct job *j = &s->j[b->job];
			uint32_t queued = j->queued;

			for (int i = b->n - 1; i >= 0; i--)
				query_abandon(s, j, b->q[i]);
			back += (int)(j->queued - queued);
			if (!queued && j->queued)
				job_wake(s, j);
		}
		batch_end(s, bi);
	}
	heap_remove(s, H_FREE, wi);
	s->slots -= w->slots;
	s->nworkers--;
	table_del(&s->wmap, table_find(&s->wmap, id, 0));
	w->used = 0;
	w->hidx = s->wfree;
	s->wfree = wi;
	return back;
}

/* A result for no running batch of that worker: completed queries still
 * tracked count, nothing else changes. */
static int result_stale(struct sched *s, const struct sched_result *r, uint64_t now_ms,
			uint8_t *verdict)
{
	struct job *j = job_get(s, r->job);

	s->stale++;
	for (uint16_t i = 0; i < r->n; i++) {
		struct slot *e = j ? table_find(&s->qt, r->a[i].query, j->id) : NULL;
		struct qrec q;

		verdict[i] = SCHED_STALE;
		if (!e)
			continue;
		q = qr_get(e);
		if (q.state == Q_DONE) {
			verdict[i] = SCHED_DUP;
			s->duplicates++;
			continue;
		}
		if (r->a[i].status)
			continue;
		if (q.state == Q_QUEUED) { /* its id stays in the queue, skipped there */
			j->queued--;
			j->norm += 1 / j->weight;
		} else {
			j->inflight--; /* its running copies will come back duplicates */
		}
		q.state = Q_DONE;
		qr_set(e, q);
		job_count_done(s, j, now_ms);
		verdict[i] = SCHED_DONE;
	}
	return -ESTALE;
}

int sched_result(struct sched *s, const struct sched_result *r, uint64_t now_ms, uint8_t *verdict)
{
	int32_t bi = lookup(&s->bmap, r->batch), wi = lookup(&s->wmap, r->worker);
	struct batch *b;
	struct job *j;
	uint32_t queued;
	uint16_t n;

	if (bi < 0 || s->b[bi].worker != wi)
		return result_stale(s, r, now_ms, verdict);
	b = &s->b[bi];
	if (b->job < 0 || s->j[b->job].id != r->job) {
		if (b->job < 0) { /* its job was removed: the slot is free all the same */
			s->w[wi].batches++;
			batch_end(s, bi);
		}
		return result_stale(s, r, now_ms, verdict);
	}
	j = &s->j[b->job];
	n = b->n;
	for (uint16_t i = 0; i < r->n; i++)
		verdict[i] = SCHED_STALE; /* an answer for no query of the batch */
	if (r->service_ns && n) {
		double sample = (double)r->service_ns / n;

		if (!j->measured)
			j->cost_ns = sample;
		else
			j->cost_ns += (sample - j->cost_ns) / s->c.cost_ewma_div;
		j->measured = 1;
	}
	worker_share_add(s, &s->w[wi], j->id, j->cost_ns * n, now_ms);
	s->w[wi].batches++;

	/* last query first, so that retried ones keep their order at the front */
	queued = j->queued;
	for (int i = n - 1; i >= 0; i--) {
		int k = i < r->n && r->a[i].query == b->q[i] ? i : -1;
		int status = -EIO; /* left out of the result: failed */

		for (int m = 0; k < 0 && m < r->n; m++)
			if (r->a[m].query == b->q[i])
				k = m;
		if (k >= 0)
			status = r->a[k].status;
		enum sched_verdict v = query_end(s, j, b->q[i], status, now_ms);
		if (k >= 0)
			verdict[k] = (uint8_t)v;
	}
	if (!queued && j->queued)
		job_wake(s, j);
	batch_end(s, bi);
	return 0;
}

/* --- reports ------------------------------------------------------------------ */

static void job_fill(const struct sched *s, const struct job *j, uint64_t now_ms,
		     struct sched_job_info *o)
{
	*o = (struct sched_job_info){.id = j->id,
				     .weight = j->weight,
				     .batch = j->batch,
				     .stopped = j->stopped,
				     .queued = j->queued,
				     .inflight = j->inflight,
				     .completed = j->completed,
				     .failed = j->failed,
				     .retried = j->retried,
				     .rate = job_rate(s, j, now_ms),
				     .cost_ns = (uint64_t)j->cost_ns,
				     .norm = j->norm};
}

int sched_job_info(const struct sched *s, uint32_t id, uint64_t now_ms, struct sched_job_info *out)
{
	const struct job *j = job_get(s, id);

	if (!j)
		return -ENOENT;
	job_fill(s, j, now_ms, out);
	return 0;
}

int sched_jobs(const struct sched *s, uint64_t now_ms, struct sched_job_info *out, int max)
{
	int n = 0;

	for (uint32_t i = 0; i < s->nj; i++) {
		if (!s->j[i].used)
			continue;
		if (n < max)
			job_fill(s, &s->j[i], now_ms, &out[n]);
		n++;
	}
	return n;
}

static int share_cmp(const void *a, const void *b)
{
	double x = ((const struct sched_share *)a)->share,
	       y = ((const struct sched_share *)b)->share;

	return x < y ? 1 : x > y ? -1 : 0;
}

static void worker_fill(const struct sched *s, const struct worker *w, uint64_t now_ms,
			struct sched_worker_info *o)
{
	struct worker c = *w;
	double sum = 0;

	worker_share_decay(s, &c, now_ms);
	*o = (struct sched_worker_info){
		.id = w->id, .slots = w->slots, .busy = w->busy, .batches = w->batches};
	for (uint16_t i = 0; i < c.nshare; i++)
		sum += c.share[i].ns;
	for (uint16_t i = 0; i < c.nshare && sum > 0; i++)
		if (c.share[i].ns / sum >= 1e-4)
			o->share[o->nshare++] = (struct sched_share){.job = c.share[i].job,
								     .share = c.share[i].ns / sum};
	qsort(o->share, o->nshare, sizeof(o->share[0]), share_cmp);
}

int sched_worker_info(const struct sched *s, uint32_t id, uint64_t now_ms,
		      struct sched_worker_info *out)
{
	int32_t wi = lookup(&s->wmap, id);

	if (wi < 0)
		return -ENOENT;
	worker_fill(s, &s->w[wi], now_ms, out);
	return 0;
}

int sched_workers(const struct sched *s, uint64_t now_ms, struct sched_worker_info *out, int max)
{
	int n = 0;

	for (uint32_t i = 0; i < s->nw; i++) {
		if (!s->w[i].used)
			continue;
		if (n < max)
			worker_fill(s, &s->w[i], now_ms, &out[n]);
		n++;
	}
	return n;
}

void sched_stats(const struct sched *s, struct sched_stats *out)
{
	*out = (struct sched_stats){.workers = s->nworkers,
				    .jobs = s->njobs,
				    .slots = s->slots,
				    .free_slots = s->slots - s->busy,
				    .running = s->running,
				    .tracked = s->qt.n,
				    .decisions = s->decisions,
				    .speculations = s->speculations,
				    .duplicates = s->duplicates,
				    .stale = s->stale};
	for (uint32_t i = 0; i < s->nj; i++)
		if (s->j[i].used && !s->j[i].stopped)
			out->waiting += s->j[i].queued;
}
