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
#include <stdlib.h>
#include <string.h>

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

void swim_suspicion_track(struct swim *s, int i)
{
	s->suspects[s->nsuspect++] = i;
}

void swim_suspicion_untrack(struct swim *s, int i)
{
	for (int k = 0; k < s->nsuspect; k++)
		if (s->suspects[k] == i) {
			s->suspects[k] = s->suspects[--s->nsuspect];
			return;
		}
	ASSERT(0); /* untracking a member that was not suspect */
}

void swim_suspicion_relist(struct swim *s)
{
	s->nsuspect = 0;
	for (int i = 1; i < s->n; i++)
		if (s->mem[i].m.status == SWIM_SUSPECT)
			s->suspects[s->nsuspect++] = i;
}

void swim_suspicion_hold(struct swim *s, uint64_t from, uint64_t now)
{
	for (int k = 0; k < s->nsuspect; k++) {
		uint64_t *st = &s->mem[s->suspects[k]].suspect_start;
		/* only the part of [from, now) the suspicion ran through: one heard
		 * of as the loop came back (after from) gets nothing */
		if (*st < now)
			*st += now - MAX(*st, from);
	}
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

void swim_suspicion_expire(struct swim *s, uint64_t now)
{
	int n = s->nsuspect, few[64], *idx = few;

	if (!n)
		return;
	/* in member order, each timeout taken as the failures before it left it */
	if (n > (int)ARRAY_SIZE(few))
		idx = xmalloc((size_t)n * sizeof(*idx));
	memcpy(idx, s->suspects, (size_t)n * sizeof(*idx));
	qsort(idx, (size_t)n, sizeof(*idx), cmp_int);
	for (int k = 0; k < n; k++) {
		struct member *mb = &s->mem[idx[k]];
		if (mb->m.status == SWIM_SUSPECT && now >= mb->suspect_start &&
		    now - mb->suspect_start >= timeout(s, mb)) {
			struct swim_update u = swim_member_update(mb);
			u.status = SWIM_FAILED;
			swim_apply(s, &u, now);
		}
	}
	if (idx != few)
		free(idx);
}

uint64_t swim_suspicion_deadline(const struct swim *s)
{
	uint64_t d = UINT64_MAX;

	for (int k = 0; k < s->nsuspect; k++) {
		const struct member *mb = &s->mem[s->suspects[k]];
		d = MIN(d, mb->suspect_start + timeout(s, mb));
	}
	return d;
}
