/*
 * submit_wire.c - the submission messages' codecs (see submit_wire.h).
 */
#include "tasks/submit_wire.h"

#include "wire/wire_codec.h"

#include <errno.h>
#include <string.h>

const char *const sub_status_names[SUB_STATUS_MAX] = {"accepted",	 "pending", "answered",
						      "answered-stored", "busy",    "bad-image",
						      "no-job",		 "stopped"};

static int name_ok(const char *s, size_t n)
{
	char err[8];

	return dataset_image_name_check(s, n, err, sizeof(err)) == 0;
}

int sub_submit_encode(const struct sub_submit *m, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {.p = buf, .cap = cap};

	if (m->n < 1 || m->n > SUB_Q_MAX)
		return -EINVAL;
	wire_put_u8(&b, SUB_SUBMIT);
	wire_put_u32(&b, m->tag);
	wire_put_u16(&b, m->n);
	for (int i = 0; i < m->n; i++) {
		const struct sub_query *q = &m->q[i];
		size_t n = strnlen(q->name, sizeof(q->name));
		if (q->cqid == UINT64_MAX || q->by_name > 1 || (q->by_name && !name_ok(q->name, n)))
			return -EINVAL;
		wire_put_u64(&b, q->cqid);
		wire_put_u8(&b, q->by_name);
		if (q->by_name) {
			wire_put_u8(&b, (uint8_t)n);
			wire_put_bytes(&b, q->name, n);
		} else {
			wire_put_u32(&b, q->image);
		}
	}
	return b.err ? -EMSGSIZE : (int)b.len;
}

int sub_submit_decode(const uint8_t *p, size_t len, struct sub_submit *m)
{
	struct wire_rd r = {.p = p, .len = len};
	int type = wire_get_u8(&r);

	m->tag = wire_get_u32(&r);
	m->n = wire_get_u16(&r);
	if (r.err || type != SUB_SUBMIT || m->n < 1 || m->n > SUB_Q_MAX)
		return -EINVAL;
	for (int i = 0; i < m->n && !r.err; i++) {
		struct sub_query *q = &m->q[i];
		q->cqid = wire_get_u64(&r);
		q->by_name = wire_get_u8(&r);
		q->image = 0;
		q->name[0] = '\0';
		if (q->by_name == 1) {
			size_t n = wire_get_u8(&r);
			const uint8_t *s = wire_get_bytes(&r, n);
			if (!s || !name_ok((const char *)s, n))
				return -EINVAL;
			memcpy(q->name, s, n);
			q->name[n] = '\0';
		} else if (q->by_name == 0) {
			q->image = wire_get_u32(&r);
		} else {
			return -EINVAL;
		}
		if (q->cqid == UINT64_MAX)
			return -EINVAL;
	}
	return r.err || r.off != len ? -EINVAL : 0;
}

int sub_ack_encode(const struct sub_ack *m, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {.p = buf, .cap = cap};

	if (m->n < 1 || m->n > SUB_Q_MAX)
		return -EINVAL;
	wire_put_u8(&b, SUB_ACK);
	wire_put_u32(&b, m->tag);
	wire_put_u16(&b, m->n);
	for (int i = 0; i < m->n; i++) {
		if (m->status[i] >= SUB_STATUS_MAX)
			return -EINVAL;
		wire_put_u64(&b, m->cqid[i]);
		wire_put_u8(&b, m->status[i]);
	}
	return b.err ? -EMSGSIZE : (int)b.len;
}

int sub_ack_decode(const uint8_t *p, size_t len, struct sub_ack *m)
{
	struct wire_rd r = {.p = p, .len = len};
	int type = wire_get_u8(&r);

	m->tag = wire_get_u32(&r);
	m->n = wire_get_u16(&r);
	if (r.err || type != SUB_ACK || m->n < 1 || m->n > SUB_Q_MAX)
		return -EINVAL;
	for (int i = 0; i < m->n; i++) {
		m->cqid[i] = wire_get_u64(&r);
		m->status[i] = wire_get_u8(&r);
		if (m->status[i] >= SUB_STATUS_MAX)
			return -EINVAL;
	}
	return r.err || r.off != len ? -EINVAL : 0;
}

static int result_ok(const struct sub_result *x)
{
	if (x->cqid == UINT64_MAX || x->a.status > 0)
		return 0;
	if (x->a.status == 0)
		for (int k = 0; k < COORD_TOP; k++)
			if (x->a.cls[k] >= 1000 || !(x->a.prob[k] >= 0.0f && x->a.prob[k] <= 1.0f))
				return 0;
	return 1;
}

int sub_results_encode(const struct sub_results *m, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {.p = buf, .cap = cap};

	if (m->n < 1 || m->n > SUB_Q_MAX)
		return -EINVAL;
	wire_put_u8(&b, SUB_RESULT);
	wire_put_u16(&b, m->n);
	for (int i = 0; i < m->n; i++) {
		const struct sub_result *x = &m->r[i];
		if (!result_ok(x))
			return -EINVAL;
		wire_put_u64(&b, x->cqid);
		wire_put_u64(&b, x->a.qid);
		wire_put_u32(&b, x->image);
		wire_put_u32(&b, (uint32_t)x->a.status);
		wire_put_addr(&b, x->a.worker);
		wire_put_u64(&b, x->a.service_ns);
		for (int k = 0; k < COORD_TOP; k++) {
			wire_put_u16(&b, x->a.cls[k]);
			wire_put_f32(&b, x->a.prob[k]);
		}
	}
	return b.err ? -EMSGSIZE : (int)b.len;
}

int sub_results_decode(const uint8_t *p, size_t len, struct sub_results *m)
{
	struct wire_rd r = {.p = p, .len = len};
	int type = wire_get_u8(&r);

	m->n = wire_get_u16(&r);
	if (r.err || type != SUB_RESULT || m->n < 1 || m->n > SUB_Q_MAX)
		return -EINVAL;
	for (int i = 0; i < m->n && !r.err; i++) {
		struct sub_result *x = &m->r[i];
		memset(x, 0, sizeof(*x));
		x->cqid = wire_get_u64(&r);
		x->a.qid = wire_get_u64(&r);
		x->image = wire_get_u32(&r);
		x->a.status = (int32_t)wire_get_u32(&r);
		x->a.worker = wire_get_addr(&r);
		x->a.service_ns = wire_get_u64(&r);
		for (int k = 0; k < COORD_TOP; k++) {
			x->a.cls[k] = wire_get_u16(&r);
			x->a.prob[k] = wire_get_f32(&r);
		}
		if (!r.err && !result_ok(x))
			return -EINVAL;
	}
	return r.err || r.off != len ? -EINVAL : 0;
}
