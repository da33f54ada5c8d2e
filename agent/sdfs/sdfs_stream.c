/*
 * sdfs_stream.c - SDFS's stream table and its connections (see
 * sdfs_int.h): allocating and freeing streams, the one callback every
 * connection reports to (core/conn.h), failing and finishing, and the
 * file operations' user_data.
 *
 * The connection layer continues short receives and sends, times each
 * call out (IO_TIMEOUT_MS; CONNECT_TIMEOUT_MS to connect) and opens
 * frames; what is left here is which stream and side an event is for, and
 * winding a stream down once it is over: each side is closed when nothing
 * is in flight on it, and the slot is freed when every connection has
 * reported CONN_EV_CLOSED and no file operation is in flight.
 */
#include "core/log.h"
#include "core/loop.h"
#include "sdfs/sdfs_int.h"
#include "util.h"

#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

const char *const xfer_kind_names[K_MAX] = {
	[K_WRITE] = "write", [K_READ] = "read",	    [K_PUSH] = "push",
	[K_CALL] = "call",   [K_REPLY] = "request", [K_SCRUB] = "check",
};

const char *const xfer_state_names[XS_MAX] = {
	[XS_FREE] = "free",	    [XS_CONNECT] = "connect",
	[XS_ASK] = "ask",	    [XS_CHAIN] = "chain",
	[XS_READY] = "ready",	    [XS_ANSWER] = "answer",
	[XS_STREAM] = "stream",	    [XS_SYNC] = "sync",
	[XS_SYNCED] = "synced",	    [XS_DOWN_SYNCED] = "down-synced",
	[XS_PREPARED] = "prepared", [XS_PREPARE] = "prepare",
	[XS_RENAME] = "rename",	    [XS_COMMIT] = "commit",
	[XS_ACK] = "ack",	    [XS_DIRSYNC] = "dirsync",
	[XS_DONE] = "done",	    [XS_FAILED] = "failed",
	[XS_DRAIN] = "drain",
};

/* Where each kind starts. */
static const enum xfer_state initial[K_MAX] = {
	[K_WRITE] = XS_CHAIN,  [K_READ] = XS_ANSWER,  [K_PUSH] = XS_CONNECT,
	[K_CALL] = XS_CONNECT, [K_REPLY] = XS_ANSWER, [K_SCRUB] = XS_STREAM,
};

static void on_conn(void *arg, struct conn *c, enum conn_ev ev, uint64_t tag, int res);

/* ---- the table ---- */

struct xfer *xfer_alloc(struct sdfs *s, enum xfer_kind kind)
{
	int data = 0;

	for (int i = 0; i < MAX_XFER; i++)
		data += s->x[i].st != XS_FREE && s->x[i].bufs;
	if (kind != K_CALL && kind != K_REPLY && data >= MAX_DATA_XFER)
		return NULL;
	for (int i = 0; i < MAX_XFER; i++)
		if (s->x[i].st == XS_FREE) {
			struct xfer *x = &s->x[i];
			memset(x, 0, sizeof(*x));
			x->kind = kind;
			x->st = initial[kind];
			for (int b = 0; b < NB; b++)
				x->b[b].chunk = -1;
			x->started = util_now_ns();
			return x;
		}
	return NULL;
}

void xfer_bufs(struct xfer *x)
{
	for (int b = 0; b < NB; b++)
		x->b[b].p = xmalloc(CHUNK_FRAME_MAX);
	x->bufs = 1;
}

int xfer_slot(const struct sdfs *s, const struct xfer *x)
{
	return (int)(x - s->x);
}

int xfer_over(const struct xfer *x)
{
	return x->st == XS_FREE || x->st == XS_DONE || x->st == XS_FAILED || x->st == XS_DRAIN;
}

void xfer_to(struct xfer *x, enum xfer_state st)
{
	ASSERT(st != XS_FREE && st < XS_MAX);
	x->st = st;
}

static void xfer_free(struct sdfs *s, struct xfer *x)
{
	enum xfer_kind kind = x->kind;
	uint64_t size = x->size;

	if (x->w) {
		if (x->st == XS_DONE)
			store_write_done(x->w);
		else
			store_write_abort(x->w); /* leaves a version already renamed */
	}
	store_read_end(x->r);
	for (int b = 0; b < NB; b++)
		free(x->b[b].p);
	free(x->trailer);
	free(x->scratch);
	memset(x, 0, sizeof(*x)); /* XS_FREE */
	if (kind == K_PUSH && s->pushes > 0)
		s->pushes--;
	if (kind == K_SCRUB)
		scrub_ended(s, size);
}

void xfer_settle(struct sdfs *s, struct xfer *x)
{
	if (x->st == XS_FREE || !xfer_over(x))
		return;
	/* a draining side stays open while its receive is posted */
	for (int side = 0; side < SIDES && x->st != XS_FREE; side++)
		if (x->c[side] && !x->rbusy[side] && !conn_sending(x->c[side]))
			stream_close(s, x, (enum side)side);
	if (x->st != XS_FREE && x->pending == 0 && x->nconns == 0)
		xfer_free(s, x);
}

void xfer_finish(struct sdfs *s, struct xfer *x)
{
	xfer_to(x, XS_DONE);
	xfer_settle(s, x);
}

/* Reads and drops what the client still sends (see xfer_fail). */
static void drain(struct sdfs *s, struct xfer *x)
{
	if (!x->scratch)
		x->scratch = xmalloc(65536);
	if (x->c[UP] && conn_recv_some(x->c[UP], x->scratch, 65536, IO_TIMEOUT_MS, TAG_CTRL) == 0)
		x->rbusy[UP] = 1;
}

/* A write whose client may be uploading: its "ready" went out. */
static int uploading(const struct xfer *x, enum xfer_state was)
{
	return x->kind == K_WRITE && was != XS_CHAIN && was != XS_READY;
}

void xfer_fail(struct sdfs *s, struct xfer *x, int status, const char *why)
{
	enum xfer_state was = x->st;
	char peer[32];

	if (xfer_over(x))
		return;
	xfer_to(x, XS_FAILED);
	wire_addr_str(x->peer, peer, sizeof(peer));
	if (x->kind != K_CALL)
		log_msg(status == EEXIST ? LOG_INFO : LOG_WARN,
			"sdfs: %s of %s v%llu%s%s failed: %s", xfer_kind_names[x->kind],
			x->req.name, (unsigned long long)x->version, x->peer.ip ? " with " : "",
			x->peer.ip ? peer : "", why);
	s->n_failed++;
	if (x->done) {
		uint8_t ans[1 + SDFS_TEXT_MAX];
		int n = sdfs_status_encode(status ? status : EIO, why, ans, sizeof(ans));
		call_fn done = x->done;
		x->done = NULL;
		done(s, x, ans, (size_t)n);
	}
	/* up first: closing down may settle the stream, which closes an idle up */
	if (x->c[UP]) {
		if (!stream_sending(x, UP) && !(x->kind == K_READ && was == XS_STREAM) &&
		    stream_send_status(s, x, UP, status, why) == 0) {
			/* A client still uploading would make close() send a
			 * reset, and the reset can destroy the answer before
			 * the client reads it: read and drop the rest until it
			 * hangs up (it stops once it sees the answer). */
			if (uploading(x, was)) {
				xfer_to(x, XS_DRAIN);
				if (!x->rbusy[UP])
					drain(s, x);
			} else {
				conn_shutdown(x->c[UP], SHUT_RD);
			}
		} else {
			stream_close(s, x, UP);
		}
	}
	stream_close(s, x, DOWN);
	xfer_settle(s, x);
}

void xfer_cancel_all(struct sdfs *s)
{
	for (int i = 0; i < MAX_XFER; i++) {
		struct xfer *x = &s->x[i];
		if (x->st == XS_FREE)
			continue;
		xfer_fail(s, x, ESHUTDOWN, "shutting down");
		stream_close(s, x, UP);
		stream_close(s, x, DOWN);
		xfer_settle(s, x);
	}
}

/* After an event in a live state: what can go next. */
static void advance(struct sdfs *s, struct xfer *x)
{
	switch (x->kind) {
	case K_WRITE:
		write_advance(s, x);
		break;
	case K_READ:
	case K_PUSH:
	case K_SCRUB:
		source_advance(s, x);
		break;
	default:
		break;
	}
}

void xfer_advance(struct sdfs *s, struct xfer *x)
{
	if (!xfer_over(x))
		advance(s, x);
}

/* ---- connections ---- */

static void own(struct xfer *x, enum side side, struct conn *c)
{
	conn_set_user(c, x);
	x->c[side] = c;
	x->rbusy[side] = 0;
	x->nconns++;
}

void stream_adopt(struct sdfs *s, struct xfer *x, struct conn *c)
{
	int one = 1;

	conn_own(c, on_conn, s);
	own(x, UP, c);
	setsockopt(conn_fd(c), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int stream_connect(struct sdfs *s, struct xfer *x, struct wire_addr to)
{
	struct conn *c;
	int ret;

	stream_close(s, x, DOWN);
	x->peer = to;
	ret = conn_connect(s->conns, to, CONNECT_TIMEOUT_MS, on_conn, s, &c);
	if (ret)
		return ret;
	own(x, DOWN, c);
	return 0;
}

void stream_close(struct sdfs *s, struct xfer *x, enum side side)
{
	struct conn *c = x->c[side];

	(void)s;
	if (!c)
		return;
	x->c[side] = NULL; /* its later events are a closed side's: ignored */
	x->rbusy[side] = 0;
	conn_close(c); /* CONN_EV_CLOSED may come from inside */
}

int stream_recv(struct sdfs *s, struct xfer *x, enum side side, void *buf, size_t len, uint64_t tag)
{
	int ret = x->c[side] ? conn_recv(x->c[side], buf, len, IO_TIMEOUT_MS, tag) : -ENOTCONN;

	(void)s;
	x->rbusy[side] |= ret == 0;
	return ret;
}

int stream_recv_frame(struct sdfs *s, struct xfer *x, enum side side)
{
	int ret = x->c[side] ? conn_recv_frame(x->c[side], ANSWER_MAX, IO_TIMEOUT_MS, TAG_CTRL)
			     : -ENOTCONN;

	(void)s;
	x->rbusy[side] |= ret == 0;
	return ret;
}

void stream_frame(const struct xfer *x, enum side side, struct wire_hdr *h, const uint8_t **body,
		  size_t *len)
{
	conn_frame(x->c[side], h, body, len);
}

int stream_answer(struct sdfs *s, struct xfer *x, enum side side, const uint8_t **body, size_t *len)
{
	struct wire_hdr h;

	stream_frame(x, side, &h, body, len);
	if (h.type != WIRE_RPC_RESP || *len < 1) {
		xfer_fail(s, x, EPROTO, "refused answer from a peer");
		return -1;
	}
	return 0;
}

int stream_send(struct sdfs *s, struct xfer *x, enum side side, const void *buf, size_t len,
		uint64_t tag)
{
	(void)s;
	return x->c[side] ? conn_send(x->c[side], buf, len, IO_TIMEOUT_MS, tag) : -ENOTCONN;
}

int stream_send_frame(struct sdfs *s, struct xfer *x, enum side side, uint8_t type,
		      const void *body, size_t len)
{
	(void)s;
	return x->c[side] ? conn_send_frame(x->c[side], type, body, len, IO_TIMEOUT_MS, TAG_CTRL)
			  : -ENOTCONN;
}

int stream_send_status(struct sdfs *s, struct xfer *x, enum side side, int status, const char *text)
{
	uint8_t body[1 + SDFS_TEXT_MAX];
	int n = sdfs_status_encode(status, text, body, sizeof(body));

	return n < 0 ? n : stream_send_frame(s, x, side, WIRE_RPC_RESP, body, (size_t)n);
}

int stream_send_req(struct sdfs *s, struct xfer *x, const struct sdfs_req *r)
{
	uint8_t body[SDFS_REQ_MAX];
	int n = sdfs_req_encode(r, body, sizeof(body));

	return n < 0 ? n : stream_send_frame(s, x, DOWN, WIRE_RPC_REQ, body, (size_t)n);
}

void stream_commit(struct sdfs *s, struct xfer *x)
{
	uint8_t body[SDFS_COMMIT_LEN];
	int n = sdfs_commit_encode(x->req.sid, body, sizeof(body));

	if (n < 0 || stream_send_frame(s, x, DOWN, WIRE_RPC_REQ, body, (size_t)n) ||
	    stream_recv_frame(s, x, DOWN)) {
		xfer_fail(s, x, EIO, "cannot seal a commit");
		return;
	}
	xfer_to(x, XS_COMMIT);
}

int stream_sending(const struct xfer *x, enum side side)
{
	return x->c[side] && conn_sending(x->c[side]);
}

const char *stream_error(int res)
{
	return res == -ETIMEDOUT ? "timed out" : res == -ECONNRESET ? "closed" : strerror(-res);
}

/* The one callback of every SDFS connection. */
static void on_conn(void *arg, struct conn *c, enum conn_ev ev, uint64_t tag, int res)
{
	struct sdfs *s = arg;
	struct xfer *x = conn_user(c);
	enum side side = SIDES;

	if (!x)
		return;
	for (int i = 0; i < SIDES; i++)
		if (x->c[i] == c)
			side = (enum side)i;
	if (ev == CONN_EV_CLOSED) {
		x->nconns--;
		if (side != SIDES) { /* closed under us (shutting down) */
			x->c[side] = NULL;
			x->rbusy[side] = 0;
			xfer_fail(s, x, EPIPE, "closed");
		}
		xfer_settle(s, x);
		return;
	}
	if (side == SIDES)
		return; /* a connection this stream has given up on */
	if (ev == CONN_EV_RECV || ev == CONN_EV_FRAME)
		x->rbusy[side] = 0;
	if (xfer_over(x)) {
		if (x->st == XS_DRAIN && side == UP && ev == CONN_EV_RECV && res > 0)
			drain(s, x);
	} else {
		switch (x->kind) {
		case K_WRITE:
			write_event(s, x, side, ev, tag, res);
			break;
		case K_READ:
		case K_PUSH:
			source_event(s, x, side, ev, tag, res);
			break;
		default:
			small_event(s, x, side, ev, tag, res);
			break;
		}
		xfer_advance(s, x);
	}
	/* a failed send leaves the rest of that side's queue unsent for good */
	if (ev == CONN_EV_SENT && res < 0 && side < SIDES && x->c[side] == c)
		stream_close(s, x, side);
	xfer_settle(s, x);
}

/* ---- file operations ---- */

struct io_uring_sqe *sdfs_sqe(struct sdfs *s)
{
	return loop_sqe(s->loop);
}

void sdfs_reserve(struct sdfs *s, unsigned n)
{
	loop_reserve(s->loop, n);
}

void sdfs_submit(struct sdfs *s)
{
	loop_submit(s->loop);
}

void sdfs_fop(struct sdfs *s, struct xfer *x, struct io_uring_sqe *sqe, enum sdfs_fop op, int bi)
{
	uint64_t idx = (uint64_t)xfer_slot(s, x) << 8 | (uint64_t)bi;

	io_uring_sqe_set_data64(sqe, LOOP_UD(s->owner, op, idx));
	x->pending++;
}

void sdfs_sync_dir(struct sdfs *s, struct xfer *x)
{
	struct io_uring_sqe *sqe = sdfs_sqe(s);

	io_uring_prep_fsync(sqe, store_dir_fd(s->store), 0);
	if (x) {
		sdfs_fop(s, x, sqe, FOP_DIRSYNC, 0);
	} else {
		io_uring_sqe_set_data64(sqe,
					LOOP_UD(s->owner, FOP_DIRSYNC, (uint64_t)MAX_XFER << 8));
		s->dirsyncs++;
	}
}
