/*
 * fuzz_task_wire.c - the task protocol between coordinator and workers:
 * the first byte picks the message (hello, welcome, dispatch, result,
 * refuse); what decodes must encode again.
 */
#include "fuzz.h"
#include "tasks/task_wire.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct task_dispatch d;
	static struct task_result r;
	static uint8_t buf[TASK_DISPATCH_MAX + 64 * TASK_BATCH_MAX];
	struct task_hello h;
	struct task_welcome w;
	struct task_refuse f;
	const uint8_t *p = data + 1;
	size_t n = size ? size - 1 : 0;

	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0:
		if (task_hello_decode(p, n, &h) == 0)
			FUZZ_ASSERT(task_hello_encode(&h, buf, sizeof(buf)) > 0);
		break;
	case 1:
		if (task_welcome_decode(p, n, &w) == 0)
			FUZZ_ASSERT(task_welcome_encode(&w, buf, sizeof(buf)) > 0);
		break;
	case 2:
		if (task_dispatch_decode(p, n, &d) == 0) {
			FUZZ_ASSERT(d.n <= TASK_BATCH_MAX && strlen(d.model) <= TASK_NAME_MAX);
			FUZZ_ASSERT(!(d.flags & ~TASK_DISPATCH_FLAGS));
			FUZZ_ASSERT(task_dispatch_encode(&d, buf, sizeof(buf)) > 0);
		}
		break;
	case 3:
		if (task_result_decode(p, n, &r) == 0) {
			FUZZ_ASSERT(r.n <= TASK_BATCH_MAX);
			FUZZ_ASSERT(task_result_encode(&r, buf, sizeof(buf)) > 0);
		}
		break;
	default:
		if (task_refuse_decode(p, n, &f) == 0) {
			FUZZ_ASSERT(strlen(f.reason) < sizeof(f.reason));
			FUZZ_ASSERT(task_refuse_encode(&f, buf, sizeof(buf)) > 0);
		}
		break;
	}
	return 0;
}
