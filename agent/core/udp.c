/*
 * udp.c - SWIM's transport in the loop (see udp.h).
 */
#include "core/udp.h"
#include "core/log.h"
#include "core/loop.h"
#include "membership/swim.h"
#include "util.h"
#include "wire/wire_gate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NBUF	    256 /* provided receive buffers */
#define BUFSZ	    2048
#define BGID	    7
#define NSEND	    256 /* send slots */
#define HELD_LOG_MS 250 /* a longer gap between ticks is logged */

enum op { OP_RECV = 1, OP_SEND, OP_CANCEL };

struct u_dgram {
	struct wire_addr src; /* as the kernel saw it */
	const uint8_t *data;
	size_t n;
	int trunc; /* longer than a receive buffer */
};

struct send_slot {
	int busy;
	struct msghdr mh;
	struct iovec iov;
	struct sockaddr_in sa;
	uint8_t buf[WIRE_MAX_DATAGRAM];
};

struct udp {
	struct udp_env env;
	int owner;
	struct msghdr recv_mh; /* the shape of a multishot recvmsg: a source address, no control */
	struct wire_gate *gate;
	struct io_uring_buf_ring *br;
	uint8_t *bufs;
	struct send_slot *slots;
	int recv_armed, sends, stopping;
	int leaving;
	uint64_t leave_at;
	uint64_t n_in, n_out, n_no_slot;
};

static void arm_recv(struct udp *u)
{
	struct io_uring_sqe *sqe = loop_sqe(u->env.loop);

	u->recv_mh = (struct msghdr){.msg_namelen = sizeof(struct sockaddr_in)};
	io_uring_prep_recvmsg_multishot(sqe, u->env.fd, &u->recv_mh, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, LOOP_UD(u->owner, OP_RECV, 0));
	u->recv_armed = 1;
}

static void give_back(struct udp *u, int bid)
{
	io_uring_buf_ring_add(u->br, u->bufs + (size_t)bid * BUFSZ, BUFSZ, (unsigned short)bid,
			      io_uring_buf_ring_mask(NBUF), 0);
	io_uring_buf_ring_advance(u->br, 1);
}

static void send_one(struct udp *u, const struct swim_out *o)
{
	uint8_t payload[WIRE_MAX_DATAGRAM];
	struct send_slot *s = NULL;
	struct io_uring_sqe *sqe;
	int plen, n;

	for (int i = 0; i < NSEND && !s; i++)
		if (!u->slots[i].busy)
			s = &u->slots[i];
	if (!s) {
		u->n_no_slot++; /* UDP may drop; SWIM copes */
		return;
	}
	plen = swim_msg_encode(&o->msg, payload, sizeof(payload));
	n = plen < 0 ? plen
		     : u->env.seal(u->env.arg, o->msg.type, o->to, payload, (size_t)plen, s->buf,
				   sizeof(s->buf));
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
	sqe = loop_sqe(u->env.loop);
	io_uring_prep_sendmsg(sqe, u->env.fd, &s->mh, 0);
	io_uring_sqe_set_data64(sqe, LOOP_UD(u->owner, OP_SEND, s - u->slots));
	u->sends++;
	u->n_out++;
}

static void flush(struct udp *u)
{
	struct swim_out o;

	while (swim_pop(u->env.swim, &o))
		send_one(u, &o);
}

/*
 * One datagram of n bytes from src.  The checks go from cheap to dear:
 * the header alone (shape, destination, then its time against this node's
 * boot and clock), then, unless its source is throttled (wire_gate.h; a
 * member's address never is), the MAC, the replay window and the payload.
 */
static void deliver(struct u_dgram d, struct udp *u)
{
	uint64_t now = loop_now_ms();
	int member = swim_knows(u->env.swim, d.src);
	const uint8_t *payload = d.data + WIRE_HDR_LEN;
	struct wire_hdr h;
	struct swim_msg m;
	enum wire_reject r;

	u->n_in++;
	r = d.trunc ? WIRE_R_LENGTH : wire_peek(u->env.self, d.data, d.n, &h);
	if (r == WIRE_OK)
		r = u->env.fresh(u->env.arg, &h);
	if (r == WIRE_OK && !member && !wire_gate_allow(u->gate, d.src.ip, now))
		r = WIRE_R_THROTTLED;
	if (r == WIRE_OK)
		r = wire_auth(u->env.key, d.data, d.n);
	if (r == WIRE_OK)
		r = u->env.admit(u->env.arg, &h);
	if (r == WIRE_OK && swim_msg_decode(h.type, payload, h.len, &m) != 0)
		r = h.type >= WIRE_RPC_REQ ? WIRE_R_TYPE : WIRE_R_PAYLOAD;
	if (r == WIRE_OK) {
		swim_receive(u->env.swim, h.sender, &m, now);
		return;
	}
	if (!member && r != WIRE_R_THROTTLED)
		wire_gate_charge(u->gate, d.src.ip, now);
	u->env.rejected(u->env.arg, r);
}

static void on_recv(struct udp *u, int res, uint32_t flags)
{
	if (res >= 0 && (flags & IORING_CQE_F_BUFFER)) {
		int bid = (int)(flags >> IORING_CQE_BUFFER_SHIFT);
		uint8_t *buf = u->bufs + (size_t)bid * BUFSZ;
		struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(buf, res, &u->recv_mh);
		struct u_dgram d = {0};

		if (o && o->namelen >= sizeof(struct sockaddr_in)) {
			const struct sockaddr_in *sa = io_uring_recvmsg_name(o);
			d.src = (struct wire_addr){ntohl(sa->sin_addr.s_addr), ntohs(sa->sin_port)};
			d.data = io_uring_recvmsg_payload(o, &u->recv_mh);
			d.n = io_uring_recvmsg_payload_length(o, res, &u->recv_mh);
			d.trunc = (o->flags & MSG_TRUNC) != 0;
			deliver(d, u);
		} else {
			u->n_in++;
			u->env.rejected(u->env.arg, WIRE_R_SHORT);
		}
		give_back(u, bid);
	} else if (res < 0 && res != -ENOBUFS && res != -ECANCELED) {
		log_msg(LOG_WARN, "udp receive: %s", strerror(-res));
	}
	if (!(flags & IORING_CQE_F_MORE)) {
		u->recv_armed = 0;
		if (!u->stopping)
			arm_recv(u);
	}
}

static void complete(void *m, unsigned op, uint64_t idx, int res, uint32_t flags)
{
	struct udp *u = m;

	if (op == OP_RECV) {
		on_recv(u, res, flags);
	} else if (op == OP_SEND) {
		u->slots[idx % NSEND].busy = 0;
		u->sends--;
	}
}

static uint64_t tick(void *m, uint64_t now_ms)
{
	struct udp *u = m;
	uint64_t last = swim_last_tick(u->env.swim);

	if (last && now_ms > last + HELD_LOG_MS)
		log_msg(LOG_WARN,
			"membership: this loop was held up for %llu ms (stopped, or the host "
			"stalled); the suspicions it holds do not count the time held",
			(unsigned long long)(now_ms - last));
	swim_tick(u->env.swim, now_ms);
	flush(u);
	if (u->leaving) {
		if (now_ms >= u->leave_at && !loop_stopping(u->env.loop))
			loop_stop(u->env.loop);
		return MIN(swim_next_deadline(u->env.swim), u->leave_at);
	}
	return swim_next_deadline(u->env.swim);
}

static size_t stats(void *m, char *buf, size_t cap)
{
	struct udp *u = m;

	return (size_t)snprintf(buf, cap,
				"udp_in %llu\nudp_out %llu\nudp_no_send_slot %llu\n"
				"udp_throttled_sources %d\n",
				(unsigned long long)u->n_in, (unsigned long long)u->n_out,
				(unsigned long long)u->n_no_slot,
				wire_gate_throttled(u->gate, loop_now_ms()));
}

static void cancel(void *m)
{
	struct udp *u = m;

	u->stopping = 1;
	flush(u); /* the last word (a leave) goes out */
	if (u->recv_armed)
		loop_cancel(u->env.loop, LOOP_UD(u->owner, OP_RECV, 0));
}

static int pending(void *m)
{
	struct udp *u = m;

	return u->recv_armed + u->sends;
}

static const struct loop_ops udp_ops = {
	.name = "udp",
	.complete = complete,
	.tick = tick,
	.stats = stats,
	.cancel = cancel,
	.pending = pending,
};

void udp_leave(struct udp *u, uint64_t linger_ms)
{
	if (u->leaving)
		return;
	swim_leave(u->env.swim, loop_now_ms());
	u->leaving = 1;
	u->leave_at = loop_now_ms() + linger_ms;
}

int udp_leaving(const struct udp *u)
{
	return u->leaving;
}

int udp_new(const struct udp_env *env, struct udp **out, char *err, size_t errlen)
{
	struct udp *u = xcalloc(1, sizeof(*u));
	struct io_uring_buf_reg reg = {0};
	struct wire_gate_config gc;
	int ret;

	u->env = *env;
	wire_gate_config_default(&gc);
	u->gate = wire_gate_new(&gc, loop_now_ms());
	u->slots = xcalloc(NSEND, sizeof(*u->slots));
	u->br = aligned_alloc(4096, NBUF * sizeof(struct io_uring_buf));
	u->bufs = xmalloc((size_t)NBUF * BUFSZ);
	ASSERT(u->br);
	io_uring_buf_ring_init(u->br);
	reg.ring_addr = (unsigned long)u->br;
	reg.ring_entries = NBUF;
	reg.bgid = BGID;
	ret = io_uring_register_buf_ring(loop_ring(env->loop), &reg, 0);
	if (ret) {
		util_seterr(err, errlen, "io_uring provided buffers: %s", strerror(-ret));
		goto err;
	}
	for (int i = 0; i < NBUF; i++)
		io_uring_buf_ring_add(u->br, u->bufs + (size_t)i * BUFSZ, BUFSZ, (unsigned short)i,
				      io_uring_buf_ring_mask(NBUF), i);
	io_uring_buf_ring_advance(u->br, NBUF);
	u->owner = loop_register(env->loop, &udp_ops, u);
	if (u->owner < 0) {
		ret = u->owner;
		util_seterr(err, errlen, "too many loop modules");
		goto err;
	}
	arm_recv(u);
	*out = u;
	return 0;
err:
	free(u->bufs);
	free(u->br);
	free(u->slots);
	wire_gate_free(u->gate);
	free(u);
	return ret;
}

void udp_free(struct udp *u)
{
	if (!u)
		return;
	close(u->env.fd);
	free(u->bufs);
	free(u->br);
	free(u->slots);
	wire_gate_free(u->gate);
	free(u);
}
