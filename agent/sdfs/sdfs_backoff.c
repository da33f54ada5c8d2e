/*
 * sdfs_backoff.c - repair's back-off from full members (see sdfs_backoff.h).
 */
#include "sdfs/sdfs_backoff.h"
#include "util.h"

static int find(const struct sdfs_backoff *b, struct wire_addr to)
{
	for (int i = 0; i < b->n; i++)
		if (wire_addr_eq(b->e[i].to, to))
			return i;
	return -1;
}

void sdfs_backoff_full(struct sdfs_backoff *b, struct wire_addr to, uint64_t now_ms)
{
	int i = find(b, to);

	if (i < 0) {
		if (b->n < SDFS_BACKOFF_SLOTS) {
			i = b->n++;
		} else { /* the one whose back-off ends first makes room */
			i = 0;
			for (int k = 1; k < b->n; k++)
				if (b->e[k].until < b->e[i].until)
					i = k;
		}
		b->e[i].to = to;
		b->e[i].wait = SDFS_BACKOFF_MIN_MS;
	} else {
		b->e[i].wait = MIN(b->e[i].wait * 2, (uint64_t)SDFS_BACKOFF_MAX_MS);
	}
	b->e[i].until = now_ms + b->e[i].wait;
}

void sdfs_backoff_ok(struct sdfs_backoff *b, struct wire_addr to)
{
	int i = find(b, to);

	if (i >= 0)
		b->e[i] = b->e[--b->n];
}

uint64_t sdfs_backoff_wait(const struct sdfs_backoff *b, struct wire_addr to, uint64_t now_ms)
{
	int i = find(b, to);

	return i >= 0 && b->e[i].until > now_ms ? b->e[i].until - now_ms : 0;
}
