/*
 * task_wire.c - the task protocol's codecs (see task_wire.h).
 */
#include "tasks/task_wire.h"

#include <errno.h>
#include <string.h>

const char *const task_lat_src_names[TASK_LAT_SRC_MAX] = {"ring", "bpf"};

/* ---- fields ---- */

static int done(const struct wire_buf *b)
{
	return b->err ? -EMSGSIZE : (int)b->len;
}

/* The reader started at the type byte want, and ended exactly at the end. */
static int check(const struct wire_rd *r, int type_ok)
{
	return !r->err && type_ok && r->off == r->len ? 0 : -EINVAL;
}

/* ---- messages ---- */

int task_hello_encode(const struct task_hello *m, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {buf, 0, cap, 0};

	wire_put_u8(&b, TASK_HELLO);
	wire_put_u64(&b, m->epoch);
	wire_put_addr(&b, m->coordinator);
	wire_put_addr(&b, m->standby);
	return done(&b);
}

int task_hello_decode(const uint8_t *p, size_t len, struct task_hello *m)
{
	struct wire_rd r = {p, len, 0, 0};
	int type = wire_get_u8(&r);

	m->epoch = wire_get_u64(&r);
	m->coordinator = wire_get_addr(&r);
	m->standby = wire_get_addr(&r);
	return check(&r, type == TASK_HELLO && m->epoch > 0);
}

int task_welcome_encode(const struct task_welcome *m, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {buf, 0, cap, 0};

	wire_put_u8(&b, TASK_WELCOME);
	wire_put_u32(&b, (uint32_t)m->status);
	wire_put_u64(&b, m->epoch);
	wire_put_u16(&b, m->slots);
	wire_put_u8(&b, m->engine_ok);
	wire_put_u8(&b, m->lat_src);
	return done(&b);
}

int task_welcome_decode(const uint8_t *p, size_t len, struct task_welcome *m)
{
	struct wire_rd r = {p, len, 0, 0};
	int type = wire_get_u8(&r);

	m->status = (int32_t)wire_get_u32(&r);
	m->epoch = wire_get_u64(&r);
	m->slots = wire_get_u16(&r);
	m->engine_ok = wire_get_u8(&r);
	m->lat_src = wire_get_u8(&r);
	return check(&r, type == TASK_WELCOME && m->status <= 0 && m->lat_src < TASK_LAT_SRC_MAX &&
				 m->engine_ok <= 1);
}

int task_dispatch_encode(const struct task_dispatch *m, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {buf, 0, cap, 0};

	if (m->n == 0 || m->n > TASK_BATCH_MAX || (m->flags & ~TASK_DISPATCH_FLAGS))
		return -EINVAL;
	wire_put_u8(&b, TASK_DISPATCH);
	wire_put_u64(&b, m->epoch);
	wire_put_u64(&b, m->batch);
	wire_put_u32(&b, m->job);
	wire_put_str(&b, m->model, TASK_NAME_MAX);
	wire_put_u64(&b, m->model_version);
	wire_put_str(&b, m->dataset, TASK_NAME_MAX);
	wire_put_u64(&b, m->index_version);
	wire_put_u16(&b, m->n);
	for (int i = 0; i < m->n; i++) {
		wire_put_u64(&b, m->q[i].id);
		wire_put_u32(&b, m->q[i].shard);
		wire_put_u32(&b, m->q[i].image);
	}
	if (m->flags)
		wire_put_u8(&b, m->flags);
	return done(&b);
}

int task_dispatch_decode(const uint8_t *p, size_t len, struct task_dispatch *m)
{
	struct wire_rd r = {p, len, 0, 0};
	int type = wire_get_u8(&r);

	m->epoch = wire_get_u64(&r);
	m->batch = wire_get_u64(&r);
	m->job = wire_get_u32(&r);
	wire_get_str(&r, m->model, sizeof(m->model), 1);
	m->model_version = wire_get_u64(&r);
	wire_get_str(&r, m->dataset, sizeof(m->dataset), 1);
	m->index_version = wire_get_u64(&r);
	m->n = wire_get_u16(&r);
	if (m->n == 0 || m->n > TASK_BATCH_MAX)
		return -EINVAL;
	for (int i = 0; i < m->n; i++) {
		m->q[i].id = wire_get_u64(&r);
		m->q[i].shard = wire_get_u32(&r);
		m->q[i].image = wire_get_u32(&r);
	}
	/* the flags byte: absent means none; present, it is not 0 (one encoding
	 * each) and names only known flags */
	m->flags = 0;
	if (!r.err && r.off < r.len) {
		m->flags = wire_get_u8(&r);
		if (!m->flags || (m->flags & ~TASK_DISPATCH_FLAGS))
			return -EINVAL;
	}
	return check(&r, type == TASK_DISPATCH && m->epoch > 0 && m->model[0] && m->dataset[0]);
}

int task_result_encode(const struct task_result *m, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {buf, 0, cap, 0};

	if (m->n > TASK_BATCH_MAX || m->lat_src >= TASK_LAT_SRC_MAX)
		return -EINVAL;
	wire_put_u8(&b, TASK_RESULT);
	wire_put_u64(&b, m->epoch);
	wire_put_u64(&b, m->batch);
	wire_put_u32(&b, m->job);
	wire_put_u8(&b, m->lat_src);
	wire_put_u16(&b, m->n);
	for (int i = 0; i < m->n; i++) {
		const struct task_answer *a = &m->a[i];
		wire_put_u64(&b, a->id);
		wire_put_u32(&b, (uint32_t)a->status);
		wire_put_u64(&b, a->service_ns);
		wire_put_u64(&b, a->wait_ns);
		for (int k = 0; k < TASK_TOP; k++) {
			wire_put_u16(&b, a->cls[k]);
			wire_put_f32(&b, a->prob[k]);
		}
	}
	return done(&b);
}

int task_result_decode(const uint8_t *p, size_t len, struct task_result *m)
{
	struct wire_rd r = {p, len, 0, 0};
	int type = wire_get_u8(&r), ok = 1;

	m->epoch = wire_get_u64(&r);
	m->batch = wire_get_u64(&r);
	m->job = wire_get_u32(&r);
	m->lat_src = wire_get_u8(&r);
	m->n = wire_get_u16(&r);
	if (m->n > TASK_BATCH_MAX)
		return -EINVAL;
	for (int i = 0; i < m->n; i++) {
		struct task_answer *a = &m->a[i];
		a->id = wire_get_u64(&r);
		a->status = (int32_t)wire_get_u32(&r);
		a->service_ns = wire_get_u64(&r);
		a->wait_ns = wire_get_u64(&r);
		for (int k = 0; k < TASK_TOP; k++) {
			a->cls[k] = wire_get_u16(&r);
			a->prob[k] = wire_get_f32(&r);
			/* a class is one of 1000, a probability is in [0, 1]; a
			 * failed query's top-5 is not read */
			if (a->status == 0 &&
			    (a->cls[k] >= 1000 || !(a->prob[k] >= 0.0f && a->prob[k] <= 1.0f)))
				ok = 0;
		}
		if (a->status > 0)
			ok = 0;
	}
	return check(&r, type == TASK_RESULT && m->lat_src < TASK_LAT_SRC_MAX && ok);
}

int task_refuse_encode(const struct task_refuse *m, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {buf, 0, cap, 0};
	size_t n = strnlen(m->reason, sizeof(m->reason) - 1);

	wire_put_u8(&b, TASK_REFUSE);
	wire_put_u64(&b, m->epoch);
	wire_put_u64(&b, m->batch);
	wire_put_u32(&b, (uint32_t)m->error);
	wire_put_u8(&b, (uint8_t)n);
	wire_put_bytes(&b, m->reason, n);
	return m->error < 0 ? done(&b) : -EINVAL;
}

int task_refuse_decode(const uint8_t *p, size_t len, struct task_refuse *m)
{
	struct wire_rd r = {p, len, 0, 0};
	int type = wire_get_u8(&r);

	m->epoch = wire_get_u64(&r);
	m->batch = wire_get_u64(&r);
	m->error = (int32_t)wire_get_u32(&r);
	wire_get_str(&r, m->reason, sizeof(m->reason), 1);
	return check(&r, type == TASK_REFUSE && m->error < 0);
}
