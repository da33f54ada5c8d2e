/*
 * metrics.c - the agent's /metrics over HTTP in the loop (metrics.h):
 * accept while a connection slot is free, receive the request head
 * (http.h), send one answer, close.  Each connection has one operation in
 * flight at a time; past its deadline that operation is cancelled and the
 * connection closed.
 */
#include "core/metrics.h"
#include "core/http.h"
#include "core/loop.h"
#include "idunno_commit.h"
#include "membership/swim.h"
#include "util.h"
#include "version.h"

#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPT_RETRY_MS 100	   /* after a failed accept (out of descriptors, say) */
#define STATS_MAX	(64 << 10) /* the modules' stats text */

enum op { OP_ACCEPT = 1, OP_RECV, OP_SEND };

struct mconn {
	int fd;		   /* -1: a free slot */
	unsigned op;	   /* the operation in flight (0: none) */
	int cancelled;	   /* its deadline passed: the operation was cancelled */
	uint64_t deadline; /* ms: closed then, whatever it is doing */
	char req[HTTP_HEAD_MAX];
	size_t rlen;
	char *out; /* the answer (malloc'd) */
	size_t olen, ooff;
};

struct metrics {
	struct metrics_env env;
	int owner, fd, stopping;
	uint64_t start_ms; /* wall clock at metrics_new: the agent's start */
	int accept_armed;
	uint64_t accept_retry; /* ms: no accept before this */
	struct mconn c[METRICS_CONNS];
	uint64_t n_scrapes, n_bad, n_not_found, n_timeouts;
};

static void conn_close(struct mconn *c)
{
	close(c->fd);
	free(c->out);
	c->fd = -1;
	c->op = 0;
	c->out = NULL;
}

static void arm_accept(struct metrics *m)
{
	struct io_uring_sqe *sqe;
	int free_slot = 0;

	if (m->accept_armed || m->stopping || loop_now_ms() < m->accept_retry)
		return;
	for (int i = 0; i < METRICS_CONNS; i++)
		free_slot |= m->c[i].fd < 0;
	if (!free_slot)
		return; /* the kernel's backlog holds the next ones */
	sqe = loop_sqe(m->env.loop);
	io_uring_prep_accept(sqe, m->fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, LOOP_UD(m->owner, OP_ACCEPT, 0));
	m->accept_armed = 1;
}

static void arm(struct metrics *m, int i, unsigned op)
{
	struct mconn *c = &m->c[i];
	struct io_uring_sqe *sqe = loop_sqe(m->env.loop);

	if (op == OP_RECV)
		io_uring_prep_recv(sqe, c->fd, c->req + c->rlen, sizeof(c->req) - c->rlen, 0);
	else
		io_uring_prep_send(sqe, c->fd, c->out + c->ooff, c->olen - c->ooff, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, LOOP_UD(m->owner, op, (uint64_t)i));
	c->op = op;
}

/* Every metric: the build, the modules' stats, the members by status, render's. */
static void render(struct metrics *m, struct prom_buf *b)
{
	char *text = xmalloc(STATS_MAX);
	int n = swim_members(m->env.swim, NULL, 0), count[SWIM_STATUS_MAX] = {0};
	struct swim_member *mem = xcalloc((size_t)n + 1, sizeof(*mem));

	prom_build_info(b, "agent", IDUNNO_VERSION, IDUNNO_COMMIT);
	prom_family(b, "idunno_start_time_seconds", "gauge",
		    "When the agent started, seconds since the Unix epoch.");
	prom_printf(b, "idunno_start_time_seconds %.3f\n", (double)m->start_ms / 1e3);
	text[loop_stats(m->env.loop, text, STATS_MAX - 1)] = '\0';
	prom_stats(b, text);
	n = swim_members(m->env.swim, mem, n);
	for (int i = 0; i < n; i++)
		count[mem[i].status < SWIM_STATUS_MAX ? mem[i].status : SWIM_FAILED]++;
	prom_family(b, "idunno_members", "gauge", "Members this agent knows, by status.");
	for (int s = 0; s < SWIM_STATUS_MAX; s++)
		prom_printf(b, "idunno_members{status=\"%s\"} %d\n", swim_status_names[s],
			    count[s]);
	if (m->env.render)
		m->env.render(m->env.arg, b);
	free(mem);
	free(text);
}

/* The answer to a complete (or refused) request head. */
static void answer(struct metrics *m, struct mconn *c, enum http_parse p, const char *path,
		   int head)
{
	struct prom_buf body = {0}, all = {0};
	const char *status = "200 OK", *type = "text/plain; version=0.0.4; charset=utf-8";

	if (p == HTTP_GET && !strcmp(path, "/metrics")) {
		m->n_scrapes++;
		render(m, &body);
	} else {
		type = "text/plain; charset=utf-8";
		if (p == HTTP_GET) {
			m->n_not_found++;
			status = "404 Not Found";
			prom_printf(&body, "not found: the metrics are at /metrics\n");
		} else if (p == HTTP_METHOD) {
			m->n_bad++;
			status = "405 Method Not Allowed";
			prom_printf(&body, "only GET and HEAD\n");
		} else {
			m->n_bad++;
			status = "400 Bad Request";
			prom_printf(&body, "not an HTTP/1.x request\n");
		}
	}
	prom_printf(&all,
		    "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
		    "Connection: close\r\n\r\n",
		    status, type, body.len, p == HTTP_METHOD ? "Allow: GET, HEAD\r\n" : "");
	if (!head && body.len)
		prom_printf(&all, "%.*s", (int)body.len, body.p);
	free(body.p);
	c->out = all.p;
	c->olen = all.len;
	c->ooff = 0;
}

static void on_recv(struct metrics *m, int i, int res)
{
	struct mconn *c = &m->c[i];
	char path[256];
	int head = 0;
	enum http_parse p;

	if (res <= 0) { /* closed, failed, or cancelled at its deadline */
		conn_close(c);
		return;
	}
	c->rlen += (size_t)res;
	p = http_req_parse(c->req, c->rlen, path, sizeof(path), &head);
	if (p == HTTP_MORE) {
		arm(m, i, OP_RECV);
		return;
	}
	answer(m, c, p, path, head);
	arm(m, i, OP_SEND);
}

static void on_send(struct metrics *m, int i, int res)
{
	struct mconn *c = &m->c[i];

	if (res <= 0) {
		conn_close(c);
		return;
	}
	c->ooff += (size_t)res;
	if (c->ooff < c->olen) {
		arm(m, i, OP_SEND);
		return;
	}
	shutdown(c->fd, SHUT_WR);
	conn_close(c);
}

static void complete(void *arg, unsigned op, uint64_t idx, int res, uint32_t flags)
{
	struct metrics *m = arg;

	(void)flags;
	if (op == OP_ACCEPT) {
		m->accept_armed = 0;
		if (res >= 0) {
			int i = 0;
			while (i < METRICS_CONNS && m->c[i].fd >= 0)
				i++;
			ASSERT(i < METRICS_CONNS); /* accepts are armed with a slot free */
			if (m->stopping) {
				close(res);
			} else {
				m->c[i] = (struct mconn){
					.fd = res, .deadline = loop_now_ms() + METRICS_DEADLINE_MS};
				arm(m, i, OP_RECV);
			}
		} else if (res != -ECANCELED) {
			m->accept_retry = loop_now_ms() + ACCEPT_RETRY_MS;
		}
		arm_accept(m);
		return;
	}
	if (idx >= METRICS_CONNS || m->c[idx].fd < 0 || m->c[idx].op != op)
		return;
	m->c[idx].op = 0;
	if (m->stopping || m->c[idx].cancelled)
		conn_close(&m->c[idx]);
	else if (op == OP_RECV)
		on_recv(m, (int)idx, res);
	else
		on_send(m, (int)idx, res);
	arm_accept(m);
}

static uint64_t tick(void *arg, uint64_t now)
{
	struct metrics *m = arg;
	uint64_t next = LOOP_NEVER;

	for (int i = 0; i < METRICS_CONNS; i++) {
		struct mconn *c = &m->c[i];
		if (c->fd < 0 || !c->op || c->cancelled)
			continue;
		if (now >= c->deadline) {
			m->n_timeouts++;
			c->cancelled = 1;
			loop_cancel(m->env.loop, LOOP_UD(m->owner, c->op, (uint64_t)i));
		} else {
			next = MIN(next, c->deadline);
		}
	}
	if (!m->accept_armed && !m->stopping) {
		arm_accept(m);
		if (!m->accept_armed)
			next = MIN(next, m->accept_retry);
	}
	return next;
}

static size_t stats(void *arg, char *buf, size_t cap)
{
	struct metrics *m = arg;
	int n = snprintf(buf, cap,
			 "metrics_scrapes %llu\nmetrics_bad_requests %llu\nmetrics_not_found %llu\n"
			 "metrics_timeouts %llu\n",
			 (unsigned long long)m->n_scrapes, (unsigned long long)m->n_bad,
			 (unsigned long long)m->n_not_found, (unsigned long long)m->n_timeouts);

	return n < 0 ? 0 : MIN((size_t)n, cap);
}

static void cancel(void *arg)
{
	struct metrics *m = arg;

	m->stopping = 1;
	if (m->accept_armed)
		loop_cancel(m->env.loop, LOOP_UD(m->owner, OP_ACCEPT, 0));
	for (int i = 0; i < METRICS_CONNS; i++)
		if (m->c[i].fd >= 0 && m->c[i].op)
			loop_cancel(m->env.loop, LOOP_UD(m->owner, m->c[i].op, (uint64_t)i));
}

static int pending(void *arg)
{
	struct metrics *m = arg;
	int n = m->accept_armed;

	for (int i = 0; i < METRICS_CONNS; i++)
		n += m->c[i].fd >= 0 && m->c[i].op;
	return n;
}

static const struct loop_ops metrics_ops = {
	.name = "metrics",
	.complete = complete,
	.tick = tick,
	.stats = stats,
	.cancel = cancel,
	.pending = pending,
};

int metrics_new(const struct metrics_env *env, struct metrics **out, char *err, size_t errlen)
{
	struct metrics *m = xcalloc(1, sizeof(*m));
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(env->bind.port),
				 .sin_addr.s_addr = htonl(env->bind.ip)};
	char where[32];
	int one = 1, ret;

	m->env = *env;
	m->start_ms = util_wall_ms();
	for (int i = 0; i < METRICS_CONNS; i++)
		m->c[i].fd = -1;
	wire_addr_str(env->bind, where, sizeof(where));
	m->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (m->fd < 0 || setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(m->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(m->fd, 16) < 0) {
		ret = -errno;
		util_seterr(err, errlen, "metrics: cannot listen on %s: %s", where,
			    strerror(errno));
		goto err;
	}
	m->owner = loop_register(env->loop, &metrics_ops, m);
	if (m->owner < 0) {
		ret = m->owner;
		util_seterr(err, errlen, "metrics: %s", strerror(-ret));
		goto err;
	}
	arm_accept(m);
	*out = m;
	return 0;
err:
	if (m->fd >= 0)
		close(m->fd);
	free(m);
	return ret;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	for (int i = 0; i < METRICS_CONNS; i++)
		if (m->c[i].fd >= 0)
			conn_close(&m->c[i]);
	close(m->fd);
	free(m);
}
