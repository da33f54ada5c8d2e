/*
 * sdfs_client_get.c - a get from inside the loop (see sdfs_client.h):
 * OP_STAT asks the file's first ranked members at once which versions
 * they hold and picks the version and its holders; OP_READ reads it from
 * one holder (the request, its answer, then chunk frames, each checked and
 * written out before the next is received), going on from the last whole
 * chunk with the next holder when one fails.
 */
#include "sdfs/sdfs_client.h"
#include "sdfs/sdfs_client_int.h"
#include "core/conn.h"
#include "sdfs/sdfs_wire.h"
#include "sdfs/store.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void get_stat_answer(struct holder *h, const uint8_t *body, size_t len)
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
void get_stat_done(struct op *o)
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
		op_finish(o, -EIO);
		return;
	}
	if (!o->version)
		o->version = newest;
	if (!o->version || o->version <= deleted) {
		op_finish(o, -ENOENT);
		return;
	}
	o->norder = 0;
	for (int i = 0; i < o->nh; i++) /* o->h is in rank order already */
		if (holds(&o->h[i], o->version))
			o->order[o->norder++] = o->h[i].who;
	if (!o->norder) {
		op_finish(o, -ENOENT);
		return;
	}
	o->state = OP_READ;
	o->at = -1;
	get_next_holder(o);
}

/* ---- get: the stream ---- */

void get_next_holder(struct op *o)
{
	o->conn = NULL;
	o->answered = 0;
	while (++o->at < o->norder)
		if (op_connect(o, o->order[o->at], &o->link, &o->conn) == 0)
			return;
	op_finish(o, o->status ? o->status : -EIO);
}

void get_chunk(struct op *o)
{
	if (o->chunk == chunk_count(o->size)) {
		op_finish(o, 0);
		return;
	}
	if (conn_recv(o->conn, o->frame, chunk_frame_len(o->size, o->chunk), IO_MS, 0))
		conn_close(o->conn);
}

void get_answer(struct op *o, const uint8_t *body, size_t len)
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
		op_finish(o, -EFBIG);
		return;
	}
	o->size = size;
	if (o->fd < 0 && !o->data)
		o->data = xmalloc(size ? size : 1);
	if (!o->frame)
		o->frame = xmalloc(CHUNK_FRAME_MAX);
	o->answered = 1;
	get_chunk(o);
}

void get_got_chunk(struct op *o, int res)
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
		op_file_io(o, F_WRITE, o->frame + CHUNK_HDR, dl, o->chunk * STORE_CHUNK);
		return; /* the next chunk once it is written */
	}
	memcpy(o->data + o->chunk * STORE_CHUNK, o->frame + CHUNK_HDR, dl);
	o->chunk++;
	get_chunk(o);
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
	n = op_ranked(o, who, MIN(c->env.replicas + STAT_EXTRA, HOLDERS_MAX));
	c->n_gets++;
	for (int i = 0; i < n; i++) {
		o->h[i].who = who[i];
		o->h[i].link = (struct link){o, i};
	}
	o->nh = n;
	o->stat_left = n;
	for (int i = 0; i < n; i++) {
		struct conn *conn;
		if (op_connect(o, who[i], &o->h[i].link, &conn))
			o->stat_left--;
	}
	if (o->stat_left == 0)
		get_stat_done(o); /* nobody to ask: fails at once, through the callback */
	return 0;
}
