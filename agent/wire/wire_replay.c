/*
 * wire_replay.c - per-sender replay windows in a growing hash table (see
 * wire_replay.h).
 *
 * Open addressing with linear probing, keyed by the sender's address; at
 * most 3/4 full.  Nothing is deleted in place: a rebuild (when the table
 * grows, and at most once a second when a sender may have expired) copies
 * the senders that may still replay into a table sized for them, which is
 * also how the table shrinks again.
 */
#include "wire/wire_replay.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define WINDOW	     WIRE_REPLAY_WINDOW
#define MIN_SLOTS    64
#define SWEEP_MIN_MS 1000 /* rebuilds to drop expired senders, at most this often */

struct sender {
	uint64_t key;		    /* 1 << 48 | ip << 16 | port; 0: an empty slot */
	uint64_t epoch;		    /* the newest epoch seen from it */
	uint64_t top;		    /* highest seq seen in this epoch */
	uint64_t bits[WINDOW / 64]; /* seqs top-WINDOW+1 .. top, bit 0 = top */
	uint64_t newest_ms;	    /* latest send time accepted, over all epochs */
};

struct wire_replay {
	struct sender *slot;
	uint32_t nslots;     /* a power of two */
	uint32_t n;	     /* senders held */
	uint32_t max;	     /* the cap on n */
	uint64_t next_sweep; /* no sender expires before this (or a sweep is not yet due) */
	uint64_t boot_ms;    /* frames sent before it are refused: the table knew nothing then */
};

static uint64_t key_of(struct wire_addr a)
{
	return 1ull << 48 | (uint64_t)a.ip << 16 | a.port;
}

static uint32_t home(const struct wire_replay *r, uint64_t key)
{
	return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & (r->nslots - 1);
}

/* The slot holding key, or the empty slot where it would go. */
static struct sender *lookup(const struct wire_replay *r, uint64_t key)
{
	uint32_t i = home(r, key);

	while (r->slot[i].key && r->slot[i].key != key)
		i = (i + 1) & (r->nslots - 1);
	return &r->slot[i];
}

/* The slots for n senders at most 3/4 full. */
static uint32_t slots_for(uint32_t n)
{
	uint32_t s = MIN_SLOTS;

	while (n > s / 4 * 3)
		s *= 2;
	return s;
}

/* Every frame accepted from e is stale at now: e can no longer be replayed. */
static int expired(const struct sender *e, uint64_t now)
{
	return e->newest_ms + WIRE_FRESH_MS < now;
}

/*
 * Moves the senders that have not expired into a table of nslots slots and
 * sets when the next of them may expire.
 */
static void rebuild(struct wire_replay *r, uint32_t nslots, uint64_t now)
{
	struct sender *old = r->slot;
	uint32_t oldn = r->nslots;
	uint64_t soonest = UINT64_MAX;

	r->slot = xcalloc(nslots, sizeof(*r->slot));
	r->nslots = nslots;
	r->n = 0;
	for (uint32_t i = 0; i < oldn; i++) {
		if (!old[i].key || expired(&old[i], now))
			continue;
		*lookup(r, old[i].key) = old[i];
		r->n++;
		soonest = MIN(soonest, old[i].newest_ms + WIRE_FRESH_MS + 1);
	}
	free(old);
	r->next_sweep = soonest == UINT64_MAX ? UINT64_MAX : MAX(soonest, now + SWEEP_MIN_MS);
}

/* Drops expired senders; shrinks a table left less than 1/8 full. */
static void sweep(struct wire_replay *r, uint64_t now)
{
	uint32_t live = 0, nslots = r->nslots;
	uint64_t soonest = UINT64_MAX;

	for (uint32_t i = 0; i < r->nslots; i++) {
		if (r->slot[i].key && !expired(&r->slot[i], now)) {
			live++;
			soonest = MIN(soonest, r->slot[i].newest_ms + WIRE_FRESH_MS + 1);
		}
	}
	if (live < nslots / 8)
		nslots = slots_for(live * 2);
	if (live < r->n || nslots != r->nslots)
		rebuild(r, nslots, now);
	else /* every sender may still replay: nothing to drop */
		r->next_sweep = MAX(soonest, now + SWEEP_MIN_MS);
}

struct wire_replay *wire_replay_new(int max_senders, uint64_t boot_ms)
{
	struct wire_replay *r = xcalloc(1, sizeof(*r));

	r->boot_ms = boot_ms;
	r->max = (uint32_t)MIN(MAX(max_senders, 1), WIRE_REPLAY_MAX_LIMIT);
	r->nslots = MIN_SLOTS;
	r->slot = xcalloc(r->nslots, sizeof(*r->slot));
	r->next_sweep = UINT64_MAX;
	return r;
}

void wire_replay_free(struct wire_replay *r)
{
	if (r) {
		free(r->slot);
		free(r);
	}
}

int wire_replay_senders(const struct wire_replay *r)
{
	return (int)r->n;
}

size_t wire_replay_bytes(const struct wire_replay *r)
{
	return sizeof(*r) + (size_t)r->nslots * sizeof(*r->slot);
}

static int test_bit(const struct sender *e, uint64_t d)
{
	return (int)(e->bits[d / 64] >> (d % 64) & 1);
}

static void set_bit(struct sender *e, uint64_t d)
{
	e->bits[d / 64] |= 1ull << (d % 64);
}

/* Shifts the window up by n (a larger seq arrived). */
static void shift(struct sender *e, uint64_t n)
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

/* A new window at (epoch, seq): a new sender, or one that restarted. */
static void start(struct sender *e, const struct wire_hdr *h)
{
	e->epoch = h->epoch;
	e->top = h->seq;
	memset(e->bits, 0, sizeof(e->bits));
	set_bit(e, 0);
	e->newest_ms = MAX(e->newest_ms, h->sent_ms);
}

enum wire_reject wire_replay_fresh(const struct wire_replay *r, const struct wire_hdr *h,
				   uint64_t now_ms)
{
	if (h->sent_ms < r->boot_ms)
		return WIRE_R_BOOT; /* from before this receiver started: maybe its predecessor's */
	if (h->sent_ms + WIRE_FRESH_MS < now_ms || h->sent_ms > now_ms + WIRE_FRESH_MS)
		return WIRE_R_STALE;
	return WIRE_OK;
}

enum wire_reject wire_replay_check(struct wire_replay *r, const struct wire_hdr *h, uint64_t now_ms)
{
	uint64_t key = key_of(h->sender);
	enum wire_reject fresh = wire_replay_fresh(r, h, now_ms);
	struct sender *e;

	if (fresh != WIRE_OK)
		return fresh;
	if (now_ms >= r->next_sweep)
		sweep(r, now_ms);
	e = lookup(r, key);
	if (!e->key) {
		if (r->n >= r->max)
			return WIRE_R_FULL; /* fail closed: every sender held may still replay */
		if (r->n + 1 > r->nslots / 4 * 3) {
			rebuild(r, r->nslots * 2, now_ms);
			e = lookup(r, key);
		}
		memset(e, 0, sizeof(*e));
		e->key = key;
		start(e, h);
		r->n++;
		r->next_sweep = MIN(r->next_sweep,
				    MAX(h->sent_ms + WIRE_FRESH_MS + 1, now_ms + SWEEP_MIN_MS));
		return WIRE_OK;
	}
	if (h->epoch > e->epoch) {
		start(e, h); /* the sender restarted: its older epochs are refused from now on */
		return WIRE_OK;
	}
	if (h->epoch < e->epoch)
		return WIRE_R_REPLAY; /* from before the sender restarted */
	if (h->seq > e->top) {
		shift(e, h->seq - e->top);
		e->top = h->seq;
		set_bit(e, 0);
	} else if (e->top - h->seq >= WINDOW || test_bit(e, e->top - h->seq)) {
		return WIRE_R_REPLAY;
	} else {
		set_bit(e, e->top - h->seq);
	}
	e->newest_ms = MAX(e->newest_ms, h->sent_ms);
	return WIRE_OK;
}
