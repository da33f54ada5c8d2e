/*
 * fuzz_stream_wire.c - the two long-lived streams added with the hot
 * standby and client submission: the replication stream (repl_wire.h:
 * HELLO, STATE, SNAP, RECS) and the submitters' messages (submit_wire.h:
 * SUBMIT, ACK, RESULT).  The first byte picks the message; what decodes
 * must encode again (RECS by rebuilding it record by record).
 */
#include "fuzz.h"
#include "tasks/repl_wire.h"
#include "tasks/submit_wire.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[REPL_FRAME_MAX + 4096];
	static struct repl_recs rr;
	static struct sub_submit sm;
	static struct sub_ack sa;
	static struct sub_results sr;
	struct repl_hello h;
	struct repl_state st;
	struct repl_snap sn;
	const uint8_t *p = data + 1;
	size_t n = size ? size - 1 : 0;

	if (size < 1)
		return 0;
	switch (data[0] % 7) {
	case 0:
		if (repl_hello_decode(p, n, &h) == 0)
			FUZZ_ASSERT(repl_hello_encode(&h, buf, sizeof(buf)) == (int)n);
		break;
	case 1:
		if (repl_state_decode(p, n, &st) == 0)
			FUZZ_ASSERT(repl_state_encode(&st, buf, sizeof(buf)) == (int)n);
		break;
	case 2:
		if (repl_snap_decode(p, n, &sn) == 0) {
			FUZZ_ASSERT(sn.offset + sn.len <= sn.total);
			FUZZ_ASSERT(repl_snap_encode(&sn, buf, sizeof(buf)) == (int)n);
		}
		break;
	case 3:
		if (repl_recs_decode(p, n, &rr) == 0) {
			struct repl_recs_buf b;
			repl_recs_start(&b, buf, sizeof(buf), rr.epoch);
			for (int i = 0; i < rr.n; i++)
				FUZZ_ASSERT(repl_recs_add(&b, rr.rec[i], rr.len[i]) == 0);
			FUZZ_ASSERT(repl_recs_finish(&b) == (int)n && memcmp(buf, p, n) == 0);
		}
		break;
	case 4:
		if (sub_submit_decode(p, n, &sm) == 0)
			FUZZ_ASSERT(sub_submit_encode(&sm, buf, sizeof(buf)) > 0);
		break;
	case 5:
		if (sub_ack_decode(p, n, &sa) == 0)
			FUZZ_ASSERT(sub_ack_encode(&sa, buf, sizeof(buf)) > 0);
		break;
	default:
		if (sub_results_decode(p, n, &sr) == 0)
			FUZZ_ASSERT(sub_results_encode(&sr, buf, sizeof(buf)) > 0);
		break;
	}
	return 0;
}
