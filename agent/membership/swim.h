/*
 * swim.h - SWIM membership with Lifeguard-style suspicion: the protocol
 * core, pure and clock-injected (no sockets, no sleeps, no global state),
 * so it runs unchanged in the agent and in simulations.
 *
 * The caller feeds it time (swim_tick), received messages (swim_receive)
 * and commands (join, leave); it queues messages to send (swim_pop) and
 * reports member changes through a callback.
 *
 * Failure detection: every probe interval one member (round-robin over a
 * shuffled list) is pinged; without an ack within the probe timeout, k
 * others are asked to ping it (indirect probes); without any ack by the end
 * of the interval it becomes suspect.  A suspicion turns into a failure
 * after a timeout that starts at max and shrinks towards min as other
 * members independently confirm it (Lifeguard); min = suspicion_mult x
 * log10(n) x probe interval.  A member that hears it is suspected refutes
 * by raising its incarnation.  Updates ride on every message (each about
 * retransmit_mult x log10(n+1) times), are pushed to a few random members
 * every gossip interval, and full states are exchanged periodically
 * (push-pull), also with failed members, so that partitions heal.
 */
#ifndef IDUNNO_SWIM_H
#define IDUNNO_SWIM_H

#include "wire/wire_frame.h"

#include <stddef.h>
#include <stdint.h>

enum swim_status { SWIM_ALIVE, SWIM_SUSPECT, SWIM_FAILED, SWIM_LEFT, SWIM_STATUS_MAX };
extern const char *const swim_status_names[SWIM_STATUS_MAX];

struct swim_config {
	uint32_t probe_interval_ms;
	uint32_t probe_timeout_ms;   /* direct ack wait before indirect probes */
	uint32_t indirect_k;	     /* members asked to probe indirectly */
	uint32_t suspicion_mult;     /* min suspicion = mult x log10(n) x probe interval */
	uint32_t suspicion_max_mult; /* max suspicion = this x min */
	uint32_t retransmit_mult;    /* an update is sent mult x ceil(log10(n+1)) times */
	uint32_t gossip_interval_ms;
	uint32_t gossip_nodes;
	uint32_t pushpull_interval_ms;
	uint32_t reconnect_interval_ms; /* push-pull with a failed member */
	uint32_t join_retry_ms;
	uint32_t reap_ms; /* failed and left members are forgotten after this */
};

/* Defaults for a LAN (see docs/agent.md for how they were chosen). */
void swim_config_default(struct swim_config *c);

#define SWIM_MAX_UPDATES 40

struct swim_update {
	struct wire_addr addr;
	uint8_t status; /* enum swim_status */
	uint64_t incarnation;
	struct wire_addr accuser; /* for suspicions: who suspects */
};

#define SWIM_F_RELAYED 1 /* a ping on behalf of origin, or an ack to forward */
#define SWIM_F_REPLY   2 /* a state that wants a state back (push-pull) */

struct swim_msg {
	uint8_t type; /* WIRE_PING, WIRE_ACK, WIRE_PING_REQ, WIRE_JOIN, WIRE_STATE, WIRE_GOSSIP */
	uint8_t flags;
	uint32_t seq;
	struct wire_addr target; /* PING_REQ: whom to probe */
	struct wire_addr origin; /* relayed PING/ACK: who asked */
	uint16_t nupdates;
	struct swim_update updates[SWIM_MAX_UPDATES];
};

/* Payload encoding. encode returns the length or -EMSGSIZE; decode 0 or -EINVAL. */
int swim_msg_encode(const struct swim_msg *m, uint8_t *buf, size_t cap);
int swim_msg_decode(uint8_t type, const uint8_t *p, size_t len, struct swim_msg *m);

struct swim_member {
	struct wire_addr addr;
	enum swim_status status;
	uint64_t incarnation;
	uint64_t changed_ms; /* when the status last changed */
};

struct swim_out {
	struct wire_addr to;
	struct swim_msg msg;
};

struct swim;

typedef void (*swim_event_fn)(void *arg, const struct swim_member *m, enum swim_status old);

/*
 * A node at self with a starting incarnation (the agent uses its boot time
 * in ms, so a restarted node always outranks its former self).
 */
struct swim *swim_new(const struct swim_config *c, struct wire_addr self, uint64_t incarnation,
		      uint64_t seed, uint64_t now_ms);
void swim_free(struct swim *s);
void swim_set_event(struct swim *s, swim_event_fn fn, void *arg);

/* Joins through seed (retried until a state arrives). */
void swim_join(struct swim *s, struct wire_addr seed, uint64_t now_ms);
/* Joins through the first of n seeds that answers: each retry goes to the
 * next one in turn (at most SWIM_SEEDS_MAX; n >= 1). */
#define SWIM_SEEDS_MAX 16
void swim_join_seeds(struct swim *s, const struct wire_addr *seeds, int n, uint64_t now_ms);
/* Leaves: tells every member, then stops probing. */
void swim_leave(struct swim *s, uint64_t now_ms);

void swim_receive(struct swim *s, struct wire_addr from, const struct swim_msg *m, uint64_t now_ms);
void swim_tick(struct swim *s, uint64_t now_ms);
/* The next time swim_tick has something to do. */
uint64_t swim_next_deadline(const struct swim *s);
/* When swim_tick last ran (0: never); a gap of more than twice the gossip
 * interval before the next tick is a loop held up (swim_tick credits the
 * suspicions it holds). */
uint64_t swim_last_tick(const struct swim *s);
/* Takes the next message to send. Returns 1, or 0 when there is none. */
int swim_pop(struct swim *s, struct swim_out *out);

/* Applies one membership update as if gossiped (used by tests). */
void swim_apply(struct swim *s, const struct swim_update *u, uint64_t now_ms);
/*
 * Drops pending broadcasts: for simulations that build a converged cluster
 * with swim_apply and want the quiet queues of one that has run a while.
 */
void swim_flush_broadcasts(struct swim *s);

/* Copies up to max members (self included). Returns how many there are. */
int swim_members(const struct swim *s, struct swim_member *out, int max);
const struct swim_member *swim_self(const struct swim *s);
/* 1 when a is in the member table, whatever its status (self included). */
int swim_knows(const struct swim *s, struct wire_addr a);
/* Members alive or suspect, self included. */
int swim_live_count(const struct swim *s);

#endif
