/*
 * Description: the repair planner on generated listings, from every
 * member's point of view: each missing replica is pushed exactly once, by
 * its highest-ranked holder, to exactly the target lacking it; a member
 * that lost a replica asks that holder; after a join the newcomer gets
 * exactly the files it now ranks for, and once it holds them exactly the
 * members no longer among the targets drop them; deletion markers stop
 * every copy of the versions they cover and make holders drop them, while
 * a put after the delete is still replicated; a member back after a
 * delete drops what it missed; listing order does not matter; and 1000
 * members plan from full listings (nothing truncated).
 */
#include "check.h"
#include "sdfs/place.h"
#include "sdfs/sdfs_plan.h"
#include "util.h"

#include <string.h>
#include <time.h>

#define R 4

struct cluster {
	int n;
	struct wire_addr *who;
	struct sdfs_plan_list *lists;
};

static struct cluster cluster_new(int n)
{
	struct cluster c = {n, xcalloc((size_t)n, sizeof(struct wire_addr)),
			    xcalloc((size_t)n, sizeof(struct sdfs_plan_list))};

	for (int i = 0; i < n; i++) {
		c.who[i] = (struct wire_addr){0x0a000001u + (uint32_t)i, (uint16_t)(7600 + i % 3)};
		c.lists[i].who = c.who[i];
		c.lists[i].ok = 1;
	}
	return c;
}

static void cluster_free(struct cluster *c)
{
	for (int i = 0; i < c->n; i++)
		sdfs_plan_list_free(&c->lists[i]);
	free(c->lists);
	free(c->who);
}

static int index_of(const struct cluster *c, struct wire_addr a)
{
	for (int i = 0; i < c->n; i++)
		if (wire_addr_eq(c->who[i], a))
			return i;
	return -1;
}

/* The targets of name among the first n members. */
static int targets(const struct cluster *c, int n, const char *name, int *out)
{
	struct wire_addr t[R];
	int k = place_replicas(name, c->who, n, R, t);

	for (int i = 0; i < k; i++)
		out[i] = index_of(c, t[i]);
	return k;
}

static int plan_of(const struct cluster *c, int self, int ask, struct sdfs_action **out)
{
	struct sdfs_plan_in in = {c->lists, c->n, c->who[self], R, ask};

	return sdfs_plan(&in, out);
}

static int count_op(const struct sdfs_action *a, int n, enum sdfs_plan_op op)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		k += a[i].op == op;
	return k;
}

static void name_of(char *buf, size_t len, int f)
{
	snprintf(buf, len, "data/f%04d.bin", f);
}

/* Each file on its targets, except `missing` (node index per file, or -1). */
static void place_files(struct cluster *c, int nodes, int files, const int *missing)
{
	for (int f = 0; f < files; f++) {
		char name[64];
		int t[R], k;
		name_of(name, sizeof(name), f);
		k = targets(c, nodes, name, t);
		for (int i = 0; i < k; i++)
			if (!missing || t[i] != missing[f])
				sdfs_plan_list_add(&c->lists[t[i]], name, 100 + (uint64_t)f, 0);
	}
}

/* Every file missing one replica: pushed once, by the best holder, to it. */
static void missing_replicas(void)
{
	struct cluster c = cluster_new(10);
	int files = 300, missing[300], pushed[300] = {0}, wrong = 0;
	struct sdfs_action *a;

	for (int f = 0; f < files; f++) {
		char name[64];
		int t[R];
		name_of(name, sizeof(name), f);
		targets(&c, 10, name, t);
		missing[f] = t[f % R];
	}
	place_files(&c, 10, files, missing);
	for (int self = 0; self < 10; self++) {
		int n = plan_of(&c, self, 0, &a);
		for (int i = 0; i < n; i++) {
			int f = atoi(a[i].name + 6), t[R];
			if (a[i].op != SDFS_PLAN_PUSH || index_of(&c, a[i].to) != missing[f] ||
			    a[i].version != 100 + (uint64_t)f) {
				wrong++;
				continue;
			}
			targets(&c, 10, a[i].name, t);
			/* the pusher is the highest-ranked holder */
			wrong += self != (f % R == 0 ? t[1] : t[0]);
			pushed[f]++;
		}
		free(a);
	}
	for (int f = 0; f < files; f++)
		CHECK(pushed[f] == 1, "file %d pushed %d times", f, pushed[f]);
	CHECK(wrong == 0, "%d wrong actions", wrong);

	/* the member lacking it asks when it lost a corrupt replica */
	{
		int self = missing[7], n = plan_of(&c, self, 1, &a), asks = 0;
		for (int i = 0; i < n; i++)
			if (a[i].op == SDFS_PLAN_ASK) {
				int f = atoi(a[i].name + 6), t[R];
				targets(&c, 10, a[i].name, t);
				asks++;
				CHECK(missing[f] == self &&
					      index_of(&c, a[i].to) == (f % R == 0 ? t[1] : t[0]),
				      "ask for %s to the wrong member", a[i].name);
			}
		CHECK(asks > 0, "no asks from a member missing replicas");
		free(a);
		n = plan_of(&c, self, 0, &a);
		CHECK(count_op(a, n, SDFS_PLAN_ASK) == 0, "asks without a lost replica");
		free(a);
	}
	/* a member that did not answer is no target, and holds nothing */
	{
		int pushes = 0;
		c.lists[3].ok = 0;
		for (int self = 0; self < 10; self++) {
			int n = plan_of(&c, self, 0, &a);
			for (int i = 0; i < n; i++)
				pushes += a[i].op == SDFS_PLAN_PUSH && index_of(&c, a[i].to) == 3;
			free(a);
		}
		CHECK(pushes == 0, "%d pushes to a member that did not answer", pushes);
	}
	cluster_free(&c);
	printf("ok  missing replicas: each pushed once by its best holder; asks\n");
}

/* A member joins: it gets exactly its files; then the extra copies go. */
static void join(void)
{
	struct cluster c = cluster_new(11);
	int files = 400, want = 0, got = 0, wrong = 0, drops = 0, should_drop = 0;
	struct sdfs_action *a;

	place_files(&c, 10, files, NULL); /* placed before node 10 joined */
	for (int f = 0; f < files; f++) {
		char name[64];
		int t[R];
		name_of(name, sizeof(name), f);
		targets(&c, 11, name, t);
		for (int i = 0; i < R; i++)
			want += t[i] == 10;
	}
	for (int self = 0; self < 11; self++) {
		int n = plan_of(&c, self, 0, &a);
		for (int i = 0; i < n; i++) {
			if (a[i].op == SDFS_PLAN_PUSH && index_of(&c, a[i].to) == 10)
				got++;
			else
				wrong++; /* nothing dropped before the newcomer holds it */
		}
		free(a);
	}
	CHECK(got == want && wrong == 0, "join: %d pushes to the newcomer (want %d), %d other", got,
	      want, wrong);
	/* the newcomer now holds its files: the old holders that are no
	 * longer targets drop theirs, and nothing else happens */
	for (int f = 0; f < files; f++) {
		char name[64];
		int t[R], old[R], k;
		name_of(name, sizeof(name), f);
		targets(&c, 11, name, t);
		k = targets(&c, 10, name, old);
		for (int i = 0; i < R; i++)
			if (t[i] == 10)
				sdfs_plan_list_add(&c.lists[10], name, 100 + (uint64_t)f, 0);
		for (int i = 0; i < k; i++) {
			int still = 0;
			for (int j = 0; j < R; j++)
				still |= t[j] == old[i];
			should_drop += !still;
		}
	}
	wrong = 0;
	for (int self = 0; self < 11; self++) {
		int n = plan_of(&c, self, 0, &a);
		for (int i = 0; i < n; i++) {
			int t[R], is_target = 0;
			targets(&c, 11, a[i].name, t);
			for (int j = 0; j < R; j++)
				is_target |= t[j] == self;
			if (a[i].op == SDFS_PLAN_DROP_NAME && !is_target)
				drops++;
			else
				wrong++;
		}
		free(a);
	}
	CHECK(drops == should_drop && wrong == 0, "after the join: %d drops (want %d), %d other",
	      drops, should_drop, wrong);
	cluster_free(&c);
	printf("ok  a join: %d files pushed to the newcomer, then %d extra copies dropped\n", got,
	       drops);
}

/* Deletion markers, a put after the delete, and a member back after it. */
static void markers(void)
{
	struct cluster c = cluster_new(8);
	const char *name = "doomed.txt";
	int t[R], back = -1, n, bad = 0;
	struct sdfs_action *a;

	targets(&c, 8, name, t);
	/* everyone deleted up to v2 but t[3], which was down; v3 came after
	 * the delete and is on t[0] only */
	for (int i = 0; i < R; i++)
		if (i == 3) {
			sdfs_plan_list_add(&c.lists[t[i]], name, 1, 0);
			sdfs_plan_list_add(&c.lists[t[i]], name, 2, 0);
			back = t[i];
		} else {
			sdfs_plan_list_add(&c.lists[t[i]], name, 2, 1);
		}
	sdfs_plan_list_add(&c.lists[t[0]], name, 3, 0);
	for (int self = 0; self < 8; self++) {
		int pushes3 = 0;
		n = plan_of(&c, self, 0, &a);
		for (int i = 0; i < n; i++) {
			if (a[i].op == SDFS_PLAN_DROP_UPTO)
				bad += self != back || a[i].version != 2;
			else if (a[i].op == SDFS_PLAN_PUSH && a[i].version == 3)
				pushes3++;
			else
				bad++; /* v1 and v2 are never copied or asked for */
		}
		if (self == back)
			CHECK(count_op(a, n, SDFS_PLAN_DROP_UPTO) == 1,
			      "the member back after the delete does not drop");
		CHECK(pushes3 == (self == t[0] ? R - 1 : 0), "member %d pushes v3 %d times", self,
		      pushes3);
		free(a);
	}
	CHECK(bad == 0, "%d wrong actions around a deletion marker", bad);
	/* a lone marker, nothing held anywhere: nothing to do */
	cluster_free(&c);
	c = cluster_new(5);
	sdfs_plan_list_add(&c.lists[2], name, 9, 1);
	for (int self = 0; self < 5; self++) {
		n = plan_of(&c, self, 1, &a);
		CHECK(n == 0, "a lone marker made %d actions", n);
		free(a);
	}
	cluster_free(&c);
	printf("ok  deletion markers: nothing below them copied, missed deletes dropped, later "
	       "puts replicated\n");
}

static int same_actions(const struct sdfs_action *a, int na, const struct sdfs_action *b, int nb)
{
	if (na != nb)
		return 0;
	for (int i = 0; i < na; i++)
		if (a[i].op != b[i].op || strcmp(a[i].name, b[i].name) ||
		    a[i].version != b[i].version || !wire_addr_eq(a[i].to, b[i].to))
			return 0;
	return 1;
}

/* Shuffled listings (and entries) give the same plan. */
static void order(void)
{
	struct cluster c = cluster_new(12);
	int missing[200];
	unsigned long long seed = 5;
	struct sdfs_action *a, *b;

	for (int f = 0; f < 200; f++)
		missing[f] = f % 13 < 12 ? f % 13 : -1;
	place_files(&c, 12, 200, missing);
	for (int self = 0; self < 12; self++) {
		int na = plan_of(&c, self, 1, &a), nb;
		struct sdfs_plan_list tmp;
		for (int i = c.n - 1; i > 0; i--) {
			int j = (int)((t_randf(&seed) + 1) / 2 * (i + 1)) % (i + 1);
			tmp = c.lists[i];
			c.lists[i] = c.lists[j];
			c.lists[j] = tmp;
		}
		for (int i = 0; i < c.n; i++)
			for (int k = c.lists[i].n - 1; k > 0; k--) {
				struct sdfs_plan_entry e = c.lists[i].e[k];
				c.lists[i].e[k] = c.lists[i].e[k / 2];
				c.lists[i].e[k / 2] = e;
			}
		nb = plan_of(&c, self, 1, &b);
		CHECK(same_actions(a, na, b, nb), "member %d: the plan depends on listing order",
		      self);
		free(a);
		free(b);
	}
	cluster_free(&c);
	printf("ok  the plan does not depend on the listings' order\n");
}

/* 1000 members: every listing counts, the plan is right and quick. */
static void thousand(void)
{
	struct cluster c = cluster_new(1000);
	int files = 2000, *missing = xcalloc(2000, sizeof(int)),
	    *pusher = xcalloc(2000, sizeof(int));
	int *pushed = xcalloc(2000, sizeof(int)), wrong = 0, plans = 0, far = 0;
	char *is_pusher = xcalloc(1000, 1);
	struct timespec t0, t1;
	double ms;

	for (int f = 0; f < files; f++) {
		char name[64];
		int t[R];
		name_of(name, sizeof(name), f);
		targets(&c, 1000, name, t);
		missing[f] = t[f % R];
		pusher[f] = f % R == 0 ? t[1] : t[0];
		is_pusher[pusher[f]] = 1;
		far += missing[f] >= 900; /* listings past any old cap count */
	}
	place_files(&c, 1000, files, missing);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int self = 0; self < 1000; self++) {
		struct sdfs_action *a;
		int n;
		if (!is_pusher[self] && self % 50)
			continue; /* the pushers, and a sample of the rest */
		n = plan_of(&c, self, 0, &a);
		plans++;
		for (int i = 0; i < n; i++) {
			int f = atoi(a[i].name + 6);
			if (a[i].op != SDFS_PLAN_PUSH || pusher[f] != self ||
			    index_of(&c, a[i].to) != missing[f])
				wrong++;
			else
				pushed[f]++;
		}
		free(a);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	for (int f = 0; f < files; f++)
		CHECK(pushed[f] == 1, "1000 members: file %d pushed %d times", f, pushed[f]);
	CHECK(wrong == 0 && far > 0, "1000 members: %d wrong actions (%d targets past 900)", wrong,
	      far);
	printf("ok  1000 members, %d files: %d plans in %.0f ms (%.2f ms each)\n", files, plans, ms,
	       ms / plans);
	free(missing);
	free(pusher);
	free(pushed);
	free(is_pusher);
	cluster_free(&c);
}

int main(void)
{
	missing_replicas();
	join();
	markers();
	order();
	thousand();
	return t_result();
}
