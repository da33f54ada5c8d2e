/*
 * Description: the submission messages' codecs (agent/tasks/submit_wire.c):
 * SUBMIT (by index and by name), ACK and RESULT round-trip with their
 * fields; every prefix (truncated), a trailing byte, another type, n of 0
 * or above 256, an unknown query kind, a bad image name, a cqid of
 * UINT64_MAX, an ACK status, a RESULT status above 0, a class of 1000 or
 * a probability outside [0, 1] are refused; 100000 random and mutated
 * inputs never crash a decoder (run under ASan/UBSan once).
 */
#include "check.h"
#include "tasks/submit_wire.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint8_t buf[SUB_SUBMIT_MAX + 16];

static unsigned long long rnd(unsigned long long *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

static void submit_fill(struct sub_submit *m, int n)
{
	memset(m, 0, sizeof(*m));
	m->tag = 77;
	m->n = (uint16_t)n;
	for (int i = 0; i < n; i++) {
		m->q[i].cqid = 1000 + (uint64_t)i;
		m->q[i].by_name = (uint8_t)(i % 2);
		if (i % 2)
			snprintf(m->q[i].name, sizeof(m->q[i].name), "img-%04d.jpg", i);
		else
			m->q[i].image = (uint32_t)i * 3;
	}
}

static void results_fill(struct sub_results *m, int n)
{
	memset(m, 0, sizeof(*m));
	m->n = (uint16_t)n;
	for (int i = 0; i < n; i++) {
		struct sub_result *r = &m->r[i];
		r->cqid = (uint64_t)i * 7;
		r->image = (uint32_t)i;
		r->a.qid = COORD_QID_CLIENT | (uint64_t)i;
		r->a.worker = (struct wire_addr){0x7f000002, 4000};
		r->a.status = i == 3 ? -EIO : 0;
		r->a.service_ns = 12345678 + (uint64_t)i;
		for (int k = 0; k < COORD_TOP && !r->a.status; k++) {
			r->a.cls[k] = (uint16_t)(999 - k);
			r->a.prob[k] = 0.5f / (float)(k + 1);
		}
	}
}

static void test_submit(void)
{
	struct sub_submit *m = malloc(sizeof(*m)), *o = malloc(sizeof(*o));
	int n;

	submit_fill(m, SUB_Q_MAX);
	n = sub_submit_encode(m, buf, sizeof(buf));
	REQUIRE(n > 0, "encode: %d", n);
	CHECK(sub_submit_decode(buf, (size_t)n, o) == 0, "decode");
	CHECK(o->tag == 77 && o->n == SUB_Q_MAX, "header");
	for (int i = 0; i < SUB_Q_MAX; i++)
		CHECK(o->q[i].cqid == m->q[i].cqid && o->q[i].by_name == m->q[i].by_name &&
			      o->q[i].image == m->q[i].image && !strcmp(o->q[i].name, m->q[i].name),
		      "query %d", i);
	submit_fill(m, 3);
	n = sub_submit_encode(m, buf, sizeof(buf));
	for (int k = 0; k < n; k++)
		CHECK(sub_submit_decode(buf, (size_t)k, o) == -EINVAL, "prefix %d", k);
	buf[n] = 0;
	CHECK(sub_submit_decode(buf, (size_t)n + 1, o) == -EINVAL, "trailing byte");
	buf[0] = SUB_ACK;
	CHECK(sub_submit_decode(buf, (size_t)n, o) == -EINVAL, "another type");
	buf[0] = SUB_SUBMIT;
	buf[15] = 2; /* query 0's kind */
	CHECK(sub_submit_decode(buf, (size_t)n, o) == -EINVAL, "kind 2");
	/* out of range on encode, and the same bytes forged are refused on decode */
	m->n = 0;
	CHECK(sub_submit_encode(m, buf, sizeof(buf)) == -EINVAL, "n 0");
	m->n = SUB_Q_MAX + 1;
	CHECK(sub_submit_encode(m, buf, sizeof(buf)) == -EINVAL, "n 257");
	submit_fill(m, 2);
	m->q[1].cqid = UINT64_MAX;
	CHECK(sub_submit_encode(m, buf, sizeof(buf)) == -EINVAL, "cqid UINT64_MAX");
	submit_fill(m, 2);
	strcpy(m->q[1].name, "a/b");
	CHECK(sub_submit_encode(m, buf, sizeof(buf)) == -EINVAL, "a name with a slash");
	submit_fill(m, 2);
	n = sub_submit_encode(m, buf, sizeof(buf));
	buf[7 + 8 + 1 + 4 + 8 + 1 + 1] = '/'; /* query 1's name, first byte */
	CHECK(sub_submit_decode(buf, (size_t)n, o) == -EINVAL, "a forged name with a slash");
	n = sub_submit_encode(m, buf, sizeof(buf));
	memset(buf + 7, 0xff, 8);
	CHECK(sub_submit_decode(buf, (size_t)n, o) == -EINVAL, "a forged cqid UINT64_MAX");
	buf[5] = 0;
	buf[6] = 0;
	CHECK(sub_submit_decode(buf, 7, o) == -EINVAL, "a forged n 0");
	CHECK(sub_submit_encode(m, buf, 20) == -EMSGSIZE, "cap too small");
	free(m);
	free(o);
}

static void test_ack(void)
{
	struct sub_ack m = {.tag = 9, .n = SUB_STATUS_MAX}, o;
	int n;

	for (int i = 0; i < m.n; i++) {
		m.cqid[i] = (uint64_t)i << 40;
		m.status[i] = (uint8_t)i;
	}
	n = sub_ack_encode(&m, buf, sizeof(buf));
	REQUIRE(n == 7 + 9 * SUB_STATUS_MAX, "encode: %d", n);
	CHECK(sub_ack_decode(buf, (size_t)n, &o) == 0 && o.tag == 9 && o.n == m.n &&
		      !memcmp(o.cqid, m.cqid, m.n * sizeof(*m.cqid)) &&
		      !memcmp(o.status, m.status, m.n),
	      "round trip");
	for (int k = 0; k < n; k++)
		CHECK(sub_ack_decode(buf, (size_t)k, &o) == -EINVAL, "prefix %d", k);
	buf[n] = 0;
	CHECK(sub_ack_decode(buf, (size_t)n + 1, &o) == -EINVAL, "trailing byte");
	buf[n - 1] = SUB_STATUS_MAX;
	CHECK(sub_ack_decode(buf, (size_t)n, &o) == -EINVAL, "status out of range");
	m.status[0] = SUB_STATUS_MAX;
	CHECK(sub_ack_encode(&m, buf, sizeof(buf)) == -EINVAL, "encode status out of range");
	m.n = 0;
	CHECK(sub_ack_encode(&m, buf, sizeof(buf)) == -EINVAL, "n 0");
	CHECK(!strcmp(sub_status_names[SUB_BUSY], "busy"), "names");
}

static void test_results(void)
{
	struct sub_results *m = malloc(sizeof(*m)), *o = malloc(sizeof(*o));
	int n;

	results_fill(m, SUB_Q_MAX);
	n = sub_results_encode(m, buf, sizeof(buf));
	REQUIRE(n == 3 + 68 * SUB_Q_MAX && n <= SUB_RESULT_MAX, "encode: %d", n);
	CHECK(sub_results_decode(buf, (size_t)n, o) == 0, "decode");
	CHECK(o->n == m->n && !memcmp(o->r, m->r, m->n * sizeof(*m->r)), "round trip");
	results_fill(m, 2);
	n = sub_results_encode(m, buf, sizeof(buf));
	for (int k = 0; k < n; k++)
		CHECK(sub_results_decode(buf, (size_t)k, o) == -EINVAL, "prefix %d", k);
	buf[n] = 0;
	CHECK(sub_results_decode(buf, (size_t)n + 1, o) == -EINVAL, "trailing byte");
	results_fill(m, 1);
	m->r[0].a.status = 5;
	CHECK(sub_results_encode(m, buf, sizeof(buf)) == -EINVAL, "status above 0");
	results_fill(m, 1);
	m->r[0].a.cls[2] = 1000;
	CHECK(sub_results_encode(m, buf, sizeof(buf)) == -EINVAL, "class 1000");
	results_fill(m, 1);
	m->r[0].a.prob[4] = NAN;
	CHECK(sub_results_encode(m, buf, sizeof(buf)) == -EINVAL, "probability NaN");
	results_fill(m, 1);
	m->r[0].a.prob[0] = 1.5f;
	CHECK(sub_results_encode(m, buf, sizeof(buf)) == -EINVAL, "probability 1.5");
	/* forged: class 1000 at offset 3 + 8 + 8 + 4 + 4 + 6 + 8 */
	results_fill(m, 1);
	n = sub_results_encode(m, buf, sizeof(buf));
	buf[41] = 0xe8;
	buf[42] = 0x03;
	CHECK(sub_results_decode(buf, (size_t)n, o) == -EINVAL, "a forged class 1000");
	n = sub_results_encode(m, buf, sizeof(buf));
	buf[23] = 1; /* status = 1 */
	buf[24] = buf[25] = buf[26] = 0;
	CHECK(sub_results_decode(buf, (size_t)n, o) == -EINVAL, "a forged status 1");
	m->n = SUB_Q_MAX + 1;
	CHECK(sub_results_encode(m, buf, sizeof(buf)) == -EINVAL, "n 257");
	free(m);
	free(o);
}

static void fuzz(void)
{
	struct sub_submit *s = malloc(sizeof(*s));
	struct sub_results *r = malloc(sizeof(*r));
	struct sub_ack a;
	unsigned long long seed = 11;
	uint8_t good[3][SUB_ACK_MAX];
	int glen[3];

	submit_fill(s, 5);
	glen[0] = sub_submit_encode(s, good[0], sizeof(good[0]));
	a = (struct sub_ack){.tag = 1, .n = 2, .cqid = {4, 5}, .status = {0, 4}};
	glen[1] = sub_ack_encode(&a, good[1], sizeof(good[1]));
	results_fill(r, 4);
	glen[2] = sub_results_encode(r, good[2], sizeof(good[2]));
	for (int it = 0; it < 100000; it++) {
		int w = (int)(rnd(&seed) % 3);
		size_t len = (size_t)glen[w];
		memcpy(buf, good[w], len);
		if (it % 2) {
			for (int k = 0, m = 1 + (int)(rnd(&seed) % 4); k < m; k++)
				buf[rnd(&seed) % len] = (uint8_t)rnd(&seed);
		} else {
			len = rnd(&seed) % 300;
			for (size_t k = 0; k < len; k++)
				buf[k] = (uint8_t)rnd(&seed);
			buf[0] = (uint8_t)(1 + w);
		}
		if (rnd(&seed) % 4 == 0)
			len = rnd(&seed) % (len + 1);
		sub_submit_decode(buf, len, s);
		sub_ack_decode(buf, len, &a);
		sub_results_decode(buf, len, r);
	}
	free(s);
	free(r);
}

int main(void)
{
	test_submit();
	test_ack();
	test_results();
	fuzz();
	return t_failures ? T_EXIT_FAIL : T_EXIT_PASS;
}
