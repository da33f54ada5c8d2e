/*
 * Description: the task protocol's codecs (agent/tasks/task_wire.c):
 * every message round-trips; every prefix of a valid message, a trailing
 * byte, another type byte, an empty or oversized batch, a non-printable or
 * too long name, a class past 999, a NaN or out-of-range probability in an
 * answered query, a positive status and a non-negative refusal are each
 * refused; 200000 random and mutated inputs never crash a decoder (run
 * under ASan/UBSan in CI).
 */
#include "check.h"
#include "tasks/task_wire.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint8_t buf[TASK_RESULT_MAX + 64];

static struct task_dispatch dispatch(void)
{
	struct task_dispatch d = {.epoch = 3,
				  .batch = 77,
				  .job = 2,
				  .model_version = 11,
				  .index_version = 12,
				  .n = 3};

	strcpy(d.model, "resnet18");
	strcpy(d.dataset, "imgs-1");
	for (int i = 0; i < d.n; i++)
		d.q[i] = (struct task_query){
			.id = 1000 + (uint64_t)i, .shard = (uint32_t)i, .image = 5 * (uint32_t)i};
	return d;
}

static struct task_result result(void)
{
	struct task_result m = {.epoch = 3, .batch = 77, .job = 2, .lat_src = TASK_LAT_BPF, .n = 2};

	for (int i = 0; i < m.n; i++) {
		m.a[i] = (struct task_answer){
			.id = 1000 + (uint64_t)i, .service_ns = 123456, .wait_ns = 789};
		for (int k = 0; k < TASK_TOP; k++) {
			m.a[i].cls[k] = (uint16_t)(k * 100 + i);
			m.a[i].prob[k] = 0.5f / (float)(k + 1);
		}
	}
	m.a[1].status = -74; /* a failed query: its top-5 is not read */
	m.a[1].cls[0] = 4000;
	return m;
}

/* Every strict prefix of the n-byte message fails, and so does one byte more. */
#define PREFIXES(dec, type, n)                                                                     \
	do {                                                                                       \
		type x;                                                                            \
		int bad = 0;                                                                       \
		for (size_t l = 0; l < (size_t)(n); l++)                                           \
			bad += dec(buf, l, &x) == 0;                                               \
		buf[n] = 0;                                                                        \
		bad += dec(buf, (size_t)(n) + 1, &x) == 0;                                         \
		CHECK(bad == 0, #dec ": %d truncated or overlong inputs accepted", bad);           \
		buf[0] ^= 0x40;                                                                    \
		CHECK(dec(buf, (size_t)(n), &x) != 0, #dec ": another type byte accepted");        \
		buf[0] ^= 0x40;                                                                    \
	} while (0)

static void test_round_trips(void)
{
	struct task_hello h = {.epoch = 9,
			       .coordinator = {0x7f000002, 7600},
			       .standby = {0x7f000003, 7600}},
			  h2;
	struct task_welcome w = {.status = 0, .epoch = 9, .slots = 2, .engine_ok = 1, .lat_src = 1},
			    w2;
	struct task_dispatch d = dispatch(), d2;
	struct task_result r = result(), r2;
	struct task_refuse f = {.epoch = 9, .batch = 4, .error = -116}, f2;
	int n;

	strcpy(f.reason, "stale epoch 3 < 9");
	n = task_hello_encode(&h, buf, sizeof(buf));
	CHECK(n > 0 && task_hello_decode(buf, (size_t)n, &h2) == 0 && h2.epoch == 9 &&
		      wire_addr_eq(h2.coordinator, h.coordinator) &&
		      wire_addr_eq(h2.standby, h.standby),
	      "hello");
	PREFIXES(task_hello_decode, struct task_hello, n);
	n = task_welcome_encode(&w, buf, sizeof(buf));
	CHECK(n > 0 && task_welcome_decode(buf, (size_t)n, &w2) == 0 && w2.slots == 2 &&
		      w2.epoch == 9 && w2.lat_src == 1 && w2.engine_ok == 1,
	      "welcome");
	PREFIXES(task_welcome_decode, struct task_welcome, n);
	n = task_dispatch_encode(&d, buf, sizeof(buf));
	CHECK(n > 0 && task_dispatch_decode(buf, (size_t)n, &d2) == 0 && d2.n == 3 &&
		      !strcmp(d2.model, "resnet18") && !strcmp(d2.dataset, "imgs-1") &&
		      d2.q[2].id == 1002 && d2.q[2].image == 10 && d2.q[1].shard == 1 &&
		      d2.model_version == 11 && d2.index_version == 12,
	      "dispatch");
	PREFIXES(task_dispatch_decode, struct task_dispatch, n);
	n = task_result_encode(&r, buf, sizeof(buf));
	CHECK(n > 0 && task_result_decode(buf, (size_t)n, &r2) == 0 && r2.n == 2 &&
		      r2.a[0].cls[3] == 300 && r2.a[0].prob[1] == 0.25f && r2.a[1].status == -74 &&
		      r2.lat_src == TASK_LAT_BPF && r2.a[0].service_ns == 123456,
	      "result");
	PREFIXES(task_result_decode, struct task_result, n);
	n = task_refuse_encode(&f, buf, sizeof(buf));
	CHECK(n > 0 && task_refuse_decode(buf, (size_t)n, &f2) == 0 && f2.error == -116 &&
		      !strcmp(f2.reason, f.reason),
	      "refuse");
	PREFIXES(task_refuse_decode, struct task_refuse, n);
	/* a full batch fits the advertised maximum */
	d.n = TASK_BATCH_MAX;
	memset(d.model, 'm', TASK_NAME_MAX);
	d.model[TASK_NAME_MAX] = '\0';
	n = task_dispatch_encode(&d, buf, sizeof(buf));
	CHECK(n > 0 && n <= TASK_DISPATCH_MAX, "a full dispatch is %d bytes (max %d)", n,
	      TASK_DISPATCH_MAX);
	r.n = TASK_BATCH_MAX;
	n = task_result_encode(&r, buf, sizeof(buf));
	CHECK(n > 0 && n <= TASK_RESULT_MAX, "a full result is %d bytes (max %d)", n,
	      TASK_RESULT_MAX);
}

static void test_bad_fields(void)
{
	struct task_dispatch d = dispatch(), d2;
	struct task_result r = result(), r2;
	struct task_refuse f = {.epoch = 1, .error = 0};
	int n;

	d.n = 0;
	CHECK(task_dispatch_encode(&d, buf, sizeof(buf)) == -EINVAL,
	      "an empty batch is not encoded");
	d = dispatch();
	memset(d.model, 'm', TASK_NAME_MAX + 1);
	d.model[TASK_NAME_MAX] = 'x';
	CHECK(task_dispatch_encode(&d, buf, sizeof(buf)) < 0,
	      "a 101-character name is not encoded");
	d = dispatch();
	strcpy(d.dataset, "bad\x01name");
	n = task_dispatch_encode(&d, buf, sizeof(buf));
	CHECK(n > 0 && task_dispatch_decode(buf, (size_t)n, &d2) == -EINVAL,
	      "a control character in a name");
	d = dispatch();
	n = task_dispatch_encode(&d, buf, sizeof(buf));
	buf[n - 3 * 16 - 2] = 0; /* the count (u16, before 3 queries of 16 bytes) = 0 */
	CHECK(task_dispatch_decode(buf, (size_t)n, &d2) != 0, "a batch of 0 queries");
	r.a[0].prob[2] = NAN;
	n = task_result_encode(&r, buf, sizeof(buf));
	CHECK(n > 0 && task_result_decode(buf, (size_t)n, &r2) == -EINVAL, "a NaN probability");
	r = result();
	r.a[0].prob[0] = 1.5f;
	n = task_result_encode(&r, buf, sizeof(buf));
	CHECK(n > 0 && task_result_decode(buf, (size_t)n, &r2) == -EINVAL, "a probability above 1");
	r = result();
	r.a[0].cls[4] = 1000;
	n = task_result_encode(&r, buf, sizeof(buf));
	CHECK(n > 0 && task_result_decode(buf, (size_t)n, &r2) == -EINVAL, "class 1000");
	r = result();
	r.a[0].status = 5;
	n = task_result_encode(&r, buf, sizeof(buf));
	CHECK(n > 0 && task_result_decode(buf, (size_t)n, &r2) == -EINVAL, "a positive status");
	CHECK(task_refuse_encode(&f, buf, sizeof(buf)) == -EINVAL, "a refusal without an error");
	CHECK(task_dispatch_encode(&d, buf, 20) == -EMSGSIZE, "a small buffer: -EMSGSIZE");
}

/* The express flag: a byte after the queries, only when set; a DISPATCH
 * without it is the format before the flags, byte for byte. */
static void test_express(void)
{
	struct task_dispatch d = dispatch(), d2;
	uint8_t plain[512];
	int n0, n, bad = 0;

	n0 = task_dispatch_encode(&d, plain, sizeof(plain));
	CHECK(n0 > 0 && task_dispatch_decode(plain, (size_t)n0, &d2) == 0 && d2.flags == 0,
	      "a DISPATCH without flags decodes with none");
	d.flags = TASK_DISPATCH_EXPRESS;
	n = task_dispatch_encode(&d, buf, sizeof(buf));
	CHECK(n == n0 + 1 && !memcmp(buf, plain, (size_t)n0) && buf[n0] == TASK_DISPATCH_EXPRESS,
	      "express: one byte after the plain encoding (%d vs %d bytes)", n, n0);
	memset(&d2, 0xff, sizeof(d2));
	CHECK(task_dispatch_decode(buf, (size_t)n, &d2) == 0 && d2.flags == TASK_DISPATCH_EXPRESS &&
		      d2.n == 3 && d2.q[2].id == 1002,
	      "express round trip");
	for (int l = 0; l < n0; l++)
		bad += task_dispatch_decode(buf, (size_t)l, &d2) == 0;
	CHECK(bad == 0, "%d truncated express DISPATCHes accepted", bad);
	CHECK(task_dispatch_decode(buf, (size_t)n0, &d2) == 0 && d2.flags == 0,
	      "without its flags byte it is a plain DISPATCH");
	buf[n] = TASK_DISPATCH_EXPRESS;
	CHECK(task_dispatch_decode(buf, (size_t)n + 1, &d2) == -EINVAL, "two flags bytes refused");
	buf[n0] = 0;
	CHECK(task_dispatch_decode(buf, (size_t)n, &d2) == -EINVAL,
	      "a flags byte of 0 refused (one encoding each)");
	buf[n0] = 2;
	CHECK(task_dispatch_decode(buf, (size_t)n, &d2) == -EINVAL, "an unknown flag refused");
	d.flags = 2;
	CHECK(task_dispatch_encode(&d, buf, sizeof(buf)) == -EINVAL, "an unknown flag not encoded");
}

/* Random bytes and mutations of valid messages: no decoder may crash. */
static void test_fuzz(void)
{
	unsigned long long s = 42;
	struct task_dispatch d = dispatch(), dx;
	struct task_result r = result(), rx;
	struct task_hello hx;
	struct task_welcome wx;
	struct task_refuse fx;
	uint8_t valid[3][TASK_RESULT_MAX];
	int nv[3], accepted = 0;

	nv[0] = task_dispatch_encode(&d, valid[0], sizeof(valid[0]));
	nv[1] = task_result_encode(&r, valid[1], sizeof(valid[1]));
	d.flags = TASK_DISPATCH_EXPRESS;
	nv[2] = task_dispatch_encode(&d, valid[2], sizeof(valid[2]));
	for (int it = 0; it < 200000; it++) {
		size_t len;
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		if (it & 1) { /* a valid message with a few bytes changed */
			int which = (int)((s >> 60) % 3);
			len = (size_t)nv[which];
			memcpy(buf, valid[which], len);
			for (int k = 0; k < 3; k++) {
				s = s * 6364136223846793005ull + 1442695040888963407ull;
				buf[(s >> 33) % len] = (uint8_t)(s >> 13);
			}
		} else {
			len = (size_t)((s >> 33) % 300);
			for (size_t i = 0; i < len; i++) {
				s = s * 6364136223846793005ull + 1442695040888963407ull;
				buf[i] = (uint8_t)(s >> 56);
			}
			buf[0] = (uint8_t)(TASK_HELLO + (s >> 20) % 5);
		}
		accepted += task_hello_decode(buf, len, &hx) == 0;
		accepted += task_welcome_decode(buf, len, &wx) == 0;
		if (task_dispatch_decode(buf, len, &dx) == 0) {
			accepted++;
			CHECK(!(dx.flags & ~TASK_DISPATCH_FLAGS), "an unknown flag decoded");
		}
		accepted += task_result_decode(buf, len, &rx) == 0;
		accepted += task_refuse_decode(buf, len, &fx) == 0;
	}
	printf("fuzz: 200000 inputs, %d decoded as valid messages, no crash\n", accepted);
}

int main(void)
{
	test_round_trips();
	test_bad_fields();
	test_express();
	test_fuzz();
	return t_result();
}
