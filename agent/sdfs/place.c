/*
 * place.c - rendezvous hashing (see place.h).
 */
#include "sdfs/place.h"
#include "util.h"

#include <stdlib.h>

/* FNV-1a over the name. */
static uint64_t name_hash(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	return h;
}

/* The node mixed into the name's hash with a 64-bit finaliser. */
static uint64_t mix(uint64_t h, struct wire_addr node)
{
	h ^= ((uint64_t)node.ip << 16 | node.port) * 0x9e3779b97f4a7c15ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

uint64_t place_weight(const char *name, struct wire_addr node)
{
	return mix(name_hash(name), node);
}

struct ranked {
	uint64_t w;
	const struct wire_addr *a; /* into the caller's list: out[] gets exact copies */
};

/*
 * Rank order: higher weight first; equal weights (a 64-bit collision) by
 * address, so the order never depends on the order of the input.
 */
static int before(const struct ranked *x, const struct ranked *y)
{
	if (x->w != y->w)
		return x->w > y->w;
	if (x->a->ip != y->a->ip)
		return x->a->ip < y->a->ip;
	return x->a->port < y->a->port;
}

static int cmp_rank(const void *a, const void *b)
{
	return before(b, a) - before(a, b);
}

#define SHORT_LIST 64 /* up to this many wanted: insertion into a short sorted list */

int place_replicas(const char *name, const struct wire_addr *nodes, int n, int r,
		   struct wire_addr *out)
{
	uint64_t h = name_hash(name);
	int want = MIN(MAX(r, 0), MAX(n, 0)), k = 0;

	if (want == 0)
		return 0;
	if (want <= SHORT_LIST) {
		struct ranked top[SHORT_LIST];
		for (int i = 0; i < n; i++) {
			struct ranked c = {mix(h, nodes[i]), &nodes[i]};
			int j = k < want ? k++ : want;
			if (j == want && !before(&c, &top[want - 1]))
				continue;
			if (j == want)
				j = want - 1;
			while (j > 0 && before(&c, &top[j - 1])) {
				top[j] = top[j - 1];
				j--;
			}
			top[j] = c;
		}
		for (int i = 0; i < k; i++)
			out[i] = *top[i].a;
		return k;
	}
	/* a long ranking (a whole cluster's order): weigh everyone, sort */
	{
		struct ranked *all = xmalloc((size_t)n * sizeof(*all));
		for (int i = 0; i < n; i++)
			all[i] = (struct ranked){mix(h, nodes[i]), &nodes[i]};
		qsort(all, (size_t)n, sizeof(*all), cmp_rank);
		for (int i = 0; i < want; i++)
			out[i] = *all[i].a;
		free(all);
	}
	return want;
}
