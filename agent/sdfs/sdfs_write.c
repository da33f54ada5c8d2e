/*
 * sdfs_write.c - receiving a file: a put's head, a chain member, or the
 * target of a push (see sdfs.h for the protocol, sdfs_int.h for the
 * states).
 *
 * CHAIN: connect to the next candidate and ask it to take the rest of the
 * chain; a candidate that refuses or fails is skipped.  READY: the chain
 * (version, replicas) goes up.  STREAM: each chunk is checked, written at
 * its offset (WRITE_PIECE at a time, then sync_file_range) and forwarded
 * unchanged.  SYNC: the checksum table is written and fsynced here while
 * the successor does the same; nothing is renamed until the whole chain
 * is synced.  Then the head renames first and sends COMMIT down, every
 * other member renames when COMMIT reaches it, and "done" travels back.
 */
#include "core/log.h"
#include "sdfs/place.h"
#include "sdfs/sdfs_int.h"
#include "util.h"

#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- CHAIN ---- */

/* CHAIN -> READY: the chain found so far goes up (a put needs all of it). */
static void chain_ready(struct sdfs *s, struct xfer *x)
{
	uint8_t body[16 + (SDFS_MAX_CAND + 1) * 6];
	struct sdfs_ready r = {.version = x->version, .nreps = x->nreps};
	int n;

	if (x->req.version == 0 && x->nreps < x->req.want) {
		char why[128];
		snprintf(why, sizeof(why), "only %d of %d replicas could take the file", x->nreps,
			 x->req.want);
		xfer_fail(s, x, EHOSTUNREACH, why);
		return;
	}
	memcpy(r.reps, x->reps, (size_t)x->nreps * sizeof(r.reps[0]));
	n = sdfs_ready_encode(&r, body, sizeof(body));
	if (n < 0 || stream_send_frame(s, x, UP, WIRE_RPC_RESP, body, (size_t)n)) {
		xfer_fail(s, x, EIO, "cannot seal an answer");
		return;
	}
	xfer_to(x, XS_READY);
}

/* CHAIN: connects to the next candidate, or goes on with the replicas found. */
static void chain_next(struct sdfs *s, struct xfer *x)
{
	while (x->cand_i < x->req.ncand) {
		int ret = stream_connect(s, x, x->req.cand[x->cand_i]);
		if (ret == 0)
			return;
		if (ret == -EBUSY) { /* no connection slot: nor for the next ones */
			xfer_fail(s, x, EBUSY, "too many connections at once");
			return;
		}
		x->cand_i++;
	}
	stream_close(s, x, DOWN);
	chain_ready(s, x);
}

/* CHAIN: the current candidate refused or failed: on to the one after it. */
static void chain_skip(struct sdfs *s, struct xfer *x)
{
	x->cand_i++;
	chain_next(s, x);
}

/* CHAIN: connected: ask for the rest of the chain. */
static void chain_connected(struct sdfs *s, struct xfer *x)
{
	struct sdfs_req r = x->req;

	r.version = x->version;
	r.want = (uint8_t)(x->req.want - 1);
	r.ncand = 0;
	for (int i = x->cand_i + 1; i < x->req.ncand; i++)
		r.cand[r.ncand++] = x->req.cand[i];
	if (stream_send_req(s, x, &r) || stream_recv_frame(s, x, DOWN))
		xfer_fail(s, x, EIO, "cannot seal a request");
}

/* CHAIN: the successor answered our WRITE. */
static void chain_answer(struct sdfs *s, struct xfer *x, const uint8_t *body, size_t len)
{
	struct sdfs_ready r;
	const char *text;
	size_t tlen;
	int status;

	sdfs_status_decode(body, len, &status, &text, &tlen);
	if (status != 0) { /* refused: try the one after */
		char who[32];
		wire_addr_str(x->peer, who, sizeof(who));
		log_msg(LOG_INFO, "sdfs: %s refused %s v%llu: %s: %.*s (trying the next)", who,
			x->req.name, (unsigned long long)x->version, strerror(status),
			(int)MIN(tlen, 200u), text);
		chain_skip(s, x);
		return;
	}
	if (sdfs_ready_decode(body, len, &r)) {
		xfer_fail(s, x, EPROTO, "malformed answer from the next replica");
		return;
	}
	for (int i = 0; i < r.nreps; i++)
		if (x->nreps <= SDFS_MAX_CAND)
			x->reps[x->nreps++] = r.reps[i];
	chain_ready(s, x);
}

void serve_write(struct sdfs *s, struct xfer *x)
{
	struct sdfs_req *r = &x->req;
	uint64_t newest = 0;
	char why[160];
	int ret;

	if (r->version == 0) { /* a put: this agent orders its versions */
		store_versions(s->store, r->name, &newest, 1);
		newest = MAX(newest, store_tomb_get(s->store, r->name)); /* after a delete */
		x->version = MAX(sdfs_clock_us(), MAX(s->last_version, newest) + 1);
		s->last_version = x->version;
		if (r->want == 0 || r->want > s->env.replicas)
			r->want = (uint8_t)s->env.replicas;
		if (r->ncand == 0) { /* the rest of the chain: the file's ranked members */
			struct wire_addr *live, ranked[SDFS_MAX_CAND + 1];
			int n = sdfs_live_members(s, &live), k;
			k = place_replicas(r->name, live, n, SDFS_MAX_CAND + 1, ranked);
			free(live);
			for (int i = 0; i < k; i++)
				if (!wire_addr_eq(ranked[i], s->env.self) &&
				    r->ncand < SDFS_MAX_CAND)
					r->cand[r->ncand++] = ranked[i];
			if (r->want > r->ncand + 1)
				r->want = (uint8_t)(r->ncand + 1);
		}
		s->n_puts++;
	} else {
		x->version = r->version;
		if (store_has(s->store, r->name, x->version)) {
			xfer_fail(s, x, EEXIST, "version already held here");
			return;
		}
		if (x->version <= store_tomb_get(s->store, r->name)) {
			xfer_fail(s, x, ENOENT, "that version was deleted");
			return;
		}
	}
	s->n_writes++;
	x->size = r->size;
	x->nchunks = chunk_count(r->size);
	if (s->check_space && store_free_bytes(s->store) < store_file_bytes(r->size) + s->reserve) {
		snprintf(why, sizeof(why), "no space for %llu bytes", (unsigned long long)r->size);
		s->n_refused++;
		xfer_fail(s, x, ENOSPC, why);
		return;
	}
	ret = store_write_begin(s->store, r->name, x->version, &x->w);
	if (ret) {
		s->n_refused++;
		xfer_fail(s, x, -ret, strerror(-ret));
		return;
	}
	xfer_bufs(x);
	x->reps[x->nreps++] = s->env.self;
	if (r->want > 1)
		chain_next(s, x);
	else
		chain_ready(s, x);
}

/* ---- STREAM ---- */

/* Writes (the rest of) buffer bi's chunk to the temporary file. */
static void write_chunk(struct sdfs *s, struct xfer *x, int bi)
{
	struct buf *b = &x->b[bi];
	struct io_uring_sqe *sqe = sdfs_sqe(s);

	io_uring_prep_write(sqe, store_writer_fd(x->w), b->p + CHUNK_HDR + b->wdone,
			    MIN(b->len - b->wdone, WRITE_PIECE),
			    (uint64_t)b->chunk * STORE_CHUNK + b->wdone);
	sdfs_fop(s, x, sqe, FOP_WRITE, bi);
}

/* STREAM: a chunk arrived from up. */
static void chunk_in(struct sdfs *s, struct xfer *x, uint64_t chunk)
{
	struct buf *b = &x->b[chunk % NB];
	uint32_t len, crc;

	if (chunk_open(s->env.key, x->req.sid, (uint32_t)chunk, b->p,
		       chunk_frame_len(x->size, chunk), &len, &crc)) {
		s->n_bad_chunks++;
		xfer_fail(s, x, EBADMSG, "a chunk failed its check");
		return;
	}
	store_write_note(x->w, crc, len);
	b->len = len;
	b->ready = 1;
	b->wbusy = 1;
	b->sneed = x->c[DOWN] != NULL;
	b->wdone = 0;
	x->recv_next++;
	s->bytes_in += len;
	write_chunk(s, x, (int)(chunk % NB));
}

/* STREAM -> SYNC: every chunk is written here and forwarded. */
static void stream_end(struct sdfs *s, struct xfer *x)
{
	struct io_uring_sqe *sqe;
	size_t tlen;
	uint64_t off;

	x->trailer = store_write_trailer(x->w, &tlen, &off);
	sdfs_reserve(s, 2);
	sqe = sdfs_sqe(s);
	io_uring_prep_write(sqe, store_writer_fd(x->w), x->trailer, (unsigned)tlen, off);
	sqe->flags |= IOSQE_IO_LINK;
	sdfs_fop(s, x, sqe, FOP_COMMIT, 0);
	sqe = sdfs_sqe(s);
	io_uring_prep_fsync(sqe, store_writer_fd(x->w), 0);
	sdfs_fop(s, x, sqe, FOP_COMMIT, 1);
	x->fop_left = 2;
	x->fop_res = 0;
	xfer_to(x, XS_SYNC);
	if (x->c[DOWN] && stream_recv_frame(s, x, DOWN)) /* the successor: prepared */
		xfer_fail(s, x, EPIPE, "closed");
}

void write_advance(struct sdfs *s, struct xfer *x)
{
	int down = x->c[DOWN] != NULL;

	if (x->st != XS_STREAM)
		return;
	/* receive the next chunk into its buffer once that is free */
	if (!x->rbusy[UP] && x->recv_next < x->nchunks) {
		struct buf *b = &x->b[x->recv_next % NB];
		if (!b->wbusy && !b->sneed) {
			b->chunk = (int64_t)x->recv_next;
			b->ready = 0;
			if (stream_recv(s, x, UP, b->p, chunk_frame_len(x->size, x->recv_next),
					x->recv_next)) {
				xfer_fail(s, x, EPIPE, "closed");
				return;
			}
		}
	}
	/* forward chunks down the chain, in order */
	if (down && !stream_sending(x, DOWN) && x->sent_next < x->recv_next) {
		struct buf *b = &x->b[x->sent_next % NB];
		if (b->ready && b->sneed &&
		    stream_send(s, x, DOWN, b->p, CHUNK_HDR + b->len + CHUNK_TAG, x->sent_next)) {
			xfer_fail(s, x, EPIPE, "closed");
			return;
		}
	}
	if (x->written == x->nchunks && x->recv_next == x->nchunks &&
	    (!down || x->sent_next == x->nchunks))
		stream_end(s, x);
}

/* ---- SYNC, PREPARED, RENAME, COMMIT ---- */

static void rename_start(struct sdfs *s, struct xfer *x)
{
	struct io_uring_sqe *sqe;
	const char *tmp, *final;
	int dirfd;

	store_write_names(x->w, &dirfd, &tmp, &final);
	sdfs_reserve(s, 2);
	sqe = sdfs_sqe(s);
	io_uring_prep_renameat(sqe, dirfd, tmp, dirfd, final, RENAME_NOREPLACE);
	sqe->flags |= IOSQE_IO_LINK;
	sdfs_fop(s, x, sqe, FOP_RENAME, 0);
	sqe = sdfs_sqe(s);
	io_uring_prep_fsync(sqe, dirfd, 0);
	sdfs_fop(s, x, sqe, FOP_RENAME, 1);
	x->fop_left = 2;
	x->fop_res = 0;
	xfer_to(x, XS_RENAME);
}

/*
 * Synced here and (with a successor) there: nothing becomes visible until
 * every replica is synced.  The head, then sure of the whole chain,
 * renames first (-> RENAME); every other member says "prepared" to its
 * predecessor and waits for COMMIT (-> PREPARED).
 */
static void prepared(struct sdfs *s, struct xfer *x)
{
	if (x->req.version == 0) {
		rename_start(s, x);
		return;
	}
	if (stream_send_status(s, x, UP, 0, NULL) || stream_recv_frame(s, x, UP)) {
		xfer_fail(s, x, EIO, "cannot seal an answer");
		return;
	}
	xfer_to(x, XS_PREPARED);
}

/* SYNC -> SYNCED, DOWN_SYNCED -> prepared: the checksum table is fsynced here. */
static void synced_here(struct sdfs *s, struct xfer *x)
{
	if (x->st == XS_SYNC && x->c[DOWN])
		xfer_to(x, XS_SYNCED);
	else
		prepared(s, x);
}

/* SYNC -> DOWN_SYNCED, SYNCED -> prepared: the successor said "prepared". */
static void synced_down(struct sdfs *s, struct xfer *x)
{
	if (x->st == XS_SYNC)
		xfer_to(x, XS_DOWN_SYNCED);
	else
		prepared(s, x);
}

/* COMMIT -> ACK: the rest of the chain committed; the final answer goes up. */
static void committed(struct sdfs *s, struct xfer *x)
{
	if (stream_send_status(s, x, UP, 0, NULL)) {
		xfer_fail(s, x, EIO, "cannot seal an answer");
		return;
	}
	xfer_to(x, XS_ACK);
}

/* RENAME -> COMMIT (COMMIT goes down, "done" comes back) or, at the
 * chain's tail, -> ACK. */
static void renamed(struct sdfs *s, struct xfer *x)
{
	if (x->c[DOWN])
		stream_commit(s, x);
	else
		committed(s, x);
}

/* An answer from the successor after CHAIN: "prepared", "done", or a failure. */
static void down_answer(struct sdfs *s, struct xfer *x, const uint8_t *body, size_t len)
{
	const char *text;
	size_t tlen;
	int status;

	sdfs_status_decode(body, len, &status, &text, &tlen);
	if (status != 0) {
		char why[300];
		snprintf(why, sizeof(why), "a later replica failed: %.*s", (int)MIN(tlen, 200u),
			 text);
		xfer_fail(s, x, status, why);
		return;
	}
	if (x->st == XS_SYNC || x->st == XS_SYNCED)
		synced_down(s, x);
	else if (x->st == XS_COMMIT)
		committed(s, x);
}

/* PREPARED -> RENAME: COMMIT (a request frame: status 0 and the stream id). */
static void commit_in(struct sdfs *s, struct xfer *x, const struct wire_hdr *h, const uint8_t *body,
		      size_t len)
{
	if (h->type != WIRE_RPC_REQ || sdfs_commit_check(body, len, x->req.sid) ||
	    x->st != XS_PREPARED) {
		xfer_fail(s, x, EPROTO, "a malformed commit");
		return;
	}
	rename_start(s, x);
}

void write_event(struct sdfs *s, struct xfer *x, enum side side, enum conn_ev ev, uint64_t tag,
		 int res)
{
	struct wire_hdr h;
	const uint8_t *body;
	size_t len;

	if (x->st == XS_CHAIN) { /* a failure of the candidate skips it */
		if (side != DOWN || res < 0) {
			if (side == DOWN)
				chain_skip(s, x);
		} else if (ev == CONN_EV_CONNECTED) {
			chain_connected(s, x);
		} else if (ev == CONN_EV_FRAME && stream_answer(s, x, DOWN, &body, &len) == 0) {
			chain_answer(s, x, body, len);
		}
		return;
	}
	if (res < 0) {
		xfer_fail(
			s, x, res == -EPROTO ? EPROTO : EPIPE,
			ev == CONN_EV_FRAME && res == -EPROTO
				? (side == UP ? "a malformed commit" : "refused answer from a peer")
				: stream_error(res));
		return;
	}
	switch (ev) {
	case CONN_EV_RECV: /* a chunk */
		if (side == UP && x->st == XS_STREAM)
			chunk_in(s, x, tag);
		break;
	case CONN_EV_SENT:
		if (tag != TAG_CTRL) { /* a chunk went down */
			x->b[tag % NB].sneed = 0;
			x->sent_next++;
		} else if (side == UP && x->st == XS_READY) {
			xfer_to(x, XS_STREAM); /* the client sends data now */
		} else if (side == UP && x->st == XS_ACK) {
			xfer_finish(s, x);
		}
		break;
	case CONN_EV_FRAME:
		if (side == UP) {
			stream_frame(x, UP, &h, &body, &len);
			commit_in(s, x, &h, body, len);
		} else if (stream_answer(s, x, DOWN, &body, &len) == 0) {
			down_answer(s, x, body, len);
		}
		break;
	default:
		break;
	}
}

/* ---- file operations ---- */

static void chunk_written(struct sdfs *s, struct xfer *x, int bi, int res)
{
	struct buf *b = &x->b[bi];
	struct io_uring_sqe *sqe;

	if (res > 0 && b->wdone + (uint32_t)res < b->len && !xfer_over(x)) {
		b->wdone += (uint32_t)res; /* the next piece, or the rest of a short one */
		write_chunk(s, x, bi);
		return;
	}
	b->wbusy = 0;
	if (res <= 0) {
		xfer_fail(s, x, res < 0 ? -res : EIO, res < 0 ? strerror(-res) : "wrote nothing");
		return;
	}
	x->written++;
	if (xfer_over(x))
		return;
	/* start writing the chunk back now, so the fsync at the end waits for
	 * little (it still checks everything) */
	sqe = sdfs_sqe(s);
	io_uring_prep_sync_file_range(sqe, store_writer_fd(x->w), b->len,
				      (uint64_t)b->chunk * STORE_CHUNK, SYNC_FILE_RANGE_WRITE);
	sdfs_fop(s, x, sqe, FOP_SYNCRANGE, bi);
}

void write_fop_done(struct sdfs *s, struct xfer *x, enum sdfs_fop op, int bi, int res)
{
	switch (op) {
	case FOP_WRITE:
		chunk_written(s, x, bi, res);
		break;
	case FOP_COMMIT:
	case FOP_RENAME:
		if (op == FOP_RENAME && bi == 0 && res == 0)
			store_write_renamed(x->w); /* in place: held here now */
		if (res < 0 && !x->fop_res)
			x->fop_res = res;
		if (--x->fop_left > 0 || xfer_over(x))
			break;
		if (x->fop_res)
			xfer_fail(s, x, -x->fop_res,
				  op == FOP_RENAME && x->fop_res == -EEXIST
					  ? "version already held here"
					  : strerror(-x->fop_res));
		else if (op == FOP_COMMIT)
			synced_here(s, x);
		else
			renamed(s, x);
		break;
	default: /* FOP_SYNCRANGE: advisory, the fsync reports any error */
		break;
	}
}
