/*
 * conn.c - framed TCP connections in the loop (see conn.h).
 *
 * Connections live in one table; a connection's slot is the index in its
 * operations' user_data.  Every operation submitted on a connection (a
 * connect, receive or send and each one's linked timeout) counts in
 * c->pending, and a slot is released only when that count is back to 0
 * after conn_close(), so no completion ever finds its connection gone.
 * A receive or send that returns short is continued from where it
 * stopped, with the time left of the call's deadline.  The listener
 * (accepting, and routing each accepted connection's first frame) is in
 * conn_accept.c.
 */
#include "core/conn.h"
#include "core/conn_int.h"
#include "core/loop.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

const char *const conn_ev_names[CONN_EV_MAX] = {"connected", "recv", "frame", "sent", "closed"};

/* ---- submission ---- */

static uint64_t ud(const struct conn *c, int op)
{
	return LOOP_UD(c->t->owner, op, (uint64_t)(c - c->t->c));
}

/* sqe on c, with a linked timeout when deadline is set (absolute, ms). */
static void submit_on(struct conn *c, struct io_uring_sqe *sqe, int op, uint64_t deadline)
{
	io_uring_sqe_set_data64(sqe, ud(c, op));
	c->pending++;
	if (deadline) {
		uint64_t now = loop_now_ms(), left = deadline > now ? deadline - now : 1;
		struct __kernel_timespec ts = {(long long)(left / 1000),
					       (long long)(left % 1000) * 1000000};
		struct io_uring_sqe *t;

		sqe->flags |= IOSQE_IO_LINK;
		t = loop_sqe(c->t->loop);
		io_uring_prep_link_timeout(t, &ts, 0);
		io_uring_sqe_set_data64(t, ud(c, OP_TIMEOUT));
		c->pending++;
		loop_submit(c->t->loop); /* the timespec is read at submission */
	}
}

static uint64_t deadline_of(int timeout_ms)
{
	return timeout_ms > 0 ? loop_now_ms() + (uint64_t)timeout_ms : 0;
}

static void arm_recv(struct conn *c)
{
	struct io_uring_sqe *sqe;

	loop_reserve(c->t->loop, 2);
	sqe = loop_sqe(c->t->loop);
	io_uring_prep_recv(sqe, c->fd, c->rbuf + c->rgot, c->rlen - c->rgot,
			   c->rmode == R_SOME ? 0 : MSG_WAITALL);
	submit_on(c, sqe, OP_RECV, c->rdeadline);
}

static void arm_send(struct conn *c)
{
	struct txq *e = &c->q[0];
	struct io_uring_sqe *sqe;

	loop_reserve(c->t->loop, 2);
	sqe = loop_sqe(c->t->loop);
	io_uring_prep_send(sqe, c->fd, e->buf + c->sgot, e->len - c->sgot,
			   MSG_WAITALL | MSG_NOSIGNAL);
	submit_on(c, sqe, OP_SEND, c->sdeadline);
}

/* Starts sending q[0] from its start, within timeout_ms. */
static void send_head(struct conn *c, int timeout_ms)
{
	c->sbusy = 1;
	c->sgot = 0;
	c->sdeadline = deadline_of(timeout_ms);
	arm_send(c);
}

/* ---- slots ---- */

struct conn *conns_slot_get(struct conns *t, int fd)
{
	for (int i = 0; i < t->env.max_conns; i++)
		if (!t->c[i].used) {
			struct conn *c = &t->c[i];
			*c = (struct conn){.t = t, .used = 1, .fd = fd};
			return c;
		}
	return NULL;
}

static void txq_pop(struct conn *c)
{
	free(c->q[0].own);
	memmove(c->q, c->q + 1, (size_t)(c->qn - 1) * sizeof(*c->q));
	c->qn--;
}

/* Closes c's socket and frees what it owns (the slot stays in use). */
static void drop(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	while (c->qn)
		txq_pop(c);
	free(c->q);
	free(c->fbuf);
}

/* Releases c once it is closing and nothing is in flight on it. */
static void settle(struct conn *c)
{
	conn_fn fn = c->fn;
	void *arg = c->arg;

	if (!c->used || !c->closing || c->pending)
		return;
	drop(c);
	conns_accept_release(c->t, c);
	c->used = 0;
	if (fn)
		fn(arg, c, CONN_EV_CLOSED, 0, 0);
}

/* ---- the API ---- */

void conn_close(struct conn *c)
{
	if (!c->used || c->closing)
		return;
	c->closing = 1;
	if (c->fd >= 0) {
		struct io_uring_sqe *sqe;

		shutdown(c->fd, SHUT_RDWR);
		if (c->pending) { /* a connect in progress ignores shutdown */
			sqe = loop_sqe(c->t->loop);
			io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
			io_uring_sqe_set_data64(sqe, ud(c, OP_CANCEL));
			c->pending++;
		}
	}
	settle(c);
}

void conn_shutdown(struct conn *c, int how)
{
	if (c->used && c->fd >= 0)
		shutdown(c->fd, how);
}

static int start_recv(struct conn *c, enum rmode mode, void *buf, size_t len, int timeout_ms,
		      uint64_t tag)
{
	if (!c->used || c->closing)
		return -ESHUTDOWN;
	if (c->rmode != R_IDLE)
		return -EBUSY;
	if (len == 0)
		return -EINVAL;
	c->rmode = mode;
	c->rbuf = buf;
	c->rlen = len;
	c->rgot = 0;
	c->rtag = tag;
	c->rdeadline = deadline_of(timeout_ms);
	arm_recv(c);
	return 0;
}

int conn_recv(struct conn *c, void *buf, size_t len, int timeout_ms, uint64_t tag)
{
	return start_recv(c, R_EXACT, buf, len, timeout_ms, tag);
}

int conn_recv_some(struct conn *c, void *buf, size_t len, int timeout_ms, uint64_t tag)
{
	return start_recv(c, R_SOME, buf, len, timeout_ms, tag);
}

int conn_recv_frame(struct conn *c, size_t max, int timeout_ms, uint64_t tag)
{
	c->rmax = max ? max : c->t->env.max_frame;
	if (c->fcap < WIRE_HDR_LEN) {
		c->fcap = CONN_SMALL_FRAME;
		c->fbuf = xrealloc(c->fbuf, c->fcap);
	}
	return start_recv(c, R_HDR, c->fbuf, WIRE_HDR_LEN, timeout_ms, tag);
}

void conn_frame(const struct conn *c, struct wire_hdr *h, const uint8_t **payload, size_t *len)
{
	*h = c->fh;
	*payload = c->fpayload;
	*len = c->fh.len;
}

static int queue(struct conn *c, uint8_t *own, const void *buf, size_t len, int timeout_ms,
		 uint64_t tag)
{
	if (!c->used || c->closing) {
		free(own);
		return -ESHUTDOWN;
	}
	if (c->qn == c->qcap) {
		c->qcap = c->qcap ? 2 * c->qcap : 4;
		c->q = xrealloc(c->q, (size_t)c->qcap * sizeof(*c->q));
	}
	c->q[c->qn++] = (struct txq){own, buf, len, tag, timeout_ms};
	if (!c->sbusy)
		send_head(c, timeout_ms);
	return 0;
}

int conn_send(struct conn *c, const void *buf, size_t len, int timeout_ms, uint64_t tag)
{
	return queue(c, NULL, buf, len, timeout_ms, tag);
}

int conn_send_frame(struct conn *c, uint8_t type, const void *body, size_t len, int timeout_ms,
		    uint64_t tag)
{
	size_t cap = len + WIRE_HDR_LEN + WIRE_TAG_LEN;
	uint8_t *f = xmalloc(cap);
	int n = c->t->env.seal(c->t->env.arg, type, c->to, body, len, f, cap);

	if (n < 0) {
		free(f);
		return n;
	}
	return queue(c, f, f, (size_t)n, timeout_ms, tag);
}

int conn_sending(const struct conn *c)
{
	return c->qn > 0;
}

int conn_connect(struct conns *t, struct wire_addr to, int timeout_ms, conn_fn fn, void *arg,
		 struct conn **out)
{
	struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(t->env.self.ip)};
	int one = 1, fd;
	struct conn *c;
	struct io_uring_sqe *sqe;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	c = conns_slot_get(t, fd);
	if (!c) {
		close(fd);
		t->n_refused++;
		return -EBUSY;
	}
	/* speak from this agent's address: rules that cut it off cut this too
	 * (a client's 0.x.y.z sender id is no address) */
	if (t->env.self.ip >> 24)
		bind(fd, (struct sockaddr *)&src, sizeof(src));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fn = fn;
	c->arg = arg;
	c->peer = c->to = to;
	c->sa = (struct sockaddr_in){
		.sin_family = AF_INET, .sin_port = htons(to.port), .sin_addr.s_addr = htonl(to.ip)};
	loop_reserve(t->loop, 2);
	sqe = loop_sqe(t->loop);
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&c->sa, sizeof(c->sa));
	submit_on(c, sqe, OP_CONNECT, deadline_of(timeout_ms));
	t->n_connects++;
	*out = c;
	return 0;
}

int conn_adopt(struct conns *t, int fd, struct wire_addr peer, conn_fn fn, void *arg,
	       struct conn **out)
{
	struct conn *c = conns_slot_get(t, fd);

	if (!c)
		return -EBUSY;
	c->fn = fn;
	c->arg = arg;
	c->peer = c->to = peer;
	*out = c;
	return 0;
}

void conn_own(struct conn *c, conn_fn fn, void *arg)
{
	c->fn = fn;
	c->arg = arg;
}

struct wire_addr conn_peer(const struct conn *c)
{
	return c->peer;
}

int conn_fd(const struct conn *c)
{
	return c->fd;
}

void conn_set_user(struct conn *c, void *user)
{
	c->user = user;
}

void *conn_user(const struct conn *c)
{
	return c->user;
}

/* ---- completions ---- */

static void emit(struct conn *c, enum conn_ev ev, uint64_t tag, int res)
{
	if (c->fn)
		c->fn(c->arg, c, ev, tag, res);
}

/* A frame's header arrived: check its length, read the rest. */
static int frame_body(struct conn *c)
{
	long flen = wire_frame_len(c->fbuf, WIRE_HDR_LEN);

	if (flen < 0 || (size_t)flen > c->rmax) {
		if (c->t->env.rejected)
			c->t->env.rejected(c->t->env.arg, flen < 0 && c->fbuf[0] != 'I'
								  ? WIRE_R_MAGIC
								  : WIRE_R_LENGTH);
		return -EPROTO;
	}
	if ((size_t)flen > c->fcap) {
		c->fcap = (size_t)flen;
		c->fbuf = xrealloc(c->fbuf, c->fcap);
	}
	c->rmode = R_BODY;
	c->rbuf = c->fbuf;
	c->rlen = (size_t)flen;
	c->rgot = WIRE_HDR_LEN; /* the header is in place already */
	arm_recv(c);
	return 0;
}

static int frame_open(struct conn *c)
{
	enum wire_reject r =
		wire_open(c->t->env.key, c->t->env.self, c->fbuf, c->rlen, &c->fh, &c->fpayload);

	if (r != WIRE_OK) {
		if (c->t->env.rejected)
			c->t->env.rejected(c->t->env.arg, r);
		return -EPROTO;
	}
	return 0;
}

/* A receive's or send's result: a cancelled one timed out (unless c is
 * closing), 0 bytes is the peer gone. */
static int io_result(struct conn *c, int res)
{
	if (res == -ECANCELED && !c->closing) {
		c->t->n_timeouts++;
		return -ETIMEDOUT;
	}
	return res == 0 ? -ECONNRESET : res;
}

static void on_recv(struct conn *c, int res)
{
	enum rmode mode = c->rmode;

	res = io_result(c, res);
	if (res == -ECONNRESET && mode == R_HDR && c->rgot == 4 &&
	    wire_le_get(c->fbuf, 4) == WIRE_BUSY_MAGIC)
		res = -EBUSY; /* the peer had no room for this connection */
	else if (res == -ECONNRESET && (mode == R_BODY || (mode == R_HDR && c->rgot > 0)) &&
		 c->t->env.rejected)
		c->t->env.rejected(c->t->env.arg, WIRE_R_CUT); /* a frame cut off by the close */
	if (res > 0) {
		c->rgot += (size_t)res;
		if (mode != R_SOME && c->rgot < c->rlen) {
			arm_recv(c);
			return;
		}
		if (mode == R_HDR) {
			res = frame_body(c);
			if (res == 0)
				return;
		} else if (mode == R_BODY) {
			res = frame_open(c);
		} else {
			res = (int)c->rgot;
		}
	}
	c->rmode = R_IDLE;
	emit(c, mode == R_HDR || mode == R_BODY ? CONN_EV_FRAME : CONN_EV_RECV, c->rtag,
	     mode == R_BODY && res > 0 ? 0 : res);
}

static void on_send(struct conn *c, int res)
{
	struct txq *e = &c->q[0];
	uint64_t tag = e->tag;
	size_t len = e->len;

	res = io_result(c, res);
	if (res > 0) {
		c->sgot += (size_t)res;
		if (c->sgot < len) {
			arm_send(c);
			return;
		}
	}
	txq_pop(c);
	c->sbusy = 0;
	if (res > 0 && c->qn && !c->closing) /* the next queued send */
		send_head(c, c->q[0].timeout_ms);
	emit(c, CONN_EV_SENT, tag, res > 0 ? (int)len : res);
}

static void complete(void *m, unsigned op, uint64_t idx, int res, uint32_t flags)
{
	struct conns *t = m;
	struct conn *c;

	if (op == OP_ACCEPT) {
		conns_accept_done(t, res, flags);
		return;
	}
	if (idx >= (uint64_t)t->env.max_conns)
		return;
	c = &t->c[idx];
	c->pending--;
	switch (op) {
	case OP_CONNECT:
		if (res == -ECANCELED && !c->closing)
			res = -ETIMEDOUT;
		emit(c, CONN_EV_CONNECTED, 0, res);
		break;
	case OP_RECV:
		on_recv(c, res);
		break;
	case OP_SEND:
		on_send(c, res);
		break;
	default: /* OP_TIMEOUT, OP_CANCEL */
		break;
	}
	settle(c);
}

static uint64_t tick(void *m, uint64_t now_ms)
{
	struct conns *t = m;

	if (t->accept_again && t->accepting && !t->accept_armed) {
		t->accept_again = 0;
		conns_accept_arm(t);
	}
	(void)now_ms;
	return LOOP_NEVER;
}

static size_t stats(void *m, char *buf, size_t cap)
{
	struct conns *t = m;
	int open = 0;
	size_t off;

	for (int i = 0; i < t->env.max_conns; i++)
		open += t->c[i].used;
	off = (size_t)snprintf(buf, cap,
			       "tcp_accepted %llu\ntcp_refused %llu\ntcp_connects %llu\n"
			       "tcp_timeouts %llu\ntcp_unrouted %llu\ntcp_open %d\n",
			       (unsigned long long)t->n_accepted, (unsigned long long)t->n_refused,
			       (unsigned long long)t->n_connects, (unsigned long long)t->n_timeouts,
			       (unsigned long long)t->n_unrouted, open);
	off = MIN(off, cap);
	return off + conns_accept_stats(t, buf + off, cap - off);
}

static void cancel(void *m)
{
	struct conns *t = m;

	conns_stop_accepting(t);
	for (int i = 0; i < t->env.max_conns; i++)
		if (t->c[i].used)
			conn_close(&t->c[i]);
}

static int pending(void *m)
{
	struct conns *t = m;
	int n = t->accept_armed;

	for (int i = 0; i < t->env.max_conns; i++)
		n += t->c[i].used;
	return n;
}

static const struct loop_ops conns_ops = {
	.name = "conn",
	.complete = complete,
	.tick = tick,
	.member = conns_member,
	.stats = stats,
	.cancel = cancel,
	.pending = pending,
};

int conns_new(struct loop *l, const struct conns_env *env, struct conns **out)
{
	struct conns *t = xcalloc(1, sizeof(*t));
	int owner = loop_register(l, &conns_ops, t);

	if (owner < 0) {
		free(t);
		return owner;
	}
	t->env = *env;
	if (!t->env.max_frame)
		t->env.max_frame = CONN_SMALL_FRAME;
	t->loop = l;
	t->owner = owner;
	t->c = xcalloc((size_t)env->max_conns, sizeof(*t->c));
	t->unauth_ip = xcalloc((size_t)env->max_conns, sizeof(*t->unauth_ip));
	for (int i = 0; i < env->max_conns; i++)
		t->c[i].fd = -1;
	if (env->listen_fd >= 0) {
		t->accepting = 1;
		conns_accept_arm(t);
	}
	*out = t;
	return 0;
}

void conns_free(struct conns *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->env.max_conns; i++) {
		struct conn *c = &t->c[i];
		if (c->used)
			drop(c);
	}
	free(t->c);
	free(t->members);
	free(t->unauth_ip);
	free(t);
}
