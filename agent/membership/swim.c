/*
 * swim.c - the SWIM membership protocol core (see swim.h): updates
 * applied, messages answered, the probe cycle, gossip, push-pull, join and
 * leave.  The member table, the send queues, suspicion and the codec are
 * in their own files (swim_impl.h lists them).
 */
#include "membership/swim_impl.h"
#include "util.h"

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

/* ---- messages ---- */

/* A message with the gossip piggybacked, and with extra (when not NULL)
 * too unless the gossip already says something of its member. */
static void send_msg(struct swim *s, struct wire_addr to, uint8_t type, uint8_t flags, uint32_t seq,
		     struct wire_addr target, struct wire_addr origin,
		     const struct swim_update *extra)
{
	struct swim_msg m = {
		.type = type, .flags = flags, .seq = seq, .target = target, .origin = origin};
	int have = 0;

	swim_bcast_piggyback(s, &m);
	for (int k = 0; extra && k < m.nupdates; k++)
		have |= wire_addr_eq(m.updates[k].addr, extra->addr);
	if (extra && !have && m.nupdates < SWIM_MAX_UPDATES)
		m.updates[m.nupdates++] = *extra;
	swim_out_emit(s, to, &m);
}

/* The full membership, in as many STATE messages as it takes. */
static void send_state(struct swim *s, struct wire_addr to, uint8_t flags)
{
	struct swim_msg m = {.type = WIRE_STATE, .flags = flags};

	for (int i = 0; i < s->n; i++) {
		m.updates[m.nupdates++] = swim_member_update(&s->mem[i]);
		if (m.nupdates == SWIM_MAX_UPDATES || i == s->n - 1) {
			swim_out_emit(s, to, &m);
			m.nupdates = 0;
		}
	}
}

/* ---- updates ---- */

/* Sends one update straight to one member (besides gossiping it). */
static void tell(struct swim *s, struct wire_addr to, const struct swim_update *u)
{
	struct swim_msg m = {.type = WIRE_GOSSIP, .nupdates = 1};

	if (!to.ip || wire_addr_eq(to, s->mem[0].m.addr))
		return;
	m.updates[0] = *u;
	swim_out_emit(s, to, &m);
}

/* Someone suspects (or failed) me: outrank it, and tell the accuser first. */
static void refute(struct swim *s, const struct swim_update *about_me)
{
	struct member *self = &s->mem[0];
	struct swim_update u;

	if (about_me->incarnation >= self->m.incarnation)
		self->m.incarnation = about_me->incarnation + 1;
	u = swim_member_update(self);
	swim_bcast_enqueue(s, &u);
	tell(s, about_me->accuser, &u);
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
	i = swim_member_find(s, u->addr);
	if (i < 0) {
		if (u->status == SWIM_ALIVE) {
			swim_member_add(s, u->addr, u->incarnation, now);
			swim_bcast_enqueue(s, u);
		}
		return;
	}
	mb = &s->mem[i];
	switch (u->status) {
	case SWIM_ALIVE:
		if (u->incarnation > mb->m.incarnation) {
			swim_member_set_status(s, i, SWIM_ALIVE, u->incarnation, now);
			swim_bcast_enqueue(s, u);
		}
		break;
	case SWIM_SUSPECT:
		if ((mb->m.status == SWIM_ALIVE && u->incarnation >= mb->m.incarnation) ||
		    (mb->m.status == SWIM_SUSPECT && u->incarnation > mb->m.incarnation)) {
			swim_member_set_status(s, i, SWIM_SUSPECT, u->incarnation, now);
			swim_suspicion_start(s, i, u->accuser, now);
			swim_bcast_enqueue(s, u);
			/* Lifeguard's buddy system: the accuser tells the suspect at
			 * once, so that it can refute before the timeout. */
			if (wire_addr_eq(u->accuser, s->mem[0].m.addr))
				tell(s, u->addr, u);
		} else if (mb->m.status == SWIM_SUSPECT && u->incarnation == mb->m.incarnation &&
			   swim_suspicion_confirm(mb, u->accuser)) {
			swim_bcast_enqueue(s, u); /* an independent confirmation: pass it on */
		}
		break;
	case SWIM_FAILED:
		if (swim_status_live(mb->m.status) && u->incarnation >= mb->m.incarnation) {
			swim_member_set_status(s, i, SWIM_FAILED, u->incarnation, now);
			swim_bcast_enqueue(s, u);
		}
		break;
	case SWIM_LEFT:
		if (mb->m.status != SWIM_LEFT && u->incarnation >= mb->m.incarnation) {
			swim_member_set_status(s, i, SWIM_LEFT, u->incarnation, now);
			swim_bcast_enqueue(s, u);
		}
		break;
	default:
		break;
	}
}

/* ---- setup, commands and the clock ---- */

struct swim *swim_new(const struct swim_config *c, struct wire_addr self, uint64_t incarnation,
		      uint64_t seed, uint64_t now)
{
	struct swim *s = xcalloc(1, sizeof(*s));

	s->c = *c;
	s->rng = seed ^ ((uint64_t)self.ip << 16 | self.port);
	swim_members_rehash(s);
	swim_member_add(s, self, incarnation, now);
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
	free(s->suspects);
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
	swim_join_seeds(s, &seed, 1, now);
}

void swim_join_seeds(struct swim *s, const struct wire_addr *seeds, int n, uint64_t now)
{
	s->nseeds = MAX(1, MIN(n, SWIM_SEEDS_MAX));
	memcpy(s->seeds, seeds, (size_t)s->nseeds * sizeof(*seeds));
	s->seed_next = 0;
	s->joining = 1;
	s->joined = 0;
	s->next_join = now;
	swim_tick(s, now);
}

void swim_leave(struct swim *s, uint64_t now)
{
	struct swim_msg m = {.type = WIRE_GOSSIP, .nupdates = 1};

	s->left = 1;
	swim_member_set_status(s, 0, SWIM_LEFT, s->mem[0].m.incarnation + 1, now);
	m.updates[0] = swim_member_update(&s->mem[0]);
	for (int i = 1; i < s->n; i++)
		if (swim_status_live(s->mem[i].m.status))
			swim_out_emit(s, s->mem[i].m.addr, &m);
}

/*
 * An accusation older than what this node holds (a suspicion or failure
 * of an incarnation the member, maybe this node, has since refuted): its
 * sender missed the refutation, whose few gossiped copies can all miss
 * one node, and would declare the member failed when its suspicion runs
 * out.  Tell it the newer state directly.
 */
static void answer_stale(struct swim *s, struct wire_addr from, const struct swim_update *u)
{
	int i = swim_member_find(s, u->addr);
	struct swim_update mine;

	if ((u->status != SWIM_SUSPECT && u->status != SWIM_FAILED) || i < 0 ||
	    s->mem[i].m.status != SWIM_ALIVE || s->mem[i].m.incarnation <= u->incarnation)
		return;
	mine = swim_member_update(&s->mem[i]);
	tell(s, from, &mine);
}

void swim_receive(struct swim *s, struct wire_addr from, const struct swim_msg *m, uint64_t now)
{
	for (int i = 0; i < m->nupdates; i++) {
		swim_apply(s, &m->updates[i], now);
		if (!s->left) /* after: a refutation just made makes it stale too */
			answer_stale(s, from, &m->updates[i]);
	}
	if (s->left)
		return;
	switch (m->type) {
	case WIRE_PING:
		if (m->flags & SWIM_F_RELAYED)
			send_msg(s, from, WIRE_ACK, SWIM_F_RELAYED, m->seq, from, m->origin, NULL);
		else
			send_msg(s, from, WIRE_ACK, 0, m->seq, from, from, NULL);
		break;
	case WIRE_ACK:
		if ((m->flags & SWIM_F_RELAYED) && !wire_addr_eq(m->origin, s->mem[0].m.addr)) {
			/* I probed for someone: pass the ack back to them */
			send_msg(s, m->origin, WIRE_ACK, 0, m->seq, from, m->origin, NULL);
		} else if (s->probe.active && m->seq == s->probe.seq) {
			s->probe.acked = 1;
		}
		break;
	case WIRE_PING_REQ:
		send_msg(s, m->target, WIRE_PING, SWIM_F_RELAYED, m->seq, m->target, from, NULL);
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
		if (swim_rand(s) % (uint64_t)cand < (uint64_t)(want - got))
			out[got++] = mb->m.addr;
		cand--;
	}
	return got;
}

/*
 * The probe's ping to member i.  A suspect's ping carries its suspicion
 * (Lifeguard's buddy system, beyond the accuser's own word): the suspect
 * refutes it, or answers with the newer incarnation it already has.
 */
static void send_ping(struct swim *s, int i)
{
	struct wire_addr a = s->mem[i].m.addr;
	struct swim_update u = swim_member_update(&s->mem[i]);

	send_msg(s, a, WIRE_PING, 0, s->probe.seq, a, s->mem[0].m.addr,
		 s->mem[i].m.status == SWIM_SUSPECT ? &u : NULL);
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
				if (swim_status_live(s->mem[k].m.status))
					s->order[s->norder++] = s->mem[k].m.addr;
			for (int k = s->norder - 1; k > 0; k--) {
				int j = (int)(swim_rand(s) % (uint64_t)(k + 1));
				struct wire_addr t = s->order[k];
				s->order[k] = s->order[j];
				s->order[j] = t;
			}
			s->pos = 0;
			if (!s->norder)
				return;
		}
		a = s->order[s->pos++];
		i = swim_member_find(s, a);
		if (i <= 0 || !swim_status_live(s->mem[i].m.status))
			continue;
		s->probe = (struct probe){1, 0, 0, a, ++s->next_seq, now};
		send_ping(s, i);
		return;
	}
}

void swim_tick(struct swim *s, uint64_t now)
{
	struct wire_addr none = {0, 0};
	uint64_t last = s->last_tick;

	s->last_tick = now;
	if (s->left)
		return;
	if (s->joining && now >= s->next_join) {
		struct swim_msg m = {.type = WIRE_JOIN, .nupdates = 1};
		m.updates[0] = swim_member_update(&s->mem[0]);
		swim_out_emit(s, s->seeds[s->seed_next++ % s->nseeds], &m);
		s->next_join = now + s->c.join_retry_ms;
	}
	/* Ticks come at least every gossip interval.  A longer gap means this
	 * loop was held up (the host stalled): no refutation could be heard
	 * meanwhile, so the time held does not count against suspects. */
	if (last && now > last + 2 * s->c.gossip_interval_ms)
		swim_suspicion_hold(s, last + s->c.gossip_interval_ms, now);
	swim_suspicion_expire(s, now);
	/* the probe in flight: indirect probes, then suspicion */
	if (s->probe.active && !s->probe.acked && !s->probe.indirect_sent &&
	    now >= s->probe.start + s->c.probe_timeout_ms) {
		struct wire_addr helpers[16];
		int k = random_live_others(s, s->probe.target, helpers,
					   (int)MIN(s->c.indirect_k, ARRAY_SIZE(helpers)));
		for (int j = 0; j < k; j++)
			send_msg(s, helpers[j], WIRE_PING_REQ, 0, s->probe.seq, s->probe.target,
				 s->mem[0].m.addr, NULL);
		s->probe.indirect_sent = 1;
		/* a late tick (this loop held up, the host stalled) still gives the
		 * indirect probes the rest of an interval before suspecting */
		s->next_probe =
			MAX(s->next_probe, now + s->c.probe_interval_ms - s->c.probe_timeout_ms);
	}
	if (now >= s->next_probe) {
		if (s->probe.active && !s->probe.acked) {
			int i = swim_member_find(s, s->probe.target);
			/* a failed probe of a member already suspect is an independent
			 * confirmation (Lifeguard): the timeout shrinks */
			if (i > 0 && swim_status_live(s->mem[i].m.status)) {
				struct swim_update u = swim_member_update(&s->mem[i]);
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
				send_msg(s, to[j], WIRE_GOSSIP, 0, 0, none, none, NULL);
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
			int pick = (int)(swim_rand(s) % (uint64_t)nf);
			for (int i = 1; i < s->n; i++)
				if (s->mem[i].m.status == SWIM_FAILED && pick-- == 0) {
					send_state(s, s->mem[i].m.addr, SWIM_F_REPLY);
					break;
				}
		}
		s->next_reconnect = now + s->c.reconnect_interval_ms;
	}
	if (now >= s->next_reap) {
		swim_members_reap(s, now);
		s->next_reap = now + 1000;
	}
}

uint64_t swim_last_tick(const struct swim *s)
{
	return s->last_tick;
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
	return MIN(d, swim_suspicion_deadline(s));
}
