/*
 * swim_queue.c - what the SWIM core waits to send: the outbox of whole
 * messages (emptied by swim_pop), and the broadcast queue of membership
 * updates that ride piggyback on every message, each about
 * retransmit_mult x ceil(log10(n + 1)) times, least-sent first (see
 * swim_impl.h).
 */
#include "membership/swim_impl.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the outbox ---- */

void swim_out_emit(struct swim *s, struct wire_addr to, const struct swim_msg *m)
{
	if (s->nout == s->capout) {
		if (s->outhead > 0) { /* compact before growing */
			memmove(s->out, s->out + s->outhead,
				(size_t)(s->nout - s->outhead) * sizeof(*s->out));
			s->nout -= s->outhead;
			s->outhead = 0;
		}
		if (s->nout == s->capout) {
			s->capout = s->capout ? 2 * s->capout : 64;
			s->out = realloc(s->out, (size_t)s->capout * sizeof(*s->out));
			ASSERT(s->out);
		}
	}
	s->out[s->nout].to = to;
	s->out[s->nout].msg = *m;
	s->nout++;
}

int swim_pop(struct swim *s, struct swim_out *out)
{
	if (s->outhead == s->nout) {
		s->outhead = s->nout = 0;
		return 0;
	}
	*out = s->out[s->outhead++];
	return 1;
}

/* ---- broadcasts (piggybacked updates) ---- */

static uint32_t retransmit_limit(const struct swim *s)
{
	return s->c.retransmit_mult * (uint32_t)ceil(log10((double)swim_live_count(s) + 1));
}

void swim_bcast_enqueue(struct swim *s, const struct swim_update *u)
{
	int i = swim_member_find(s, u->addr);

	ASSERT(i >= 0); /* updates are about known members */
	if (s->mem[i].bq >= 0) {
		s->bq[s->mem[i].bq].u = *u;
		s->bq[s->mem[i].bq].sent = 0;
		return;
	}
	s->mem[i].bq = s->nbq;
	if (s->nbq == s->capbq) {
		s->capbq = s->capbq ? 2 * s->capbq : 32;
		s->bq = realloc(s->bq, (size_t)s->capbq * sizeof(*s->bq));
		ASSERT(s->bq);
	}
	s->bq[s->nbq].u = *u;
	s->bq[s->nbq].sent = 0;
	s->nbq++;
}

static int cmp_sent(const void *a, const void *b)
{
	const struct bcast *x = a, *y = b;
	return x->sent < y->sent ? -1 : x->sent > y->sent;
}

void swim_bcast_piggyback(struct swim *s, struct swim_msg *m)
{
	uint32_t limit = retransmit_limit(s);
	int keep = 0;

	if (!s->nbq)
		return;
	qsort(s->bq, (size_t)s->nbq, sizeof(*s->bq), cmp_sent);
	for (int i = 0; i < s->nbq; i++) {
		int mi = swim_member_find(s, s->bq[i].u.addr);
		if (m->nupdates < SWIM_MAX_UPDATES) {
			m->updates[m->nupdates++] = s->bq[i].u;
			s->bq[i].sent++;
		}
		if (s->bq[i].sent < limit) {
			s->mem[mi].bq = keep;
			s->bq[keep++] = s->bq[i];
		} else {
			s->mem[mi].bq = -1;
		}
	}
	s->nbq = keep;
}

void swim_bcast_relink(struct swim *s)
{
	int keep = 0;

	for (int i = 0; i < s->n; i++)
		s->mem[i].bq = -1;
	for (int b = 0; b < s->nbq; b++) {
		int mi = swim_member_find(s, s->bq[b].u.addr);
		if (mi >= 0) {
			s->mem[mi].bq = keep;
			s->bq[keep++] = s->bq[b];
		}
	}
	s->nbq = keep;
}

void swim_flush_broadcasts(struct swim *s)
{
	for (int i = 0; i < s->n; i++)
		s->mem[i].bq = -1;
	s->nbq = 0;
}
