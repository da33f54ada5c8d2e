/*
 * swim_suspicion.c - Lifeguard-style suspicion (see swim_impl.h).
 *
 * A suspicion turns into a failure after a timeout between min =
 * suspicion_mult x log10(n) x probe interval and max = suspicion_max_mult
 * x min: it starts at max and shrinks (logarithmically) with each
 * independent confirmation, another member whose probe also failed.
 */
#include "membership/swim_impl.h"
#include "util.h"

#include <math.h>

static uint64_t timeout(const struct swim *s, const struct member *mb)
{
	double lg = log10((double)MAX(swim_live_count(s), 1));
	double min = s->c.suspicion_mult * MAX(1.0, lg) * s->c.probe_interval_ms;
	double max = s->c.suspicion_max_mult * min;
	double k = MAX(1, (int)s->c.suspicion_mult - 2);
	int c = MAX(mb->naccusers - 1, 0);
	double t = max - (max - min) * log(c + 1.0) / log(k + 1.0);

	return (uint64_t)(t < min ? min : t);
}

int swim_suspicion_confirm(struct member *mb, struct wire_addr accuser)
{
	for (int k = 0; k < mb->naccusers; k++)
		if (wire_addr_eq(mb->accusers[k], accuser))
			return 0;
	if (mb->naccusers < SWIM_MAX_ACCUSERS)
		mb->accusers[mb->naccusers++] = accuser;
	return 1;
}

void swim_suspicion_start(struct swim *s, int i, struct wire_addr accuser, uint64_t now)
{
	struct member *mb = &s->mem[i];

	mb->suspect_start = now;
	mb->naccusers = 0;
	swim_suspicion_confirm(mb, accuser);
}

void swim_suspicion_expire(struct swim *s, uint64_t now)
{
	for (int i = 1; s->nsuspect && i < s->n; i++) {
		struct member *mb = &s->mem[i];
		if (mb->m.status == SWIM_SUSPECT && now - mb->suspect_start >= timeout(s, mb)) {
			struct swim_update u = swim_member_update(mb);
			u.status = SWIM_FAILED;
			swim_apply(s, &u, now);
		}
	}
}

uint64_t swim_suspicion_deadline(const struct swim *s)
{
	uint64_t d = UINT64_MAX;

	for (int i = 1; s->nsuspect && i < s->n; i++)
		if (s->mem[i].m.status == SWIM_SUSPECT)
			d = MIN(d, s->mem[i].suspect_start + timeout(s, &s->mem[i]));
	return d;
}
