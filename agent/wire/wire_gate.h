/*
 * wire_gate.h - which datagrams may cost this node a MAC check (issue 16,
 * defect 3: a flood of well-formed datagrams with wrong tags).
 *
 * A datagram from a member's address is always checked.  Every other
 * source is charged for each datagram it gets rejected (bad tag, stale,
 * addressed to another node...): each source address (its IP) has a bucket
 * of `burst` rejects refilled at `per_source` a second, and all of them
 * together one of `total_burst` refilled at `total` a second.  While either
 * bucket is empty, that source's datagrams are dropped before their MAC
 * (WIRE_R_THROTTLED, counted), so a flood costs the node a few compares
 * per datagram instead of a HMAC, and SWIM's own traffic, from members,
 * passes untouched.  A source that sends only good frames is never
 * charged: a new node's join is only held back while junk floods the node
 * from many sources at once (then its retries get in once the flood ends).
 *
 * Sources are held in a fixed table hashed by IP (a source that collides
 * takes the slot over with a full bucket; the shared bucket still bounds
 * what many sources cost together).  Pure: the caller passes the time.
 */
#ifndef IDUNNO_WIRE_GATE_H
#define IDUNNO_WIRE_GATE_H

#include <stdint.h>

#define WIRE_GATE_SLOTS 1024

struct wire_gate_config {
	uint32_t per_source, burst;  /* rejects a second from one IP, and its bucket */
	uint32_t total, total_burst; /* the same for every non-member source together */
};

void wire_gate_config_default(struct wire_gate_config *c);

struct wire_gate;

struct wire_gate *wire_gate_new(const struct wire_gate_config *c, uint64_t now_ms);
void wire_gate_free(struct wire_gate *g);

/* 1 when a datagram from src_ip (not a member) may be checked, 0 when it
 * is to be dropped unchecked. */
int wire_gate_allow(struct wire_gate *g, uint32_t src_ip, uint64_t now_ms);
/* A datagram from src_ip (not a member) was rejected: charge its source. */
void wire_gate_charge(struct wire_gate *g, uint32_t src_ip, uint64_t now_ms);
/* Sources whose bucket is empty at now_ms (for stats). */
int wire_gate_throttled(const struct wire_gate *g, uint64_t now_ms);

#endif
