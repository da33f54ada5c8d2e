/*
 * sdfs_client_put.c - a put from inside the loop (see sdfs_client.h):
 * OP_WRITE sends the request to the head of the file's chain (the next
 * ranked member when one refuses before any data moved), then the chunk
 * frames, read from the source and sealed, then awaits the head's final
 * answer.
 */
#include "sdfs/sdfs_client.h"
#include "sdfs/sdfs_client_int.h"
#include "core/conn.h"
#include "sdfs/sdfs_wire.h"
#include "sdfs/store.h"
#include "util.h"

#include <errno.h>
#include <string.h>

void put_next_head(struct op *o)
{
	o->conn = NULL;
	o->answered = 0;
	while (++o->at < MIN(o->norder, PUT_TRIES))
		if (op_connect(o, o->order[o->at], &o->link, &o->conn) == 0)
			return;
	op_finish(o, o->status ? o->status : -EIO);
}

void put_chunk(struct op *o)
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
		op_file_io(o, F_READ, o->frame + CHUNK_HDR, len, o->chunk * STORE_CHUNK);
	}
}

void put_answer(struct op *o, const uint8_t *body, size_t len)
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
		op_finish(o, o->status);
		return;
	}
	if (o->answered) { /* the final answer: every replica has it */
		op_finish(o, o->chunk == chunk_count(o->size) ? 0 : -EPROTO);
		return;
	}
	if (sdfs_ready_decode(body, len, &r)) {
		op_finish(o, -EPROTO);
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
	put_chunk(o);
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
	o->norder = op_ranked(o, o->order, (int)ARRAY_SIZE(o->order));
	o->at = -1;
	c->n_puts++;
	put_next_head(o);
	return 0;
}
