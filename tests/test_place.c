/*
 * Description: replica placement by rendezvous hashing: deterministic
 * and independent of member order; 4 distinct replicas (all members when
 * fewer); balanced (each of 10 nodes holds 40 % +- 5 % of 20000 files);
 * when a node fails only the files it held change placement, each losing
 * exactly that node; when a node joins, a file's placement changes only
 * by that node coming in.  At 1000 members: every member is weighed (the
 * last of the list as often as the first), 100000 files spread within 20 %
 * of the mean with a binomial variance, the ranking (top 4 and whole) is
 * the same for a shuffled list, and a member leaving moves only its files.
 */
#include "check.h"
#include "sdfs/place.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int has(const struct wire_addr *set, int n, struct wire_addr a)
{
	for (int i = 0; i < n; i++)
		if (wire_addr_eq(set[i], a))
			return 1;
	return 0;
}

/* The same addresses in the same order (compared field by field: padding differs). */
static int same(const struct wire_addr *x, const struct wire_addr *y, int n)
{
	for (int i = 0; i < n; i++)
		if (!wire_addr_eq(x[i], y[i]))
			return 0;
	return 1;
}

#define BIG   1000
#define FILES 100000

static unsigned long long rng = 12345;

static uint32_t next_rand(void)
{
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng >> 33);
}

/* Address i of the 1000-member cluster: 10.0.x.y, two per host on the last few. */
static struct wire_addr big_addr(int i)
{
	return (struct wire_addr){0x0a000001u + (uint32_t)(i % 997), (uint16_t)(7600 + i / 997)};
}

static int big_index(struct wire_addr a)
{
	return (int)(a.ip - 0x0a000001u) + 997 * (a.port - 7600);
}

/*
 * 1000 members: every member weighed (no cap), balanced, the same ranking
 * whatever the input order, and a member leaving moves only its files.
 */
static void test_big(void)
{
	static struct wire_addr nodes[BIG], shuffled[BIG], less[BIG], full_a[BIG], full_b[BIG];
	static int count[BIG];
	struct wire_addr a[4], b[4], c[4];
	int gone = 617, held = 0, lo = FILES, hi = 0, at_end = 0;
	double mean = FILES * 4.0 / BIG, var = 0;
	char name[64];

	for (int i = 0; i < BIG; i++)
		nodes[i] = shuffled[i] = big_addr(i);
	for (int i = BIG - 1; i > 0; i--) {
		int j = (int)(next_rand() % (uint32_t)(i + 1));
		struct wire_addr t = shuffled[i];
		shuffled[i] = shuffled[j];
		shuffled[j] = t;
	}
	for (int i = 0, k = 0; i < BIG; i++) /* without member gone, and in another order */
		if (!wire_addr_eq(shuffled[i], nodes[gone]))
			less[k++] = shuffled[i];
	for (int f = 0; f < FILES; f++) {
		snprintf(name, sizeof(name), "job7/batch%03d/img%06d.jpg", f % 1000, f);
		REQUIRE(place_replicas(name, nodes, BIG, 4, a) == 4, "4 replicas of 1000");
		REQUIRE(place_replicas(name, shuffled, BIG, 4, b) == 4, "4 replicas, shuffled");
		CHECK(same(a, b, (int)ARRAY_SIZE(a)), "%s: placement depends on member order",
		      name);
		for (int i = 0; i < 4; i++) {
			CHECK(!has(a, i, a[i]), "%s: a replica twice", name);
			count[big_index(a[i])]++;
			/* the last members of the list are ranked like the first */
			at_end += big_index(a[i]) >= BIG - 100;
		}
		REQUIRE(place_replicas(name, less, BIG - 1, 4, c) == 4, "4 replicas of 999");
		if (has(a, 4, nodes[gone])) {
			int kept = 0;
			held++;
			for (int i = 0; i < 4; i++)
				kept += has(c, 4, a[i]);
			CHECK(kept == 3 && !has(c, 4, nodes[gone]),
			      "%s: %d of 3 surviving replicas kept after member %d left", name,
			      kept, gone);
		} else {
			CHECK(same(a, c, (int)ARRAY_SIZE(a)),
			      "%s moved though member %d did not hold it", name, gone);
		}
	}
	for (int i = 0; i < BIG; i++) {
		lo = count[i] < lo ? count[i] : lo;
		hi = count[i] > hi ? count[i] : hi;
		var += (count[i] - mean) * (count[i] - mean) / BIG;
	}
	/* 400 files each on average, binomial spread: sd about 20 */
	CHECK(lo > mean * 0.8 && hi < mean * 1.2, "members hold %d..%d files, mean %.0f", lo, hi,
	      mean);
	CHECK(var < 2 * mean, "variance %.0f, binomial %.0f", var, mean);
	CHECK(held > FILES * 4 / BIG * 0.8 && held < FILES * 4 / BIG * 1.2,
	      "member %d held %d files", gone, held);
	CHECK(at_end > FILES * 4 / 10 * 0.9 && at_end < FILES * 4 / 10 * 1.1,
	      "the last 100 members hold %d of %d replicas", at_end, FILES * 4);
	/* the whole ranking: order-independent too, and a permutation */
	for (int f = 0; f < 50; f++) {
		snprintf(name, sizeof(name), "models/resnet18-%d.st", f);
		CHECK(place_replicas(name, nodes, BIG, BIG + 5, full_a) == BIG, "full ranking");
		CHECK(place_replicas(name, shuffled, BIG, BIG, full_b) == BIG, "full ranking");
		CHECK(same(full_a, full_b, (int)ARRAY_SIZE(full_a)),
		      "%s: full ranking depends on order", name);
		CHECK(place_replicas(name, shuffled, BIG, 4, a) == 4 &&
			      same(a, full_a, (int)ARRAY_SIZE(a)),
		      "%s: the top 4 are not the full ranking's first 4", name);
		for (int i = 1; i < BIG; i++)
			CHECK(place_weight(name, full_a[i - 1]) >= place_weight(name, full_a[i]),
			      "%s: ranking out of order at %d", name, i);
		for (int i = 0; i < BIG; i++)
			CHECK(!has(full_a, i, full_a[i]), "%s: ranked twice", name);
	}
	CHECK(place_replicas("x", nodes, BIG, 0, a) == 0 &&
		      place_replicas("x", nodes, 0, 4, a) == 0,
	      "nothing asked, or no members");
	printf("ok  1000 members, %d files: %d..%d per member (mean %.0f, sd %.1f), same in any "
	       "order; member %d leaving moves only its %d; full rankings agree\n",
	       FILES, lo, hi, mean, sqrt(var), gone, held);
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
		CHECK(same(a, b, (int)ARRAY_SIZE(a)), "%s: placement depends on member order",
		      name);
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
			CHECK(same(a, b, (int)ARRAY_SIZE(a)),
			      "%s moved though node 3 did not hold it", name);
		}
		/* node 10 joins: either nothing changes, or it comes in and one goes */
		nb = place_replicas(name, nodes, 11, 4, b);
		if (!same(a, b, (int)ARRAY_SIZE(a))) {
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
	test_big();
	return t_result();
}
