/*
 * wire_replay.c - per-sender replay windows (see wire_replay.h).
 */
#include "wire/wire_replay.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define WINDOW 128

struct replay_ent {
	struct wire_addr who;
	uint64_t epoch;
	uint64_t top;		    /* highest seq seen in this epoch */
	uint64_t bits[WINDOW / 64]; /* seqs top-WINDOW+1 .. top, bit 0 = top */
	uint64_t used_ms;
	int live;
};

struct wire_replay {
	int cap;
	struct replay_ent *e;
};

struct wire_replay *wire_replay_new(int capacity)
{
	struct wire_replay *r = xcalloc(1, sizeof(*r));
	r->cap = capacity < 1 ? 1 : capacity;
	r->e = xcalloc((size_t)r->cap, sizeof(*r->e));
	return r;
}

void wire_replay_free(struct wire_replay *r)
{
	if (r) {
		free(r->e);
		free(r);
	}
}

static int test_bit(const struct replay_ent *e, uint64_t d)
{
	return (int)(e->bits[d / 64] >> (d % 64) & 1);
}

static void set_bit(struct replay_ent *e, uint64_t d)
{
	e->bits[d / 64] |= 1ull << (d % 64);
}

/* Shifts the window up by n (a larger seq arrived). */
static void shift(struct replay_ent *e, uint64_t n)
{
	if (n >= WINDOW) {
		memset(e->bits, 0, sizeof(e->bits));
		return;
	}
	for (int k = 0; k < (int)n; k++) {
		for (int w = WINDOW / 64 - 1; w > 0; w--)
			e->bits[w] = e->bits[w] << 1 | e->bits[w - 1] >> 63;
		e->bits[0] <<= 1;
	}
}

enum wire_reject wire_replay_check(struct wire_replay *r, const struct wire_hdr *h, uint64_t now_ms)
{
	struct replay_ent *e = NULL, *victim = &r->e[0];

	if (h->sent_ms + WIRE_FRESH_MS < now_ms || h->sent_ms > now_ms + WIRE_FRESH_MS)
		return WIRE_R_STALE;
	for (int i = 0; i < r->cap; i++) {
		if (r->e[i].live && wire_addr_eq(r->e[i].who, h->sender)) {
			e = &r->e[i];
			break;
		}
		if (!r->e[i].live || r->e[i].used_ms < victim->used_ms)
			victim = &r->e[i];
		if (!r->e[i].live)
			break;
	}
	if (!e || h->epoch > e->epoch) {
		/* A new sender, or a sender that restarted.  (An evicted sender's
		 * old frames are still refused by the freshness check.) */
		e = e ? e : victim;
		memset(e, 0, sizeof(*e));
		e->live = 1;
		e->who = h->sender;
		e->epoch = h->epoch;
		e->top = h->seq;
		set_bit(e, 0);
		e->used_ms = now_ms;
		return WIRE_OK;
	}
	if (h->epoch < e->epoch)
		return WIRE_R_REPLAY; /* from before the sender restarted */
	e->used_ms = now_ms;
	if (h->seq > e->top) {
		shift(e, h->seq - e->top);
		e->top = h->seq;
		set_bit(e, 0);
		return WIRE_OK;
	}
	if (e->top - h->seq >= WINDOW || test_bit(e, e->top - h->seq))
		return WIRE_R_REPLAY;
	set_bit(e, e->top - h->seq);
	return WIRE_OK;
}
