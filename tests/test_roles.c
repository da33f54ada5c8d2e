/*
 * Description: the coordinator and standby from a membership view
 * (agent/tasks/roles.c), on tables of 10-node views: a new cluster elects
 * the lowest address with epoch 1; a live coordinator stays (also when
 * suspect); a failed or left coordinator is replaced by its standby with
 * epoch + 1 and a new standby is named; with a suspect standby nobody
 * takes over until it is alive or gone; with both gone the lowest alive
 * member takes over cold; a returning former coordinator does not get its
 * role back (no flap), nor does a returning standby; a failed standby is
 * replaced; partitions 4/6 (coordinator on either side, suspect or
 * failed, failed members reaped or not) leave the minority with no active
 * coordinator and at most one side dispatching; every node with the same
 * view computes the same roles whatever the order of its member list;
 * random views keep the invariants (the coordinator is live, a takeover
 * has a majority and epoch + 1, the standby differs from it) and feeding
 * the roles back in is a fixpoint (no flap).
 */
#include "check.h"
#include "tasks/roles.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define N 10

static struct wire_addr A(int i) /* node i, 1..N */
{
	return (struct wire_addr){0x7f000000u + (uint32_t)i, 7000};
}

static const struct wire_addr NONE = {0, 0};

/* A view of nodes 1..N from statuses: 'a'live, 's'uspect, 'f'ailed, 'l'eft, '-' absent. */
static int view(const char *st, struct swim_member *m)
{
	int n = 0;

	for (int i = 0; i < N; i++) {
		if (st[i] == '-')
			continue;
		m[n].addr = A(i + 1);
		m[n].incarnation = 1000 + (uint64_t)i;
		m[n].changed_ms = 0;
		m[n].status = st[i] == 'a'   ? SWIM_ALIVE
			      : st[i] == 's' ? SWIM_SUSPECT
			      : st[i] == 'f' ? SWIM_FAILED
					     : SWIM_LEFT;
		n++;
	}
	return n;
}

static int node(struct wire_addr a)
{
	return a.ip ? (int)(a.ip - 0x7f000000u) : 0;
}

struct row {
	const char *name;
	const char *st; /* statuses of nodes 1..10 */
	uint64_t epoch;
	int coord, standby; /* the inputs (0: none) */
	uint32_t size;
	int lost;
	/* expected */
	int want_coord, want_standby;
	uint64_t want_epoch;
	int takeover, cold, active;
};

static const struct row rows[] = {
	{"new cluster", "aaaaaaaaaa", 0, 0, 0, 10, 0, 1, 2, 1, 1, 1, 1},
	{"new cluster, one node", "a---------", 0, 0, 0, 1, 0, 1, 0, 1, 1, 1, 1},
	{"new cluster, 2 of 10 up", "aa--------", 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0},
	{"sitting coordinator", "aaaaaaaaaa", 3, 4, 7, 10, 0, 4, 7, 3, 0, 0, 1},
	{"coordinator suspect: it stays", "aaasaaaaaa", 3, 4, 7, 10, 0, 4, 7, 3, 0, 0, 1},
	{"coordinator failed: standby takes over", "aaafaaaaaa", 3, 4, 7, 10, 0, 7, 8, 4, 1, 0, 1},
	{"coordinator left: standby takes over", "aaalaaaaaa", 3, 4, 7, 9, 0, 7, 8, 4, 1, 0, 1},
	{"coordinator reaped: standby takes over", "aaa-aaaaaa", 3, 4, 7, 10, 0, 7, 8, 4, 1, 0, 1},
	{"coordinator lost (stream closed + suspect)", "aaasaaaaaa", 3, 4, 7, 10, 1, 7, 8, 4, 1, 0,
	 1},
	{"former coordinator back: no flap", "aaaaaaaaaa", 4, 7, 8, 10, 0, 7, 8, 4, 0, 0, 1},
	{"former coordinator back, standby 10", "aaaaaaaaaa", 4, 7, 10, 10, 0, 7, 10, 4, 0, 0, 1},
	{"standby failed: a new one after the coordinator", "aaaaaafaaa", 3, 4, 7, 10, 0, 4, 5, 3,
	 0, 0, 1},
	{"standby failed, next ones too", "aaaaffffaa", 3, 4, 7, 10, 0, 4, 9, 3, 0, 0, 1},
	{"standby wraps around", "aaaaaaaaaa", 3, 10, 0, 10, 0, 10, 1, 3, 0, 0, 1},
	{"standby suspect: it stays", "aaaaaasaaa", 3, 4, 7, 10, 0, 4, 7, 3, 0, 0, 1},
	{"coordinator failed, standby suspect: wait", "aaafaasaaa", 3, 4, 7, 10, 0, 0, 0, 3, 0, 0,
	 0},
	{"coordinator and standby failed: cold", "aaafaafaaa", 3, 4, 7, 10, 0, 1, 2, 4, 1, 1, 1},
	{"both failed, 1 failed too: cold at 2", "faafaafaaa", 3, 4, 7, 10, 0, 2, 3, 4, 1, 1, 1},
	{"coordinator failed, no majority", "aaafffffaa", 3, 4, 7, 10, 0, 0, 0, 3, 0, 0, 0},
	{"returning standby does not displace", "aaaaaaaaaa", 5, 7, 9, 10, 0, 7, 9, 5, 0, 0, 1},
	/* partition {1,2,3,4} | {5..10}, coordinator 4, standby 7 */
	{"4/6: minority, others suspect", "aaaassssss", 3, 4, 7, 10, 0, 4, 7, 3, 0, 0, 0},
	{"4/6: minority, others failed", "aaaaffffff", 3, 4, 7, 10, 0, 4, 1, 3, 0, 0, 0},
	{"4/6: minority, others reaped", "aaaa------", 3, 4, 7, 10, 0, 4, 1, 3, 0, 0, 0},
	{"4/6: majority, coordinator suspect", "aaasaaaaaa", 3, 4, 7, 10, 0, 4, 7, 3, 0, 0, 1},
	{"4/6: majority, minority suspect", "ssssaaaaaa", 3, 4, 7, 10, 0, 4, 7, 3, 0, 0, 1},
	{"4/6: majority, minority failed", "ffffaaaaaa", 3, 4, 7, 10, 0, 7, 8, 4, 1, 0, 1},
	/* partition {4,7,1,2} | {3,5,6,8,9,10}: coordinator and standby in the minority */
	{"4/6: both in the minority, its view", "aafaffafff", 3, 4, 7, 10, 0, 4, 7, 3, 0, 0, 0},
	{"4/6: both in the minority, majority view", "ffafaafaaa", 3, 4, 7, 10, 0, 3, 5, 4, 1, 1,
	 1},
};

static void input(const struct row *r, const struct swim_member *m, int n, int self,
		  struct roles_input *in)
{
	memset(in, 0, sizeof(*in));
	in->members = m;
	in->n = n;
	in->self = A(self);
	in->epoch = r->epoch;
	in->coordinator = r->coord ? A(r->coord) : NONE;
	in->standby = r->standby ? A(r->standby) : NONE;
	in->cluster_size = r->size;
	in->coordinator_lost = (uint8_t)r->lost;
}

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void shuffle(struct swim_member *m, int n)
{
	for (int i = n - 1; i > 0; i--) {
		int j = (int)(rnd() % (uint64_t)(i + 1));
		struct swim_member t = m[i];
		m[i] = m[j];
		m[j] = t;
	}
}

static int same_roles(const struct roles *a, const struct roles *b)
{
	return wire_addr_eq(a->coordinator, b->coordinator) &&
	       wire_addr_eq(a->standby, b->standby) && a->epoch == b->epoch &&
	       a->takeover == b->takeover && a->cold == b->cold && a->active == b->active &&
	       a->alive == b->alive && a->known == b->known && a->majority == b->majority;
}

static void test_table(void)
{
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		const struct row *r = &rows[k];
		struct swim_member m[N];
		int n = view(r->st, m);
		struct roles_input in;
		struct roles out, first;
		int coordinators = 0, standbys = 0;

		input(r, m, n, 1, &in);
		roles_compute(&in, &first);
		CHECK(node(first.coordinator) == r->want_coord, "%s: coordinator %d, want %d",
		      r->name, node(first.coordinator), r->want_coord);
		CHECK(node(first.standby) == r->want_standby, "%s: standby %d, want %d", r->name,
		      node(first.standby), r->want_standby);
		CHECK(first.epoch == r->want_epoch, "%s: epoch %llu, want %llu", r->name,
		      (unsigned long long)first.epoch, (unsigned long long)r->want_epoch);
		CHECK(first.takeover == r->takeover && first.cold == r->cold,
		      "%s: takeover %d cold %d", r->name, first.takeover, first.cold);
		CHECK(first.active == r->active, "%s: active %d", r->name, first.active);

		/* every node of the view, whatever its member order, agrees */
		for (int i = 0; i < n; i++) {
			int self = node(m[i].addr);
			struct swim_member perm[N];
			memcpy(perm, m, sizeof(m));
			shuffle(perm, n);
			input(r, perm, n, self, &in);
			roles_compute(&in, &out);
			CHECK(same_roles(&out, &first), "%s: node %d disagrees", r->name, self);
			coordinators += out.self == ROLES_COORDINATOR;
			standbys += out.self == ROLES_STANDBY;
			if (self == r->want_coord)
				CHECK(out.self == ROLES_COORDINATOR, "%s: %d is coordinator",
				      r->name, self);
			else if (self == r->want_standby)
				CHECK(out.self == ROLES_STANDBY, "%s: %d is standby", r->name,
				      self);
			else
				CHECK(out.self == ROLES_WORKER, "%s: %d is a worker (%s)", r->name,
				      self, roles_role_names[out.self]);
		}
		CHECK(coordinators <= 1 && standbys <= 1, "%s: one coordinator, one standby",
		      r->name);

		/* adopting the result is a fixpoint: nothing changes, nothing flaps */
		if (first.coordinator.ip) {
			struct roles again;
			input(r, m, n, 1, &in);
			in.epoch = first.epoch;
			in.coordinator = first.coordinator;
			in.standby = first.standby;
			in.coordinator_lost = 0;
			roles_compute(&in, &again);
			CHECK(wire_addr_eq(again.coordinator, first.coordinator) &&
				      wire_addr_eq(again.standby, first.standby) &&
				      again.epoch == first.epoch && !again.takeover,
			      "%s: adopted roles are stable", r->name);
		}
	}
}

/* A failover story: each step's roles are adopted as the next step's inputs. */
static void test_story(void)
{
	struct swim_member m[N];
	struct roles_input in;
	struct roles out;
	uint64_t epoch = 0;
	struct wire_addr c = NONE, s = NONE;
	const char *steps[] = {
		"aaaaaaaaaa", /* a new cluster: 1, standby 2 */
		"faaaaaaaaa", /* 1 dies: 2 takes over, standby 3 */
		"aaaaaaaaaa", /* 1 is back: nothing changes */
		"afaaaaaaaa", /* 2 dies: 3, standby 4 */
		"aaaaaaaaaa", /* 2 back */
		"aaaaaaaaaa", /* steady */
	};
	const int want_c[] = {1, 2, 2, 3, 3, 3}, want_s[] = {2, 3, 3, 4, 4, 4};
	const uint64_t want_e[] = {1, 2, 2, 3, 3, 3};

	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		int n = view(steps[k], m);
		memset(&in, 0, sizeof(in));
		in.members = m;
		in.n = n;
		in.self = A(5);
		in.epoch = epoch;
		in.coordinator = c;
		in.standby = s;
		in.cluster_size = N;
		roles_compute(&in, &out);
		CHECK(node(out.coordinator) == want_c[k] && node(out.standby) == want_s[k] &&
			      out.epoch == want_e[k] && out.active,
		      "story step %zu: coordinator %d standby %d epoch %llu", k,
		      node(out.coordinator), node(out.standby), (unsigned long long)out.epoch);
		epoch = out.epoch;
		c = out.coordinator;
		s = out.standby;
	}
}

/* Random views: the invariants, order independence, and no two active sides in a partition. */
static void test_random(void)
{
	static const char codes[] = "aaaasfl-";
	int takeovers = 0, none = 0, partitions = 0, dispatching = 0;

	for (int it = 0; it < 100000; it++) {
		char st[N + 1];
		struct swim_member m[N], perm[N];
		struct roles_input in;
		struct roles out, out2;
		int n;

		for (int i = 0; i < N; i++)
			st[i] = codes[rnd() % 8];
		st[N] = '\0';
		n = view(st, m);
		memset(&in, 0, sizeof(in));
		in.members = m;
		in.n = n;
		in.self = A(1 + (int)(rnd() % N));
		in.epoch = rnd() % 4;
		in.coordinator = in.epoch && rnd() % 8 ? A(1 + (int)(rnd() % N)) : NONE;
		in.standby = rnd() % 8 ? A(1 + (int)(rnd() % N)) : NONE;
		in.cluster_size = (uint32_t)(rnd() % 12);
		/* the caller says lost only of a suspect coordinator */
		for (int i = 0; i < n; i++)
			if (wire_addr_eq(m[i].addr, in.coordinator) && m[i].status == SWIM_SUSPECT)
				in.coordinator_lost = rnd() % 2;
		roles_compute(&in, &out);

		memcpy(perm, m, sizeof(m));
		shuffle(perm, n);
		in.members = perm;
		roles_compute(&in, &out2);
		CHECK(same_roles(&out, &out2), "member order changed the roles (%s)", st);
		in.members = m;

		if (!out.coordinator.ip) {
			none++;
			CHECK(!out.active && !out.takeover && !out.standby.ip &&
				      out.epoch == in.epoch,
			      "no coordinator, nothing else (%s)", st);
			continue;
		}
		/* the coordinator is live in the view */
		int ci = -1, si = -1;
		for (int i = 0; i < n; i++) {
			if (wire_addr_eq(m[i].addr, out.coordinator))
				ci = i;
			if (wire_addr_eq(m[i].addr, out.standby))
				si = i;
		}
		CHECK(ci >= 0 && (m[ci].status == SWIM_ALIVE || m[ci].status == SWIM_SUSPECT),
		      "the coordinator is live (%s)", st);
		CHECK(out.active == (out.alive >= out.majority), "active means a majority (%s)",
		      st);
		CHECK(out.majority == out.known / 2 + 1 && out.known >= in.cluster_size,
		      "majority");
		if (out.takeover) {
			takeovers++;
			CHECK(out.epoch == in.epoch + 1, "a takeover has epoch + 1 (%s)", st);
			CHECK(m[ci].status == SWIM_ALIVE && out.active,
			      "a takeover is alive, majority");
			CHECK(!wire_addr_eq(out.coordinator, in.coordinator) ||
				      in.coordinator_lost || in.epoch == 0,
			      "a takeover is by another node (%s)", st);
		} else {
			CHECK(out.epoch == in.epoch &&
				      wire_addr_eq(out.coordinator, in.coordinator),
			      "without a takeover the coordinator stays (%s)", st);
		}
		if (out.standby.ip)
			CHECK(si >= 0 && !wire_addr_eq(out.standby, out.coordinator) &&
				      (m[si].status == SWIM_ALIVE || m[si].status == SWIM_SUSPECT),
			      "the standby is live and not the coordinator (%s)", st);

		/* fixpoint: adopting the roles changes nothing */
		in.epoch = out.epoch;
		in.coordinator = out.coordinator;
		in.standby = out.standby;
		in.coordinator_lost = 0;
		roles_compute(&in, &out2);
		CHECK(wire_addr_eq(out2.coordinator, out.coordinator) &&
			      wire_addr_eq(out2.standby, out.standby) && !out2.takeover,
		      "adopted roles flap (%s)", st);
	}

	/* random partitions of a 10-node cluster: at most one side dispatches */
	for (int it = 0; it < 20000; it++) {
		struct swim_member ma[N], mb[N];
		struct roles_input in;
		struct roles ra, rb;
		uint32_t mask = (uint32_t)(rnd() % (1u << N));
		char far = rnd() % 2 ? 'f' : (rnd() % 2 ? 's' : '-');
		char side_a[N + 1], side_b[N + 1];
		int na, nb;

		for (int i = 0; i < N; i++) {
			side_a[i] = mask >> i & 1 ? 'a' : far;
			side_b[i] = mask >> i & 1 ? far : 'a';
		}
		side_a[N] = side_b[N] = '\0';
		na = view(side_a, ma);
		nb = view(side_b, mb);
		memset(&in, 0, sizeof(in));
		in.epoch = 1 + rnd() % 5;
		in.coordinator = A(1 + (int)(rnd() % N));
		in.standby = A(1 + (int)(rnd() % N));
		in.cluster_size = N;
		in.members = ma;
		in.n = na;
		roles_compute(&in, &ra);
		in.members = mb;
		in.n = nb;
		roles_compute(&in, &rb);
		CHECK(!(ra.active && rb.active), "both sides of a partition dispatch (%s | %s)",
		      side_a, side_b);
		/* a side dispatches when its coordinator is on it and sees a majority */
		int da = ra.active && ra.coordinator.ip && (mask >> (node(ra.coordinator) - 1) & 1);
		int db =
			rb.active && rb.coordinator.ip && !(mask >> (node(rb.coordinator) - 1) & 1);
		CHECK(!(da && db), "two coordinators dispatch (%s | %s)", side_a, side_b);
		dispatching += da || db;
		partitions++;
	}
	printf("random: 100000 views (%d takeovers, %d without a coordinator); %d partitions, "
	       "%d with one side dispatching, none with two\n",
	       takeovers, none, partitions, dispatching);
}

int main(void)
{
	test_table();
	test_story();
	test_random();
	return t_result();
}
