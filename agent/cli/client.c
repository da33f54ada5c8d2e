/*
 * client.c - blocking RPC client (see client.h).
 */
#include "cli/client.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void client_init(struct client *cl, struct wire_addr agent, const struct wire_key *key)
{
	cl->agent = agent;
	cl->key = *key;
	/* Agents keep a replay window per sender: clients that run at once
	 * must not share an id (pid | 1 did, for neighbouring pids). */
	cl->id.ip = randombytes_uniform(1u << 24);
	cl->id.port = (uint16_t)(1 + randombytes_uniform(65535));
	cl->epoch = util_wall_ms() * 1000000ull + (uint64_t)(getpid() % 1000000);
	cl->seq = 0;
}

static int wait_fd(int fd, short ev, int ms)
{
	struct pollfd p = {fd, ev, 0};
	int r = poll(&p, 1, ms);
	return r > 0 ? 0 : r == 0 ? -ETIMEDOUT : -errno;
}

int client_connect(struct client *cl, struct wire_addr to, char *err, size_t errlen)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET, .sin_port = htons(to.port), .sin_addr.s_addr = htonl(to.ip)};
	char where[32];
	int fd, ret = 0, one = 1;

	wire_addr_str(to, where, sizeof(where));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if ((to.ip >> 24) == 127) {
		/* On loopback, speak from the target's own address: a local
		 * cluster's partition rules then never cut the client off. */
		struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(to.ip)};
		bind(fd, (struct sockaddr *)&src, sizeof(src));
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		ret = -errno;
	if (!ret)
		ret = wait_fd(fd, POLLOUT, CLIENT_TIMEOUT_MS);
	if (!ret) {
		int so = 0;
		socklen_t sl = sizeof(so);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl);
		ret = -so;
	}
	if (ret) {
		cl->agent_failed |= wire_addr_eq(to, cl->agent);
		util_seterr(err, errlen, "cannot reach agent at %s: %s", where, strerror(-ret));
		close(fd);
		return ret;
	}
	return fd;
}

int client_send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			int r = wait_fd(fd, POLLOUT, CLIENT_TIMEOUT_MS);
			if (r)
				return r;
			continue;
		}
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int client_recv_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t r = recv(fd, p, len, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			int w = wait_fd(fd, POLLIN, CLIENT_TIMEOUT_MS);
			if (w)
				return w;
			continue;
		}
		if (r <= 0)
			return r < 0 ? -errno : -ECONNRESET;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

int client_send_request(struct client *cl, int fd, struct wire_addr to, const void *payload,
			size_t len)
{
	size_t cap = len + WIRE_HDR_LEN + WIRE_TAG_LEN;
	uint8_t *frame = xmalloc(cap);
	struct wire_hdr h = {.type = WIRE_RPC_REQ,
			     .sender = cl->id,
			     .epoch = cl->epoch,
			     .seq = ++cl->seq,
			     .sent_ms = util_wall_ms(),
			     .to = to};
	int n = wire_seal(&cl->key, &h, payload, len, frame, cap);

	n = n < 0 ? n : client_send_all(fd, frame, (size_t)n);
	free(frame);
	return n;
}

int client_recv_response(struct client *cl, int fd, uint8_t **body, size_t *len)
{
	uint8_t hdr[WIRE_HDR_LEN], *rx;
	const uint8_t *p;
	struct wire_hdr h;
	long fl;
	int ret = client_recv_all(fd, hdr, 4);

	if (!ret && wire_le_get(hdr, 4) == WIRE_BUSY_MAGIC)
		return -EBUSY; /* the agent had no connection free for us */
	if (!ret)
		ret = client_recv_all(fd, hdr + 4, sizeof(hdr) - 4);
	if (ret)
		return ret;
	fl = wire_frame_len(hdr, sizeof(hdr));
	if (fl < 0)
		return -EPROTO;
	rx = xmalloc((size_t)fl);
	memcpy(rx, hdr, sizeof(hdr));
	ret = client_recv_all(fd, rx + sizeof(hdr), (size_t)fl - sizeof(hdr));
	if (!ret && (wire_open(&cl->key, cl->id, rx, (size_t)fl, &h, &p) != WIRE_OK ||
		     h.type != WIRE_RPC_RESP || h.len < 1))
		ret = -EPROTO;
	if (!ret) {
		*body = xmalloc(h.len + 1);
		memcpy(*body, p, h.len);
		(*body)[h.len] = '\0';
		*len = h.len;
	}
	free(rx);
	return ret;
}

int client_call(struct client *cl, struct wire_addr to, const void *payload, size_t plen,
		uint8_t **body, size_t *blen, char *err, size_t errlen)
{
	char where[32];
	int fd = client_connect(cl, to, err, errlen), ret;

	if (fd < 0)
		return fd;
	wire_addr_str(to, where, sizeof(where));
	ret = client_send_request(cl, fd, to, payload, plen);
	/* a busy agent may have closed before the request was all out: its
	 * answer, if any, is waiting */
	if (!ret || ret == -EPIPE || ret == -ECONNRESET) {
		int r = client_recv_response(cl, fd, body, blen);
		ret = ret && r != -EBUSY ? ret : r;
	}
	close(fd);
	if (ret)
		cl->agent_failed |= wire_addr_eq(to, cl->agent);
	if (ret == -EBUSY)
		util_seterr(err, errlen,
			    "%s: the agent is busy (no connection free for this client); try again",
			    where);
	else if (ret == -EPROTO)
		util_seterr(err, errlen, "%s: response refused: a different cluster key?", where);
	else if (ret == -ECONNRESET)
		util_seterr(
			err, errlen,
			"%s closed the connection without answering (a different cluster key, "
			"an address other than the agent's own (--advertise, else --bind), or the"
			" agent stopped)",
			where);
	else if (ret)
		util_seterr(err, errlen, "agent at %s: %s", where, strerror(-ret));
	return ret;
}

int rpc_call(struct client *cl, struct wire_addr to, const struct rpc_req *req, uint8_t **body,
	     size_t *blen, char *err, size_t errlen)
{
	uint8_t payload[2048];
	int n = rpc_req_encode(req, payload, sizeof(payload));

	if (n < 0) {
		util_seterr(err, errlen, "request too large");
		return -EMSGSIZE;
	}
	return client_call(cl, to, payload, (size_t)n, body, blen, err, errlen);
}

static int cmp_member(const void *a, const void *b)
{
	const struct swim_member *x = a, *y = b;
	uint64_t kx = (uint64_t)x->addr.ip << 16 | x->addr.port;
	uint64_t ky = (uint64_t)y->addr.ip << 16 | y->addr.port;
	return kx < ky ? -1 : kx > ky;
}

int client_members(struct client *cl, uint8_t cmd, struct swim_member **out)
{
	struct rpc_req req = {.cmd = cmd};
	uint8_t *body;
	size_t len;
	char err[256];
	int n;

	if (rpc_call(cl, cl->agent, &req, &body, &len, err, sizeof(err))) {
		fprintf(stderr, "agent: %s\n", err);
		return -1;
	}
	n = body[0] ? -1 : rpc_members_decode(body + 1, len - 1, NULL, 0);
	if (n < 0) {
		fprintf(stderr, "agent: malformed member list\n");
		free(body);
		return -1;
	}
	*out = xcalloc((size_t)n + 1, sizeof(**out));
	rpc_members_decode(body + 1, len - 1, *out, n);
	qsort(*out, (size_t)n, sizeof(**out), cmp_member);
	free(body);
	return n;
}

int client_live(struct client *cl, struct wire_addr **out)
{
	struct swim_member *m;
	int n = client_members(cl, RPC_MEMBERS, &m), k = 0;

	if (n < 0)
		return -1;
	*out = xcalloc((size_t)n + 1, sizeof(**out));
	for (int i = 0; i < n; i++)
		if (m[i].status == SWIM_ALIVE || m[i].status == SWIM_SUSPECT)
			(*out)[k++] = m[i].addr;
	free(m);
	return k;
}
