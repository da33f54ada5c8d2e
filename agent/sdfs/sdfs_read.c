/*
 * sdfs_read.c - sending a replica: to a client that reads it, to another
 * agent that should hold it (a push, which is a WRITE with a one-replica
 * chain), or to nobody (the scrub's check).  Chunks are read through the
 * loop up to NB ahead, each checked against its CRC32C before it is
 * sealed and sent: a corrupt replica is never sent, it is removed and a
 * good copy asked for.
 */
#include "core/log.h"
#include "core/loop.h"
#include "sdfs/sdfs_int.h"
#include "util.h"

#include <errno.h>
#include <liburing.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void quarantine(struct sdfs *s, const char *name, uint64_t version)
{
	uint64_t soon = loop_now_ms() + 200;

	s->n_corrupt++;
	log_msg(LOG_WARN, "sdfs: replica %s v%llu is corrupt: removed, to be repaired", name,
		(unsigned long long)version);
	if (store_remove(s->store, name, version) == 0)
		sdfs_sync_dir(s, NULL);
	s->ask = 1;
	/* bring it back soon: this node's round asks a good holder to push */
	if (!s->repair_at || s->repair_at > soon)
		s->repair_at = soon;
}

int source_open(struct sdfs *s, struct xfer *x, uint64_t version)
{
	int ret;

	if (version == 0 && store_versions(s->store, x->req.name, &version, 1) <= 0)
		version = 0; /* none: the read below says so */
	ret = store_read_begin(s->store, x->req.name, version, &x->r, &x->size, &x->version);
	if (ret == -EBADMSG) {
		quarantine(s, x->req.name, version);
		xfer_fail(s, x, EBADMSG, "the replica here is corrupt");
		return ret;
	}
	if (ret) {
		xfer_fail(s, x, -ret, ret == -ENOENT ? "not held here" : strerror(-ret));
		return ret;
	}
	x->nchunks = chunk_count(x->size);
	xfer_bufs(x);
	return 0;
}

/* Where the chunks go: up to a reader, down to a push's target, nowhere. */
static enum side out_side(const struct xfer *x)
{
	return x->kind == K_READ ? UP : x->kind == K_PUSH ? DOWN : SIDES;
}

/* STREAM -> DONE (a read, a check) or -> PREPARE (a push). */
static void stream_sent(struct sdfs *s, struct xfer *x)
{
	switch (x->kind) {
	case K_READ:
		s->n_reads++;
		xfer_finish(s, x);
		break;
	case K_SCRUB:
		s->n_scrubbed++;
		xfer_finish(s, x);
		break;
	default:
		if (stream_recv_frame(s, x, DOWN)) { /* the target: prepared */
			xfer_fail(s, x, EPIPE, "closed");
			return;
		}
		xfer_to(x, XS_PREPARE);
		break;
	}
}

void source_advance(struct sdfs *s, struct xfer *x)
{
	enum side out = out_side(x);

	if (x->st != XS_STREAM)
		return;
	for (;;) {
		while (x->read_next < x->nchunks) {
			struct buf *b = &x->b[x->read_next % NB];
			struct io_uring_sqe *sqe;
			uint64_t left = x->size - x->read_next * STORE_CHUNK;
			if (b->wbusy || b->sneed)
				break;
			b->chunk = (int64_t)x->read_next;
			b->ready = 0;
			b->len = (uint32_t)MIN(left, (uint64_t)STORE_CHUNK);
			b->wbusy = 1; /* here: the read in flight */
			sqe = sdfs_sqe(s);
			io_uring_prep_read(sqe, store_reader_fd(x->r), b->p + CHUNK_HDR, b->len,
					   x->read_next * STORE_CHUNK);
			sdfs_fop(s, x, sqe, FOP_READ, (int)(x->read_next % NB));
			x->read_next++;
		}
		if (out != SIDES)
			break;
		/* a check: a chunk read and checked is done with */
		while (x->sent_next < x->read_next && x->b[x->sent_next % NB].ready) {
			x->b[x->sent_next % NB].ready = x->b[x->sent_next % NB].sneed = 0;
			x->sent_next++;
		}
		if (x->sent_next == x->nchunks) {
			stream_sent(s, x);
			return;
		}
		if (x->read_next == x->nchunks || x->sent_next < x->read_next)
			return; /* reads in flight */
	}
	if (!stream_sending(x, out) && x->sent_next < x->read_next) {
		struct buf *b = &x->b[x->sent_next % NB];
		if (b->ready && b->sneed &&
		    stream_send(s, x, out, b->p, CHUNK_HDR + b->len + CHUNK_TAG, x->sent_next)) {
			xfer_fail(s, x, EPIPE, "closed");
			return;
		}
	}
	if (x->sent_next == x->nchunks && !stream_sending(x, out))
		stream_sent(s, x);
}

void source_fop_done(struct sdfs *s, struct xfer *x, int bi, int res)
{
	struct buf *b = &x->b[bi];

	b->wbusy = 0;
	if (xfer_over(x))
		return;
	if (res != (int)b->len || store_crc32c(0, b->p + CHUNK_HDR, b->len) !=
					  store_reader_crc(x->r, (uint64_t)b->chunk)) {
		quarantine(s, x->req.name, x->version);
		xfer_fail(s, x, EBADMSG, "the replica here is corrupt");
		return;
	}
	b->ready = 1;
	b->sneed = 1;
	if (x->kind == K_SCRUB)
		return;
	chunk_seal(s->env.key, x->req.sid, (uint32_t)b->chunk, b->p, b->len,
		   store_reader_crc(x->r, (uint64_t)b->chunk));
	s->bytes_out += b->len;
}

/* ---- reads ---- */

void serve_read(struct sdfs *s, struct xfer *x)
{
	uint8_t body[17];
	int n;

	if (x->req.offset % STORE_CHUNK) {
		xfer_fail(s, x, EINVAL, "offset not a multiple of the chunk size");
		return;
	}
	if (source_open(s, x, x->req.version))
		return;
	x->read_next = x->sent_next = MIN(x->req.offset / STORE_CHUNK, x->nchunks);
	n = sdfs_read_ans_encode(x->version, x->size, body, sizeof(body));
	if (n < 0 || stream_send_frame(s, x, UP, WIRE_RPC_RESP, body, (size_t)n))
		xfer_fail(s, x, EIO, "cannot seal an answer");
	/* ANSWER until it is out */
}

/* ---- pushes ---- */

int push_start(struct sdfs *s, const char *name, uint64_t version, struct wire_addr to)
{
	struct xfer *x = xfer_alloc(s, K_PUSH);
	int ret;

	if (!x)
		return -EBUSY;
	snprintf(x->req.name, sizeof(x->req.name), "%s", name);
	x->done = repair_push_done;
	s->pushes++;
	if (source_open(s, x, version))
		return -EIO;
	x->req.cmd = SDFS_WRITE;
	x->req.version = x->version;
	x->req.size = x->size;
	x->req.want = 1;
	randombytes_buf(x->req.sid, SDFS_SID_LEN);
	ret = stream_connect(s, x, to);
	if (ret) {
		if (ret == -EBUSY) /* no connection slot: tried again later */
			x->done = NULL;
		xfer_fail(s, x, -ret, "cannot connect");
		return ret == -EBUSY ? -EBUSY : -EIO;
	}
	return 0; /* CONNECT */
}

/* The target's answers: ASK -> STREAM, PREPARE -> COMMIT, COMMIT -> DONE. */
static void push_answer(struct sdfs *s, struct xfer *x, const uint8_t *body, size_t len)
{
	if (body[0] != 0 || x->st == XS_COMMIT) { /* refused, failed, or done */
		call_answer(s, x, body, len);
	} else if (x->st == XS_ASK) {
		xfer_to(x, XS_STREAM);
	} else if (x->st == XS_PREPARE) {
		stream_commit(s, x);
	}
}

void source_event(struct sdfs *s, struct xfer *x, enum side side, enum conn_ev ev, uint64_t tag,
		  int res)
{
	const uint8_t *body;
	size_t len;

	if (ev == CONN_EV_CONNECTED) {
		call_connected(s, x, res);
		return;
	}
	if (res < 0) {
		xfer_fail(s, x, res == -EPROTO ? EPROTO : EPIPE,
			  res == -EPROTO ? "refused answer from a peer" : stream_error(res));
		return;
	}
	switch (ev) {
	case CONN_EV_SENT:
		if (tag != TAG_CTRL) { /* a chunk went out */
			x->b[tag % NB].sneed = 0;
			x->sent_next++;
		} else if (side == UP && x->st == XS_ANSWER) {
			xfer_to(x, XS_STREAM); /* the reader takes chunks now */
		}
		break;
	case CONN_EV_FRAME:
		if (side != DOWN)
			xfer_fail(s, x, EPROTO, "refused answer from a peer");
		else if (stream_answer(s, x, DOWN, &body, &len) == 0)
			push_answer(s, x, body, len);
		break;
	default:
		break;
	}
}
