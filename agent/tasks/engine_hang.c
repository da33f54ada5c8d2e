/*
 * engine_hang.c - the engine's hang rule (see engine_hang.h).
 */
#include "engine_hang.h"

void hang_progress(struct hang_clock *h, uint64_t now)
{
	h->progress_ms = now;
}

int hang_check(struct hang_clock *h, uint64_t now, unsigned inflight, int loading)
{
	if (loading) {
		if (!h->load_since)
			h->load_since = now;
		return inflight && now > h->load_since + HANG_LOAD_MAX_MS;
	}
	if (h->load_since) { /* a load ended since the last look: that was progress */
		h->load_since = 0;
		if (now > h->progress_ms)
			h->progress_ms = now;
	}
	return inflight && now > h->progress_ms + 3 * h->expected_ms + HANG_SLACK_MS;
}
