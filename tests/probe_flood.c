/*
 * probe_flood.c - floods one agent with well-formed SWIM datagrams whose
 * tags are wrong (issue 16, defect 3), as an attacker without the cluster
 * key would: each is addressed to the agent, fresh, of a valid type and
 * length, with a new sequence number, so only its MAC can refuse it.  Used
 * by tests/test_flood.sh and bench/bench-flood.  Not a test by itself.
 *
 *   probe_flood SRC_IP TARGET_HOST:PORT RATE SECONDS
 *
 * Sends from SRC_IP (any port) at RATE datagrams a second (sendmmsg in
 * batches, paced by the clock) for SECONDS, then prints "sent N RATE"
 * with the rate it really reached.
 */
#include "util.h"
#include "wire/wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct wire_addr src, to;
	struct wire_key wrong;
	struct sockaddr_in sa = {.sin_family = AF_INET}, da = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	uint8_t frames[BATCH][128];
	struct iovec iov[BATCH];
	struct mmsghdr mm[BATCH];
	double rate, secs, t0, t;
	uint64_t sent = 0, seq = 1;
	int fd, n = 0;

	if (argc != 5 || wire_addr_parse(argv[1], 1, &src) || wire_addr_parse(argv[2], 7600, &to) ||
	    (rate = atof(argv[3])) <= 0 || (secs = atof(argv[4])) <= 0) {
		fprintf(stderr, "usage: probe_flood SRC_IP TARGET_HOST:PORT RATE SECONDS\n");
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	randombytes_buf(wrong.k, sizeof(wrong.k));
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	sa.sin_addr.s_addr = htonl(src.ip);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		fprintf(stderr, "probe_flood: cannot bind %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	src.port = ntohs(sa.sin_port);
	da.sin_addr.s_addr = htonl(to.ip);
	da.sin_port = htons(to.port);
	for (int i = 0; i < BATCH; i++) {
		/* a ping's payload: flags, seq, no updates */
		uint8_t body[8] = {0, 0, 0, 0, 1, 0, 0, 0};
		struct wire_hdr h = {.type = WIRE_PING,
				     .sender = src,
				     .epoch = util_wall_ms() * 1000000,
				     .to = to};
		n = wire_seal(&wrong, &h, body, sizeof(body), frames[i], sizeof(frames[i]));
		iov[i] = (struct iovec){frames[i], (size_t)n};
		mm[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &da,
						     .msg_namelen = sizeof(da),
						     .msg_iov = &iov[i],
						     .msg_iovlen = 1}};
	}
	t0 = now_s();
	while ((t = now_s() - t0) < secs) {
		uint64_t due = (uint64_t)(t * rate), wall = util_wall_ms();
		int k;

		if (sent >= due) {
			usleep(200);
			continue;
		}
		k = (int)MIN((uint64_t)BATCH, due - sent);
		for (int i = 0; i < k; i++) { /* new seq and time; the tag is wrong anyway */
			wire_le_put(frames[i] + 28, seq++, 8);
			wire_le_put(frames[i] + 36, wall, 8);
		}
		k = sendmmsg(fd, mm, (unsigned)k, 0);
		if (k > 0)
			sent += (uint64_t)k;
		else if (errno != EAGAIN && errno != ENOBUFS && errno != EINTR) {
			fprintf(stderr, "probe_flood: send: %s\n", strerror(errno));
			return 1;
		}
	}
	t = now_s() - t0;
	printf("sent %llu %.0f\n", (unsigned long long)sent, (double)sent / t);
	close(fd);
	return 0;
}
