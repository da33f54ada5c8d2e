/*
 * coord_snapshot.c - the coordinator state's canonical snapshot
 * (coord_log.h): encode, and decode, which refuses anything that does not
 * re-encode to the same bytes.
 */
#include "tasks/coord_log_int.h"

#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SNAP_MAGIC "IDCS"

static size_t idset_size(const struct coord_idset *s)
{
	return 20 + 8 * (size_t)s->out.n;
}

static void put_idset(struct wire_buf *b, const struct coord_idset *s)
{
	uint64_t *k = coord_map_sorted_keys(&s->out);

	wire_put_u64(b, s->lo);
	wire_put_u64(b, s->below);
	wire_put_u32(b, s->out.n);
	for (uint32_t i = 0; i < s->out.n; i++)
		wire_put_u64(b, k[i]);
	free(k);
}

/* An idset; canonical: ids outside the range ascending and not next to it. */
static void get_idset(struct wire_rd *r, struct coord_idset *s)
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
		if ((i && x <= prev) || (x + 1 >= s->lo && x <= s->below) || x == COORD_MAP_EMPTY)
			r->err = 1;
		prev = x;
		if (!r->err)
			coord_map_put(&s->out, x, 0);
	}
}

/* A job's latency: by_src[], count, sum, then the non-empty buckets as
 * (u16 index, u64 count), ascending. */
static void put_latency(struct wire_buf *b, const struct coord_latency *l)
{
	uint16_t n = 0;

	for (int k = 0; k < TASK_LAT_SRC_MAX; k++)
		wire_put_u64(b, l->by_src[k]);
	wire_put_u64(b, l->h.count);
	wire_put_u64(b, l->h.sum);
	for (unsigned i = 0; i < HIST_NBUCKETS; i++)
		n += l->h.b[i] != 0;
	wire_put_u16(b, n);
	for (unsigned i = 0; i < HIST_NBUCKETS; i++)
		if (l->h.b[i]) {
			wire_put_u16(b, (uint16_t)i);
			wire_put_u64(b, l->h.b[i]);
		}
}

/* Canonical: buckets ascending and non-empty, their counts and by_src[]
 * adding up to count, which is the job's answers with status 0. */
static void get_latency(struct wire_rd *r, struct coord_latency *l, uint64_t ok_answers)
{
	uint64_t total = 0, by = 0;
	uint16_t n;

	for (int k = 0; k < TASK_LAT_SRC_MAX; k++) {
		l->by_src[k] = wire_get_u64(r);
		by += l->by_src[k];
	}
	l->h.count = wire_get_u64(r);
	l->h.sum = wire_get_u64(r);
	n = wire_get_u16(r);
	if (r->err || n > HIST_NBUCKETS || l->h.count != ok_answers || by != l->h.count) {
		r->err = 1;
		return;
	}
	for (uint16_t i = 0, prev = 0; i < n && !r->err; i++) {
		uint16_t ix = wire_get_u16(r);
		uint64_t c = wire_get_u64(r);
		if (ix >= HIST_NBUCKETS || (i && ix <= prev) || c == 0 || c > l->h.count - total) {
			r->err = 1;
			return;
		}
		l->h.b[ix] = c;
		total += c;
		prev = ix;
	}
	if (total != l->h.count)
		r->err = 1;
}

static void put_result(struct wire_buf *b, const struct coord_result *x)
{
	wire_put_u64(b, x->rseq);
	wire_put_u64(b, x->client);
	wire_put_u64(b, x->cqid);
	wire_put_u32(b, x->image);
	coord_put_answer(b, &x->a);
}

static void put_job(struct wire_buf *b, const struct coord_job *j)
{
	struct coord_pending *p = NULL;

	coord_put_settings(b, &j->set);
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
	put_latency(b, &j->lat);
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
		qsort(p, j->npend, sizeof(*p), coord_pending_cmp);
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

static size_t job_size(const struct coord_job *j)
{
	size_t n = 256 + 10 * HIST_NBUCKETS + idset_size(&j->done_ds) + idset_size(&j->done_cl);

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

static void get_job(struct wire_rd *r, struct coord_job *j)
{
	uint32_t n;
	uint64_t nlog;

	coord_get_settings(r, &j->set);
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
	if (j->failed > j->answered) {
		r->err = 1;
		return;
	}
	get_latency(r, &j->lat, j->answered - j->failed);
	get_idset(r, &j->done_ds);
	get_idset(r, &j->done_cl);
	if (r->err || !coord_settings_ok(&j->set) || j->stopped > 1) {
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
		struct coord_client *c;
		if (i && id <= j->clients[i - 1].id)
			r->err = 1;
		c = coord_client_insert(j, j->nclients, id);
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
		uint32_t pos = coord_client_pos(j, p.client, &found);
		/* a client's query, given an id, accepted and not answered */
		if ((i && p.qid <= j->pend[i - 1].qid) || !(p.qid & COORD_QID_CLIENT) ||
		    (p.qid & ~COORD_QID_CLIENT) >= j->next_client || p.image >= j->set.images ||
		    !found || !coord_idset_has(&j->clients[pos].accepted, p.cqid) ||
		    coord_idset_has(&j->clients[pos].answered, p.cqid) ||
		    coord_idset_has(&j->done_cl, p.qid & ~COORD_QID_CLIENT))
			r->err = 1;
		else
			coord_pend_add(j, &p);
	}
	nlog = wire_get_u64(r);
	if (r->err || nlog > (r->len - r->off) / 85 || nlog != j->rseq - j->persisted ||
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
		coord_get_answer(r, &x.a);
		if (x.rseq != j->persisted + 1 + i || !coord_answer_ok(&x.a) ||
		    x.image >= j->set.images)
			r->err = 1;
		else
			coord_job_log_append(j, &x);
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
		struct coord_job *j = &s->jobs[s->njobs++];
		get_job(&r, j);
		if (!r.err && (coord_job_find(s, j->set.id) != j || j->num == 0 ||
			       j->num > s->launched || (i && j->num <= s->jobs[i - 1].num)))
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
