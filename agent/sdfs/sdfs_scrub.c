/*
 * sdfs_scrub.c - the scrub: every replica here is read back and checked,
 * one at a time, in (name, version) order, round and round, so a corrupt
 * one is found (and repaired) even if nothing reads it.  At least
 * scrub_ms (IDUNNO_SDFS_SCRUB_MS, SCRUB_MS) between two replicas and no
 * faster than SCRUB_MBPS on average.  The check itself is a stream of
 * kind K_SCRUB (sdfs_read.c) that sends nothing.
 */
#include "sdfs/sdfs_int.h"
#include "util.h"

#include <stdio.h>

/* Starts checking the replica after the last one checked. */
static void scrub_next(struct sdfs *s, uint64_t now_ms)
{
	char name[STORE_NAME_MAX + 1];
	uint64_t version;
	struct xfer *x;

	s->scrub_at = now_ms + s->scrub_ms;
	/* the next in (name, version) order; after the last, the first again */
	if (!store_next(s->store, s->scrub_name, s->scrub_version, name, &version))
		return; /* nothing held */
	snprintf(s->scrub_name, sizeof(s->scrub_name), "%s", name);
	s->scrub_version = version;
	x = xfer_alloc(s, K_SCRUB);
	if (!x)
		return;
	snprintf(x->req.name, sizeof(x->req.name), "%s", name);
	s->scrubbing = 1;
	if (source_open(s, x, version) == 0)
		xfer_advance(s, x); /* STREAM */
	xfer_settle(s, x);
}

uint64_t scrub_tick(struct sdfs *s, uint64_t now_ms)
{
	if (!s->scrubbing && now_ms >= s->scrub_at)
		scrub_next(s, now_ms);
	return s->scrubbing ? UINT64_MAX : s->scrub_at;
}

void scrub_ended(struct sdfs *s, uint64_t size)
{
	uint64_t now = util_now_ns() / 1000000;

	s->scrubbing = 0;
	s->scrub_at = now + MAX(s->scrub_ms, size / (SCRUB_MBPS * 1000));
}
