/*
 * Description: the latency histogram code: bucket bounds are contiguous
 * and every value lands in the bucket that contains it; quantiles read
 * from the histogram are within 10 % of the exact quantiles of known
 * samples (uniform, log-normal, bimodal, constant); the mean is exact;
 * the std (from bucket midpoints) is within 5 % plus the bucket resolution
 * (3.5 % of the mean: a constant sample's std reads as up to half a bucket);
 * counts below powers of two are exact.
 */
#include "check.h"
#include "hist.h"
#include "util.h"

#include <math.h>
#include <string.h>

static double exact_q(const uint64_t *sorted, size_t n, double q)
{
	size_t i = (size_t)ceil(q * (double)n);
	return (double)sorted[i ? i - 1 : 0];
}

static void check_sample(const char *name, uint64_t *v, size_t n)
{
	struct hist *h = xcalloc(1, sizeof(*h));
	struct hist_stats st;
	static const double qs[] = {0.5, 0.9, 0.95, 0.99};
	double mean = 0, var = 0;

	for (size_t i = 0; i < n; i++) {
		hist_record(h, v[i]);
		mean += (double)v[i];
	}
	mean /= (double)n;
	for (size_t i = 0; i < n; i++)
		var += ((double)v[i] - mean) * ((double)v[i] - mean);
	qsort(v, n, sizeof(*v), util_cmp_u64);
	hist_stats(h, &st);
	CHECK(st.count == n, "%s: count %llu", name, (unsigned long long)st.count);
	CHECK(fabs(st.mean - mean) <= 1e-9 * mean + 1e-9, "%s: mean %g vs %g", name, st.mean, mean);
	CHECK(fabs(st.std - sqrt(var / (double)(n - 1))) <=
		      0.05 * sqrt(var / (double)(n - 1)) + 0.035 * mean,
	      "%s: std %g vs %g", name, st.std, sqrt(var / (double)(n - 1)));
	for (size_t k = 0; k < ARRAY_SIZE(qs); k++) {
		double want = exact_q(v, n, qs[k]), got = hist_quantile(h, qs[k]);
		CHECK(fabs(got - want) <= 0.10 * want, "%s: p%g %g vs exact %g", name, qs[k] * 100,
		      got, want);
	}
	for (unsigned e = 0; e < 40; e++) {
		uint64_t below = 0;
		for (size_t i = 0; i < n; i++)
			below += v[i] < (1ull << e);
		CHECK(hist_count_below_pow2(h, e) == below, "%s: count below 2^%u", name, e);
	}
	printf("ok  %-10s n=%zu p50 %.0f p99 %.0f (exact %.0f %.0f) std %.0f\n", name, n, st.p50,
	       st.p99, exact_q(v, n, 0.5), exact_q(v, n, 0.99), st.std);
	free(h);
}

int main(void)
{
	enum { N = 100000 };
	uint64_t *v = xmalloc(N * sizeof(*v));
	unsigned long long s = 1;

	/* bucket bounds: contiguous, and each value inside its bucket */
	for (unsigned i = 1; i < HIST_NBUCKETS; i++)
		CHECK(hist_bucket_low(i) > hist_bucket_low(i - 1), "bucket %u bounds", i);
	for (uint64_t x = 0; x < (1ull << 41); x = x * 3 / 2 + 1) {
		unsigned b = hist_bucket(x);
		CHECK(hist_bucket_low(b) <= x &&
			      (b + 1 == HIST_NBUCKETS || x < hist_bucket_low(b + 1)),
		      "value %llu in bucket %u", (unsigned long long)x, b);
		if (b + 1 < HIST_NBUCKETS && x >= 16)
			CHECK(hist_bucket_low(b + 1) - hist_bucket_low(b) <=
				      hist_bucket_low(b) / 16,
			      "bucket %u too wide", b);
	}
	CHECK(hist_bucket(~0ull) == HIST_NBUCKETS - 1, "huge value");

	for (size_t i = 0; i < N; i++) /* uniform 1 ms .. 3 ms */
		v[i] = 1000000 + (uint64_t)((t_randf(&s) + 1) * 1000000);
	check_sample("uniform", v, N);
	for (size_t i = 0; i < N; i++) { /* log-normal around 10 ms */
		double a = (t_randf(&s) + 1) / 2 + 1e-9, b = (t_randf(&s) + 1) / 2;
		double z = sqrt(-2 * log(a)) * cos(6.283185307 * b);
		v[i] = (uint64_t)(1e7 * exp(0.8 * z));
	}
	check_sample("lognormal", v, N);
	for (size_t i = 0; i < N; i++) /* bimodal: 85 % near 50 us, 15 % near 40 ms */
		v[i] = i % 20 < 17 ? 50000 + (uint64_t)(t_randf(&s) * 5000 + 5000)
				   : 40000000 + (uint64_t)(t_randf(&s) * 4e6 + 4e6);
	check_sample("bimodal", v, N);
	for (size_t i = 0; i < N; i++)
		v[i] = 777777;
	check_sample("constant", v, N);
	for (size_t i = 0; i < N; i++) /* tiny values, exact buckets */
		v[i] = i % 13;
	check_sample("tiny", v, N);
	free(v);
	return t_result();
}
