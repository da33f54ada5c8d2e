/*
 * Description: the framed-connection layer (agent/core/conn.c) in a real
 * io_uring loop against a peer on a socketpair: a frame and a large
 * buffer written one byte (or a few bytes) at a time arrive whole and
 * intact; a 4 MB send to a peer reading 1 KiB at a time goes out whole;
 * queued frames leave in order; a peer that stalls gets -ETIMEDOUT; an
 * oversized announced length, a bad tag and garbage are refused with
 * -EPROTO and counted by reason; closing with a receive in flight, and
 * stopping the loop with connections open, release everything (ASan
 * checks the rest).
 */
#include "check.h"
#include "core/conn.h"
#include "core/loop.h"
#include "util.h"
#include "wire/wire.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct wire_key key;
static uint64_t seq;

/* Both ends are the unnamed {0}: the connection's own address and peer. */
static const struct wire_addr nobody;

static int seal(void *arg, uint8_t type, struct wire_addr to, const void *body, size_t len,
		uint8_t *out, size_t cap)
{
	struct wire_hdr h = {
		.type = type, .sender = {0x7f000001, 1}, .epoch = 1, .seq = ++seq, .to = to};

	(void)arg;
	return wire_seal(&key, &h, body, len, out, cap);
}

static int rejects[WIRE_REJECT_MAX];

static void rejected(void *arg, enum wire_reject r)
{
	(void)arg;
	rejects[r]++;
}

/* ---- the peer: a thread on the other end of a socketpair ---- */

struct peer {
	int fd;
	const uint8_t *out;
	size_t outlen, step; /* write out `step` bytes at a time */
	size_t inlen;	     /* then read this many, 1 KiB at a time */
	uint8_t *in;
};

static void *peer_main(void *arg)
{
	struct peer *p = arg;

	for (size_t off = 0; off < p->outlen;) {
		ssize_t w = write(p->fd, p->out + off, MIN(p->step, p->outlen - off));
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	for (size_t off = 0; off < p->inlen;) {
		ssize_t r = read(p->fd, p->in + off, MIN((size_t)1024, p->inlen - off));
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	return NULL;
}

/* ---- the loop side ---- */

struct run {
	struct loop *loop;
	struct conns *t;
	struct conn *c;
	int events[CONN_EV_MAX];
	int last[CONN_EV_MAX];
	uint64_t tags[8];
	int ntags;
	int stop_after; /* stop the loop after this many frame/recv/sent events */
	uint8_t *buf;
	struct wire_hdr h;
	uint8_t payload[256];
	size_t plen;
};

static void on_event(void *arg, struct conn *c, enum conn_ev ev, uint64_t tag, int res)
{
	struct run *r = arg;

	r->events[ev]++;
	r->last[ev] = res;
	if (ev == CONN_EV_SENT && r->ntags < 8)
		r->tags[r->ntags++] = tag;
	if (ev == CONN_EV_FRAME && res == 0) {
		const uint8_t *p;
		conn_frame(c, &r->h, &p, &r->plen);
		memcpy(r->payload, p, MIN(r->plen, sizeof(r->payload)));
	}
	if (ev != CONN_EV_CLOSED && --r->stop_after == 0)
		loop_stop(r->loop);
}

static void setup(struct run *r, struct peer *p)
{
	int sv[2];
	struct conns_env env = {
		.key = &key, .listen_fd = -1, .max_conns = 4, .seal = seal, .rejected = rejected};

	memset(r, 0, sizeof(*r));
	memset(rejects, 0, sizeof(rejects));
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	CHECK(loop_new(64, &r->loop) == 0, "loop_new");
	CHECK(conns_new(r->loop, &env, &r->t) == 0, "conns_new");
	CHECK(conn_adopt(r->t, sv[0], (struct wire_addr){0}, on_event, r, &r->c) == 0, "adopt");
	p->fd = sv[1];
}

static void finish(struct run *r, struct peer *p, pthread_t th)
{
	CHECK(loop_run(r->loop) == 0, "loop_run");
	pthread_join(th, NULL); /* a reading peer ends at EOF: the loop closed its end */
	close(p->fd);
	CHECK(r->events[CONN_EV_CLOSED] == 1, "the connection was closed once at shutdown (%d)",
	      r->events[CONN_EV_CLOSED]);
	loop_free(r->loop);
	conns_free(r->t);
}

static void test_frame_one_byte_at_a_time(void)
{
	struct run r;
	struct peer p = {.step = 1};
	uint8_t frame[512], body[100];
	pthread_t th;
	int n;

	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 7);
	n = seal(NULL, WIRE_RPC_REQ, nobody, body, sizeof(body), frame, sizeof(frame));
	setup(&r, &p);
	p.out = frame;
	p.outlen = (size_t)n;
	r.stop_after = 1;
	CHECK(conn_recv_frame(r.c, 0, 5000, 7) == 0, "recv_frame");
	pthread_create(&th, NULL, peer_main, &p);
	finish(&r, &p, th);
	CHECK(r.events[CONN_EV_FRAME] == 1 && r.last[CONN_EV_FRAME] == 0, "frame res %d",
	      r.last[CONN_EV_FRAME]);
	CHECK(r.plen == sizeof(body) && !memcmp(r.payload, body, sizeof(body)),
	      "payload intact (%zu bytes)", r.plen);
	CHECK(r.h.type == WIRE_RPC_REQ, "type %u", r.h.type);
}

static void test_exact_recv_in_pieces(void)
{
	struct run r;
	struct peer p = {.step = 3};
	size_t len = 100000;
	uint8_t *data = xmalloc(len);
	pthread_t th;

	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 13 + 1);
	setup(&r, &p);
	p.out = data;
	p.outlen = len;
	r.buf = xcalloc(1, len);
	r.stop_after = 1;
	CHECK(conn_recv(r.c, r.buf, len, 10000, 1) == 0, "recv");
	CHECK(conn_recv(r.c, r.buf, len, 10000, 1) == -EBUSY, "a second receive is refused");
	pthread_create(&th, NULL, peer_main, &p);
	finish(&r, &p, th);
	CHECK(r.last[CONN_EV_RECV] == (int)len, "recv res %d", r.last[CONN_EV_RECV]);
	CHECK(!memcmp(r.buf, data, len), "data intact");
	free(r.buf);
	free(data);
}

static void test_big_send_slow_reader(void)
{
	struct run r;
	struct peer p = {0};
	size_t len = 4u << 20;
	uint8_t *data = xmalloc(len);
	pthread_t th;

	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i ^ (i >> 8));
	setup(&r, &p);
	p.in = xcalloc(1, len);
	p.inlen = len;
	r.stop_after = 1;
	CHECK(conn_send(r.c, data, len, 20000, 42) == 0, "send");
	pthread_create(&th, NULL, peer_main, &p);
	finish(&r, &p, th);
	CHECK(r.last[CONN_EV_SENT] == (int)len, "sent res %d", r.last[CONN_EV_SENT]);
	CHECK(!memcmp(p.in, data, len), "the peer got every byte in order");
	free(p.in);
	free(data);
}

static void test_queued_frames_in_order(void)
{
	struct run r;
	struct peer p = {0};
	uint8_t in[3 * 200];
	pthread_t th;

	setup(&r, &p);
	p.in = in;
	p.inlen = 3 * (WIRE_HDR_LEN + 10 + WIRE_TAG_LEN);
	r.stop_after = 3;
	for (int i = 0; i < 3; i++) {
		uint8_t body[10];
		memset(body, 'a' + i, sizeof(body));
		CHECK(conn_send_frame(r.c, WIRE_RPC_RESP, body, sizeof(body), 5000, (uint64_t)i) ==
			      0,
		      "queue frame %d", i);
	}
	CHECK(conn_sending(r.c), "sends are queued");
	pthread_create(&th, NULL, peer_main, &p);
	finish(&r, &p, th);
	CHECK(r.ntags == 3 && r.tags[0] == 0 && r.tags[1] == 1 && r.tags[2] == 2,
	      "sent in order (%d sent)", r.ntags);
	for (int i = 0; i < 3; i++) {
		struct wire_hdr h;
		const uint8_t *pl;
		size_t off = (size_t)i * (WIRE_HDR_LEN + 10 + WIRE_TAG_LEN);
		CHECK(wire_open(&key, nobody, in + off, WIRE_HDR_LEN + 10 + WIRE_TAG_LEN, &h,
				&pl) == WIRE_OK &&
			      pl[0] == 'a' + i,
		      "frame %d opens and is the %d-th", i, i);
	}
}

static void test_stalled_peer(void)
{
	struct run r;
	struct peer p = {0};
	uint8_t buf[16];
	pthread_t th;

	setup(&r, &p);
	r.stop_after = 1;
	CHECK(conn_recv(r.c, buf, sizeof(buf), 200, 0) == 0, "recv");
	pthread_create(&th, NULL, peer_main, &p); /* writes nothing */
	finish(&r, &p, th);
	CHECK(r.last[CONN_EV_RECV] == -ETIMEDOUT, "a silent peer times out (res %d)",
	      r.last[CONN_EV_RECV]);
}

static void refused(const char *what, const uint8_t *bytes, size_t n, enum wire_reject why)
{
	struct run r;
	struct peer p = {.step = 64, .out = bytes, .outlen = n};
	pthread_t th;

	setup(&r, &p);
	r.stop_after = 1;
	CHECK(conn_recv_frame(r.c, 0, 5000, 0) == 0, "recv_frame");
	pthread_create(&th, NULL, peer_main, &p);
	finish(&r, &p, th);
	CHECK(r.last[CONN_EV_FRAME] == -EPROTO, "%s: refused with -EPROTO (res %d)", what,
	      r.last[CONN_EV_FRAME]);
	CHECK(rejects[why] == 1, "%s: counted as %s", what, wire_reject_names[why]);
}

static void test_bad_frames(void)
{
	uint8_t frame[512], body[20] = {0};
	int n = seal(NULL, WIRE_RPC_REQ, nobody, body, sizeof(body), frame, sizeof(frame));

	frame[n - 1] ^= 1;
	refused("bad tag", frame, (size_t)n, WIRE_R_TAG);
	n = seal(NULL, WIRE_RPC_REQ, nobody, body, sizeof(body), frame, sizeof(frame));
	frame[8] = 0xff, frame[9] = 0xff, frame[10] = 0x0f; /* announces ~1 MB */
	refused("oversized", frame, (size_t)n, WIRE_R_LENGTH);
	memset(frame, 'x', 100);
	refused("garbage", frame, 100, WIRE_R_MAGIC);
}

static void test_close_with_recv_in_flight(void)
{
	struct run r;
	struct peer p = {0};
	uint8_t buf[16];
	pthread_t th;

	setup(&r, &p);
	CHECK(conn_recv(r.c, buf, sizeof(buf), 0, 0) == 0, "recv without a timeout");
	conn_close(r.c);
	CHECK(conn_recv(r.c, buf, sizeof(buf), 0, 0) == -ESHUTDOWN, "no receive once closing");
	loop_stop(r.loop);
	pthread_create(&th, NULL, peer_main, &p);
	finish(&r, &p, th);
	CHECK(r.events[CONN_EV_RECV] == 1 && r.last[CONN_EV_RECV] < 0,
	      "the receive ended with an error (%d)", r.last[CONN_EV_RECV]);
}

int main(void)
{
	if (sodium_init() < 0)
		return T_EXIT_FAIL;
	signal(SIGPIPE, SIG_IGN); /* peers write into connections the loop refused */
	randombytes_buf(key.k, sizeof(key.k));
	test_frame_one_byte_at_a_time();
	test_exact_recv_in_pieces();
	test_big_send_slow_reader();
	test_queued_frames_in_order();
	test_stalled_peer();
	test_bad_frames();
	test_close_with_recv_in_flight();
	return t_result();
}
