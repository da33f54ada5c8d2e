/*
 * conn_int.h - what the files of the connection layer share (not for
 * other modules; conn.h is the interface).
 *
 *   conn.c         the connection table, receives and sends with their
 *                  deadlines, connect, close, the loop's ops
 *   conn_accept.c  the listener: accepting, and routing each accepted
 *                  connection's first frame to its module
 */
#ifndef IDUNNO_CONN_INT_H
#define IDUNNO_CONN_INT_H

#include "core/conn.h"

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

struct swim_member;

/* The op byte of the layer's user_data. */
enum conn_op { OP_ACCEPT = 1, OP_CONNECT, OP_RECV, OP_SEND, OP_TIMEOUT, OP_CANCEL };

enum rmode { R_IDLE, R_EXACT, R_SOME, R_HDR, R_BODY };

/* What a connection is known to be: the limits count by class. */
enum conn_class {
	CONN_C_OUT,    /* connected or adopted by this side */
	CONN_C_UNAUTH, /* accepted, its first frame not in yet */
	CONN_C_CLIENT, /* accepted, its first frame from a non-member (a CLI, a probe) */
	CONN_C_PEER,   /* accepted, its first frame from a live member */
	CONN_C_MAX
};

extern const char *const conn_class_names[CONN_C_MAX];

struct txq {
	uint8_t *own; /* a sealed frame the connection owns, or NULL */
	const uint8_t *buf;
	size_t len;
	uint64_t tag;
	int timeout_ms;
};

struct conn {
	struct conns *t;
	int used, fd;
	int pending; /* operations in flight, linked timeouts included */
	int closing;
	enum conn_class cls;
	int member_ip; /* accepted from a live member's address: may use the peers' share */
	conn_fn fn;
	void *arg, *user;
	struct wire_addr peer;
	struct wire_addr to;   /* frames sealed on c go to it: the peer connected to, or the
				  sender of an accepted connection's first frame */
	struct sockaddr_in sa; /* connect's address: read at submission, kept anyway */
	/* receive */
	enum rmode rmode;
	uint8_t *rbuf;
	size_t rlen, rgot, rmax;
	uint64_t rtag, rdeadline;
	uint8_t *fbuf; /* frames: header + payload + tag */
	size_t fcap;
	struct wire_hdr fh;
	const uint8_t *fpayload;
	/* send queue: q[0] is in flight when sbusy */
	struct txq *q;
	int qn, qcap, sbusy;
	size_t sgot;
	uint64_t sdeadline;
};

struct route {
	uint8_t lo, hi;
	conn_serve_fn fn;
	void *arg;
};

struct conns {
	struct conns_env env;
	struct loop *loop;
	int owner;
	struct conn *c;
	int accepting, accept_armed, accept_again;
	struct route routes[8];
	int nroutes;
	uint64_t n_accepted, n_refused, n_connects, n_timeouts, n_unrouted, n_bad_frames;
	uint64_t n_busy, n_busy_ip, n_busy_peers;   /* refused: table, one address, peers' share */
	uint64_t n_first_timeouts, n_first_dropped; /* first frames not in by the deadline, cut */
	struct wire_addr *members; /* live members (from the loop's member events) */
	int nmembers, mcap;
	/* kept as connections change class, so that an accept costs no scan */
	int n_general;	     /* clients, and non-members' connections waiting for a first frame */
	int n_unauth;	     /* connections waiting for their first frame */
	uint32_t *unauth_ip; /* per slot: the source address of one waiting, else 0 */
};

/* A free slot for fd, cleared and in use; NULL when all max_conns are. */
struct conn *conns_slot_get(struct conns *t, int fd);

/* conn_accept.c: arms the multishot accept on the listening socket. */
void conns_accept_arm(struct conns *t);
/* conn_accept.c: an OP_ACCEPT completion (a new socket, or the end). */
void conns_accept_done(struct conns *t, int res, uint32_t flags);
/* conn_accept.c: c's slot is being released (its class counts no more). */
void conns_accept_release(struct conns *t, struct conn *c);
/* conn_accept.c: keeps t->members up to date (the loop's member event). */
void conns_member(void *m, const struct swim_member *mem, int old);
/* conn_accept.c: the limits' counters and the connections by class. */
size_t conns_accept_stats(struct conns *t, char *buf, size_t cap);

#endif
