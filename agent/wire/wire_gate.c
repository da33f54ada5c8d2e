/*
 * wire_gate.c - reject buckets per source (see wire_gate.h).  A bucket
 * holds milli-rejects, so that refilling at r a second adds r per ms.
 */
#include "wire/wire_gate.h"
#include "util.h"

#include <stdlib.h>

struct bucket {
	uint64_t milli, last_ms;
};

struct slot {
	uint32_t ip;
	int used;
	struct bucket b;
};

struct wire_gate {
	struct wire_gate_config c;
	struct bucket all;
	struct slot slots[WIRE_GATE_SLOTS];
};

void wire_gate_config_default(struct wire_gate_config *c)
{
	*c = (struct wire_gate_config){
		.per_source = 50, .burst = 200, .total = 1000, .total_burst = 2000};
}

static uint64_t level(const struct bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms)
{
	uint64_t cap = (uint64_t)burst * 1000, dt = now_ms > b->last_ms ? now_ms - b->last_ms : 0;
	uint64_t add = dt > cap ? cap : dt * rate; /* dt > cap: full whatever the rate */

	return MIN(cap, b->milli + add);
}

static void refill(struct bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms)
{
	b->milli = level(b, rate, burst, now_ms);
	b->last_ms = MAX(b->last_ms, now_ms);
}

static void take(struct bucket *b)
{
	b->milli = b->milli >= 1000 ? b->milli - 1000 : 0;
}

static struct slot *slot_of(struct wire_gate *g, uint32_t ip)
{
	uint32_t h = (uint32_t)(((uint64_t)ip * 0x9e3779b97f4a7c15ull) >> 40);

	return &g->slots[h % WIRE_GATE_SLOTS];
}

struct wire_gate *wire_gate_new(const struct wire_gate_config *c, uint64_t now_ms)
{
	struct wire_gate *g = xcalloc(1, sizeof(*g));

	g->c = *c;
	if (!g->c.burst)
		g->c.burst = 1;
	if (!g->c.total_burst)
		g->c.total_burst = 1;
	g->all = (struct bucket){(uint64_t)g->c.total_burst * 1000, now_ms};
	return g;
}

void wire_gate_free(struct wire_gate *g)
{
	free(g);
}

int wire_gate_allow(struct wire_gate *g, uint32_t src_ip, uint64_t now_ms)
{
	struct slot *s = slot_of(g, src_ip);

	refill(&g->all, g->c.total, g->c.total_burst, now_ms);
	if (g->all.milli < 1000)
		return 0;
	if (!s->used || s->ip != src_ip)
		return 1; /* not charged yet: a full bucket */
	refill(&s->b, g->c.per_source, g->c.burst, now_ms);
	return s->b.milli >= 1000;
}

void wire_gate_charge(struct wire_gate *g, uint32_t src_ip, uint64_t now_ms)
{
	struct slot *s = slot_of(g, src_ip);

	if (!s->used || s->ip != src_ip)
		*s = (struct slot){
			.ip = src_ip, .used = 1, .b = {(uint64_t)g->c.burst * 1000, now_ms}};
	refill(&s->b, g->c.per_source, g->c.burst, now_ms);
	refill(&g->all, g->c.total, g->c.total_burst, now_ms);
	take(&s->b);
	take(&g->all);
}

int wire_gate_throttled(const struct wire_gate *g, uint64_t now_ms)
{
	int n = 0;

	for (int i = 0; i < WIRE_GATE_SLOTS; i++)
		n += g->slots[i].used &&
		     level(&g->slots[i].b, g->c.per_source, g->c.burst, now_ms) < 1000;
	return n;
}
