/*
 * swim_impl.h - what the SWIM core's files share inside membership/ (not
 * for users; swim.h is the interface).
 *
 *   swim.c            the protocol: updates applied, messages answered,
 *                     probes, gossip, push-pull, join and leave
 *   swim_members.c    the member table (hashed by address), status
 *                     changes, reaping
 *   swim_queue.c      what waits to be sent: the outbox and the
 *                     piggybacked broadcasts
 *   swim_suspicion.c  Lifeguard suspicion: accusers and timeouts
 *   swim_codec.c      message payload encoding
 */
#ifndef IDUNNO_SWIM_IMPL_H
#define IDUNNO_SWIM_IMPL_H

#include "membership/swim.h"

#include <stdint.h>

#define SWIM_MAX_ACCUSERS 8

struct member {
	struct swim_member m;
	int bq; /* index of its pending broadcast, or -1 */
	uint64_t suspect_start;
	int naccusers; /* independent suspicions of this incarnation */
	struct wire_addr accusers[SWIM_MAX_ACCUSERS];
};

struct bcast {
	struct swim_update u;
	uint32_t sent; /* times piggybacked so far */
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
	int nlive;     /* kept up to date by set_status, add, reap */
	int *suspects; /* indices of the members suspect now, in no order */
	int nsuspect;
	int *hidx; /* open addressing: member index + 1, 0 = empty */
	int hcap;
	uint64_t rng;
	swim_event_fn fn;
	void *arg;
	struct wire_addr *order; /* probe order */
	int norder, pos;
	struct probe probe;
	uint32_t next_seq;
	uint64_t next_probe, next_gossip, next_pushpull, next_reconnect, next_join, next_reap;
	uint64_t last_tick; /* when swim_tick last ran (0: never) */
	int joined, joining, left;
	struct wire_addr seeds[SWIM_SEEDS_MAX]; /* joined through, in turn */
	int nseeds, seed_next;
	struct bcast *bq; /* pending broadcasts, one per member at most */
	int nbq, capbq;
	struct swim_out *out; /* the outbox, popped from outhead */
	int nout, capout, outhead;
};

/* splitmix64 over the node's own seed: simulations are reproducible. */
static inline uint64_t swim_rand(struct swim *s)
{
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline int swim_status_live(enum swim_status st)
{
	return st == SWIM_ALIVE || st == SWIM_SUSPECT;
}

static inline uint32_t swim_addr_hash(struct wire_addr a)
{
	uint64_t h = ((uint64_t)a.ip << 16 | a.port) * 0x9e3779b97f4a7c15ull;
	return (uint32_t)(h >> 32);
}

/* The index of the member at a, or -1. */
static inline int swim_member_find(const struct swim *s, struct wire_addr a)
{
	uint32_t h = swim_addr_hash(a) & (uint32_t)(s->hcap - 1);

	while (s->hidx[h]) {
		if (wire_addr_eq(s->mem[s->hidx[h] - 1].m.addr, a))
			return s->hidx[h] - 1;
		h = (h + 1) & (uint32_t)(s->hcap - 1);
	}
	return -1;
}

static inline struct swim_update swim_member_update(const struct member *mb)
{
	return (struct swim_update){mb->m.addr, (uint8_t)mb->m.status, mb->m.incarnation, {0, 0}};
}

/* swim_members.c */
void swim_members_rehash(struct swim *s);
/* Adds an alive member (reported to the event callback); returns its index. */
int swim_member_add(struct swim *s, struct wire_addr a, uint64_t inc, uint64_t now);
/* Sets member i's status and incarnation; reports a change of status. */
void swim_member_set_status(struct swim *s, int i, enum swim_status st, uint64_t inc, uint64_t now);
/* Forgets members failed or left for longer than reap_ms. */
void swim_members_reap(struct swim *s, uint64_t now);

/* swim_queue.c */
/* Puts a message in the outbox (swim_pop takes it). */
void swim_out_emit(struct swim *s, struct wire_addr to, const struct swim_msg *m);
/* Queues an update about a known member for piggybacking, replacing its last one. */
void swim_bcast_enqueue(struct swim *s, const struct swim_update *u);
/* Adds the least-sent updates to m; drops those sent often enough. */
void swim_bcast_piggyback(struct swim *s, struct swim_msg *m);
/* Relinks the queue to the member table after it changed; drops updates about the gone. */
void swim_bcast_relink(struct swim *s);

/* swim_suspicion.c */
/* Keeps the list of suspects: member i became suspect, or stopped being one. */
void swim_suspicion_track(struct swim *s, int i);
void swim_suspicion_untrack(struct swim *s, int i);
/* Rebuilds the list after members moved in the table. */
void swim_suspicion_relist(struct swim *s);
/* Starts a suspicion of member i by accuser (a new suspicion, or a newer incarnation's). */
void swim_suspicion_start(struct swim *s, int i, struct wire_addr accuser, uint64_t now);
/* Counts an independent accuser; 1 when it is new (a confirmation to pass on). */
int swim_suspicion_confirm(struct member *mb, struct wire_addr accuser);
/* This node's loop was held up over [from, now): every running suspicion
 * is set back by as much of it as it ran through. */
void swim_suspicion_hold(struct swim *s, uint64_t from, uint64_t now);
/* Declares failed every suspect whose timeout has run out. */
void swim_suspicion_expire(struct swim *s, uint64_t now);
/* The earliest time a suspicion runs out, or UINT64_MAX. */
uint64_t swim_suspicion_deadline(const struct swim *s);

#endif
