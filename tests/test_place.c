/*
 * Description: replica placement by rendezvous hashing: deterministic
 * and independent of member order; 4 distinct replicas (all members when
 * fewer); balanced (each of 10 nodes holds 40 % +- 5 % of 20000 files);
 * when a node fails only the files it held change placement, each losing
 * exactly that node; when a node joins, a file's placement changes only
 * by that node coming in.
 */
#include "check.h"
#include "sdfs/place.h"

#include <stdio.h>
#include <string.h>

static int has(const struct wire_addr *set, int n, struct wire_addr a)
{
	for (int i = 0; i < n; i++)
		if (wire_addr_eq(set[i], a))
			return 1;
	return 0;
}

int main(void)
{
	struct wire_addr nodes[11], rev[10], a[4], b[4];
	int count[11] = {0}, moved = 0, held = 0;
	char name[64];

	for (int i = 0; i < 11; i++)
		nodes[i] = (struct wire_addr){0x7f000001u + (uint32_t)i, 7600};
	for (int i = 0; i < 10; i++)
		rev[i] = nodes[9 - i];
	CHECK(place_replicas("x", nodes, 3, 4, a) == 3, "fewer members than replicas");
	for (int f = 0; f < 20000; f++) {
		int na, nb;
		snprintf(name, sizeof(name), "dataset/img%05d.jpg", f);
		na = place_replicas(name, nodes, 10, 4, a);
		nb = place_replicas(name, rev, 10, 4, b);
		REQUIRE(na == 4 && nb == 4, "4 replicas");
		CHECK(!memcmp(a, b, sizeof(a)), "%s: placement depends on member order", name);
		for (int i = 0; i < 4; i++) {
			CHECK(!has(a, i, a[i]), "%s: a replica twice", name);
			count[a[i].ip - 0x7f000001u]++;
		}
		/* node 3 (127.0.0.4) fails: the others stay, one newcomer */
		nb = place_replicas(name,
				    (struct wire_addr[]){nodes[0], nodes[1], nodes[2], nodes[4],
							 nodes[5], nodes[6], nodes[7], nodes[8],
							 nodes[9]},
				    9, 4, b);
		if (has(a, 4, nodes[3])) {
			held++;
			for (int i = 0; i < 4; i++)
				if (!wire_addr_eq(a[i], nodes[3]))
					CHECK(has(b, 4, a[i]), "%s: a surviving replica moved",
					      name);
		} else {
			CHECK(!memcmp(a, b, sizeof(a)), "%s moved though node 3 did not hold it",
			      name);
		}
		/* node 10 joins: either nothing changes, or it comes in and one goes */
		nb = place_replicas(name, nodes, 11, 4, b);
		if (memcmp(a, b, sizeof(a))) {
			moved++;
			CHECK(has(b, 4, nodes[10]), "%s moved without the newcomer", name);
			for (int i = 0, kept = 0; i < 4; i++) {
				kept += has(a, 4, b[i]);
				if (i == 3)
					CHECK(kept == 3, "%s: %d kept after a join", name, kept);
			}
		}
	}
	for (int i = 0; i < 10; i++)
		CHECK(count[i] > 20000 * 4 / 10 * 0.95 && count[i] < 20000 * 4 / 10 * 1.05,
		      "node %d holds %d of 20000 files", i, count[i]);
	CHECK(held > 7000 && held < 9000, "node 3 held %d", held);
	CHECK(moved > 6500 && moved < 8000, "a join moved %d files (expect 4/11)", moved);
	printf("ok  20000 files: balanced (%d..%d per node), a failure moves only its %d, a join "
	       "moves %d (4/11 = %d)\n",
	       count[0], count[1], held, moved, 20000 * 4 / 11);
	return t_result();
}
