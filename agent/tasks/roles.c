/*
 * roles.c - the coordinator and standby from a membership view (see
 * roles.h).
 */
#include "tasks/roles.h"

#include <string.h>

const char *const roles_role_names[ROLES_ROLE_MAX] = {"worker", "standby", "coordinator"};

/* The member at a (the first one listed, should a view repeat it), or NULL. */
static const struct swim_member *find(const struct roles_input *in, struct wire_addr a)
{
	if (a.ip == 0)
		return NULL;
	for (int i = 0; i < in->n; i++)
		if (wire_addr_eq(in->members[i].addr, a))
			return &in->members[i];
	return NULL;
}

static int live(const struct swim_member *m)
{
	return m && (m->status == SWIM_ALIVE || m->status == SWIM_SUSPECT);
}

/* The first alive member after `after` in rank order, wrapping around, other than skip1, skip2. */
static struct wire_addr next_alive(const struct roles_input *in, struct wire_addr after,
				   struct wire_addr skip1, struct wire_addr skip2)
{
	struct wire_addr best = {0, 0}, lowest = {0, 0};

	for (int i = 0; i < in->n; i++) {
		struct wire_addr a = in->members[i].addr;
		if (in->members[i].status != SWIM_ALIVE || a.ip == 0 || wire_addr_eq(a, skip1) ||
		    wire_addr_eq(a, skip2))
			continue;
		if (lowest.ip == 0 || wire_addr_cmp(a, lowest) < 0)
			lowest = a;
		if (wire_addr_cmp(a, after) > 0 && (best.ip == 0 || wire_addr_cmp(a, best) < 0))
			best = a;
	}
	return best.ip ? best : lowest;
}

void roles_compute(const struct roles_input *in, struct roles *out)
{
	const struct swim_member *c = find(in, in->coordinator);
	const struct swim_member *sb = find(in, in->standby);
	const struct wire_addr none = {0, 0};
	uint32_t views = 0;

	memset(out, 0, sizeof(*out));
	for (int i = 0; i < in->n; i++) {
		out->alive += in->members[i].status == SWIM_ALIVE;
		views += in->members[i].status != SWIM_LEFT;
	}
	out->known = in->cluster_size > views ? in->cluster_size : views;
	out->majority = out->known / 2 + 1;
	out->epoch = in->epoch;

	if (in->epoch > 0 && live(c) && !in->coordinator_lost) {
		/* the sitting coordinator stays */
		out->coordinator = in->coordinator;
	} else if (out->alive >= out->majority) {
		/* takeover: the standby; while it is only suspect, nobody yet
		 * (its state is the hot one); once it is gone too, cold, the
		 * lowest-ranked alive member */
		int hot = live(sb) && !wire_addr_eq(in->standby, in->coordinator);
		if (hot && sb->status == SWIM_ALIVE) {
			out->coordinator = in->standby;
		} else if (!hot) {
			out->coordinator = next_alive(in, none, in->coordinator, none);
			out->cold = out->coordinator.ip != 0;
		}
		out->takeover = out->coordinator.ip != 0;
		out->epoch = in->epoch + out->takeover;
	}
	if (out->coordinator.ip == 0) {
		out->self = ROLES_WORKER;
		return;
	}
	out->active = out->alive >= out->majority;
	if (!out->takeover && live(sb) && !wire_addr_eq(in->standby, out->coordinator))
		out->standby = in->standby;
	else
		out->standby = next_alive(in, out->coordinator, out->coordinator, in->coordinator);
	if (wire_addr_eq(in->self, out->coordinator))
		out->self = ROLES_COORDINATOR;
	else if (out->standby.ip && wire_addr_eq(in->self, out->standby))
		out->self = ROLES_STANDBY;
	else
		out->self = ROLES_WORKER;
}
