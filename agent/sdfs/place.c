/*
 * place.c - rendezvous hashing (see place.h).
 */
#include "sdfs/place.h"

#include <string.h>

/* FNV-1a over the name, then the node mixed in with a 64-bit finaliser. */
uint64_t place_weight(const char *name, struct wire_addr node)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	h ^= ((uint64_t)node.ip << 16 | node.port) * 0x9e3779b97f4a7c15ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

int place_replicas(const char *name, const struct wire_addr *nodes, int n, int r,
		   struct wire_addr *out)
{
	uint64_t w[64];
	int k = 0;

	if (r > 64)
		r = 64;
	/* insertion into a short sorted list: n is a cluster, r is small */
	for (int i = 0; i < n; i++) {
		uint64_t wi = place_weight(name, nodes[i]);
		int j = k < r ? k++ : r;
		if (j == r && (r == 0 || wi <= w[r - 1]))
			continue;
		if (j == r)
			j = r - 1;
		while (j > 0 && w[j - 1] < wi) {
			w[j] = w[j - 1];
			out[j] = out[j - 1];
			j--;
		}
		w[j] = wi;
		out[j] = nodes[i];
	}
	return k;
}
