/*
 * hist.c - summaries of latency histograms (see hist.h).
 */
#include "hist.h"

#include <math.h>

void hist_record(struct hist *h, uint64_t v)
{
	h->b[hist_bucket(v)]++;
	h->count++;
	h->sum += v;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	dst->count += src->count;
	dst->sum += src->sum;
	for (unsigned i = 0; i < HIST_NBUCKETS; i++)
		dst->b[i] += src->b[i];
}

static double bucket_high(unsigned i)
{
	return i + 1 < HIST_NBUCKETS ? (double)hist_bucket_low(i + 1) : 2.0 * hist_bucket_low(i);
}

double hist_quantile(const struct hist *h, double q)
{
	uint64_t total = 0, seen = 0;
	double rank;

	for (unsigned i = 0; i < HIST_NBUCKETS; i++)
		total += h->b[i];
	if (!total)
		return 0;
	rank = q * (double)total;
	for (unsigned i = 0; i < HIST_NBUCKETS; i++) {
		if (!h->b[i])
			continue;
		if ((double)(seen + h->b[i]) >= rank) {
			/* linear within the bucket; values below 16 are exact */
			double lo = (double)hist_bucket_low(i), hi = bucket_high(i);
			double f = (rank - (double)seen) / (double)h->b[i];
			if (i < HIST_SUB)
				return lo;
			return lo + (hi - lo) * (f < 0 ? 0 : f > 1 ? 1 : f);
		}
		seen += h->b[i];
	}
	return bucket_high(HIST_NBUCKETS - 1);
}

void hist_stats(const struct hist *h, struct hist_stats *out)
{
	double var = 0;
	uint64_t n = 0;

	out->count = h->count;
	out->mean = h->count ? (double)h->sum / (double)h->count : 0;
	/* the spread from bucket midpoints around the exact mean */
	for (unsigned i = 0; i < HIST_NBUCKETS; i++) {
		double mid;
		if (!h->b[i])
			continue;
		mid = i < HIST_SUB ? (double)i : ((double)hist_bucket_low(i) + bucket_high(i)) / 2;
		var += (double)h->b[i] * (mid - out->mean) * (mid - out->mean);
		n += h->b[i];
	}
	out->std = n > 1 ? sqrt(var / (double)(n - 1)) : 0;
	out->p50 = hist_quantile(h, 0.50);
	out->p90 = hist_quantile(h, 0.90);
	out->p95 = hist_quantile(h, 0.95);
	out->p99 = hist_quantile(h, 0.99);
}

uint64_t hist_count_below_pow2(const struct hist *h, unsigned e)
{
	unsigned end = e < HIST_SUB_BITS ? (1u << e) : HIST_SUB + (e - HIST_SUB_BITS) * HIST_SUB;
	uint64_t n = 0;

	if (end > HIST_NBUCKETS)
		end = HIST_NBUCKETS;
	for (unsigned i = 0; i < end; i++)
		n += h->b[i];
	return n;
}

uint64_t hist_le_bound(unsigned k)
{
	return hist_bucket_low(hist_bucket(1ull << HIST_LE_MIN_EXP) + k);
}

void hist_le_counts(const struct hist *h, uint64_t below[HIST_LE_N])
{
	unsigned first = hist_bucket(1ull << HIST_LE_MIN_EXP);
	uint64_t n = 0;

	for (unsigned i = 0; i < first; i++)
		n += h->b[i];
	for (unsigned k = 0; k < HIST_LE_N; k++) {
		below[k] = n;
		n += h->b[first + k];
	}
}
