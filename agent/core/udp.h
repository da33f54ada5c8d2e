/*
 * udp.h - membership's transport in the loop: SWIM's datagrams in and out
 * over one UDP socket (a multishot recvmsg into provided buffers, sends
 * from a fixed set of slots), each frame authenticated and checked for
 * replay, and SWIM's clock and member events driven from the loop.  A
 * datagram is checked from cheap to dear, and a source that is no member
 * and sends rejected frames soon costs no MAC (wire/wire_gate.h).
 */
#ifndef IDUNNO_UDP_H
#define IDUNNO_UDP_H

#include "wire/wire.h"

#include <stddef.h>
#include <stdint.h>

struct loop;
struct swim;
struct udp;

struct udp_env {
	struct loop *loop;
	int fd; /* a bound UDP socket; udp owns it from here */
	struct swim *swim;
	const struct wire_key *key;
	struct wire_addr self; /* datagrams addressed to anyone else are refused */
	/* Seals body as a frame of type from this agent to `to`. */
	int (*seal)(void *arg, uint8_t type, struct wire_addr to, const void *body, size_t len,
		    uint8_t *out, size_t cap);
	/* The time checks alone, before the MAC: WIRE_OK or a reject reason. */
	enum wire_reject (*fresh)(void *arg, const struct wire_hdr *h);
	/* Replay check: WIRE_OK or a reject reason. */
	enum wire_reject (*admit)(void *arg, const struct wire_hdr *h);
	/* A datagram refused for reason r. */
	void (*rejected)(void *arg, enum wire_reject r);
	void *arg;
};

/* Registers with the loop, starts receiving and sends SWIM's traffic.
 * 0 or -errno with err filled. */
int udp_new(const struct udp_env *env, struct udp **out, char *err, size_t errlen);
void udp_free(struct udp *u);

/* Leaves the cluster: SWIM announces it, and the loop is stopped once the
 * announcement had linger_ms to spread. */
void udp_leave(struct udp *u, uint64_t linger_ms);
int udp_leaving(const struct udp *u);

#endif
