/*
 * place.h - where a file's replicas live: rendezvous (highest random
 * weight) hashing over the live members.  Every node computes the same
 * answer from the same membership, with no coordinator; when a member
 * fails only the files it held move, each to the next member in its
 * order, and a joining member takes only the files it now ranks for.
 */
#ifndef IDUNNO_PLACE_H
#define IDUNNO_PLACE_H

#include "wire/wire_addr.h"

#include <stddef.h>
#include <stdint.h>

#define PLACE_DEFAULT_REPLICAS 4

/* A member's weight for name (deterministic, well mixed). */
uint64_t place_weight(const char *name, struct wire_addr node);

/*
 * Writes the min(r, n) members of nodes[0..n) with the highest weights for
 * name into out (room for that many), highest first; every member is
 * weighed, and the order is the same whatever the order of nodes (equal
 * weights rank by address).  r >= n gives the whole ranking.  Returns how
 * many.
 */
int place_replicas(const char *name, const struct wire_addr *nodes, int n, int r,
		   struct wire_addr *out);

#endif
