/*
 * coord_map.c - the containers of the coordinator's state
 * (coord_log_int.h): a u64 -> u64 map (open addressing, linear probing)
 * and a set of ids kept as a range plus the ids outside it.  No policy
 * here.
 */
#include "tasks/coord_log_int.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* ---- the map ---- */

static uint32_t hash64(uint64_t x, uint32_t mask)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (uint32_t)x & mask;
}

void coord_map_free(struct coord_map *m)
{
	free(m->key);
	free(m->val);
	memset(m, 0, sizeof(*m));
}

int coord_map_find(const struct coord_map *m, uint64_t k, uint64_t *v)
{
	if (!m->n)
		return 0;
	for (uint32_t i = hash64(k, m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->key[i] == COORD_MAP_EMPTY)
			return 0;
		if (m->key[i] == k) {
			if (v)
				*v = m->val[i];
			return 1;
		}
	}
}

static void map_grow(struct coord_map *m)
{
	struct coord_map old = *m;

	m->cap = old.cap ? old.cap * 2 : 16;
	m->n = 0;
	m->key = xmalloc(m->cap * sizeof(uint64_t));
	m->val = xmalloc(m->cap * sizeof(uint64_t));
	memset(m->key, 0xff, m->cap * sizeof(uint64_t));
	for (uint32_t i = 0; i < old.cap; i++)
		if (old.key[i] != COORD_MAP_EMPTY)
			coord_map_put(m, old.key[i], old.val[i]);
	coord_map_free(&old);
}

/* Inserts or replaces. */
void coord_map_put(struct coord_map *m, uint64_t k, uint64_t v)
{
	if ((m->n + 1) * 4 > m->cap * 3)
		map_grow(m);
	for (uint32_t i = hash64(k, m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->key[i] == k) {
			m->val[i] = v;
			return;
		}
		if (m->key[i] == COORD_MAP_EMPTY) {
			m->key[i] = k;
			m->val[i] = v;
			m->n++;
			return;
		}
	}
}

/* Removes k (backward-shift deletion, so no tombstones). */
void coord_map_del(struct coord_map *m, uint64_t k)
{
	uint32_t mask = m->cap - 1, i, j;

	if (!m->n)
		return;
	for (i = hash64(k, mask);; i = (i + 1) & mask) {
		if (m->key[i] == COORD_MAP_EMPTY)
			return;
		if (m->key[i] == k)
			break;
	}
	m->n--;
	for (j = (i + 1) & mask; m->key[j] != COORD_MAP_EMPTY; j = (j + 1) & mask) {
		uint32_t h = hash64(m->key[j], mask);
		/* j's entry may move to i when its home is not in (i, j] */
		if ((j > i && (h <= i || h > j)) || (j < i && h <= i && h > j)) {
			m->key[i] = m->key[j];
			m->val[i] = m->val[j];
			i = j;
		}
	}
	m->key[i] = COORD_MAP_EMPTY;
}

static int cmp_u64(const void *a, const void *b)
{
	return util_cmp_u64(a, b);
}

/* The keys in ascending order (a malloc'd array of m->n, or NULL). */
uint64_t *coord_map_sorted_keys(const struct coord_map *m)
{
	uint64_t *k;
	uint32_t n = 0;

	if (!m->n)
		return NULL;
	k = xmalloc(m->n * sizeof(*k));
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->key[i] != COORD_MAP_EMPTY)
			k[n++] = m->key[i];
	qsort(k, n, sizeof(*k), cmp_u64);
	return k;
}

/* ---- the id set ---- */

int coord_idset_has(const struct coord_idset *s, uint64_t x)
{
	return (x >= s->lo && x < s->below) || coord_map_find(&s->out, x, NULL);
}

/* Adds x; 0 when it was there already, else 1. */
int coord_idset_add(struct coord_idset *s, uint64_t x)
{
	if (coord_idset_has(s, x))
		return 0;
	if (s->lo == s->below && !s->out.n) {
		s->lo = x;
		s->below = x + 1;
	} else if (x == s->below) {
		s->below++;
	} else if (x == s->lo - 1) {
		s->lo--;
		while (s->lo && s->out.n && coord_map_find(&s->out, s->lo - 1, NULL)) {
			coord_map_del(&s->out, s->lo - 1);
			s->lo--;
		}
		return 1;
	} else {
		coord_map_put(&s->out, x, 0);
		return 1;
	}
	/* the range grows over the ids that follow it */
	while (s->out.n && coord_map_find(&s->out, s->below, NULL)) {
		coord_map_del(&s->out, s->below);
		s->below++;
	}
	return 1;
}

uint64_t coord_idset_count(const struct coord_idset *s)
{
	return s->below - s->lo + s->out.n;
}
