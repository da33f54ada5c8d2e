/*
 * agent.c - the agent's event loop.
 *
 * One io_uring: a multishot receive on the UDP socket (provided buffers),
 * a multishot accept on the TCP socket, a read on a signalfd, per
 * connection a receive with a linked timeout and sends; completions are
 * reaped in batches and the ring advanced once.  Each user_data holds an
 * operation in its top byte and an index below.  The SWIM core runs
 * between batches with the time it is given; the loop sleeps until the
 * core's next deadline or the next completion.  Nothing here blocks on the
 * disk or the network: grep runs in a forked child, and SDFS (sdfs.c)
 * moves file data with io_uring reads, writes and fsyncs.
 */
#include "core/agent.h"
#include "core/log.h"
#include "ctl/ctl_grep.h"
#include "ctl/rpc.h"
#include "sdfs/sdfs.h"
#include "sdfs/sdfs_wire.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum op {
	OP_UDP_RECV = 1,
	OP_UDP_SEND,
	OP_ACCEPT,
	OP_RECV,
	OP_SEND,
	OP_LINK_TIMEOUT,
	OP_SIGNAL,
	OP_SDFS
};

#define UD(op, idx) (((uint64_t)(op) << 56) | (uint64_t)(idx))
#define UD_OP(ud)   ((int)((ud) >> 56))
#define UD_IDX(ud)  ((int)((ud)&0xffffffffu))

#define NBUF		256 /* provided UDP receive buffers */
#define BUFSZ		2048
#define BGID		7
#define NSEND		256 /* UDP send slots */
#define MAX_CONNS	64
#define CONN_MAX_FRAME	(WIRE_HDR_LEN + 2048 + WIRE_TAG_LEN) /* RPC requests are small */
#define CONN_TIMEOUT_S	5
#define LEAVE_LINGER_MS 300
#define REPLAY_SENDERS	65536 /* nodes and CLI clients heard from in the last 30-60 s */

struct send_slot {
	int busy;
	struct msghdr mh;
	struct iovec iov;
	struct sockaddr_in sa;
	uint8_t buf[WIRE_MAX_DATAGRAM];
};

struct conn {
	int fd; /* -1 when free */
	uint8_t rx[CONN_MAX_FRAME];
	size_t rxlen;
	uint8_t *tx;
	size_t txlen, txoff;
	int pending; /* operations in flight on it */
	int closing;
};

struct agent {
	const struct agent_opts *o;
	struct io_uring ring;
	int udp, tcp, sigfd;
	struct io_uring_buf_ring *br;
	uint8_t *bufs;
	struct send_slot *slots;
	struct conn conns[MAX_CONNS];
	struct signalfd_siginfo si;
	struct swim *swim;
	struct sdfs *sdfs;
	struct wire_replay *replay;
	struct wire_addr self;
	uint64_t epoch, seq;
	char log_path[4096];
	int leaving;
	uint64_t leave_at;
	int accept_again; /* re-arm accept after this batch */
	/* counters */
	uint64_t rejected[WIRE_REJECT_MAX];
	uint64_t udp_in, udp_out, udp_no_slot, tcp_accepted, tcp_refused, rpc_served;
};

static uint64_t now_ms(void)
{
	return util_now_ns() / 1000000;
}

static struct io_uring_sqe *sqe_get(struct agent *a)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&a->ring);

	if (!sqe) { /* the SQ is full: submit what is there and retry */
		io_uring_submit(&a->ring);
		sqe = io_uring_get_sqe(&a->ring);
	}
	ASSERT(sqe);
	return sqe;
}

static struct wire_hdr my_hdr(struct agent *a, uint8_t type)
{
	return (struct wire_hdr){.type = type,
				 .sender = a->self,
				 .epoch = a->epoch,
				 .seq = ++a->seq,
				 .sent_ms = util_wall_ms()};
}

/* ---- UDP ---- */

static void arm_udp_recv(struct agent *a)
{
	struct io_uring_sqe *sqe = sqe_get(a);

	io_uring_prep_recv_multishot(sqe, a->udp, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, UD(OP_UDP_RECV, 0));
}

static void give_back(struct agent *a, int bid)
{
	io_uring_buf_ring_add(a->br, a->bufs + (size_t)bid * BUFSZ, BUFSZ, (unsigned short)bid,
			      io_uring_buf_ring_mask(NBUF), 0);
	io_uring_buf_ring_advance(a->br, 1);
}

static void udp_send(struct agent *a, const struct swim_out *o)
{
	uint8_t payload[WIRE_MAX_DATAGRAM];
	struct send_slot *s = NULL;
	struct wire_hdr h;
	int plen, n;

	for (int i = 0; i < NSEND; i++)
		if (!a->slots[i].busy) {
			s = &a->slots[i];
			break;
		}
	if (!s) {
		a->udp_no_slot++; /* UDP may drop; SWIM copes */
		return;
	}
	plen = swim_msg_encode(&o->msg, payload, sizeof(payload));
	h = my_hdr(a, o->msg.type);
	n = plen < 0 ? plen
		     : wire_seal(&a->o->key, &h, payload, (size_t)plen, s->buf, sizeof(s->buf));
	if (n < 0) {
		log_msg(LOG_ERROR, "cannot encode a %u message: %s", o->msg.type, strerror(-n));
		return;
	}
	s->busy = 1;
	s->sa = (struct sockaddr_in){.sin_family = AF_INET,
				     .sin_port = htons(o->to.port),
				     .sin_addr.s_addr = htonl(o->to.ip)};
	s->iov = (struct iovec){s->buf, (size_t)n};
	s->mh = (struct msghdr){.msg_name = &s->sa,
				.msg_namelen = sizeof(s->sa),
				.msg_iov = &s->iov,
				.msg_iovlen = 1};
	{
		struct io_uring_sqe *sqe = sqe_get(a);
		io_uring_prep_sendmsg(sqe, a->udp, &s->mh, 0);
		io_uring_sqe_set_data64(sqe, UD(OP_UDP_SEND, s - a->slots));
	}
	a->udp_out++;
}

static void flush_swim(struct agent *a)
{
	struct swim_out o;

	while (swim_pop(a->swim, &o))
		udp_send(a, &o);
}

static void on_udp(struct agent *a, struct io_uring_cqe *cqe)
{
	int more = cqe->flags & IORING_CQE_F_MORE;

	if (cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
		int bid = (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		const uint8_t *data = a->bufs + (size_t)bid * BUFSZ, *payload;
		struct wire_hdr h;
		struct swim_msg m;
		enum wire_reject r;

		a->udp_in++;
		r = wire_open(&a->o->key, data, (size_t)cqe->res, &h, &payload);
		if (r == WIRE_OK)
			r = wire_replay_check(a->replay, &h, util_wall_ms());
		if (r == WIRE_OK && swim_msg_decode(h.type, payload, h.len, &m) != 0)
			r = h.type >= WIRE_RPC_REQ ? WIRE_R_TYPE : WIRE_R_PAYLOAD;
		if (r == WIRE_OK)
			swim_receive(a->swim, h.sender, &m, now_ms());
		else
			a->rejected[r]++;
		give_back(a, bid);
	} else if (cqe->res < 0 && cqe->res != -ENOBUFS) {
		log_msg(LOG_WARN, "udp receive: %s", strerror(-cqe->res));
	}
	if (!more)
		arm_udp_recv(a);
}

/* ---- TCP connections ---- */

static void arm_accept(struct agent *a)
{
	struct io_uring_sqe *sqe = sqe_get(a);

	io_uring_prep_multishot_accept(sqe, a->tcp, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, UD(OP_ACCEPT, 0));
}

static void conn_free(struct agent *a, struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->tx);
	c->tx = NULL;
	c->fd = -1;
	c->closing = 0;
	(void)a;
}

/* Closes once nothing is in flight on it. */
static void conn_close(struct agent *a, struct conn *c)
{
	c->closing = 1;
	if (c->pending == 0)
		conn_free(a, c);
}

static void arm_recv(struct agent *a, struct conn *c)
{
	struct io_uring_sqe *sqe;
	struct __kernel_timespec ts = {CONN_TIMEOUT_S, 0};
	int idx = (int)(c - a->conns);

	/* the receive and its timeout must go in one submission */
	if (io_uring_sq_space_left(&a->ring) < 2)
		io_uring_submit(&a->ring);
	sqe = sqe_get(a);
	io_uring_prep_recv(sqe, c->fd, c->rx + c->rxlen, sizeof(c->rx) - c->rxlen, 0);
	io_uring_sqe_set_data64(sqe, UD(OP_RECV, idx));
	sqe->flags |= IOSQE_IO_LINK;
	sqe = sqe_get(a);
	io_uring_prep_link_timeout(sqe, &ts, 0);
	io_uring_sqe_set_data64(sqe, UD(OP_LINK_TIMEOUT, idx));
	c->pending += 2;
	/* the timespec is copied at submission: submit now */
	io_uring_submit(&a->ring);
}

static void arm_send(struct agent *a, struct conn *c)
{
	struct io_uring_sqe *sqe = sqe_get(a);

	io_uring_prep_send(sqe, c->fd, c->tx + c->txoff, c->txlen - c->txoff, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, UD(OP_SEND, c - a->conns));
	c->pending++;
}

/* Seals body as a response and starts sending it. */
static void respond(struct agent *a, struct conn *c, const uint8_t *body, size_t len)
{
	struct wire_hdr h = my_hdr(a, WIRE_RPC_RESP);
	int n;

	c->tx = xmalloc(len + WIRE_HDR_LEN + WIRE_TAG_LEN);
	n = wire_seal(&a->o->key, &h, body, len, c->tx, len + WIRE_HDR_LEN + WIRE_TAG_LEN);
	if (n < 0) {
		conn_close(a, c);
		return;
	}
	c->txlen = (size_t)n;
	c->txoff = 0;
	a->rpc_served++;
	arm_send(a, c);
}

static void respond_text(struct agent *a, struct conn *c, uint8_t status, const char *text)
{
	size_t len = strlen(text);
	uint8_t *b = xmalloc(len + 1);

	b[0] = status;
	memcpy(b + 1, text, len);
	respond(a, c, b, len + 1);
	free(b);
}

static void stats_text(struct agent *a, char *buf, size_t cap)
{
	size_t off = 0;

#define ADD(...) off += (size_t)snprintf(buf + off, off < cap ? cap - off : 0, __VA_ARGS__)
	ADD("udp_in %llu\nudp_out %llu\nudp_no_send_slot %llu\n", (unsigned long long)a->udp_in,
	    (unsigned long long)a->udp_out, (unsigned long long)a->udp_no_slot);
	ADD("tcp_accepted %llu\ntcp_refused %llu\nrpc_served %llu\n",
	    (unsigned long long)a->tcp_accepted, (unsigned long long)a->tcp_refused,
	    (unsigned long long)a->rpc_served);
	for (int r = 1; r < WIRE_REJECT_MAX; r++)
		ADD("rejected_%s %llu\n", wire_reject_names[r], (unsigned long long)a->rejected[r]);
#undef ADD
	if (off < cap)
		sdfs_stats(a->sdfs, buf + off, cap - off);
}

/* grep runs in a child that answers on the connection and exits. */
static void serve_grep(struct agent *a, struct conn *c, const struct rpc_req *req)
{
	pid_t pid = fork();

	if (pid == 0) {
		char *text = NULL;
		size_t len = 0, cap;
		long n = log_grep(a->log_path, req->arg, req->flags, &text, &len);
		struct wire_buf b;
		struct wire_hdr h = my_hdr(a, WIRE_RPC_RESP);
		uint8_t *body, *frame;
		int flen;

		if (len > WIRE_MAX_PAYLOAD - 64)
			len = WIRE_MAX_PAYLOAD - 64; /* the response is bounded; cut the tail */
		cap = len + 16;
		body = xmalloc(cap);
		b = (struct wire_buf){body, 0, cap, 0};
		wire_put_u8(&b, n < 0 ? (uint8_t)-n : 0);
		wire_put_u64(&b, n < 0 ? 0 : (uint64_t)n);
		wire_put_bytes(&b, text, len);
		frame = xmalloc(b.len + WIRE_HDR_LEN + WIRE_TAG_LEN);
		flen = wire_seal(&a->o->key, &h, body, b.len, frame,
				 b.len + WIRE_HDR_LEN + WIRE_TAG_LEN);
		for (size_t off = 0; flen > 0 && off < (size_t)flen;) {
			ssize_t w = write(c->fd, frame + off, (size_t)flen - off);
			if (w <= 0)
				break;
			off += (size_t)w;
		}
		_exit(0);
	}
	if (pid < 0)
		respond_text(a, c, (uint8_t)EAGAIN, "cannot fork for grep");
	else {
		a->rpc_served++;
		conn_close(a, c);
	}
}

static void serve(struct agent *a, struct conn *c)
{
	const uint8_t *payload;
	struct wire_hdr h;
	struct rpc_req req;
	enum wire_reject r = wire_open(&a->o->key, c->rx, c->rxlen, &h, &payload);

	if (r == WIRE_OK)
		r = wire_replay_check(a->replay, &h, util_wall_ms());
	if (r == WIRE_OK && (h.type != WIRE_RPC_REQ || rpc_req_decode(payload, h.len, &req)))
		r = h.type != WIRE_RPC_REQ ? WIRE_R_TYPE : WIRE_R_PAYLOAD;
	if (r == WIRE_R_PAYLOAD && h.type == WIRE_RPC_REQ && h.len > 0 &&
	    payload[0] >= SDFS_WRITE) {
		int fd = dup(c->fd); /* SDFS takes the connection over */
		a->rpc_served++;
		conn_close(a, c);
		if (fd >= 0)
			sdfs_serve(a->sdfs, fd, payload, h.len);
		return;
	}
	if (r != WIRE_OK) {
		a->rejected[r]++;
		conn_close(a, c);
		return;
	}
	switch (req.cmd) {
	case RPC_MEMBERS:
	case RPC_SELF: {
		int n = req.cmd == RPC_SELF ? 1 : swim_members(a->swim, NULL, 0);
		struct swim_member *m = xcalloc((size_t)n + 1, sizeof(*m));
		size_t cap = 3 + (size_t)n * 15;
		uint8_t *body = xmalloc(cap);
		if (req.cmd == RPC_SELF)
			m[0] = *swim_self(a->swim);
		else
			n = swim_members(a->swim, m, n);
		respond(a, c, body, (size_t)rpc_members_encode(0, m, n, body, cap));
		free(body);
		free(m);
		break;
	}
	case RPC_LEAVE:
		respond_text(a, c, 0, "leaving");
		if (!a->leaving) {
			log_msg(LOG_INFO, "leaving the cluster (asked over RPC)");
			swim_leave(a->swim, now_ms());
			a->leaving = 1;
			a->leave_at = now_ms() + LEAVE_LINGER_MS;
		}
		break;
	case RPC_STATS: {
		char text[4096];
		stats_text(a, text, sizeof(text));
		respond_text(a, c, 0, text);
		break;
	}
	case RPC_GREP:
		serve_grep(a, c, &req);
		break;
	default:
		a->rejected[WIRE_R_PAYLOAD]++;
		conn_close(a, c);
	}
}

static void on_accept(struct agent *a, struct io_uring_cqe *cqe)
{
	if (cqe->res >= 0) {
		struct conn *c = NULL;
		for (int i = 0; i < MAX_CONNS; i++)
			if (a->conns[i].fd < 0) {
				c = &a->conns[i];
				break;
			}
		if (!c || a->leaving) { /* back-pressure: at most MAX_CONNS at once */
			close(cqe->res);
			a->tcp_refused++;
		} else {
			a->tcp_accepted++;
			c->fd = cqe->res;
			c->rxlen = 0;
			c->pending = 0;
			c->closing = 0;
			arm_recv(a, c);
		}
	}
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		/* After an error (out of descriptors, say) accept again on the next
		 * turn of the loop, not at once: no busy loop. */
		if (cqe->res < 0) {
			log_msg(LOG_WARN, "accept: %s", strerror(-cqe->res));
			a->accept_again = 1;
		} else {
			arm_accept(a);
		}
	}
}

static void on_recv(struct agent *a, struct conn *c, int res)
{
	long flen;

	c->pending--;
	if (c->closing || res <= 0) {
		conn_close(a, c);
		return;
	}
	c->rxlen += (size_t)res;
	if (c->rxlen < WIRE_HDR_LEN) {
		arm_recv(a, c);
		return;
	}
	flen = wire_frame_len(c->rx, c->rxlen);
	if (flen < 0 || (size_t)flen > sizeof(c->rx)) {
		a->rejected[flen < 0 && c->rx[0] != 'I' ? WIRE_R_MAGIC : WIRE_R_LENGTH]++;
		conn_close(a, c);
		return;
	}
	if (c->rxlen < (size_t)flen) {
		arm_recv(a, c);
		return;
	}
	if (c->rxlen > (size_t)flen) { /* one request per connection */
		a->rejected[WIRE_R_LENGTH]++;
		conn_close(a, c);
		return;
	}
	serve(a, c);
}

static void on_send(struct agent *a, struct conn *c, int res)
{
	c->pending--;
	if (res <= 0 || c->closing) {
		conn_close(a, c);
		return;
	}
	c->txoff += (size_t)res;
	if (c->txoff < c->txlen)
		arm_send(a, c);
	else
		conn_close(a, c);
}

/* ---- what SDFS needs from the agent ---- */

static int sdfs_seal(void *arg, uint8_t type, const void *body, size_t len, uint8_t *out,
		     size_t cap)
{
	struct agent *a = arg;
	struct wire_hdr h = my_hdr(a, type);

	return wire_seal(&a->o->key, &h, body, len, out, cap);
}

static int sdfs_live(void *arg, struct wire_addr *out, int max)
{
	struct agent *a = arg;
	int n = swim_members(a->swim, NULL, 0), k = 0;
	struct swim_member *m = xcalloc((size_t)n + 1, sizeof(*m));

	n = swim_members(a->swim, m, n); /* the first is this agent */
	for (int i = 0; i < n && k < max; i++)
		if (m[i].status == SWIM_ALIVE || m[i].status == SWIM_SUSPECT)
			out[k++] = m[i].addr;
	free(m);
	return k;
}

/* ---- setup and loop ---- */

static void on_member(void *arg, const struct swim_member *m, enum swim_status old)
{
	struct agent *a = arg;
	char who[32];

	/* files move when a member comes or goes (not on mere suspicion) */
	if (a->sdfs && (old == SWIM_STATUS_MAX || m->status >= SWIM_FAILED || old >= SWIM_FAILED))
		sdfs_members_changed(a->sdfs, now_ms());
	wire_addr_str(m->addr, who, sizeof(who));
	if (old == SWIM_STATUS_MAX)
		log_msg(LOG_INFO, "member %s joined (incarnation %llu)", who,
			(unsigned long long)m->incarnation);
	else
		log_msg(m->status == SWIM_FAILED ? LOG_WARN : LOG_INFO,
			"member %s %s -> %s (incarnation %llu)", who, swim_status_names[old],
			swim_status_names[m->status], (unsigned long long)m->incarnation);
}

static int open_sockets(struct agent *a, char *err, size_t errlen)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(a->self.port),
				 .sin_addr.s_addr = htonl(a->self.ip)};
	int one = 1, rcv = 1 << 20;
	char where[32];

	wire_addr_str(a->self, where, sizeof(where));
	a->udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	a->tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (a->udp < 0 || a->tcp < 0) {
		util_seterr(err, errlen, "socket: %s", strerror(errno));
		return -errno;
	}
	setsockopt(a->udp, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	setsockopt(a->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* A killed predecessor's sockets live on until the kernel has torn
	 * down its io_uring (in-flight operations first): wait up to 3 s. */
	for (int tries = 0;; tries++) {
		int e = 0;
		if (bind(a->udp, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINVAL)
			e = errno;
		else if (bind(a->tcp, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINVAL)
			e = errno;
		else if (listen(a->tcp, 64) < 0)
			e = errno;
		if (!e)
			return 0;
		if (e != EADDRINUSE || tries == 30) {
			util_seterr(err, errlen, "cannot bind %s: %s", where, strerror(e));
			return -e;
		}
		usleep(100000);
	}
}

static int setup_ring(struct agent *a, char *err, size_t errlen)
{
	struct io_uring_buf_reg reg = {0};
	sigset_t mask;
	int ret = io_uring_queue_init(512, &a->ring, 0);

	if (ret) {
		util_seterr(err, errlen, "io_uring: %s", strerror(-ret));
		return ret;
	}
	a->br = aligned_alloc(4096, NBUF * sizeof(struct io_uring_buf));
	a->bufs = xmalloc((size_t)NBUF * BUFSZ);
	if (!a->br)
		return -ENOMEM;
	io_uring_buf_ring_init(a->br);
	reg.ring_addr = (unsigned long)a->br;
	reg.ring_entries = NBUF;
	reg.bgid = BGID;
	ret = io_uring_register_buf_ring(&a->ring, &reg, 0);
	if (ret) {
		util_seterr(err, errlen, "io_uring provided buffers: %s", strerror(-ret));
		return ret;
	}
	for (int i = 0; i < NBUF; i++)
		io_uring_buf_ring_add(a->br, a->bufs + (size_t)i * BUFSZ, BUFSZ, (unsigned short)i,
				      io_uring_buf_ring_mask(NBUF), i);
	io_uring_buf_ring_advance(a->br, NBUF);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	a->sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (a->sigfd < 0) {
		util_seterr(err, errlen, "signalfd: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static void arm_signal(struct agent *a)
{
	struct io_uring_sqe *sqe = sqe_get(a);
	io_uring_prep_read(sqe, a->sigfd, &a->si, sizeof(a->si), 0);
	io_uring_sqe_set_data64(sqe, UD(OP_SIGNAL, 0));
}

static void handle(struct agent *a, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	struct conn *c = &a->conns[UD_IDX(ud) % MAX_CONNS];

	switch (UD_OP(ud)) {
	case OP_UDP_RECV:
		on_udp(a, cqe);
		break;
	case OP_UDP_SEND:
		a->slots[UD_IDX(ud) % NSEND].busy = 0;
		break;
	case OP_ACCEPT:
		on_accept(a, cqe);
		break;
	case OP_RECV:
		on_recv(a, c, cqe->res);
		break;
	case OP_LINK_TIMEOUT:
		c->pending--;
		if (c->closing && c->pending == 0)
			conn_free(a, c);
		break;
	case OP_SEND:
		on_send(a, c, cqe->res);
		break;
	case OP_SDFS:
		sdfs_complete(a->sdfs, (uint32_t)(ud & 0xffffffffu), cqe->res);
		break;
	case OP_SIGNAL:
		if (cqe->res == sizeof(a->si) && !a->leaving) {
			log_msg(LOG_INFO, "signal %u: leaving the cluster", a->si.ssi_signo);
			swim_leave(a->swim, now_ms());
			a->leaving = 1;
			a->leave_at = now_ms() + LEAVE_LINGER_MS;
		} else if (!a->leaving) {
			arm_signal(a);
		}
		break;
	default:
		break;
	}
}

int agent_run(const struct agent_opts *o, char *err, size_t errlen)
{
	struct agent *a = xcalloc(1, sizeof(*a));
	char where[32];
	int ret;

	a->o = o;
	a->self = o->bind;
	a->epoch = util_wall_ms() * 1000000ull;
	a->udp = a->tcp = a->sigfd = -1;
	for (int i = 0; i < MAX_CONNS; i++)
		a->conns[i].fd = -1;
	a->slots = xcalloc(NSEND, sizeof(*a->slots));
	a->replay = wire_replay_new(REPLAY_SENDERS);
	snprintf(a->log_path, sizeof(a->log_path), "%s/agent.log", o->data_dir);
	ret = log_open(a->log_path);
	if (ret) {
		util_seterr(err, errlen, "%s: %s", a->log_path, strerror(-ret));
		goto out;
	}
	ret = open_sockets(a, err, errlen);
	if (!ret)
		ret = setup_ring(a, err, errlen);
	if (ret)
		goto out;
	/* a restarted node comes back as a newer incarnation: its boot time */
	a->swim = swim_new(&o->swim, a->self, util_wall_ms(), a->epoch ^ (uint64_t)getpid(),
			   now_ms());
	swim_set_event(a->swim, on_member, a);
	{
		struct sdfs_env env = {.ring = &a->ring,
				       .key = &o->key,
				       .self = a->self,
				       .replicas = o->replicas > 0 ? o->replicas : 4,
				       .op = OP_SDFS,
				       .seal = sdfs_seal,
				       .live = sdfs_live,
				       .arg = a};
		char sdir[4200];
		snprintf(sdir, sizeof(sdir), "%s/sdfs", o->data_dir);
		ret = sdfs_new(&env, sdir, &a->sdfs, err, errlen);
		if (ret)
			goto out;
	}
	wire_addr_str(a->self, where, sizeof(where));
	log_msg(LOG_INFO, "agent %s starting (incarnation %llu)", where,
		(unsigned long long)swim_self(a->swim)->incarnation);
	if (o->have_join) {
		char seed[32];
		wire_addr_str(o->join, seed, sizeof(seed));
		log_msg(LOG_INFO, "joining through %s", seed);
		swim_join(a->swim, o->join, now_ms());
	}
	arm_udp_recv(a);
	arm_accept(a);
	arm_signal(a);
	for (;;) {
		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts;
		uint64_t now = now_ms(), deadline = swim_next_deadline(a->swim);
		unsigned head, n = 0;

		deadline = MIN(deadline, sdfs_tick(a->sdfs, now));

		flush_swim(a);
		if (a->leaving)
			deadline = MIN(deadline, a->leave_at);
		deadline = deadline > now ? deadline - now : 0;
		ts.tv_sec = (long long)(deadline / 1000);
		ts.tv_nsec = (long long)(deadline % 1000) * 1000000;
		ret = io_uring_submit_and_wait_timeout(&a->ring, &cqe, 1, &ts, NULL);
		if (ret < 0 && ret != -ETIME && ret != -EINTR) {
			log_msg(LOG_ERROR, "io_uring wait: %s", strerror(-ret));
			break;
		}
		io_uring_for_each_cqe(&a->ring, head, cqe)
		{
			handle(a, cqe);
			n++;
		}
		io_uring_cq_advance(&a->ring, n);
		swim_tick(a->swim, now_ms());
		if (a->accept_again) {
			a->accept_again = 0;
			arm_accept(a);
		}
		while (waitpid(-1, NULL, WNOHANG) > 0) /* grep children */
			;
		if (a->leaving && now_ms() >= a->leave_at) {
			flush_swim(a);
			io_uring_submit(&a->ring);
			break;
		}
	}
	log_msg(LOG_INFO, "agent %s stopped", where);
	ret = 0;
out:
	for (int i = 0; i < MAX_CONNS; i++)
		if (a->conns[i].fd >= 0)
			conn_free(a, &a->conns[i]);
	sdfs_free(a->sdfs);
	if (a->br)
		io_uring_queue_exit(&a->ring);
	swim_free(a->swim);
	wire_replay_free(a->replay);
	free(a->slots);
	free(a->br);
	free(a->bufs);
	if (a->udp >= 0)
		close(a->udp);
	if (a->tcp >= 0)
		close(a->tcp);
	if (a->sigfd >= 0)
		close(a->sigfd);
	log_close();
	free(a);
	return ret;
}

int agent_config_load(const char *path, struct agent_opts *o, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		size_t off;
	} keys[] = {
#define K(f) {#f, offsetof(struct swim_config, f)}
		K(probe_interval_ms),	  K(probe_timeout_ms),	 K(indirect_k),
		K(suspicion_mult),	  K(suspicion_max_mult), K(retransmit_mult),
		K(gossip_interval_ms),	  K(gossip_nodes),	 K(pushpull_interval_ms),
		K(reconnect_interval_ms),
#undef K
	};
	char *text, *line, *save = NULL;
	size_t len;
	int ret = util_read_file(path, 1 << 20, &text, &len), lineno = 0;

	if (ret) {
		util_seterr(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[64];
		unsigned long v;
		size_t k;
		lineno++;
		line += strspn(line, " \t");
		if (!*line || *line == '#' || *line == ';' || *line == '[')
			continue;
		if (sscanf(line, "%63[a-z_] = %lu", name, &v) != 2 || v == 0 || v > 3600000) {
			util_seterr(err, errlen, "%s: line %d: want 'name = positive number'", path,
				    lineno);
			ret = -EINVAL;
			break;
		}
		if (!strcmp(name, "replicas")) {
			if (v > 16) {
				util_seterr(err, errlen, "%s: line %d: replicas is 1..16", path,
					    lineno);
				ret = -EINVAL;
				break;
			}
			o->replicas = (int)v;
			continue;
		}
		for (k = 0; k < ARRAY_SIZE(keys) && strcmp(keys[k].name, name); k++)
			;
		if (k == ARRAY_SIZE(keys)) {
			util_seterr(err, errlen, "%s: line %d: unknown setting '%s'", path, lineno,
				    name);
			ret = -EINVAL;
			break;
		}
		*(uint32_t *)((char *)&o->swim + keys[k].off) = (uint32_t)v;
	}
	free(text);
	return ret;
}
