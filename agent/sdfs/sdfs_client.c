/*
 * sdfs_client.c - SDFS gets and puts from inside the loop (see
 * sdfs_client.h).
 *
 * Each operation is a small state machine in a fixed table: a get runs
 * OP_STAT (one short call to each of the file's first ranked members, all
 * at once), then OP_READ (one stream from a holder: the request, its
 * answer, then chunk frames, each checked and written out before the next
 * is received); a put runs OP_WRITE (the request to the head, its answer,
 * then chunk frames read from the source and sealed, then the head's final
 * answer).  Every connection and local file operation in flight counts in
 * o->pending; an operation is released only when that is 0, so no
 * completion finds its buffers gone.
 */
#include "sdfs/sdfs_client.h"
#include "core/conn.h"
#include "core/log.h"
#include "core/loop.h"
#include "sdfs/place.h"
#include "sdfs/sdfs_wire.h"
#include "sdfs/store.h"
#include "util.h"

#include <errno.h>
#include <liburing.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPS_MAX	    32
#define STAT_EXTRA  2 /* members asked beyond the replica count */
#define HOLDERS_MAX (16 + STAT_EXTRA)
#define IO_MS	    10000
#define CONNECT_MS  2000
#define PUT_TRIES   3

enum op_state { OP_IDLE, OP_STAT, OP_READ, OP_WRITE, OP_DONE, OP_STATE_MAX };
static const char *const op_state_names[OP_STATE_MAX] = {"idle", "stat", "read", "write", "done"};

enum fop { F_READ = 1, F_WRITE };

struct op;

/* What a connection's events are about: a STAT call (idx >= 0) or the
 * operation's stream (idx < 0). */
struct link {
	struct op *o;
	int idx;
};

struct holder {
	struct link link;
	struct wire_addr who;
	int ok, n;
	uint64_t v[64]; /* versions held, newest first */
	uint64_t deleted;
};

struct op {
	enum op_state state;
	struct sdfs_client *c;
	int is_put;
	char name[STORE_NAME_MAX + 1];
	uint64_t version, size, max, done, chunk;
	uint32_t crc; /* of the content received so far, in order */
	int fd;
	uint8_t *data; /* get: the result buffer; put: the caller's bytes, copied */
	sdfs_client_fn fn;
	void *arg;
	int status, finished, pending;
	/* OP_STAT */
	struct holder h[HOLDERS_MAX];
	int nh, stat_left;
	/* OP_READ / OP_WRITE */
	struct link link;
	struct conn *conn;
	struct wire_addr order[64];
	int norder, at, answered;
	uint8_t sid[SDFS_SID_LEN];
	uint8_t *frame;
};

struct sdfs_client {
	struct sdfs_client_env env;
	int owner;
	struct op ops[OPS_MAX];
	uint64_t n_gets, n_puts, n_failed, bytes_in, bytes_out;
};

static void conn_event(void *arg, struct conn *conn, enum conn_ev ev, uint64_t tag, int res);
static void read_next_holder(struct op *o);
static void write_next_head(struct op *o);

/* ---- the end of an operation ---- */

static void release(struct op *o)
{
	if (o->state != OP_DONE || o->pending)
		return;
	free(o->frame);
	free(o->data);
	memset(o, 0, sizeof(*o));
	o->state = OP_IDLE;
}

static void finish(struct op *o, int status)
{
	sdfs_client_fn fn = o->fn;
	void *arg = o->arg;
	uint64_t version = o->version, size = o->size;
	uint32_t crc = o->crc;
	uint8_t *data = NULL;

	if (o->finished)
		return;
	if (status) {
		o->c->n_failed++;
		log_msg(LOG_WARN, "sdfs client: %s of %s failed in %s: %s",
			o->is_put ? "put" : "get", o->name, op_state_names[o->state],
			strerror(-status));
	}
	o->finished = 1;
	o->state = OP_DONE;
	if (!status && !o->is_put && o->fd < 0) { /* the buffer goes to the caller */
		data = o->data;
		o->data = NULL;
	}
	if (o->conn) /* may release o at once */
		conn_close(o->conn);
	fn(arg, status, version, size, crc, data);
	release(o);
}

/* ---- local files ---- */

static void file_io(struct op *o, enum fop f, uint8_t *buf, size_t len, uint64_t off)
{
	struct io_uring_sqe *sqe = loop_sqe(o->c->env.loop);

	if (f == F_WRITE)
		io_uring_prep_write(sqe, o->fd, buf, (unsigned)len, off);
	else
		io_uring_prep_read(sqe, o->fd, buf, (unsigned)len, off);
	io_uring_sqe_set_data64(sqe, LOOP_UD(o->c->owner, f, o - o->c->ops));
	o->pending++;
}

/* ---- talking to members ---- */

static int send_req(struct op *o, struct conn *conn, struct sdfs_req *r)
{
	uint8_t body[SDFS_REQ_MAX];
	int n;

	snprintf(r->name, sizeof(r->name), "%s", o->name);
	n = sdfs_req_encode(r, body, sizeof(body));
	if (n < 0)
		return n;
	n = conn_send_frame(conn, WIRE_RPC_REQ, body, (size_t)n, IO_MS, 0);
	return n ? n : conn_recv_frame(conn, 0, IO_MS, 0);
}

static int open_to(struct op *o, struct wire_addr to, struct link *l, struct conn **out)
{
	int ret = conn_connect(o->c->env.conns, to, CONNECT_MS, conn_event, o->c, out);

	if (ret == 0) {
		conn_set_user(*out, l);
		o->pending++;
	}
	return ret;
}

/* ---- get: which version, who holds it ---- */

static void stat_answer(struct holder *h, const uint8_t *body, size_t len)
{
	struct sdfs_stat *st = xmalloc(sizeof(*st));

	if (sdfs_stat_decode(body, len, st) == 0) {
		h->n = MIN(st->n, (int)ARRAY_SIZE(h->v));
		memcpy(h->v, st->v, (size_t)h->n * sizeof(h->v[0]));
		h->deleted = st->deleted;
		h->ok = 1;
	}
	free(st);
}

static int holds(const struct holder *h, uint64_t v)
{
	for (int i = 0; h->ok && i < h->n; i++)
		if (h->v[i] == v)
			return 1;
	return 0;
}

/* Every STAT call ended: pick the version and its holders, in rank order. */
static void stat_done(struct op *o)
{
	uint64_t deleted = 0, newest = 0;
	int answered = 0;

	for (int i = 0; i < o->nh; i++)
		if (o->h[i].ok) {
			answered++;
			deleted = MAX(deleted, o->h[i].deleted);
		}
	for (int i = 0; i < o->nh; i++)
		for (int j = 0; o->h[i].ok && j < o->h[i].n; j++)
			if (o->h[i].v[j] > deleted)
				newest = MAX(newest, o->h[i].v[j]);
	if (!answered) {
		finish(o, -EIO);
		return;
	}
	if (!o->version)
		o->version = newest;
	if (!o->version || o->version <= deleted) {
		finish(o, -ENOENT);
		return;
	}
	o->norder = 0;
	for (int i = 0; i < o->nh; i++) /* o->h is in rank order already */
		if (holds(&o->h[i], o->version))
			o->order[o->norder++] = o->h[i].who;
	if (!o->norder) {
		finish(o, -ENOENT);
		return;
	}
	o->state = OP_READ;
	o->at = -1;
	read_next_holder(o);
}

/* ---- get: the stream ---- */

static void read_next_holder(struct op *o)
{
	o->conn = NULL;
	o->answered = 0;
	while (++o->at < o->norder)
		if (open_to(o, o->order[o->at], &o->link, &o->conn) == 0)
			return;
	finish(o, o->status ? o->status : -EIO);
}

static void read_chunk(struct op *o)
{
	if (o->chunk == chunk_count(o->size)) {
		finish(o, 0);
		return;
	}
	if (conn_recv(o->conn, o->frame, chunk_frame_len(o->size, o->chunk), IO_MS, 0))
		conn_close(o->conn);
}

static void read_answer(struct op *o, const uint8_t *body, size_t len)
{
	uint64_t version, size;
	const char *text;
	size_t tlen;
	int status;

	if (sdfs_status_decode(body, len, &status, &text, &tlen) || status) {
		o->status = len ? -status : -EPROTO;
		conn_close(o->conn);
		return;
	}
	if (sdfs_read_ans_decode(body, len, &version, &size) || (o->chunk > 0 && size != o->size)) {
		o->status = -EPROTO;
		conn_close(o->conn);
		return;
	}
	if (o->max && size > o->max) {
		finish(o, -EFBIG);
		return;
	}
	o->size = size;
	if (o->fd < 0 && !o->data)
		o->data = xmalloc(size ? size : 1);
	if (!o->frame)
		o->frame = xmalloc(CHUNK_FRAME_MAX);
	o->answered = 1;
	read_chunk(o);
}

static void read_got_chunk(struct op *o, int res)
{
	uint32_t dl, crc;

	if (res < 0 || chunk_open(o->c->env.key, o->sid, (uint32_t)o->chunk, o->frame, (size_t)res,
				  &dl, &crc)) {
		o->status = res < 0 ? res : -EBADMSG;
		conn_close(o->conn);
		return;
	}
	o->c->bytes_in += dl;
	o->crc = store_crc32c(o->crc, o->frame + CHUNK_HDR, dl);
	if (o->fd >= 0) {
		file_io(o, F_WRITE, o->frame + CHUNK_HDR, dl, o->chunk * STORE_CHUNK);
		return; /* the next chunk once it is written */
	}
	memcpy(o->data + o->chunk * STORE_CHUNK, o->frame + CHUNK_HDR, dl);
	o->chunk++;
	read_chunk(o);
}

/* ---- put ---- */

static void write_next_head(struct op *o)
{
	o->conn = NULL;
	o->answered = 0;
	while (++o->at < MIN(o->norder, PUT_TRIES))
		if (open_to(o, o->order[o->at], &o->link, &o->conn) == 0)
			return;
	finish(o, o->status ? o->status : -EIO);
}

static void write_chunk(struct op *o)
{
	uint32_t len;

	if (o->chunk == chunk_count(o->size))
		return; /* every chunk is out: the head's final answer is awaited */
	len = (uint32_t)MIN((uint64_t)STORE_CHUNK, o->size - o->chunk * STORE_CHUNK);
	if (o->data) {
		memcpy(o->frame + CHUNK_HDR, o->data + o->chunk * STORE_CHUNK, len);
		chunk_seal(o->c->env.key, o->sid, (uint32_t)o->chunk, o->frame, len,
			   store_crc32c(0, o->frame + CHUNK_HDR, len));
		if (conn_send(o->conn, o->frame, CHUNK_HDR + len + CHUNK_TAG, IO_MS, 1))
			conn_close(o->conn);
	} else {
		file_io(o, F_READ, o->frame + CHUNK_HDR, len, o->chunk * STORE_CHUNK);
	}
}

static void write_answer(struct op *o, const uint8_t *body, size_t len)
{
	struct sdfs_ready r;
	const char *text;
	size_t tlen;
	int status;

	if (sdfs_status_decode(body, len, &status, &text, &tlen) || status) {
		o->status = len ? -status : -EPROTO;
		/* refused before any data moved: the next candidate may take it */
		if (!o->answered && status != EINVAL) {
			conn_close(o->conn);
			return;
		}
		finish(o, o->status);
		return;
	}
	if (o->answered) { /* the final answer: every replica has it */
		finish(o, o->chunk == chunk_count(o->size) ? 0 : -EPROTO);
		return;
	}
	if (sdfs_ready_decode(body, len, &r)) {
		finish(o, -EPROTO);
		return;
	}
	o->version = r.version;
	o->answered = 1;
	o->at = PUT_TRIES; /* data moves now: a failure is not retried elsewhere */
	if (conn_recv_frame(o->conn, 0, 0, 0)) { /* the final (or an early) answer */
		conn_close(o->conn);
		return;
	}
	o->frame = xmalloc(CHUNK_FRAME_MAX);
	write_chunk(o);
}

/* ---- events ---- */

static void conn_event(void *arg, struct conn *conn, enum conn_ev ev, uint64_t tag, int res)
{
	struct link *l = conn_user(conn);
	struct op *o = l->o;
	struct sdfs_req r = {0};
	struct wire_hdr h;
	const uint8_t *body;
	size_t len;

	(void)arg, (void)tag;
	if (ev == CONN_EV_CLOSED) {
		o->pending--;
		if (l->idx >= 0 && --o->stat_left == 0 && !o->finished)
			stat_done(o);
		else if (l->idx < 0 && conn == o->conn && !o->finished)
			o->is_put ? write_next_head(o) : read_next_holder(o);
		release(o);
		return;
	}
	if (o->finished || res < 0) {
		if (l->idx < 0 && res < 0 && !o->status)
			o->status = res;
		conn_close(conn);
		return;
	}
	switch (ev) {
	case CONN_EV_CONNECTED:
		r.cmd = l->idx >= 0 ? SDFS_STAT : o->is_put ? SDFS_WRITE : SDFS_READ;
		r.version = l->idx >= 0 ? 0 : o->version;
		r.size = o->is_put ? o->size : 0;
		r.offset = o->is_put ? 0 : o->chunk * STORE_CHUNK;
		if (l->idx < 0) /* the stream's chunks are bound to a fresh id */
			randombytes_buf(o->sid, sizeof(o->sid));
		memcpy(r.sid, o->sid, sizeof(r.sid));
		if (send_req(o, conn, &r))
			conn_close(conn);
		break;
	case CONN_EV_FRAME:
		conn_frame(conn, &h, &body, &len);
		if (h.type != WIRE_RPC_RESP) {
			conn_close(conn);
		} else if (l->idx >= 0) {
			stat_answer(&o->h[l->idx], body, len);
			conn_close(conn);
		} else if (o->is_put) {
			write_answer(o, body, len);
		} else {
			read_answer(o, body, len);
		}
		break;
	case CONN_EV_RECV:
		read_got_chunk(o, res);
		break;
	case CONN_EV_SENT:
		if (tag == 1) { /* a chunk went out */
			o->c->bytes_out += (uint64_t)res - CHUNK_HDR - CHUNK_TAG;
			o->chunk++;
			write_chunk(o);
		}
		break;
	default:
		break;
	}
}

static void complete(void *m, unsigned f, uint64_t idx, int res, uint32_t flags)
{
	struct sdfs_client *c = m;
	struct op *o = &c->ops[idx % OPS_MAX];
	uint32_t want;

	(void)flags;
	o->pending--;
	if (o->finished) {
		release(o);
		return;
	}
	want = (uint32_t)MIN((uint64_t)STORE_CHUNK, o->size - o->chunk * STORE_CHUNK);
	if (res != (int)want) { /* a local disk error ends the operation */
		finish(o, res < 0 ? res : -EIO);
		return;
	}
	if (f == F_WRITE) {
		o->chunk++;
		read_chunk(o);
	} else {
		chunk_seal(c->env.key, o->sid, (uint32_t)o->chunk, o->frame, want,
			   store_crc32c(0, o->frame + CHUNK_HDR, want));
		if (conn_send(o->conn, o->frame, CHUNK_HDR + want + CHUNK_TAG, IO_MS, 1))
			conn_close(o->conn);
	}
}

/* ---- starting ---- */

static struct op *op_new(struct sdfs_client *c, const char *name, int fd, sdfs_client_fn fn,
			 void *arg)
{
	for (int i = 0; i < OPS_MAX; i++)
		if (c->ops[i].state == OP_IDLE) {
			struct op *o = &c->ops[i];
			memset(o, 0, sizeof(*o));
			o->c = c;
			o->fd = fd;
			o->fn = fn;
			o->arg = arg;
			o->link = (struct link){o, -1};
			snprintf(o->name, sizeof(o->name), "%s", name);
			return o;
		}
	return NULL;
}

/* The file's ranked live members, at most max. */
static int ranked(struct op *o, struct wire_addr *out, int max)
{
	struct wire_addr live[1024];
	int n = o->c->env.live(o->c->env.arg, live, (int)ARRAY_SIZE(live));

	return n > 0 ? place_replicas(o->name, live, n, max, out) : 0;
}

int sdfs_client_get(struct sdfs_client *c, const char *name, uint64_t version, int fd, uint64_t max,
		    sdfs_client_fn fn, void *arg)
{
	struct wire_addr who[HOLDERS_MAX];
	struct op *o;
	int n;

	if (store_name_check(name, NULL, 0))
		return -EINVAL;
	o = op_new(c, name, fd, fn, arg);
	if (!o)
		return -EBUSY;
	o->version = version;
	o->max = max;
	o->state = OP_STAT;
	n = ranked(o, who, MIN(c->env.replicas + STAT_EXTRA, HOLDERS_MAX));
	c->n_gets++;
	for (int i = 0; i < n; i++) {
		o->h[i].who = who[i];
		o->h[i].link = (struct link){o, i};
	}
	o->nh = n;
	o->stat_left = n;
	for (int i = 0; i < n; i++) {
		struct conn *conn;
		if (open_to(o, who[i], &o->h[i].link, &conn))
			o->stat_left--;
	}
	if (o->stat_left == 0)
		stat_done(o); /* nobody to ask: fails at once, through the callback */
	return 0;
}

int sdfs_client_put(struct sdfs_client *c, const char *name, const void *data, int fd, uint64_t len,
		    sdfs_client_fn fn, void *arg)
{
	struct op *o;

	if (store_name_check(name, NULL, 0))
		return -EINVAL;
	o = op_new(c, name, data ? -1 : fd, fn, arg);
	if (!o)
		return -EBUSY;
	o->is_put = 1;
	o->size = len;
	if (data) {
		o->data = xmalloc(len ? len : 1);
		memcpy(o->data, data, len);
	}
	o->state = OP_WRITE;
	o->norder = ranked(o, o->order, (int)ARRAY_SIZE(o->order));
	o->at = -1;
	c->n_puts++;
	write_next_head(o);
	return 0;
}

/* ---- the module ---- */

static size_t stats(void *m, char *buf, size_t cap)
{
	struct sdfs_client *c = m;
	int active = 0;

	for (int i = 0; i < OPS_MAX; i++)
		active += c->ops[i].state != OP_IDLE;
	return (size_t)snprintf(
		buf, cap,
		"sdfs_client_gets %llu\nsdfs_client_puts %llu\nsdfs_client_failed %llu\n"
		"sdfs_client_bytes_in %llu\nsdfs_client_bytes_out %llu\nsdfs_client_active %d\n",
		(unsigned long long)c->n_gets, (unsigned long long)c->n_puts,
		(unsigned long long)c->n_failed, (unsigned long long)c->bytes_in,
		(unsigned long long)c->bytes_out, active);
}

static void cancel(void *m)
{
	struct sdfs_client *c = m;

	for (int i = 0; i < OPS_MAX; i++)
		if (c->ops[i].state != OP_IDLE && !c->ops[i].finished)
			finish(&c->ops[i], -ECANCELED);
}

static int pending(void *m)
{
	struct sdfs_client *c = m;
	int n = 0;

	for (int i = 0; i < OPS_MAX; i++)
		n += c->ops[i].pending;
	return n;
}

static const struct loop_ops client_ops = {
	.name = "sdfs_client",
	.complete = complete,
	.stats = stats,
	.cancel = cancel,
	.pending = pending,
};

int sdfs_client_new(const struct sdfs_client_env *env, struct sdfs_client **out)
{
	struct sdfs_client *c = xcalloc(1, sizeof(*c));

	c->env = *env;
	c->owner = loop_register(env->loop, &client_ops, c);
	if (c->owner < 0) {
		int ret = c->owner;
		free(c);
		return ret;
	}
	*out = c;
	return 0;
}

void sdfs_client_free(struct sdfs_client *c)
{
	if (!c)
		return;
	for (int i = 0; i < OPS_MAX; i++) {
		free(c->ops[i].frame);
		free(c->ops[i].data);
	}
	free(c);
}
