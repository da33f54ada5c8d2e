/*
 * sched_ds.c - the scheduler's containers (sched_int.h): the hash table
 * that maps query records and worker, batch and job ids, and the deque of
 * query ids that holds each job's queue and the overrun batches.  No
 * policy here.
 */
#include "tasks/sched_int.h"
#include "util.h"

#include <stdlib.h>

/* --- hash table: (k, k2) -> v, v = 0 marks an empty slot ------------------ */

static uint32_t table_home(const struct table *t, uint64_t k, uint32_t k2)
{
	uint64_t x = k ^ ((uint64_t)k2 * 0x9e3779b97f4a7c15ull);

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return (uint32_t)x & t->mask;
}

void sched_table_init(struct table *t, uint32_t cap)
{
	t->mask = cap - 1;
	t->n = 0;
	t->a = xcalloc(cap, sizeof(*t->a));
}

struct slot *sched_table_find(const struct table *t, uint64_t k, uint32_t k2)
{
	for (uint32_t i = table_home(t, k, k2);; i = (i + 1) & t->mask) {
		struct slot *e = &t->a[i];

		if (!e->v)
			return NULL;
		if (e->k == k && e->k2 == k2)
			return e;
	}
}

void sched_table_put(struct table *t, struct slot e)
{
	uint32_t i = table_home(t, e.k, e.k2);

	while (t->a[i].v)
		i = (i + 1) & t->mask;
	t->a[i] = e;
	t->n++;
}

/* Adds (k, k2) -> v (absent, v != 0), growing at half full.  Slots move. */
void sched_table_add(struct table *t, uint64_t k, uint32_t k2, uint32_t v)
{
	if (2 * (t->n + 1) > t->mask + 1) {
		struct table old = *t;

		sched_table_init(t, 2 * (old.mask + 1));
		for (uint32_t i = 0; i <= old.mask; i++)
			if (old.a[i].v)
				sched_table_put(t, old.a[i]);
		free(old.a);
	}
	sched_table_put(t, (struct slot){.k = k, .k2 = k2, .v = v});
}

/* Deletes e by shifting back the entries after it (no tombstones). */
void sched_table_del(struct table *t, struct slot *e)
{
	uint32_t i = (uint32_t)(e - t->a), j = i;

	for (;;) {
		j = (j + 1) & t->mask;
		if (!t->a[j].v)
			break;
		/* the entry at j may fill the hole at i unless its home lies in (i, j] */
		uint32_t h = table_home(t, t->a[j].k, t->a[j].k2);
		if (((j - h) & t->mask) >= ((j - i) & t->mask)) {
			t->a[i] = t->a[j];
			i = j;
		}
	}
	t->a[i].v = 0;
	t->n--;
}

int32_t sched_lookup(const struct table *t, uint64_t id)
{
	const struct slot *e = sched_table_find(t, id, 0);

	return e ? (int32_t)e->v - 1 : -1;
}

/* --- a deque of query ids --------------------------------------------------- */

static void dq_grow(struct deque *d)
{
	uint32_t cap = d->a ? 2 * (d->mask + 1) : 16;
	uint64_t *a = xmalloc(cap * sizeof(*a));

	for (uint32_t i = 0; i < d->len; i++)
		a[i] = d->a[(d->head + i) & d->mask];
	free(d->a);
	*d = (struct deque){.a = a, .mask = cap - 1, .head = 0, .len = d->len};
}

void sched_dq_push_back(struct deque *d, uint64_t x)
{
	if (!d->a || d->len > d->mask)
		dq_grow(d);
	d->a[(d->head + d->len++) & d->mask] = x;
}

void sched_dq_push_front(struct deque *d, uint64_t x)
{
	if (!d->a || d->len > d->mask)
		dq_grow(d);
	d->head = (d->head - 1) & d->mask;
	d->a[d->head] = x;
	d->len++;
}

uint64_t sched_dq_pop_front(struct deque *d)
{
	uint64_t x = d->a[d->head];

	d->head = (d->head + 1) & d->mask;
	d->len--;
	return x;
}
