/*
 * Description: the agent's rule for calling its engine hung
 * (agent/tasks/engine_hang.h), by direct calls at given times: an engine
 * that completes nothing within 3x the expected time plus the slack is
 * hung, once; one with nothing in flight never is; a model load counts
 * only against the load's own limit, and its end starts the clock again
 * (the CI's sanitizer run lost its demo to ten engines killed in turn for
 * the time their loads of AlexNet took on two cores); a load that never
 * ends is hung at its limit; a completion restarts the clock.
 */
#include "check.h"
#include "tasks/engine_hang.h"

int main(void)
{
	struct hang_clock h = {.progress_ms = 1000};
	uint64_t lim;

	/* nothing in flight: never hung, however long */
	CHECK(!hang_check(&h, 1000000, 0, 0), "idle engine called hung");

	/* a batch expected to take 200 ms: 3 x 200 + slack */
	h = (struct hang_clock){.progress_ms = 1000, .expected_ms = 200};
	lim = 1000 + 600 + HANG_SLACK_MS;
	CHECK(!hang_check(&h, lim, 1, 0), "hung at the limit itself");
	CHECK(hang_check(&h, lim + 1, 1, 0), "not hung past the limit");

	/* a completion restarts the clock */
	h = (struct hang_clock){.progress_ms = 1000, .expected_ms = 200};
	hang_progress(&h, lim - 100);
	CHECK(!hang_check(&h, lim + 1, 1, 0), "hung just after a completion");

	/* a load of 20 s, then the batch that waited on it: not hung */
	h = (struct hang_clock){.progress_ms = 1000, .expected_ms = 200};
	for (uint64_t t = 1200; t <= 21000; t += 200)
		CHECK(!hang_check(&h, t, 1, 1), "hung while loading, at %llu ms",
		      (unsigned long long)t);
	CHECK(!hang_check(&h, 21200, 1, 0), "hung right after the load ended");
	CHECK(!hang_check(&h, 21200 + 600 + HANG_SLACK_MS, 1, 0),
	      "the load's time counted against the batch");
	CHECK(hang_check(&h, 21200 + 600 + HANG_SLACK_MS + 1, 1, 0),
	      "the batch after the load never called hung");

	/* two loads in a row (both models) with a look between them */
	h = (struct hang_clock){.progress_ms = 0, .expected_ms = 100};
	CHECK(!hang_check(&h, 1000, 1, 1) && !hang_check(&h, 9000, 1, 1), "first load");
	CHECK(!hang_check(&h, 9200, 1, 0), "between the loads");
	CHECK(!hang_check(&h, 9400, 1, 1) && !hang_check(&h, 20000, 1, 1), "second load");
	CHECK(!hang_check(&h, 20200, 1, 0), "after both loads");

	/* a load that never ends: hung at its own limit, counted from its start */
	h = (struct hang_clock){.progress_ms = 0, .expected_ms = 100};
	CHECK(!hang_check(&h, 500, 1, 1), "load start");
	CHECK(!hang_check(&h, 500 + HANG_LOAD_MAX_MS, 1, 1), "hung at the load limit itself");
	CHECK(hang_check(&h, 501 + HANG_LOAD_MAX_MS, 1, 1), "an endless load never hung");

	/* an idle load (nothing in flight) is never hung, and then counts as progress */
	h = (struct hang_clock){.progress_ms = 0, .expected_ms = 0};
	CHECK(!hang_check(&h, 100, 0, 1) && !hang_check(&h, 500000, 0, 1), "idle load hung");
	CHECK(!hang_check(&h, 500200, 0, 0), "idle after the load");
	CHECK(h.progress_ms == 500200 && !h.load_since, "the load's end is not progress");
	return t_result();
}
