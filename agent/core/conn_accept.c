/*
 * conn_accept.c - the listener of the connection layer (see conn.h): a
 * multishot accept on the listening socket, at most max_conns connections
 * at once (more are closed and counted), and each accepted connection's
 * first frame, which must arrive whole within CONN_FIRST_FRAME_MS, admitted
 * (fresh, not a replay) and handed to the module whose command range
 * holds its first payload byte (conn_route).
 */
#include "core/conn.h"
#include "core/conn_int.h"
#include "core/log.h"
#include "core/loop.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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
		conn_close(c);
		return;
	}
	conn_frame(c, &h, &payload, &len);
	c->to = h.sender; /* the answers go to whoever sealed the request */
	r = t->env.admit ? t->env.admit(t->env.arg, &h) : WIRE_OK;
	if (r == WIRE_OK && (h.type != WIRE_RPC_REQ || len == 0))
		r = WIRE_R_TYPE;
	if (r == WIRE_OK) {
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
		struct conn *c = t->accepting ? conns_slot_get(t, res) : NULL;

		if (!c) { /* back-pressure: at most max_conns at once */
			close(res);
			t->n_refused++;
		} else {
			t->n_accepted++;
			if (getpeername(res, (struct sockaddr *)&sa, &sl) == 0)
				c->peer = (struct wire_addr){ntohl(sa.sin_addr.s_addr),
							     ntohs(sa.sin_port)};
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
