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
 * completion finds its buffers gone.  The get's steps are in
 * sdfs_client_get.c, the put's in sdfs_client_put.c.
 */
#include "sdfs/sdfs_client.h"
#include "sdfs/sdfs_client_int.h"
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

static const char *const op_state_names[OP_STATE_MAX] = {"idle", "stat", "read", "write", "done"};

static void conn_event(void *arg, struct conn *conn, enum conn_ev ev, uint64_t tag, int res);

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

void op_finish(struct op *o, int status)
{
	sdfs_client_fn fn = o->fn;
	void *arg = o->arg;
	uint64_t version = o->version, size = o->size;
	uint32_t crc = o->crc;
	uint8_t *data = NULL;

	if (o->finished)
		return;
	/* above the caller's own limit: what a version probe (a get with a
	 * 1-byte limit) asks for, not a failure */
	if (status && !(status == -EFBIG && !o->is_put && o->max)) {
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

void op_file_io(struct op *o, enum fop f, uint8_t *buf, size_t len, uint64_t off)
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

int op_connect(struct op *o, struct wire_addr to, struct link *l, struct conn **out)
{
	int ret = conn_connect(o->c->env.conns, to, CONNECT_MS, conn_event, o->c, out);

	if (ret == 0) {
		conn_set_user(*out, l);
		o->pending++;
	}
	return ret;
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
			get_stat_done(o);
		else if (l->idx < 0 && conn == o->conn && !o->finished)
			o->is_put ? put_next_head(o) : get_next_holder(o);
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
			get_stat_answer(&o->h[l->idx], body, len);
			conn_close(conn);
		} else if (o->is_put) {
			put_answer(o, body, len);
		} else {
			get_answer(o, body, len);
		}
		break;
	case CONN_EV_RECV:
		get_got_chunk(o, res);
		break;
	case CONN_EV_SENT:
		if (tag == 1) { /* a chunk went out */
			o->c->bytes_out += (uint64_t)res - CHUNK_HDR - CHUNK_TAG;
			o->chunk++;
			put_chunk(o);
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
		op_finish(o, res < 0 ? res : -EIO);
		return;
	}
	if (f == F_WRITE) {
		o->chunk++;
		get_chunk(o);
	} else {
		chunk_seal(c->env.key, o->sid, (uint32_t)o->chunk, o->frame, want,
			   store_crc32c(0, o->frame + CHUNK_HDR, want));
		if (conn_send(o->conn, o->frame, CHUNK_HDR + want + CHUNK_TAG, IO_MS, 1))
			conn_close(o->conn);
	}
}

/* ---- starting ---- */

struct op *op_new(struct sdfs_client *c, const char *name, int fd, sdfs_client_fn fn, void *arg)
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
int op_ranked(struct op *o, struct wire_addr *out, int max)
{
	struct wire_addr live[1024];
	int n = o->c->env.live(o->c->env.arg, live, (int)ARRAY_SIZE(live));

	return n > 0 ? place_replicas(o->name, live, n, max, out) : 0;
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
			op_finish(&c->ops[i], -ECANCELED);
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
