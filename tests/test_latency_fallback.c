/*
 * Description: without BPF, per-query latency comes from the engine's own
 * timestamps through the same histogram code: 40 ResNet18 queries over the
 * ring give service and ring-wait histograms whose counts are exact and
 * whose median, p90 and p99 are within 10 % of the exact quantiles of the
 * same timestamps.
 */
#include "hist.h"
#include "ring_load.h"

#include <math.h>
#include <stdlib.h>

static void compare(const char *what, const struct hist *h, uint64_t *v, int n)
{
	static const double qs[] = {0.5, 0.9, 0.99};

	qsort(v, (size_t)n, sizeof(*v), util_cmp_u64);
	CHECK(h->count == (uint64_t)n, "%s: count %llu", what, (unsigned long long)h->count);
	for (size_t k = 0; k < ARRAY_SIZE(qs); k++) {
		size_t i = (size_t)ceil(qs[k] * n);
		double want = (double)v[i ? i - 1 : 0], got = hist_quantile(h, qs[k]);
		CHECK(fabs(got - want) <= 0.10 * want + 50, "%s p%g: %g vs %g", what, qs[k] * 100,
		      got, want);
	}
	printf("ok  %-9s count %llu, p50 %.3f ms, p99 %.3f ms\n", what,
	       (unsigned long long)h->count, hist_quantile(h, 0.5) / 1e6,
	       hist_quantile(h, 0.99) / 1e6);
}

int main(void)
{
	enum { N = 40 };
	const char *bin = getenv("IDUNNO_BIN");
	char dir[] = "/tmp/idunno-fallback-XXXXXX", cmd[128];
	struct ring_cqe c[N];
	struct hist svc = {0}, wait = {0};
	uint64_t sv[N], wv[N];

	REQUIRE(mkdtemp(dir), "mkdtemp");
	ring_load(bin ? bin : "bin", dir, N, c);
	for (int i = 0; i < N; i++) {
		sv[i] = c[i].end_ns - c[i].start_ns;
		hist_record(&svc, sv[i]);
	}
	for (int i = 0; i < N; i++) {
		CHECK(c[i].start_ns >= c[i].enqueue_ns && c[i].enqueue_ns,
		      "query %d: start before enqueue", i);
		wv[i] = c[i].start_ns - c[i].enqueue_ns;
		hist_record(&wait, wv[i]);
	}
	compare("service", &svc, sv, N);
	compare("ring wait", &wait, wv, N);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", dir);
	return t_result();
}
