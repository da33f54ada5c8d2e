/*
 * swim.c - the SWIM membership protocol core (see swim.h).
 */
#include "membership/swim.h"
#include "wire/wire_codec.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const swim_status_names[SWIM_STATUS_MAX] = {
	[SWIM_ALIVE] = "alive",
	[SWIM_SUSPECT] = "suspect",
	[SWIM_FAILED] = "failed",
	[SWIM_LEFT] = "left",
};

void swim_config_default(struct swim_config *c)
{
	*c = (struct swim_config){
		.probe_interval_ms = 100,
		.probe_timeout_ms = 40,
		.indirect_k = 3,
		.suspicion_mult = 3,
		.suspicion_max_mult = 4,
		.retransmit_mult = 4,
		.gossip_interval_ms = 50,
		.gossip_nodes = 3,
		.pushpull_interval_ms = 10000,
		.reconnect_interval_ms = 2000,
		.join_retry_ms = 500,
		.reap_ms = 600000,
	};
}

#define MAX_ACCUSERS 8

struct member {
	struct swim_member m;
	int bq; /* index of its pending broadcast, or -1 */
	uint64_t suspect_start;
	int naccusers;
	struct wire_addr accusers[MAX_ACCUSERS];
};

struct bcast {
	struct swim_update u;
	uint32_t sent;
};

struct probe {
	int active, acked, indirect_sent;
	struct wire_addr target;
	uint32_t seq;
	uint64_t start;
};

struct swim {
	struct swim_config c;
	struct member *mem; /* mem[0] is this node */
	int n, cap;
	int nlive, nsuspect; /* kept up to date by set_status, add_member, reap */
	int *hidx;	     /* open addressing: member index + 1, 0 = empty */
	int hcap;
	uint64_t rng;
	swim_event_fn fn;
	void *arg;
	struct wire_addr *order; /* probe order */
	int norder, pos;
	struct probe probe;
	uint32_t next_seq;
	uint64_t next_probe, next_gossip, next_pushpull, next_reconnect, next_join, next_reap;
	int joined, joining, left;
	struct wire_addr seed;
	struct bcast *bq;
	int nbq, capbq;
	struct swim_out *out;
	int nout, capout, outhead;
};

/* ---- small helpers ---- */

static uint64_t rnd(struct swim *s)
{
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t hash_addr(struct wire_addr a)
{
	uint64_t h = ((uint64_t)a.ip << 16 | a.port) * 0x9e3779b97f4a7c15ull;
	return (uint32_t)(h >> 32);
}

static void rehash(struct swim *s)
{
	free(s->hidx);
	s->hcap = 16;
	while (s->hcap < 2 * s->cap)
		s->hcap *= 2;
	s->hidx = xcalloc((size_t)s->hcap, sizeof(int));
	for (int i = 0; i < s->n; i++) {
		uint32_t h = hash_addr(s->mem[i].m.addr) & (uint32_t)(s->hcap - 1);
		while (s->hidx[h])
			h = (h + 1) & (uint32_t)(s->hcap - 1);
		s->hidx[h] = i + 1;
	}
}

static int find(const struct swim *s, struct wire_addr a)
{
	uint32_t h = hash_addr(a) & (uint32_t)(s->hcap - 1);

	while (s->hidx[h]) {
		if (wire_addr_eq(s->mem[s->hidx[h] - 1].m.addr, a))
			return s->hidx[h] - 1;
		h = (h + 1) & (uint32_t)(s->hcap - 1);
	}
	return -1;
}

static int is_live(enum swim_status st)
{
	return st == SWIM_ALIVE || st == SWIM_SUSPECT;
}

int swim_live_count(const struct swim *s)
{
	return s->nlive;
}

static void emit(struct swim *s, struct wire_addr to, const struct swim_msg *m)
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

static void enqueue(struct swim *s, const struct swim_update *u)
{
	int i = find(s, u->addr);

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

/* Adds the least-sent updates to m; drops those sent often enough. */
static void piggyback(struct swim *s, struct swim_msg *m)
{
	uint32_t limit = retransmit_limit(s);
	int keep = 0;

	if (!s->nbq)
		return;
	qsort(s->bq, (size_t)s->nbq, sizeof(*s->bq), cmp_sent);
	for (int i = 0; i < s->nbq; i++) {
		int mi = find(s, s->bq[i].u.addr);
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

static void send_msg(struct swim *s, struct wire_addr to, uint8_t type, uint8_t flags, uint32_t seq,
		     struct wire_addr target, struct wire_addr origin)
{
	struct swim_msg m = {
		.type = type, .flags = flags, .seq = seq, .target = target, .origin = origin};
	piggyback(s, &m);
	emit(s, to, &m);
}

static struct swim_update update_of(const struct member *mb)
{
	return (struct swim_update){mb->m.addr, (uint8_t)mb->m.status, mb->m.incarnation, {0, 0}};
}

/* The full membership, in as many STATE messages as it takes. */
static void send_state(struct swim *s, struct wire_addr to, uint8_t flags)
{
	struct swim_msg m = {.type = WIRE_STATE, .flags = flags};

	for (int i = 0; i < s->n; i++) {
		m.updates[m.nupdates++] = update_of(&s->mem[i]);
		if (m.nupdates == SWIM_MAX_UPDATES || i == s->n - 1) {
			emit(s, to, &m);
			m.nupdates = 0;
		}
	}
}

/* ---- members ---- */

static void set_status(struct swim *s, int i, enum swim_status st, uint64_t inc, uint64_t now)
{
	struct member *mb = &s->mem[i];
	enum swim_status old = mb->m.status;

	mb->m.incarnation = inc;
	if (st != SWIM_SUSPECT)
		mb->naccusers = 0;
	if (old == st)
		return;
	s->nlive += is_live(st) - is_live(old);
	s->nsuspect += (st == SWIM_SUSPECT) - (old == SWIM_SUSPECT);
	mb->m.status = st;
	mb->m.changed_ms = now;
	if (s->fn && i != 0)
		s->fn(s->arg, &mb->m, old);
}

static int add_member(struct swim *s, struct wire_addr a, uint64_t inc, uint64_t now)
{
	int i;

	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->mem = realloc(s->mem, (size_t)s->cap * sizeof(*s->mem));
		s->order = realloc(s->order, (size_t)s->cap * sizeof(*s->order));
		ASSERT(s->mem && s->order);
	}
	i = s->n++;
	memset(&s->mem[i], 0, sizeof(s->mem[i]));
	s->mem[i].m = (struct swim_member){a, SWIM_ALIVE, inc, now};
	s->mem[i].bq = -1;
	s->nlive++;
	if (2 * s->n > s->hcap)
		rehash(s);
	else {
		uint32_t h = hash_addr(a) & (uint32_t)(s->hcap - 1);
		while (s->hidx[h])
			h = (h + 1) & (uint32_t)(s->hcap - 1);
		s->hidx[h] = i + 1;
	}
	/* a new member goes to a random place in the probe order */
	if (i > 0) {
		int at = s->norder ? (int)(rnd(s) % (uint64_t)(s->norder + 1)) : 0;
		s->order[s->norder++] = s->order[at];
		s->order[at] = a;
	}
	if (s->fn && i > 0)
		s->fn(s->arg, &s->mem[i].m, SWIM_STATUS_MAX);
	return i;
}

/* Sends one update straight to one member (besides gossiping it). */
static void tell(struct swim *s, struct wire_addr to, const struct swim_update *u)
{
	struct swim_msg m = {.type = WIRE_GOSSIP, .nupdates = 1};

	if (!to.ip || wire_addr_eq(to, s->mem[0].m.addr))
		return;
	m.updates[0] = *u;
	emit(s, to, &m);
}

/* Someone suspects (or failed) me: outrank it, and tell the accuser first. */
static void refute(struct swim *s, const struct swim_update *about_me)
{
	struct member *self = &s->mem[0];
	struct swim_update u;

	if (about_me->incarnation >= self->m.incarnation)
		self->m.incarnation = about_me->incarnation + 1;
	u = update_of(self);
	enqueue(s, &u);
	tell(s, about_me->accuser, &u);
}

static int add_accuser(struct member *mb, struct wire_addr who)
{
	for (int k = 0; k < mb->naccusers; k++)
		if (wire_addr_eq(mb->accusers[k], who))
			return 0;
	if (mb->naccusers < MAX_ACCUSERS)
		mb->accusers[mb->naccusers++] = who;
	return 1;
}

void swim_apply(struct swim *s, const struct swim_update *u, uint64_t now)
{
	struct member *mb;
	int i;

	if (u->status >= SWIM_STATUS_MAX)
		return;
	if (wire_addr_eq(u->addr, s->mem[0].m.addr)) {
		/* about me: refute anything but "alive", unless I am leaving */
		if (!s->left && u->status != SWIM_ALIVE &&
		    u->incarnation >= s->mem[0].m.incarnation)
			refute(s, u);
		return;
	}
	i = find(s, u->addr);
	if (i < 0) {
		if (u->status == SWIM_ALIVE) {
			add_member(s, u->addr, u->incarnation, now);
			enqueue(s, u);
		}
		return;
	}
	mb = &s->mem[i];
	switch (u->status) {
	case SWIM_ALIVE:
		if (u->incarnation > mb->m.incarnation) {
			set_status(s, i, SWIM_ALIVE, u->incarnation, now);
			enqueue(s, u);
		}
		break;
	case SWIM_SUSPECT:
		if ((mb->m.status == SWIM_ALIVE && u->incarnation >= mb->m.incarnation) ||
		    (mb->m.status == SWIM_SUSPECT && u->incarnation > mb->m.incarnation)) {
			set_status(s, i, SWIM_SUSPECT, u->incarnation, now);
			mb->suspect_start = now;
			mb->naccusers = 0;
			add_accuser(mb, u->accuser);
			enqueue(s, u);
			/* Lifeguard's buddy system: the accuser tells the suspect at
			 * once, so that it can refute before the timeout. */
			if (wire_addr_eq(u->accuser, s->mem[0].m.addr))
				tell(s, u->addr, u);
		} else if (mb->m.status == SWIM_SUSPECT && u->incarnation == mb->m.incarnation &&
			   add_accuser(mb, u->accuser)) {
			enqueue(s, u); /* an independent confirmation: pass it on */
		}
		break;
	case SWIM_FAILED:
		if (is_live(mb->m.status) && u->incarnation >= mb->m.incarnation) {
			set_status(s, i, SWIM_FAILED, u->incarnation, now);
			enqueue(s, u);
		}
		break;
	case SWIM_LEFT:
		if (mb->m.status != SWIM_LEFT && u->incarnation >= mb->m.incarnation) {
			set_status(s, i, SWIM_LEFT, u->incarnation, now);
			enqueue(s, u);
		}
		break;
	default:
		break;
	}
}

/* Lifeguard: the suspicion timeout shrinks with independent confirmations. */
static uint64_t suspicion_timeout(const struct swim *s, const struct member *mb)
{
	double lg = log10((double)MAX(swim_live_count(s), 1));
	double min = s->c.suspicion_mult * MAX(1.0, lg) * s->c.probe_interval_ms;
	double max = s->c.suspicion_max_mult * min;
	double k = MAX(1, (int)s->c.suspicion_mult - 2);
	int c = MAX(mb->naccusers - 1, 0);
	double t = max - (max - min) * log(c + 1.0) / log(k + 1.0);

	return (uint64_t)(t < min ? min : t);
}

/* ---- public API ---- */

struct swim *swim_new(const struct swim_config *c, struct wire_addr self, uint64_t incarnation,
		      uint64_t seed, uint64_t now)
{
	struct swim *s = xcalloc(1, sizeof(*s));

	s->c = *c;
	s->rng = seed ^ ((uint64_t)self.ip << 16 | self.port);
	rehash(s);
	add_member(s, self, incarnation, now);
	s->joined = 1; /* a cluster of one until it joins another */
	s->next_probe = now + c->probe_interval_ms;
	s->next_gossip = now + c->gossip_interval_ms;
	s->next_pushpull = now + c->pushpull_interval_ms;
	s->next_reconnect = now + c->reconnect_interval_ms;
	s->next_reap = now + 1000;
	return s;
}

void swim_free(struct swim *s)
{
	if (!s)
		return;
	free(s->mem);
	free(s->hidx);
	free(s->order);
	free(s->bq);
	free(s->out);
	free(s);
}

void swim_set_event(struct swim *s, swim_event_fn fn, void *arg)
{
	s->fn = fn;
	s->arg = arg;
}

void swim_join(struct swim *s, struct wire_addr seed, uint64_t now)
{
	s->seed = seed;
	s->joining = 1;
	s->joined = 0;
	s->next_join = now;
	swim_tick(s, now);
}

void swim_leave(struct swim *s, uint64_t now)
{
	struct swim_msg m = {.type = WIRE_GOSSIP, .nupdates = 1};

	s->left = 1;
	set_status(s, 0, SWIM_LEFT, s->mem[0].m.incarnation + 1, now);
	m.updates[0] = update_of(&s->mem[0]);
	for (int i = 1; i < s->n; i++)
		if (is_live(s->mem[i].m.status))
			emit(s, s->mem[i].m.addr, &m);
}

void swim_receive(struct swim *s, struct wire_addr from, const struct swim_msg *m, uint64_t now)
{
	for (int i = 0; i < m->nupdates; i++)
		swim_apply(s, &m->updates[i], now);
	if (s->left)
		return;
	switch (m->type) {
	case WIRE_PING:
		if (m->flags & SWIM_F_RELAYED)
			send_msg(s, from, WIRE_ACK, SWIM_F_RELAYED, m->seq, from, m->origin);
		else
			send_msg(s, from, WIRE_ACK, 0, m->seq, from, from);
		break;
	case WIRE_ACK:
		if ((m->flags & SWIM_F_RELAYED) && !wire_addr_eq(m->origin, s->mem[0].m.addr)) {
			/* I probed for someone: pass the ack back to them */
			send_msg(s, m->origin, WIRE_ACK, 0, m->seq, from, m->origin);
		} else if (s->probe.active && m->seq == s->probe.seq) {
			s->probe.acked = 1;
		}
		break;
	case WIRE_PING_REQ:
		send_msg(s, m->target, WIRE_PING, SWIM_F_RELAYED, m->seq, m->target, from);
		break;
	case WIRE_JOIN:
		send_state(s, from, 0);
		break;
	case WIRE_STATE:
		if (m->flags & SWIM_F_REPLY)
			send_state(s, from, 0);
		if (s->joining) {
			s->joining = 0;
			s->joined = 1;
		}
		break;
	default:
		break;
	}
}

static int random_live_others(struct swim *s, struct wire_addr exclude, struct wire_addr *out,
			      int want)
{
	int cand = 0, got = 0;

	for (int i = 1; i < s->n; i++)
		cand += s->mem[i].m.status == SWIM_ALIVE &&
			!wire_addr_eq(s->mem[i].m.addr, exclude);
	/* reservoir-free: walk from a random start, take with probability */
	for (int i = 1; i < s->n && got < want && cand > 0; i++) {
		const struct member *mb = &s->mem[i];
		if (mb->m.status != SWIM_ALIVE || wire_addr_eq(mb->m.addr, exclude))
			continue;
		if (rnd(s) % (uint64_t)cand < (uint64_t)(want - got))
			out[got++] = mb->m.addr;
		cand--;
	}
	return got;
}

static void start_probe(struct swim *s, uint64_t now)
{
	for (int tries = 0; tries <= s->norder; tries++) {
		struct wire_addr a;
		int i;
		if (s->pos >= s->norder) {
			/* a new round: rebuild the order from live members, shuffled */
			s->norder = 0;
			for (int k = 1; k < s->n; k++)
				if (is_live(s->mem[k].m.status))
					s->order[s->norder++] = s->mem[k].m.addr;
			for (int k = s->norder - 1; k > 0; k--) {
				int j = (int)(rnd(s) % (uint64_t)(k + 1));
				struct wire_addr t = s->order[k];
				s->order[k] = s->order[j];
				s->order[j] = t;
			}
			s->pos = 0;
			if (!s->norder)
				return;
		}
		a = s->order[s->pos++];
		i = find(s, a);
		if (i <= 0 || !is_live(s->mem[i].m.status))
			continue;
		s->probe = (struct probe){1, 0, 0, a, ++s->next_seq, now};
		send_msg(s, a, WIRE_PING, 0, s->probe.seq, a, s->mem[0].m.addr);
		return;
	}
}

static void reap(struct swim *s, uint64_t now)
{
	int removed = 0;

	for (int i = 1; i < s->n; i++) {
		struct member *mb = &s->mem[i];
		if (!is_live(mb->m.status) && now - mb->m.changed_ms > s->c.reap_ms) {
			s->mem[i--] = s->mem[--s->n];
			removed = 1;
		}
	}
	if (removed) {
		int keep = 0;
		rehash(s);
		s->pos = s->norder; /* rebuild the probe order */
		for (int i = 0; i < s->n; i++)
			s->mem[i].bq = -1;
		for (int b = 0; b < s->nbq; b++) { /* drop broadcasts about reaped members */
			int mi = find(s, s->bq[b].u.addr);
			if (mi >= 0) {
				s->mem[mi].bq = keep;
				s->bq[keep++] = s->bq[b];
			}
		}
		s->nbq = keep;
	}
}

void swim_tick(struct swim *s, uint64_t now)
{
	struct wire_addr none = {0, 0};

	if (s->left)
		return;
	if (s->joining && now >= s->next_join) {
		struct swim_msg m = {.type = WIRE_JOIN, .nupdates = 1};
		m.updates[0] = update_of(&s->mem[0]);
		emit(s, s->seed, &m);
		s->next_join = now + s->c.join_retry_ms;
	}
	/* suspicions that ran out */
	for (int i = 1; s->nsuspect && i < s->n; i++) {
		struct member *mb = &s->mem[i];
		if (mb->m.status == SWIM_SUSPECT &&
		    now - mb->suspect_start >= suspicion_timeout(s, mb)) {
			struct swim_update u = update_of(mb);
			u.status = SWIM_FAILED;
			swim_apply(s, &u, now);
		}
	}
	/* the probe in flight: indirect probes, then suspicion */
	if (s->probe.active && !s->probe.acked && !s->probe.indirect_sent &&
	    now >= s->probe.start + s->c.probe_timeout_ms) {
		struct wire_addr helpers[16];
		int k = random_live_others(s, s->probe.target, helpers,
					   (int)MIN(s->c.indirect_k, ARRAY_SIZE(helpers)));
		for (int j = 0; j < k; j++)
			send_msg(s, helpers[j], WIRE_PING_REQ, 0, s->probe.seq, s->probe.target,
				 s->mem[0].m.addr);
		s->probe.indirect_sent = 1;
	}
	if (now >= s->next_probe) {
		if (s->probe.active && !s->probe.acked) {
			int i = find(s, s->probe.target);
			/* a failed probe of a member already suspect is an independent
			 * confirmation (Lifeguard): the timeout shrinks */
			if (i > 0 && is_live(s->mem[i].m.status)) {
				struct swim_update u = update_of(&s->mem[i]);
				u.status = SWIM_SUSPECT;
				u.accuser = s->mem[0].m.addr;
				swim_apply(s, &u, now);
			}
		}
		s->probe.active = 0;
		start_probe(s, now);
		s->next_probe = now + s->c.probe_interval_ms;
	}
	if (now >= s->next_gossip) {
		if (s->nbq) {
			struct wire_addr to[16];
			int k = random_live_others(s, none, to,
						   (int)MIN(s->c.gossip_nodes, ARRAY_SIZE(to)));
			for (int j = 0; j < k; j++)
				send_msg(s, to[j], WIRE_GOSSIP, 0, 0, none, none);
		}
		s->next_gossip = now + s->c.gossip_interval_ms;
	}
	if (now >= s->next_pushpull) {
		struct wire_addr to;
		if (random_live_others(s, none, &to, 1) == 1)
			send_state(s, to, SWIM_F_REPLY);
		s->next_pushpull = now + s->c.pushpull_interval_ms;
	}
	if (now >= s->next_reconnect) {
		/* a failed member may be alive behind a healed partition */
		int nf = 0;
		for (int i = 1; i < s->n; i++)
			nf += s->mem[i].m.status == SWIM_FAILED;
		if (nf) {
			int pick = (int)(rnd(s) % (uint64_t)nf);
			for (int i = 1; i < s->n; i++)
				if (s->mem[i].m.status == SWIM_FAILED && pick-- == 0) {
					send_state(s, s->mem[i].m.addr, SWIM_F_REPLY);
					break;
				}
		}
		s->next_reconnect = now + s->c.reconnect_interval_ms;
	}
	if (now >= s->next_reap) {
		reap(s, now);
		s->next_reap = now + 1000;
	}
}

void swim_flush_broadcasts(struct swim *s)
{
	for (int i = 0; i < s->n; i++)
		s->mem[i].bq = -1;
	s->nbq = 0;
}

uint64_t swim_next_deadline(const struct swim *s)
{
	uint64_t d =
		MIN(MIN(s->next_probe, s->next_gossip), MIN(s->next_pushpull, s->next_reconnect));

	d = MIN(d, s->next_reap);
	if (s->joining)
		d = MIN(d, s->next_join);
	if (s->probe.active && !s->probe.acked && !s->probe.indirect_sent)
		d = MIN(d, s->probe.start + s->c.probe_timeout_ms);
	for (int i = 1; s->nsuspect && i < s->n; i++)
		if (s->mem[i].m.status == SWIM_SUSPECT)
			d = MIN(d, s->mem[i].suspect_start + suspicion_timeout(s, &s->mem[i]));
	return d;
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

/* ---- payload encoding ---- */

int swim_msg_encode(const struct swim_msg *m, uint8_t *buf, size_t cap)
{
	struct wire_buf b = {buf, 0, cap, 0};

	wire_put_u8(&b, m->flags);
	wire_put_u32(&b, m->seq);
	wire_put_addr(&b, m->target);
	wire_put_addr(&b, m->origin);
	wire_put_u16(&b, m->nupdates);
	for (int i = 0; i < m->nupdates && i < SWIM_MAX_UPDATES; i++) {
		wire_put_addr(&b, m->updates[i].addr);
		wire_put_u8(&b, m->updates[i].status);
		wire_put_u64(&b, m->updates[i].incarnation);
		wire_put_addr(&b, m->updates[i].accuser);
	}
	return b.err ? -EMSGSIZE : (int)b.len;
}

int swim_msg_decode(uint8_t type, const uint8_t *p, size_t len, struct swim_msg *m)
{
	struct wire_rd r = {p, len, 0, 0};

	if (type < WIRE_PING || type > WIRE_GOSSIP)
		return -EINVAL;
	m->type = type;
	m->flags = wire_get_u8(&r);
	m->seq = wire_get_u32(&r);
	m->target = wire_get_addr(&r);
	m->origin = wire_get_addr(&r);
	m->nupdates = wire_get_u16(&r);
	if (r.err || m->nupdates > SWIM_MAX_UPDATES)
		return -EINVAL;
	for (int i = 0; i < m->nupdates; i++) {
		m->updates[i].addr = wire_get_addr(&r);
		m->updates[i].status = wire_get_u8(&r);
		m->updates[i].incarnation = wire_get_u64(&r);
		m->updates[i].accuser = wire_get_addr(&r);
		if (m->updates[i].status >= SWIM_STATUS_MAX)
			return -EINVAL;
	}
	return r.err || r.off != len ? -EINVAL : 0;
}
