/*
 * swim_members.c - the SWIM member table: members in an array (this node
 * first) indexed by an open-addressing hash of their address, their
 * status changes, and the reaping of long-gone members (see swim_impl.h).
 */
#include "membership/swim_impl.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

void swim_members_rehash(struct swim *s)
{
	free(s->hidx);
	s->hcap = 16;
	while (s->hcap < 2 * s->cap)
		s->hcap *= 2;
	s->hidx = xcalloc((size_t)s->hcap, sizeof(int));
	for (int i = 0; i < s->n; i++) {
		uint32_t h = swim_addr_hash(s->mem[i].m.addr) & (uint32_t)(s->hcap - 1);
		while (s->hidx[h])
			h = (h + 1) & (uint32_t)(s->hcap - 1);
		s->hidx[h] = i + 1;
	}
}

void swim_member_set_status(struct swim *s, int i, enum swim_status st, uint64_t inc, uint64_t now)
{
	struct member *mb = &s->mem[i];
	enum swim_status old = mb->m.status;

	mb->m.incarnation = inc;
	if (st != SWIM_SUSPECT)
		mb->naccusers = 0;
	if (old == st)
		return;
	s->nlive += swim_status_live(st) - swim_status_live(old);
	if (st == SWIM_SUSPECT)
		swim_suspicion_track(s, i);
	else if (old == SWIM_SUSPECT)
		swim_suspicion_untrack(s, i);
	mb->m.status = st;
	mb->m.changed_ms = now;
	if (s->fn && i != 0)
		s->fn(s->arg, &mb->m, old);
}

int swim_member_add(struct swim *s, struct wire_addr a, uint64_t inc, uint64_t now)
{
	int i;

	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->mem = realloc(s->mem, (size_t)s->cap * sizeof(*s->mem));
		s->order = realloc(s->order, (size_t)s->cap * sizeof(*s->order));
		s->suspects = realloc(s->suspects, (size_t)s->cap * sizeof(*s->suspects));
		ASSERT(s->mem && s->order && s->suspects);
	}
	i = s->n++;
	memset(&s->mem[i], 0, sizeof(s->mem[i]));
	s->mem[i].m = (struct swim_member){a, SWIM_ALIVE, inc, now};
	s->mem[i].bq = -1;
	s->nlive++;
	if (2 * s->n > s->hcap)
		swim_members_rehash(s);
	else {
		uint32_t h = swim_addr_hash(a) & (uint32_t)(s->hcap - 1);
		while (s->hidx[h])
			h = (h + 1) & (uint32_t)(s->hcap - 1);
		s->hidx[h] = i + 1;
	}
	/* a new member goes to a random place in the probe order */
	if (i > 0) {
		int at = s->norder ? (int)(swim_rand(s) % (uint64_t)(s->norder + 1)) : 0;
		s->order[s->norder++] = s->order[at];
		s->order[at] = a;
	}
	if (s->fn && i > 0)
		s->fn(s->arg, &s->mem[i].m, SWIM_STATUS_MAX);
	return i;
}

void swim_members_reap(struct swim *s, uint64_t now)
{
	int removed = 0;

	for (int i = 1; i < s->n; i++) {
		struct member *mb = &s->mem[i];
		if (!swim_status_live(mb->m.status) && now - mb->m.changed_ms > s->c.reap_ms) {
			s->mem[i--] = s->mem[--s->n];
			removed = 1;
		}
	}
	if (removed) {
		swim_members_rehash(s);
		s->pos = s->norder; /* rebuild the probe order */
		swim_bcast_relink(s);
		swim_suspicion_relist(s);
	}
}

int swim_knows(const struct swim *s, struct wire_addr a)
{
	return swim_member_find(s, a) >= 0;
}

int swim_live_count(const struct swim *s)
{
	return s->nlive;
}

int swim_members(const struct swim *s, struct swim_member *out, int max)
{
	for (int i = 0; i < s->n && i < max; i++)
		out[i] = s->mem[i].m;
	return s->n;
}

const struct swim_member *swim_self(const struct swim *s)
{
	return &s->mem[0].m;
}
