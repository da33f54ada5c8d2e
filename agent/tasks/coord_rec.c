/*
 * coord_rec.c - the coordinator's records (coord_log.h): the type names,
 * job ids, the field range checks that decode, apply and snapshot decode
 * share, and the record codec (with the settings and answer encodings
 * snapshots reuse).
 */
#include "tasks/coord_log_int.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

const char *const coord_rec_type_names[COORD_REC_TYPE_MAX] = {
	"none",	   "job_launch", "job_stop", "job_batch", "queries_accepted",
	"results", "epoch",	 "persisted"};

/* ---- job ids and field checks ---- */

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

int coord_settings_ok(const struct coord_job_settings *j)
{
	return coord_job_id_check(j->id) == 0 && name_ok(j->model) && name_ok(j->dataset) &&
	       j->images >= 1 && j->batch >= 1 && j->batch <= COORD_BATCH_MAX &&
	       isfinite(j->weight) && j->weight > 0 && j->weight <= COORD_WEIGHT_MAX &&
	       !(j->flags & ~(COORD_JOB_LOOP | COORD_JOB_CLIENT)) &&
	       (j->flags & (COORD_JOB_LOOP | COORD_JOB_CLIENT)) !=
		       (COORD_JOB_LOOP | COORD_JOB_CLIENT);
}

int coord_answer_ok(const struct coord_answer *a)
{
	if (a->qid == UINT64_MAX || a->status > 0 || a->worker.ip == 0 ||
	    a->lat_src >= TASK_LAT_SRC_MAX)
		return 0;
	if (a->status == 0)
		for (int k = 0; k < COORD_TOP; k++)
			if (a->cls[k] >= 1000 || !(a->prob[k] >= 0.0f && a->prob[k] <= 1.0f))
				return 0;
	return 1;
}

/* Whether r's fields are in range (what decode checks, what apply rechecks). */
int coord_rec_ok(const struct coord_rec *r)
{
	if (r->seq == 0)
		return 0;
	if (r->type != COORD_REC_EPOCH && coord_job_id_check(r->job))
		return 0;
	switch (r->type) {
	case COORD_REC_JOB_LAUNCH:
		return coord_settings_ok(&r->u.launch) && !strcmp(r->u.launch.id, r->job);
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
			if (!coord_answer_ok(&r->u.results.a[i]))
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

void coord_put_settings(struct wire_buf *b, const struct coord_job_settings *j)
{
	wire_put_str(b, j->id, 255);
	wire_put_str(b, j->model, 255);
	wire_put_u64(b, j->model_version);
	wire_put_str(b, j->dataset, 255);
	wire_put_u64(b, j->index_version);
	wire_put_u32(b, j->images);
	wire_put_u16(b, j->batch);
	wire_put_f64(b, j->weight);
	wire_put_u8(b, j->flags);
}

void coord_get_settings(struct wire_rd *r, struct coord_job_settings *j)
{
	wire_get_str(r, j->id, sizeof(j->id), 0);
	wire_get_str(r, j->model, sizeof(j->model), 0);
	j->model_version = wire_get_u64(r);
	wire_get_str(r, j->dataset, sizeof(j->dataset), 0);
	j->index_version = wire_get_u64(r);
	j->images = wire_get_u32(r);
	j->batch = wire_get_u16(r);
	j->weight = wire_get_f64(r);
	j->flags = wire_get_u8(r);
}

void coord_put_answer(struct wire_buf *b, const struct coord_answer *a)
{
	wire_put_u64(b, a->qid);
	wire_put_addr(b, a->worker);
	wire_put_u32(b, (uint32_t)a->status);
	wire_put_u64(b, a->service_ns);
	wire_put_u8(b, a->lat_src);
	wire_put_u64(b, a->done_ms);
	for (int k = 0; k < COORD_TOP; k++) {
		wire_put_u16(b, a->cls[k]);
		wire_put_f32(b, a->prob[k]);
	}
}

void coord_get_answer(struct wire_rd *r, struct coord_answer *a)
{
	a->qid = wire_get_u64(r);
	a->worker = wire_get_addr(r);
	a->status = (int32_t)wire_get_u32(r);
	a->service_ns = wire_get_u64(r);
	a->lat_src = wire_get_u8(r);
	a->done_ms = wire_get_u64(r);
	for (int k = 0; k < COORD_TOP; k++) {
		a->cls[k] = wire_get_u16(r);
		a->prob[k] = wire_get_f32(r);
	}
}

int coord_rec_encode(const struct coord_rec *r, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {buf, 0, cap, 0};

	if (r->type < 1 || r->type >= COORD_REC_TYPE_MAX || !coord_rec_ok(r))
		return -EINVAL;
	wire_put_u8(&b, COORD_LOG_VERSION);
	wire_put_u8(&b, r->type);
	wire_put_u64(&b, r->seq);
	if (r->type != COORD_REC_EPOCH)
		wire_put_str(&b, r->job, 255);
	switch (r->type) {
	case COORD_REC_JOB_LAUNCH:
		coord_put_settings(&b, &r->u.launch);
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
			coord_put_answer(&b, &r->u.results.a[i]);
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
		wire_get_str(&rd, r->job, sizeof(r->job), 0);
	switch (r->type) {
	case COORD_REC_JOB_LAUNCH:
		coord_get_settings(&rd, &r->u.launch);
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
			coord_get_answer(&rd, &r->u.results.a[i]);
		break;
	case COORD_REC_EPOCH:
		r->u.epoch.epoch = wire_get_u64(&rd);
		r->u.epoch.coordinator = wire_get_addr(&rd);
		break;
	case COORD_REC_PERSISTED:
		r->u.persisted = wire_get_u64(&rd);
		break;
	}
	return !rd.err && rd.off == rd.len && coord_rec_ok(r) ? 0 : -EINVAL;
}
