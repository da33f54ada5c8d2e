/*
 * ring_bench.c - agent -> engine -> agent round trip through the
 * shared-memory ring, with a real `engine serve` process doing no work
 * (RING_F_NOWORK), so only the handoff is measured.
 *
 *   ring_bench --engine PATH [--iters N]
 *
 * Prints the ping-pong round trip (one batch in flight: p50 and mean ns)
 * and the pipelined cost per batch (up to 32 in flight).
 */
#include "proc.h"
#include "ring.h"
#include "util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int submit_one(struct ring *r, uint64_t q)
{
	struct ring_sqe e = {.query = q, .batch = 1, .flags = RING_F_NOWORK};
	int ret = ring_reserve(r, &e);
	return ret ? ret : ring_submit(r, &e);
}

int main(int argc, char **argv)
{
	const char *engine = NULL;
	int iters = 200000;
	struct ring *r;
	struct ring_cqe c[64];
	char name[64];
	pid_t pid;
	uint64_t *lat, t0, sum = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--engine") && i + 1 < argc)
			engine = argv[++i];
		else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			iters = atoi(argv[++i]);
		else
			engine = NULL, i = argc;
	}
	if (!engine || iters < 1) {
		fprintf(stderr, "usage: ring_bench --engine PATH [--iters N]\n");
		return 2;
	}
	snprintf(name, sizeof(name), "bench-%d", (int)getpid());
	if (ring_create(name, 64, 64u << 20, &r)) {
		fprintf(stderr, "ring_bench: cannot create ring\n");
		return 1;
	}
	{
		char *args[] = {(char *)engine, "serve", "--ring", name, NULL};
		if (proc_spawn(args, &pid) || ring_wait_engine(r, 0, 10000)) {
			fprintf(stderr, "ring_bench: engine did not attach\n");
			ring_destroy(r);
			return 1;
		}
	}
	lat = xmalloc((size_t)iters * sizeof(*lat));
	for (int i = 0; i < iters + 1000; i++) {
		t0 = util_now_ns();
		if (submit_one(r, (uint64_t)i)) {
			fprintf(stderr, "ring_bench: submit failed\n");
			return 1;
		}
		while (ring_reap(r, c, 1) == 0)
			ring_wait(r, 1000);
		if (i >= 1000) /* the first thousand warm up */
			lat[i - 1000] = util_now_ns() - t0;
	}
	for (int i = 0; i < iters; i++)
		sum += lat[i];
	qsort(lat, (size_t)iters, sizeof(*lat), util_cmp_u64);
	printf("ring round trip, 1 in flight: p50 %llu ns, mean %llu ns, p99 %llu ns (%d "
	       "batches)\n",
	       (unsigned long long)lat[iters / 2], (unsigned long long)(sum / iters),
	       (unsigned long long)lat[(size_t)(iters * 0.99)], iters);
	{
		int done = 0, sent = 0;
		t0 = util_now_ns();
		while (done < iters) {
			while (sent < iters && ring_inflight(r) < 32 &&
			       submit_one(r, (uint64_t)sent) == 0)
				sent++;
			int n = ring_reap(r, c, 64);
			if (n == 0)
				ring_wait(r, 1000);
			done += n;
		}
		printf("ring pipelined, up to 32 in flight: %.0f ns per batch\n",
		       (double)(util_now_ns() - t0) / iters);
	}
	ring_destroy(r);
	if (proc_wait(pid, 5000) < 0) {
		kill(pid, SIGKILL);
		proc_wait(pid, 5000);
	}
	free(lat);
	return 0;
}
