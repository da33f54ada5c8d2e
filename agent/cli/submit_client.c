/*
 * submit_client.c - a submitter's connection (see submit_client.h).
 */
#include "cli/submit_client.h"

#include "tasks/coord_rpc.h"
#include "util.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REDIRECTS_MAX 3
#define RX_MAX	      (WIRE_HDR_LEN + SUB_RESULT_MAX + WIRE_TAG_LEN)

uint64_t subc_random_id(void)
{
	uint64_t id = 0;

	while (!id)
		randombytes_buf(&id, sizeof(id));
	return id;
}

static int open_at(struct subc *s, struct wire_addr to, const uint8_t *req, size_t len,
		   struct wire_addr *next, char *err, size_t errlen)
{
	char where[32];
	uint8_t *body = NULL;
	size_t blen;
	int fd = client_connect(s->cl, to, err, errlen), ret;

	if (fd < 0)
		return fd;
	wire_addr_str(to, where, sizeof(where));
	ret = client_send_request(s->cl, fd, to, req, len);
	if (!ret || ret == -EPIPE || ret == -ECONNRESET) {
		int r = client_recv_response(s->cl, fd, &body, &blen);
		ret = ret && r != -EBUSY ? ret : r;
	}
	if (ret) {
		util_seterr(err, errlen, "agent at %s: %s", where,
			    ret == -EBUSY ? "busy (no connection free)" : strerror(-ret));
		close(fd);
		return ret;
	}
	blen = strcspn((char *)body + 1, "\n");
	((char *)body)[1 + blen] = '\0';
	if (body[0] == COORD_RPC_REDIRECT) {
		ret = wire_addr_parse((char *)body + 1, 0, next) ? -EPROTO : -EAGAIN;
		util_seterr(err, errlen, "agent at %s named no coordinator", where);
	} else if (body[0]) {
		ret = -body[0];
		util_seterr(err, errlen, "%s", (char *)body + 1);
	} else {
		char job[COORD_JOB_ID_MAX + 1];
		unsigned images;
		if (sscanf((char *)body + 1, "%16s %u %32s %32s", job, &images, s->model,
			   s->dataset) != 4 ||
		    strcmp(job, s->job) || !images) {
			util_seterr(err, errlen, "agent at %s: a malformed answer", where);
			ret = -EPROTO;
		} else {
			s->images = images;
			s->fd = fd;
			s->to = to;
		}
	}
	free(body);
	if (ret)
		close(fd);
	return ret;
}

int subc_open(struct subc *s, struct client *cl, struct wire_addr via, const char *job,
	      uint64_t client, char *err, size_t errlen)
{
	struct coord_rpc_req req = {.cmd = COORD_RPC_SUBMIT, .from = client};
	uint8_t p[COORD_RPC_REQ_MAX];
	uint32_t images = s->images; /* a reconnection keeps what the first open said */
	int n, ret;

	memset(s, 0, sizeof(*s));
	s->images = images;
	s->cl = cl;
	s->fd = -1;
	s->client = client;
	if (coord_job_id_check(job)) {
		util_seterr(err, errlen, "no job %s (a job id is 1..%d of [a-z0-9-])", job,
			    COORD_JOB_ID_MAX);
		return -ENOENT;
	}
	snprintf(s->job, sizeof(s->job), "%s", job);
	snprintf(req.job, sizeof(req.job), "%s", job);
	n = coord_rpc_req_encode(&req, p, sizeof(p));
	if (n < 0)
		return n;
	for (int hop = 0;; hop++) {
		struct wire_addr next = {0, 0};
		ret = open_at(s, via, p, (size_t)n, &next, err, errlen);
		if (ret != -EAGAIN || !next.ip || hop == REDIRECTS_MAX)
			break;
		via = next;
	}
	if (ret == -EAGAIN && !err[0])
		util_seterr(err, errlen, "no coordinator answers");
	return ret;
}

void subc_close(struct subc *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->rx);
	free(s->tx);
	s->fd = -1;
	s->rx = s->tx = NULL;
	s->rlen = s->rcap = s->toff = s->tlen = s->tcap = 0;
}

int subc_submit(struct subc *s, const struct sub_submit *m)
{
	uint8_t *body = xmalloc(SUB_SUBMIT_MAX);
	int n = sub_submit_encode(m, body, SUB_SUBMIT_MAX);
	struct wire_hdr h = {.type = WIRE_RPC_REQ,
			     .sender = s->cl->id,
			     .epoch = s->cl->epoch,
			     .seq = ++s->cl->seq,
			     .sent_ms = util_wall_ms(),
			     .to = s->to};

	if (n > 0) {
		size_t need = (size_t)n + WIRE_HDR_LEN + WIRE_TAG_LEN;
		if (s->toff && s->toff == s->tlen)
			s->toff = s->tlen = 0;
		if (s->tlen + need > s->tcap) {
			s->tcap = MAX(2 * s->tcap, s->tlen + need);
			s->tx = xrealloc(s->tx, s->tcap);
		}
		n = wire_seal(&s->cl->key, &h, body, (size_t)n, s->tx + s->tlen, s->tcap - s->tlen);
		if (n > 0)
			s->tlen += (size_t)n;
	}
	free(body);
	return n < 0 ? n : 0;
}

int subc_flush(struct subc *s)
{
	while (s->toff < s->tlen) {
		ssize_t w = send(s->fd, s->tx + s->toff, s->tlen - s->toff, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return 0;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		s->toff += (size_t)w;
	}
	s->toff = s->tlen = 0;
	return 0;
}

size_t subc_unsent(const struct subc *s)
{
	return s->tlen - s->toff;
}

int subc_read(struct subc *s)
{
	for (;;) {
		ssize_t r;
		if (s->rcap - s->rlen < 4096) {
			s->rcap = MAX(2 * s->rcap, s->rlen + 65536);
			s->rx = xrealloc(s->rx, s->rcap);
		}
		r = recv(s->fd, s->rx + s->rlen, s->rcap - s->rlen, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return 0;
		if (r <= 0)
			return r < 0 ? -errno : -ECONNRESET;
		s->rlen += (size_t)r;
		if (s->rlen > 4 * RX_MAX)
			return 0; /* enough for now: parse it */
	}
}

int subc_next(struct subc *s, struct sub_ack *ack, struct sub_results *res)
{
	struct wire_hdr h;
	const uint8_t *p;
	long fl;
	int ret;

	if (s->rlen < WIRE_HDR_LEN)
		return 0;
	fl = wire_frame_len(s->rx, s->rlen);
	if (fl < 0 || fl > RX_MAX)
		return -EPROTO;
	if (s->rlen < (size_t)fl)
		return 0;
	if (wire_open(&s->cl->key, s->cl->id, s->rx, (size_t)fl, &h, &p) != WIRE_OK ||
	    h.type != WIRE_RPC_RESP || h.len < 1)
		return -EPROTO;
	if (p[0] == SUB_ACK)
		ret = sub_ack_decode(p, h.len, ack) ? -EPROTO : SUB_ACK;
	else if (p[0] == SUB_RESULT)
		ret = sub_results_decode(p, h.len, res) ? -EPROTO : SUB_RESULT;
	else
		ret = -EPROTO;
	memmove(s->rx, s->rx + fl, s->rlen - (size_t)fl);
	s->rlen -= (size_t)fl;
	return ret;
}
