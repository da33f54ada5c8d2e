/*
 * result_same.h - whether two results of a job are the same in every field
 * a result part's line carries (for tests/test_result_part.c and the
 * result_part fuzz target, which check that a line round-trips).
 */
#ifndef IDUNNO_TESTS_RESULT_SAME_H
#define IDUNNO_TESTS_RESULT_SAME_H

#include "tasks/result_part.h"

#include <string.h>

static inline int result_same(const struct coord_result *x, const struct coord_result *y)
{
	return x->rseq == y->rseq && x->client == y->client && x->cqid == y->cqid &&
	       x->image == y->image && x->a.qid == y->a.qid && x->a.status == y->a.status &&
	       x->a.service_ns == y->a.service_ns && x->a.done_ms == y->a.done_ms &&
	       wire_addr_eq(x->a.worker, y->a.worker) &&
	       !memcmp(x->a.cls, y->a.cls, sizeof(x->a.cls)) &&
	       !memcmp(x->a.prob, y->a.prob, sizeof(x->a.prob));
}

#endif
