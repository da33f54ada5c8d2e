/*
 * conn.h - framed TCP connections in the agent's loop: the one layer that
 * accepts, connects, receives and sends, for one-shot requests (ctl, SDFS
 * calls) and long-lived streams (SDFS chains, the task streams) alike.
 *
 * A connection has one owner (a module) that is told of every event
 * through one callback.  At most one receive and one send are in flight
 * on a connection at a time, each with a timeout; a receive of n bytes
 * completes when all n have arrived (short reads are continued inside),
 * a send likewise.  Frames: conn_recv_frame() reads a header, checks the
 * announced length against the connection's limit, reads the rest and
 * opens it with the cluster key (a frame that does not open closes the
 * connection's receive side with -EPROTO); conn_send_frame() seals a
 * payload into a buffer the connection owns and queues it (frames queued
 * behind a busy send go out in order).
 *
 * Incoming connections: the listener reads each accepted connection's
 * first frame (within CONN_FIRST_FRAME_MS in total), checks it is fresh
 * and not a replay, and hands it to the module whose command range holds
 * the first payload byte (conn_route); that module then owns the
 * connection.  A frame nobody routes is counted and the connection closed.
 *
 * Limits on accepted connections (conn_accept.c): at most
 * CONN_UNAUTH_PER_IP from one source address may wait for their first
 * frame; a share of the table (1/CONN_PEER_SHARE) is kept for cluster
 * peers: a connection from an address no live member has may not take it,
 * and one from a member's address may only keep it when its first frame's
 * sender is a live member.  A connection refused for want of room gets
 * the four bytes WIRE_BUSY_MAGIC and is closed, so the client can say
 * "the agent is busy".  Each refusal is counted.
 *
 * Closing: conn_close() shuts the socket down and cancels what is in
 * flight; the owner gets CONN_EV_CLOSED once nothing is (from inside
 * conn_close() itself when nothing was), and the connection (and every
 * buffer it owns) is gone after that callback.
 * Buffers the owner passed to conn_recv/conn_send must stay valid until
 * the matching event or CONN_EV_CLOSED.
 */
#ifndef IDUNNO_CONN_H
#define IDUNNO_CONN_H

#include "wire/wire.h"

#include <stddef.h>
#include <stdint.h>

struct loop;
struct conn;
struct conns;

#define CONN_FIRST_FRAME_MS 5000 /* an accepted connection's first frame, in total */
#define CONN_UNAUTH_PER_IP                                                                         \
	32		   /* accepted connections one address may have without a first frame      \
			    */
#define CONN_PEER_SHARE	 4 /* 1/4 of the table is kept for live members */
#define CONN_SMALL_FRAME (WIRE_HDR_LEN + 4096 + WIRE_TAG_LEN)

enum conn_ev {
	CONN_EV_CONNECTED, /* conn_connect finished: res 0 or -errno */
	CONN_EV_RECV,	   /* conn_recv finished: res = bytes, or -errno */
	CONN_EV_FRAME,	   /* conn_recv_frame finished: res 0 (see conn_frame) or -errno
			      (-EBUSY: the peer said it had no room, WIRE_BUSY_MAGIC) */
	CONN_EV_SENT,	   /* a send or queued frame went out: res = bytes, or -errno */
	CONN_EV_CLOSED,	   /* nothing in flight any more; c is freed after this */
	CONN_EV_MAX
};

extern const char *const conn_ev_names[CONN_EV_MAX];

/* tag: the value given to the call that finished. -ECONNRESET at EOF,
 * -ETIMEDOUT when the call's timeout expired. */
typedef void (*conn_fn)(void *arg, struct conn *c, enum conn_ev ev, uint64_t tag, int res);

/* Serves a routed first frame; the callee must conn_own() or conn_close() c. */
typedef void (*conn_serve_fn)(void *arg, struct conn *c, const struct wire_hdr *h,
			      const uint8_t *payload, size_t len);

struct conns_env {
	const struct wire_key *key;
	struct wire_addr
		self;	  /* connections start from its ip; frames to anyone else are refused */
	int listen_fd;	  /* a listening TCP socket, or -1 */
	int max_conns;	  /* connections at once, in and out */
	size_t max_frame; /* the largest frame conn_recv_frame takes by default */
	/* Seals body as a frame of type from this agent to `to` (fresh seq). */
	int (*seal)(void *arg, uint8_t type, struct wire_addr to, const void *body, size_t len,
		    uint8_t *out, size_t cap);
	/* Replay check for first frames: WIRE_OK or a reject reason. */
	enum wire_reject (*admit)(void *arg, const struct wire_hdr *h);
	/* A frame refused for reason r (counted by the caller's stats). */
	void (*rejected)(void *arg, enum wire_reject r);
	void *arg;
};

/* Registers the connection layer with the loop and starts accepting. */
int conns_new(struct loop *l, const struct conns_env *env, struct conns **out);
void conns_free(struct conns *t);
/* Stop accepting (leaving); existing connections go on. */
void conns_stop_accepting(struct conns *t);

/* First frames of type WIRE_RPC_REQ whose first payload byte is in
 * [lo, hi] go to fn. 0, or -EEXIST when the range overlaps another. */
int conn_route(struct conns *t, uint8_t lo, uint8_t hi, conn_serve_fn fn, void *arg);

/* Opens a connection to `to` (nonblocking, within timeout_ms); the owner
 * gets CONN_EV_CONNECTED.  Returns 0 with *out set, or -errno (-EBUSY when
 * every slot is taken). */
int conn_connect(struct conns *t, struct wire_addr to, int timeout_ms, conn_fn fn, void *arg,
		 struct conn **out);
/* Wraps a connected stream socket (a socketpair, say) as a connection;
 * the layer owns fd from here. 0 or -EBUSY. */
int conn_adopt(struct conns *t, int fd, struct wire_addr peer, conn_fn fn, void *arg,
	       struct conn **out);
/* Makes fn/arg the owner of c (after a routed first frame). */
void conn_own(struct conn *c, conn_fn fn, void *arg);

/* Receives exactly len bytes into buf (MSG_WAITALL, continued on short
 * reads) within timeout_ms of this call.  -EBUSY when one is in flight. */
int conn_recv(struct conn *c, void *buf, size_t len, int timeout_ms, uint64_t tag);
/* Receives whatever arrives (1..len bytes) into buf: for draining. */
int conn_recv_some(struct conn *c, void *buf, size_t len, int timeout_ms, uint64_t tag);
/* Receives one frame of at most max bytes (0: the default) into the
 * connection's own buffer and opens it; then conn_frame() gives it. */
int conn_recv_frame(struct conn *c, size_t max, int timeout_ms, uint64_t tag);
/* The frame the last CONN_EV_FRAME delivered (valid until the next
 * receive on c). */
void conn_frame(const struct conn *c, struct wire_hdr *h, const uint8_t **payload, size_t *len);

/* Sends len bytes from buf (the caller's, until CONN_EV_SENT).  Queued
 * behind earlier sends. 0 or -errno. */
int conn_send(struct conn *c, const void *buf, size_t len, int timeout_ms, uint64_t tag);
/* Seals body as a frame of type and queues it (the connection owns the
 * copy).  It is addressed to the peer c was connected to, or on an accepted
 * connection to the sender of its first frame.  0 or -errno (-EMSGSIZE). */
int conn_send_frame(struct conn *c, uint8_t type, const void *body, size_t len, int timeout_ms,
		    uint64_t tag);
/* Sends are queued or in flight. */
int conn_sending(const struct conn *c);

/* shutdown(2) without closing: SHUT_RD after an answer, so that a client
 * still sending gets no reset before it reads the answer. */
void conn_shutdown(struct conn *c, int how);
/* Closes c: cancels what is in flight; CONN_EV_CLOSED follows. */
void conn_close(struct conn *c);

struct wire_addr conn_peer(const struct conn *c);
int conn_fd(const struct conn *c);
/* The owner's own pointer, free for its use (a stream slot, say). */
void conn_set_user(struct conn *c, void *user);
void *conn_user(const struct conn *c);

#endif
