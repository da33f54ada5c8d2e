/*
 * Description: the framed-connection layer (agent/core/conn.c) in a real
 * io_uring loop against a peer on a socketpair: a frame and a large
 * buffer written one byte (or a few bytes) at a time arrive whole and
 * intact; a 4 MB send to a peer reading 1 KiB at a time goes out whole;
 * queued frames leave in order; a peer that stalls gets -ETIMEDOUT; an
 * oversized announced length, a bad tag and garbage are refused with
 * -EPROTO and counted by reason, and a frame cut off by the peer's close
 * (in its header or its body) is counted as cut; closing with a receive in flight, and
 * stopping the loop with connections open, release everything (ASan
 * checks the rest).  The listener's limits, over real TCP on 127.0.0.x:
 * a 33rd connection waiting from one address and a connection from a
 * non-member once all but the peers' share is taken are told busy
 * ("IDNB"); a live member's connection still gets in, and one from a
 * member's address whose first frame is from a non-member is told busy.
 */
#include "check.h"
#include "core/conn.h"
#include "core/loop.h"
#include "membership/swim.h"
#include "util.h"
#include "wire/wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
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
	int shut; /* then shut down its sending side */
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
	if (p->shut)
		shutdown(p->fd, SHUT_WR);
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

static void refused(const char *what, const uint8_t *bytes, size_t n, enum wire_reject why,
		    int want)
{
	struct run r;
	struct peer p = {.step = 64, .out = bytes, .outlen = n, .shut = 1};
	pthread_t th;

	setup(&r, &p);
	r.stop_after = 1;
	CHECK(conn_recv_frame(r.c, 0, 5000, 0) == 0, "recv_frame");
	pthread_create(&th, NULL, peer_main, &p);
	finish(&r, &p, th);
	CHECK(r.last[CONN_EV_FRAME] == want, "%s: refused with %d (res %d)", what, want,
	      r.last[CONN_EV_FRAME]);
	CHECK(rejects[why] == 1, "%s: counted as %s", what, wire_reject_names[why]);
}

static void test_bad_frames(void)
{
	uint8_t frame[512], body[20] = {0};
	int n = seal(NULL, WIRE_RPC_REQ, nobody, body, sizeof(body), frame, sizeof(frame));

	frame[n - 1] ^= 1;
	refused("bad tag", frame, (size_t)n, WIRE_R_TAG, -EPROTO);
	refused("cut in its header", frame, 20, WIRE_R_CUT, -ECONNRESET);
	refused("cut in its body", frame, (size_t)n - 1, WIRE_R_CUT, -ECONNRESET);
	n = seal(NULL, WIRE_RPC_REQ, nobody, body, sizeof(body), frame, sizeof(frame));
	frame[8] = 0xff, frame[9] = 0xff, frame[10] = 0x0f; /* announces ~1 MB */
	refused("oversized", frame, (size_t)n, WIRE_R_LENGTH, -EPROTO);
	memset(frame, 'x', 100);
	refused("garbage", frame, 100, WIRE_R_MAGIC, -EPROTO);
}

/* A peer with no room says "IDNB" and closes: the frame's receive ends with -EBUSY. */
static void test_busy_peer(void)
{
	struct run r;
	struct peer p = {.step = 4, .out = (const uint8_t *)"IDNB", .outlen = 4, .shut = 1};
	pthread_t th;

	setup(&r, &p);
	r.stop_after = 1;
	CHECK(conn_recv_frame(r.c, 0, 5000, 0) == 0, "recv_frame");
	pthread_create(&th, NULL, peer_main, &p);
	finish(&r, &p, th);
	CHECK(r.last[CONN_EV_FRAME] == -EBUSY, "a busy peer: %d", r.last[CONN_EV_FRAME]);
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

/* ---- the listener's limits ---- */

#define LIM_CONNS 64 /* general share 48, peers' share 16 */
#define LISTEN_IP 0x7f000009u
#define MEMBER_IP 0x7f000003u

static uint16_t lim_port;

/* A blocking connection from src to the listener, or -1. */
static int dial(uint32_t src)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(src)};
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_port = htons(lim_port),
				 .sin_addr.s_addr = htonl(LISTEN_IP)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    connect(fd, (struct sockaddr *)&to, sizeof(to))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Sends a request with command cmd from sender, addressed to the listener. */
static void send_req(int fd, struct wire_addr sender, uint8_t cmd)
{
	uint8_t f[256], body[4] = {cmd};
	struct wire_hdr h = {.type = WIRE_RPC_REQ,
			     .sender = sender,
			     .epoch = 1,
			     .seq = ++seq,
			     .sent_ms = util_wall_ms(),
			     .to = {LISTEN_IP, lim_port}};
	int n = wire_seal(&key, &h, body, sizeof(body), f, sizeof(f));

	CHECK(n > 0 && write(fd, f, (size_t)n) == n, "request sent");
}

/* The first 4 bytes the listener answers on fd ("IDNB", "IDNW"), or "". */
static void first4(int fd, char out[5])
{
	size_t got = 0;

	while (got < 4) {
		ssize_t r = read(fd, out + got, 4 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	out[got] = '\0';
}

static void *lim_client(void *arg)
{
	static int held[LIM_CONNS];
	struct wire_addr member = {MEMBER_IP, 7600}, client = {0x00010203, 99};
	int nheld = 0, fd, *busy = arg;
	char b[5];

	for (int i = 0; i < 32; i++) /* silent, from 127.0.0.1: all wait */
		held[nheld++] = dial(0x7f000001);
	fd = dial(0x7f000001);
	first4(fd, b);
	busy[0] = !strcmp(b, "IDNB"); /* the 33rd waiting from one address */
	close(fd);
	for (int i = 0; i < 16; i++) /* silent, from 127.0.0.4: the general share is full */
		held[nheld++] = dial(0x7f000004);
	fd = dial(0x7f000005);
	first4(fd, b);
	busy[1] = !strcmp(b, "IDNB"); /* a non-member: not into the peers' share */
	close(fd);
	held[nheld++] = fd = dial(MEMBER_IP);
	send_req(fd, member, 1);
	first4(fd, b);
	busy[2] = !strcmp(b, "IDNW"); /* a live member: answered */
	fd = dial(MEMBER_IP);
	send_req(fd, client, 1);
	first4(fd, b);
	busy[3] = !strcmp(b, "IDNB"); /* a member's address, a client's frame */
	close(fd);
	held[nheld++] = fd = dial(MEMBER_IP);
	send_req(fd, member, 5); /* stops the loop */
	first4(fd, b);
	for (int i = 0; i < nheld; i++)
		if (held[i] >= 0)
			close(held[i]);
	return NULL;
}

static void lim_event(void *arg, struct conn *c, enum conn_ev ev, uint64_t tag, int res)
{
	(void)arg, (void)c, (void)ev, (void)tag, (void)res;
}

static void lim_serve(void *arg, struct conn *c, const struct wire_hdr *h, const uint8_t *payload,
		      size_t len)
{
	(void)h, (void)len;
	conn_own(c, lim_event, NULL);
	if (payload[0] == 5)
		loop_stop(arg);
	else
		conn_send_frame(c, WIRE_RPC_RESP, "ok", 2, 1000, 0);
}

static void test_listener_limits(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(LISTEN_IP)};
	socklen_t al = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), busy[4] = {0};
	struct swim_member m = {.addr = {MEMBER_IP, 7600}, .status = SWIM_ALIVE};
	struct conns_env env = {.key = &key,
				.listen_fd = lfd,
				.max_conns = LIM_CONNS,
				.seal = seal,
				.rejected = rejected};
	struct loop *loop;
	struct conns *t;
	pthread_t th;
	char stats[4096];

	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 128) ||
	    getsockname(lfd, (struct sockaddr *)&a, &al)) {
		printf("skip listener limits: cannot listen on 127.0.0.9\n");
		if (lfd >= 0)
			close(lfd);
		return;
	}
	lim_port = ntohs(a.sin_port);
	env.self = (struct wire_addr){LISTEN_IP, lim_port};
	REQUIRE(loop_new(256, &loop) == 0, "loop_new");
	REQUIRE(conns_new(loop, &env, &t) == 0, "conns_new");
	REQUIRE(conn_route(t, 1, 5, lim_serve, loop) == 0, "route");
	loop_member_changed(loop, &m, SWIM_STATUS_MAX);
	pthread_create(&th, NULL, lim_client, busy);
	CHECK(loop_run(loop) == 0, "loop_run");
	pthread_join(th, NULL);
	loop_stats(loop, stats, sizeof(stats));
	CHECK(busy[0] && strstr(stats, "tcp_busy_ip 1\n"), "a 33rd waiting from one address");
	CHECK(busy[1] && busy[2], "the peers' share: a non-member refused, a member let in");
	CHECK(busy[3] && strstr(stats, "tcp_busy_peers 1\n"),
	      "a non-member's frame from a member's address in the peers' share");
	CHECK(strstr(stats, "tcp_busy 1\n") != NULL, "counted: %s", stats);
	loop_free(loop);
	conns_free(t);
	close(lfd);
	printf("ok  listener limits: per address, the peers' share, busy answers\n");
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
	test_busy_peer();
	test_listener_limits();
	return t_result();
}
