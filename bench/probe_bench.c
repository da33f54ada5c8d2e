/*
 * probe_bench.c - the cost of the engine's per-query probe points: calls
 * idunno_query_start()/idunno_query_end() (the same functions the engine
 * runs) for N queries and prints ns per query.  Run it once as is and once
 * with the exporter attached to this binary (bench/bench-bpf does both).
 *
 *   probe_bench [--queries N]
 */
#include "probes.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	long n = 1000000;
	uint64_t t0, best = UINT64_MAX;

	if (argc == 3 && !strcmp(argv[1], "--queries"))
		n = atol(argv[2]);
	if (n < 1) {
		fprintf(stderr, "usage: probe_bench [--queries N]\n");
		return 2;
	}
	for (int rep = 0; rep < 3; rep++) {
		uint64_t dt;
		t0 = util_now_ns();
		for (long q = 0; q < n; q++) {
			idunno_query_start(1, (uint64_t)q, 1, 0, 0);
			idunno_query_end(1, (uint64_t)q, 0, 0);
		}
		dt = util_now_ns() - t0;
		best = dt < best ? dt : best;
	}
	printf("probe points: %.1f ns per query (best of 3 x %ld queries)\n", (double)best / n, n);
	return 0;
}
