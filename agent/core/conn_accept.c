/*
 * conn_accept.c - the listener of the connection layer (see conn.h): a
 * multishot accept on the listening socket, the limits on accepted
 * connections (per source address, and the share of the table kept for
 * live members, whose addresses this file follows through the loop's
 * member events), and each accepted connection's first frame, which must
 * arrive whole within CONN_FIRST_FRAME_MS, admitted (fresh, not a replay)
 * and handed to the module whose command range holds its first payload
 * byte (conn_route).  A connection refused for want of room is told so
 * (WIRE_BUSY_MAGIC) and closed.
 */
#include "core/conn.h"
#include "core/conn_int.h"
#include "core/log.h"
#include "core/loop.h"
#include "membership/swim.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

const char *const conn_class_names[CONN_C_MAX] = {"out", "unauth", "client", "peer"};

/* ---- live members ---- */

static int member_find(const struct conns *t, struct wire_addr a)
{
	for (int i = 0; i < t->nmembers; i++)
		if (wire_addr_eq(t->members[i], a))
			return i;
	return -1;
}

void conns_member(void *m, const struct swim_member *mem, int old)
{
	struct conns *t = m;
	int i = member_find(t, mem->addr);
	int live = mem->status == SWIM_ALIVE || mem->status == SWIM_SUSPECT;

	(void)old;
	if (live && i < 0) {
		if (t->nmembers == t->mcap) {
			t->mcap = t->mcap ? 2 * t->mcap : 16;
			t->members = xrealloc(t->members, (size_t)t->mcap * sizeof(*t->members));
		}
		t->members[t->nmembers++] = mem->addr;
	} else if (!live && i >= 0) {
		t->members[i] = t->members[--t->nmembers];
	}
}

static int member_ip(const struct conns *t, uint32_t ip)
{
	if (ip == t->env.self.ip)
		return 1;
	for (int i = 0; i < t->nmembers; i++)
		if (t->members[i].ip == ip)
			return 1;
	return 0;
}

/* ---- the limits ---- */

/* Outside the peers' share: a client, or a connection from a non-member's
 * address still waiting for its first frame. */
static int in_general(const struct conn *c)
{
	return c->cls == CONN_C_CLIENT || (c->cls == CONN_C_UNAUTH && !c->member_ip);
}

/* Moves c to class cls, keeping the counts the limits read. */
static void set_class(struct conns *t, struct conn *c, enum conn_class cls)
{
	t->n_general -= in_general(c);
	t->n_unauth -= c->cls == CONN_C_UNAUTH;
	c->cls = cls;
	t->n_general += in_general(c);
	t->n_unauth += cls == CONN_C_UNAUTH;
	t->unauth_ip[c - t->c] = cls == CONN_C_UNAUTH ? c->peer.ip : 0;
}

void conns_accept_release(struct conns *t, struct conn *c)
{
	set_class(t, c, CONN_C_OUT);
}

static int general_max(const struct conns *t)
{
	return t->env.max_conns - t->env.max_conns / CONN_PEER_SHARE;
}

static int unauth_from(const struct conns *t, uint32_t ip)
{
	int n = 0;

	if (t->n_unauth < CONN_UNAUTH_PER_IP) /* no address can be at the limit */
		return 0;
	for (int i = 0; i < t->env.max_conns; i++)
		n += t->unauth_ip[i] == ip;
	return n;
}

/* Tells the caller on fd there is no room ("IDNB"), drops what it sent
 * already (so the close is a FIN, not a reset that could discard the
 * four bytes), and closes fd.  Nonblocking: fd's buffers are empty. */
static void say_busy(int fd)
{
	uint8_t busy[4], sink[4096];

	wire_le_put(busy, WIRE_BUSY_MAGIC, 4);
	if (send(fd, busy, sizeof(busy), MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof(busy))
		shutdown(fd, SHUT_WR);
	for (int i = 0; i < 16 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
		;
	close(fd);
}

void conns_accept_arm(struct conns *t)
{
	struct io_uring_sqe *sqe = loop_sqe(t->loop);

	io_uring_prep_multishot_accept(sqe, t->env.listen_fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, LOOP_UD(t->owner, OP_ACCEPT, 0));
	t->accept_armed = 1;
}

int conn_route(struct conns *t, uint8_t lo, uint8_t hi, conn_serve_fn fn, void *arg)
{
	for (int i = 0; i < t->nroutes; i++)
		if (lo <= t->routes[i].hi && t->routes[i].lo <= hi)
			return -EEXIST;
	if (t->nroutes == (int)ARRAY_SIZE(t->routes))
		return -ENOSPC;
	t->routes[t->nroutes++] = (struct route){lo, hi, fn, arg};
	return 0;
}

void conns_stop_accepting(struct conns *t)
{
	t->accepting = 0;
	if (t->accept_armed)
		loop_cancel(t->loop, LOOP_UD(t->owner, OP_ACCEPT, 0));
}

/* The first frame of an accepted connection: admit it, route it. */
static void first_frame(void *arg, struct conn *c, enum conn_ev ev, uint64_t tag, int res)
{
	struct conns *t = arg;
	struct wire_hdr h;
	const uint8_t *payload;
	size_t len;
	enum wire_reject r;

	(void)tag;
	if (ev == CONN_EV_CLOSED)
		return;
	if (ev != CONN_EV_FRAME || res < 0) {
		if (res == -ETIMEDOUT)
			t->n_first_timeouts++; /* silent, or a trickle: the slot is free again */
		else if (res != -EPROTO)       /* a refused frame is counted by its reason */
			t->n_first_dropped++;
		conn_close(c);
		return;
	}
	conn_frame(c, &h, &payload, &len);
	c->to = h.sender; /* the answers go to whoever sealed the request */
	r = t->env.admit ? t->env.admit(t->env.arg, &h) : WIRE_OK;
	if (r == WIRE_OK && (h.type != WIRE_RPC_REQ || len == 0))
		r = WIRE_R_TYPE;
	if (r == WIRE_OK) {
		set_class(t, c, member_find(t, h.sender) >= 0 ? CONN_C_PEER : CONN_C_CLIENT);
		if (c->cls == CONN_C_CLIENT && t->n_general > general_max(t)) {
			/* it came in on the peers' share from a member's address */
			t->n_busy_peers++;
			conn_own(c, NULL, NULL);
			say_busy(c->fd);
			c->fd = -1;
			conn_close(c);
			return;
		}
		for (int i = 0; i < t->nroutes; i++)
			if (payload[0] >= t->routes[i].lo && payload[0] <= t->routes[i].hi) {
				conn_own(c, NULL, NULL);
				t->routes[i].fn(t->routes[i].arg, c, &h, payload, len);
				return;
			}
		t->n_unrouted++;
		r = WIRE_R_PAYLOAD;
	}
	if (t->env.rejected)
		t->env.rejected(t->env.arg, r);
	conn_close(c);
}

void conns_accept_done(struct conns *t, int res, uint32_t flags)
{
	if (res >= 0) {
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		struct wire_addr peer = {0};
		struct conn *c = NULL;
		int mip;

		if (getpeername(res, (struct sockaddr *)&sa, &sl) == 0)
			peer = (struct wire_addr){ntohl(sa.sin_addr.s_addr), ntohs(sa.sin_port)};
		mip = member_ip(t, peer.ip);
		if (!t->accepting) {
			close(res);
			t->n_refused++;
		} else if (unauth_from(t, peer.ip) >= CONN_UNAUTH_PER_IP) {
			t->n_busy_ip++;
			say_busy(res);
		} else if ((!mip && t->n_general >= general_max(t)) ||
			   !(c = conns_slot_get(t, res))) {
			t->n_busy++; /* back-pressure: the table, or all but the peers' share */
			say_busy(res);
		} else {
			t->n_accepted++;
			c->peer = peer;
			c->member_ip = mip;
			set_class(t, c, CONN_C_UNAUTH);
			conn_own(c, first_frame, t);
			/* the whole first frame within one deadline: a trickle of
			 * bytes does not keep a slot */
			conn_recv_frame(c, 0, CONN_FIRST_FRAME_MS, 0);
		}
	}
	if (!(flags & IORING_CQE_F_MORE)) {
		t->accept_armed = 0;
		/* After an error (out of descriptors, say) accept again on the
		 * next tick, not at once: no busy loop. */
		if (res < 0 && res != -ECANCELED)
			log_msg(LOG_WARN, "accept: %s", strerror(-res));
		if (t->accepting)
			t->accept_again = 1;
	}
}

size_t conns_accept_stats(struct conns *t, char *buf, size_t cap)
{
	int open[CONN_C_MAX] = {0};
	size_t off;

	for (int i = 0; i < t->env.max_conns; i++)
		if (t->c[i].used)
			open[t->c[i].cls]++;
	off = (size_t)snprintf(buf, cap,
			       "tcp_busy %llu\ntcp_busy_ip %llu\ntcp_busy_peers %llu\n"
			       "tcp_first_frame_timeouts %llu\ntcp_first_frame_dropped %llu\n",
			       (unsigned long long)t->n_busy, (unsigned long long)t->n_busy_ip,
			       (unsigned long long)t->n_busy_peers,
			       (unsigned long long)t->n_first_timeouts,
			       (unsigned long long)t->n_first_dropped);
	for (int k = 0; k < CONN_C_MAX && off < cap; k++)
		off += (size_t)snprintf(buf + off, cap - off, "tcp_open_%s %d\n",
					conn_class_names[k], open[k]);
	return MIN(off, cap);
}
