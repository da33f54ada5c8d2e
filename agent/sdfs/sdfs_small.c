/*
 * sdfs_small.c - the small requests (STAT, LIST, DELETE, REPAIR), each
 * answered with one frame from the store's index, and small calls to
 * other agents (a round's LIST, a REPAIR ask): connect, one request, one
 * answer.
 */
#include "core/log.h"
#include "sdfs/sdfs_int.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* -> ANSWER: the one answer goes up. */
static void reply_body(struct sdfs *s, struct xfer *x, const uint8_t *body, size_t len)
{
	if (stream_send_frame(s, x, UP, WIRE_RPC_RESP, body, len)) {
		xfer_fail(s, x, EIO, "cannot seal an answer");
		return;
	}
	xfer_to(x, XS_ANSWER);
}

static void serve_stat(struct sdfs *s, struct xfer *x)
{
	uint64_t v[SDFS_STAT_MAX];
	const char *name = x->req.name;
	int n = store_versions(s->store, name, v, SDFS_STAT_MAX);
	size_t cap = 11 + SDFS_STAT_MAX * 8;
	uint8_t *body = xmalloc(cap);

	n = sdfs_stat_encode(v, n, store_tomb_get(s->store, name), body, cap);
	if (n < 0)
		xfer_fail(s, x, EIO, "cannot encode an answer");
	else
		reply_body(s, x, body, (size_t)n);
	free(body);
}

static int list_one(void *arg, const char *name, uint64_t version, uint64_t size)
{
	return sdfs_list_add(arg, name, version, size);
}

/* A deletion marker goes in a listing as an entry of size SDFS_TOMB_SIZE. */
static int list_tomb(void *arg, const char *name, uint64_t upto, uint64_t size)
{
	(void)size;
	return list_one(arg, name, upto, SDFS_TOMB_SIZE);
}

static void serve_list(struct sdfs *s, struct xfer *x)
{
	size_t cap = WIRE_MAX_PAYLOAD - 64;
	uint8_t *body = xmalloc(cap);
	struct sdfs_list_enc e;
	int ret;

	sdfs_list_begin(&e, body, cap);
	/* want = 1: names and versions only (repair rounds) */
	ret = x->req.want ? store_list_names(s->store, list_one, &e)
			  : store_list(s->store, list_one, &e);
	if (!ret)
		ret = store_tomb_list(s->store, list_tomb, &e);
	if (ret)
		xfer_fail(s, x, -ret, "the listing does not fit in one answer");
	else
		reply_body(s, x, body, sdfs_list_end(&e));
	free(body);
}

/* Deletes every version up to req.version (0: up to the newest held here);
 * answered once the marker and the removals are durable (-> DIRSYNC). */
static void serve_delete(struct sdfs *s, struct xfer *x)
{
	const char *name = x->req.name;
	uint64_t upto = x->req.version;
	uint8_t body[5];
	int n = 0;

	if (!upto && store_versions(s->store, name, &upto, 1) <= 0)
		upto = 0;
	if (upto)
		n = store_tomb_set(s->store, name, upto);
	if (n > 0)
		log_msg(LOG_INFO, "sdfs: deleted %s up to v%llu (%d versions here)", name,
			(unsigned long long)upto, n);
	if (n < 0 || !upto) {
		sdfs_delete_ans_encode(0, body, sizeof(body));
		reply_body(s, x, body, sizeof(body));
		return;
	}
	x->tag = n;
	sdfs_sync_dir(s, x);
	xfer_to(x, XS_DIRSYNC);
}

/* DIRSYNC -> ANSWER. */
void small_dirsync_done(struct sdfs *s, struct xfer *x, int res)
{
	uint8_t body[5];

	(void)res; /* as before io_uring: a folder fsync's error is not reported */
	if (x->st != XS_DIRSYNC)
		return;
	sdfs_delete_ans_encode((uint32_t)x->tag, body, sizeof(body));
	reply_body(s, x, body, sizeof(body));
}

/* Another agent asks this one to push a version to it (its replica was bad). */
static void serve_repair(struct sdfs *s, struct xfer *x)
{
	int ret = x->req.ncand == 1 ? push_start(s, x->req.name, x->req.version, x->req.cand[0])
				    : -EINVAL;
	uint8_t body[1];

	sdfs_status_encode(-ret, NULL, body, sizeof(body));
	reply_body(s, x, body, 1);
}

void serve_small(struct sdfs *s, struct xfer *x)
{
	switch (x->req.cmd) {
	case SDFS_STAT:
		serve_stat(s, x);
		break;
	case SDFS_LIST:
		serve_list(s, x);
		break;
	case SDFS_DELETE:
		serve_delete(s, x);
		break;
	case SDFS_REPAIR:
		serve_repair(s, x);
		break;
	default:
		xfer_fail(s, x, EINVAL, "unknown command");
	}
}

/* ---- calls ---- */

int call_start(struct sdfs *s, struct wire_addr to, const struct sdfs_req *r, call_fn done, int tag)
{
	struct xfer *x = xfer_alloc(s, K_CALL);
	int ret;

	if (!x)
		return -EBUSY;
	x->req = *r;
	x->tag = tag;
	ret = stream_connect(s, x, to);
	if (ret) {
		xfer_fail(s, x, -ret, "cannot connect"); /* not reported: the caller sees it */
		return ret == -EBUSY ? -EBUSY : -EIO;
	}
	x->done = done;
	return 0; /* CONNECT */
}

/* CONNECT -> ASK: the request goes down, its answer is awaited. */
void call_connected(struct sdfs *s, struct xfer *x, int res)
{
	if (res < 0)
		xfer_fail(s, x, EHOSTUNREACH, "cannot connect");
	else if (stream_send_req(s, x, &x->req) || stream_recv_frame(s, x, DOWN))
		xfer_fail(s, x, EIO, "cannot seal a request");
	else
		xfer_to(x, XS_ASK);
}

/* ASK -> DONE: the answer (status byte first) goes to the caller. */
void call_answer(struct sdfs *s, struct xfer *x, const uint8_t *body, size_t len)
{
	call_fn done = x->done;

	x->done = NULL;
	if (done)
		done(s, x, body, len);
	xfer_finish(s, x);
}

void small_event(struct sdfs *s, struct xfer *x, enum side side, enum conn_ev ev, uint64_t tag,
		 int res)
{
	const uint8_t *body;
	size_t len;

	(void)tag;
	if (x->kind == K_REPLY) {
		if (res < 0)
			xfer_fail(s, x, EPIPE, stream_error(res));
		else if (ev == CONN_EV_SENT && x->st == XS_ANSWER)
			xfer_finish(s, x);
		return;
	}
	switch (ev) {
	case CONN_EV_CONNECTED:
		call_connected(s, x, res);
		break;
	case CONN_EV_SENT:
		if (res < 0)
			xfer_fail(s, x, EPIPE, stream_error(res));
		break;
	case CONN_EV_FRAME:
		if (res < 0) {
			xfer_fail(s, x, res == -EPROTO ? EPROTO : EPIPE,
				  res == -EPROTO ? "refused answer from a peer"
						 : stream_error(res));
			break;
		}
		if (stream_answer(s, x, side, &body, &len) == 0)
			call_answer(s, x, body, len);
		break;
	default:
		break;
	}
}
